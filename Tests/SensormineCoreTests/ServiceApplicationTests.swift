import ClientRuntime
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

@testable import SensormineCore

@Suite("Service application")
struct ServiceApplicationTests {
    struct Failure: Error, CustomStringConvertible {
        var description: String { "connection refused" }
    }

    static func makeApp(checks: [ReadinessCheck] = []) -> ServiceApplication {
        var builder = ServiceApplicationBuilder(
            descriptor: ServiceDescriptor(name: "TestService", summary: "A test service.", defaultPort: 9999),
            http: HTTPSettings(port: 0),
            observability: Observability(logger: Logger(label: "test"))
        )
        builder.readinessChecks = checks
        builder.openAPIPaths = "  /echo:\n    get:\n      responses:\n        '200': { description: ok }"
        return builder.build { router in
            router.get("/echo") { _, _ in OutboundContext.current?.traceparent ?? "none" }
            router.get("/boom") { _, _ -> String in throw Failure() }
            router.get("/ids") { _, _ -> IDs in IDs(id: UUID(uuidString: "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0")!, note: "ABCDEF01-2345-6789-ABCD-EF0123456789x") }
            router.get("/outage") { _, _ -> String in throw ClientError(.unreachable, client: "postgres", "connection refused") }
            router.get("/refused") { _, _ -> String in
                throw ClientError(.serverError, client: "postgres", "invalid byte sequence for encoding \"UTF8\": 0x00", serverCode: "22021")
            }
            router.post("/items") { request, context -> String in
                struct Item: Decodable { let name: String; let tags: [String: String]? }
                let item = try await request.decode(as: Item.self, context: context)
                guard !item.name.isEmpty else {
                    throw APIError.validationFailed("the item is invalid", errors: [.init(pointer: "/name", detail: "must not be empty")])
                }
                return item.name
            }
        }
    }

    struct IDs: ResponseCodable {
        var id: UUID
        var note: String
    }

    static func problem(_ response: TestResponse) throws -> ProblemDetails {
        try JSONDecoder().decode(ProblemDetails.self, from: Data(String(buffer: response.body).utf8))
    }

    @Test("liveness, metrics and the OpenAPI document are served")
    func standardRoutes() async throws {
        try await Self.makeApp().test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/openapi.yaml", method: .get) { response in
                #expect(response.status == .ok)
                let text = String(buffer: response.body)
                #expect(text.hasPrefix("openapi: 3.1.0"))
                #expect(text.contains("/health/ready:"))
                #expect(text.contains("/echo:"))
            }
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
            }
        }
    }

    @Test("readiness is 503 problem+json naming the failing dependency, 200 when all answer")
    func readiness() async throws {
        let failing = [
            ReadinessCheck(name: "postgres") {},
            ReadinessCheck(name: "redis") { throw Failure() },
        ]
        try await Self.makeApp(checks: failing).test(.router) { client in
            try await client.execute(uri: "/health/ready", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.contentType] == "application/problem+json")
                let problem = try Self.problem(response)
                #expect(problem.detail?.contains("redis") == true)
                #expect(problem.detail?.contains("postgres") == false)
                #expect(problem.checks == ["postgres": "up", "redis": "connection refused"])
            }
        }
        try await Self.makeApp(checks: [ReadinessCheck(name: "postgres") {}]).test(.router) { client in
            try await client.execute(uri: "/health/ready", method: .get) { #expect($0.status == .ok) }
        }
    }

    @Test("errors become problem+json: unknown route, bad JSON, validation, internal failure")
    func problems() async throws {
        try await Self.makeApp().test(.router) { client in
            try await client.execute(uri: "/missing", method: .get, headers: [.requestID: "req-1"]) { response in
                #expect(response.status == .notFound)
                let problem = try Self.problem(response)
                #expect(problem.type == "urn:sensormine:problem:not-found")
                #expect(problem.requestId == "req-1")
            }
            try await client.execute(uri: "/items", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: "{oops")) { response in
                #expect(response.status == .badRequest)
                #expect(response.headers[.contentType] == "application/problem+json")
            }
            try await client.execute(uri: "/items", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: #"{"name":""}"#)) { response in
                #expect(response.status == .unprocessableContent)
                let errors = try Self.problem(response).errors
                #expect(errors == [ProblemDetails.FieldError(pointer: "/name", detail: "must not be empty")])
            }
            try await client.execute(uri: "/boom", method: .get) { response in
                #expect(response.status == .internalServerError)
                let problem = try Self.problem(response)
                #expect(problem.detail?.contains("connection refused") == false)
                #expect(problem.requestId?.isEmpty == false)
            }
        }
    }

    @Test("X-Request-ID and traceparent are accepted, echoed and handed to outbound calls")
    func requestIdentity() async throws {
        let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        var headers = HTTPFields()
        headers[.requestID] = "abc-1"
        headers[.traceparent] = incoming
        let requestHeaders = headers
        try await Self.makeApp().test(.router) { client in
            try await client.execute(uri: "/echo", method: .get, headers: requestHeaders) { response in
                let echoedID: String? = response.headers[.requestID]
                #expect(echoedID == "abc-1")
                let outbound = String(buffer: response.body)
                let parsed = TraceParent(header: outbound)
                #expect(parsed?.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
                #expect(parsed?.parentID != "00f067aa0ba902b7")
                let echoed: String? = response.headers[.traceparent]
                #expect(echoed == outbound)
            }
            try await client.execute(uri: "/echo", method: .get, headers: [.requestID: "bad/id"]) { response in
                let generated = response.headers[.requestID] ?? ""
                #expect(UUID(uuidString: generated) != nil)
                #expect(TraceParent(header: String(buffer: response.body)) != nil)
            }
        }
    }
}

extension ServiceApplicationTests {
    @Test("U+0000 anywhere in a JSON body is a 400 naming the field; an escaped backslash before u0000 is not")
    func nulInBody() async throws {
        try await Self.makeApp().test(.router) { client in
            try await client.execute(uri: "/items", method: .post, body: ByteBuffer(string: #"{"name":"ok","tags":{"site":"a\u0000b"}}"#)) { response in
                #expect(response.status == .badRequest)
                let problem = try Self.problem(response)
                #expect(problem.errors?.first?.pointer == "/tags/site")
                #expect(problem.errors?.first?.detail.contains("U+0000") == true)
            }
            try await client.execute(uri: "/items", method: .post, body: ByteBuffer(string: #"{"name":"ok","tags":{"a\u0000":"x"}}"#)) { response in
                let problem = try Self.problem(response)
                #expect(problem.errors?.first?.pointer == "/tags/a\u{0}")
            }
            try await client.execute(uri: "/items", method: .post, body: ByteBuffer(string: #"{"name":"back\\u0000slash"}"#)) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == #"back\u0000slash"#)
            }
        }
    }

    @Test("a dependency outage is a 503 with Retry-After; data the database refuses is a 400; neither is a 500")
    func clientErrors() async throws {
        try await Self.makeApp().test(.router) { client in
            try await client.execute(uri: "/outage", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] == "5")
                #expect(response.headers[.contentType] == "application/problem+json")
                let problem = try Self.problem(response)
                #expect(problem.detail?.contains("postgres") == true)
            }
            try await client.execute(uri: "/refused", method: .get) { response in
                #expect(response.status == .badRequest)
                let problem = try Self.problem(response)
                #expect(problem.detail?.contains("0x00") == true)
            }
        }
    }
}

extension ServiceApplicationTests {
    @Test("UUIDs in responses are lower case (RFC 9562); other strings are left as they are")
    func canonicalUUIDs() async throws {
        try await Self.makeApp().test(.router) { client in
            try await client.execute(uri: "/ids", method: .get) { response in
                // Key order is the encoder's; the values are what matters.
                let fields = try JSONDecoder().decode([String: String].self, from: Data(String(buffer: response.body).utf8))
                #expect(fields == ["id": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "note": "ABCDEF01-2345-6789-ABCD-EF0123456789x"])
            }
        }
    }
}
