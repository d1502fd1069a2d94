import Synchronization
/// Renders a service's OpenAPI 3.1 document: the standard operational paths and the problem
/// schema every service shares, followed by the service's own paths.
public enum OpenAPIDocument {
    /// `text` as a YAML double-quoted scalar (JSON string syntax, which YAML accepts).
    static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }

    /// The YAML document for `descriptor`, with `servicePaths` (YAML indented by 2 under `paths:`)
    /// and `serviceSchemas` (indented by 4 under `components.schemas`).
    public static func render(descriptor: ServiceDescriptor, servicePaths: String, serviceSchemas: String = "") -> String {
        Self.withProblemDefaults(Self.document(descriptor: descriptor, servicePaths: servicePaths, serviceSchemas: serviceSchemas))
    }

    /// Gives every operation a `default` response, the shared problem: any route may answer
    /// 400, 401, 403, 404, 413, 429 or 503 as problem+json, and the document should say so
    /// rather than list each status on each operation. Operations keep their own statuses.
    static func withProblemDefaults(_ document: String) -> String {
        let lines = document.split(separator: "\n", omittingEmptySubsequences: false)
        var output: [Substring] = []
        output.reserveCapacity(lines.count + 64)
        for (index, line) in lines.enumerated() {
            output.append(line)
            // Operations sit at four spaces under `paths:`, their responses at six.
            guard line == "      responses:" else { continue }
            let block = lines[(index + 1)...].prefix { $0.hasPrefix("        ") }
            if !block.contains(where: { $0.hasPrefix("        default:") }) {
                output.append("        default: { $ref: '#/components/responses/Problem' }")
            }
        }
        return output.joined(separator: "\n")
    }

    private static func document(descriptor: ServiceDescriptor, servicePaths: String, serviceSchemas: String) -> String {
        """
        openapi: 3.1.0
        info:
          title: Sensormine \(descriptor.name)
          version: 0.1.0
          description: \(Self.quoted(descriptor.summary))
        servers:
          - url: http://localhost:\(descriptor.defaultPort)
        paths:
          /health:
            get:
              summary: Liveness; the process serves HTTP.
              operationId: health
              responses:
                '200':
                  description: Up.
                  content:
                    application/json:
                      schema:
                        type: object
                        properties:
                          status: { type: string, const: up }
          /health/ready:
            get:
              summary: Readiness; every dependency answers.
              operationId: ready
              responses:
                '200':
                  description: Ready.
                  content:
                    application/json:
                      schema: { $ref: '#/components/schemas/ReadinessReport' }
                '503':
                  description: A dependency is not available; the problem names it.
                  content:
                    application/problem+json:
                      schema: { $ref: '#/components/schemas/Problem' }
          /metrics:
            get:
              summary: Prometheus metrics in text format.
              operationId: metrics
              responses:
                '200':
                  description: Metrics.
                  content:
                    text/plain:
                      schema: { type: string }
          /openapi.yaml:
            get:
              summary: This document.
              operationId: openapi
              responses:
                '200':
                  description: The OpenAPI document.
                  content:
                    application/yaml:
                      schema: { type: string }
        \(servicePaths)
        components:
          schemas:
            ReadinessReport:
              type: object
              required: [status, checks]
              properties:
                status: { type: string, enum: [ready, not-ready] }
                checks:
                  type: object
                  additionalProperties: { type: string }
            Problem:
              type: object
              description: RFC 9457 problem details.
              required: [type, title, status]
              properties:
                type: { type: string, format: uri }
                title: { type: string }
                status: { type: integer }
                detail: { type: string }
                instance: { type: string }
                requestId: { type: string }
                errors:
                  type: array
                  items:
                    type: object
                    required: [pointer, detail]
                    properties:
                      pointer: { type: string }
                      detail: { type: string }
                checks:
                  type: object
                  additionalProperties: { type: string }
        \(serviceSchemas)
          parameters:
            GatewayToken:
              name: X-Sensormine-Gateway-Token
              in: header
              required: true
              description: Shared secret the ApiGateway presents with the caller identity headers; clients never send it.
              schema: { type: string }
          securitySchemes:
            bearer: { type: http, scheme: bearer, bearerFormat: JWT }
            apiKey: { type: apiKey, in: header, name: X-API-Key }
          responses:
            Problem:
              description: An RFC 9457 problem.
              content:
                application/problem+json:
                  schema: { $ref: '#/components/schemas/Problem' }

        """
    }
}

extension OpenAPIDocument {
    /// The operations a rendered document describes, as `METHOD /path`.
    public static func operations(in document: String) -> Set<String> {
        var operations: Set<String> = []
        var inPaths = false
        var path: String?
        for line in document.split(separator: "\n", omittingEmptySubsequences: true) {
            if !line.hasPrefix(" ") { inPaths = line == "paths:"; path = nil; continue }
            guard inPaths else { continue }
            if line.hasPrefix("  /"), !line.hasPrefix("   ") {
                path = String(line.dropFirst(2).prefix { $0 != ":" })
            } else if let path, line.hasPrefix("    "), !line.hasPrefix("     ") {
                let key = line.dropFirst(4).prefix { $0 != ":" }
                if ["get", "post", "put", "patch", "delete"].contains(key) { operations.insert("\(key.uppercased()) \(path)") }
            }
        }
        return operations
    }
}

/// What an application serves next to what its OpenAPI document says, so a test (and the
/// start-up log) can tell when the two drift apart.
public final class RouteInventory: Sendable {
    private let state = Mutex<(served: Set<String>, documented: Set<String>)>(([], []))

    /// Creates an empty inventory.
    public init() {}

    /// Records both sides once the router is complete.
    public func record(served: Set<String>, documented: Set<String>) {
        self.state.withLock { $0 = (served, documented) }
    }

    /// Routes served but not documented.
    public var undocumented: Set<String> { self.state.withLock { $0.served.subtracting($0.documented) } }
    /// Operations documented but not served.
    public var unserved: Set<String> { self.state.withLock { $0.documented.subtracting($0.served) } }
    /// Every route served, as `METHOD /path`.
    public var served: Set<String> { self.state.withLock { $0.served } }
}
