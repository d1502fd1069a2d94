import Foundation
import HTTPTypes
import Hiredis
import Hummingbird
import HummingbirdTesting
import Logging
import SensormineClients
import SensormineCore
import SensormineJSON
import TestSupport
import Testing

@testable import SchemaRegistry

enum RegistryTestApp {
    static func configuration() throws -> SchemaRegistryConfiguration {
        var values = ProcessInfo.processInfo.environment.filter { $0.key.hasPrefix("SENSORMINE_") }
        values["SENSORMINE_HTTP_PORT"] = "0"
        values["SENSORMINE_HTTP_HOST"] = "127.0.0.1"
        return try SchemaRegistryConfiguration(reader: ConfigReader(values: values))
    }

    static func make(_ observability: Observability? = nil) async throws -> ServiceApplication {
        var logger = Logger(label: "registry-tests")
        logger.logLevel = .warning
        return try await SchemaRegistryService.buildApplication(try configuration(), observability: observability ?? Observability(logger: logger))
    }
}

@Suite("SchemaRegistry")
struct RegistryTests {
    static let v1 = #"{"type":"object","required":["temperature"],"properties":{"temperature":{"type":"number","minimum":-50,"maximum":900},"status":{"enum":["running","idle"]}}}"#

    @Test("versions are numbered, immutable and de-duplicated by canonical content; latest, deprecate and delete work")
    func versions() async throws {
        let admin = CallerIdentity(subject: "a", tenantID: UUID(), roles: [.tenantAdmin])
        let viewer = CallerIdentity(subject: "v", tenantID: admin.tenantID, roles: [.viewer])
        try await RegistryTestApp.make().test(.router) { client in
            let (created, first) = try await client.call(.post, "/api/v1/schemas/subjects/gas-turbine/versions", as: admin, json: #"{"schema":\#(Self.v1)}"#)
            #expect(created == .created)
            #expect(first["version"]?["version"] == .number(1))
            // The same schema with keys in another order is the same version.
            let reordered = #"{"schema":{"properties":{"status":{"enum":["running","idle"]},"temperature":{"maximum":900,"minimum":-50,"type":"number"}},"required":["temperature"],"type":"object"}}"#
            let (again, existing) = try await client.call(.post, "/api/v1/schemas/subjects/gas-turbine/versions", as: admin, json: reordered)
            #expect(again == .ok)
            #expect(existing["existing"] == .bool(true))
            #expect(existing["version"]?["contentHash"] == first["version"]?["contentHash"])
            let v2 = #"{"schema":{"type":"object","required":["temperature"],"properties":{"temperature":{"type":"number","minimum":-60,"maximum":1000},"status":{"enum":["running","idle","fault"]},"rpm":{"type":"integer"}}}}"#
            let (secondStatus, second) = try await client.call(.post, "/api/v1/schemas/subjects/gas-turbine/versions", as: admin, json: v2)
            #expect(secondStatus == .created)
            #expect(second["version"]?["version"] == .number(2))
            let (_, latest) = try await client.call(.get, "/api/v1/schemas/subjects/gas-turbine/versions/latest", as: viewer)
            #expect(latest["version"] == .number(2))
            let (_, subject) = try await client.call(.get, "/api/v1/schemas/subjects/gas-turbine", as: viewer)
            #expect(subject["compatibility"] == .string("BACKWARD"))
            #expect(subject["latestVersion"] == .number(2))
            #expect(try await client.call(.post, "/api/v1/schemas/subjects/gas-turbine/versions", as: viewer, json: v2).0 == .forbidden)
            let (_, deprecated) = try await client.call(.post, "/api/v1/schemas/subjects/gas-turbine/versions/1/deprecate", as: admin)
            #expect(deprecated["deprecated"] == .bool(true))
            #expect(try await client.call(.delete, "/api/v1/schemas/subjects/gas-turbine/versions/2", as: admin).0 == .noContent)
            let (_, afterDelete) = try await client.call(.get, "/api/v1/schemas/subjects/gas-turbine/versions/latest", as: viewer)
            #expect(afterDelete["version"] == .number(1))
            #expect(try await client.call(.get, "/api/v1/schemas/subjects/gas-turbine/versions/2", as: viewer).0 == .notFound)
            // Another tenant sees nothing of it.
            let stranger = CallerIdentity(subject: "s", tenantID: UUID(), roles: [.tenantAdmin])
            #expect(try await client.call(.get, "/api/v1/schemas/subjects/gas-turbine", as: stranger).0 == .notFound)
            #expect(try await client.call(.get, "/api/v1/schemas/subjects?tenantId=\(admin.tenantID)", as: stranger).0 == .forbidden)
            #expect(try await client.call(.delete, "/api/v1/schemas/subjects/gas-turbine", as: admin).0 == .noContent)
            #expect(try await client.call(.get, "/api/v1/schemas/subjects/gas-turbine", as: viewer).0 == .notFound)
        }
    }

    @Test("each breaking change is refused with its JSON pointer, per compatibility mode", arguments: [
        ("a property becomes required", #"{"type":"object","required":["temperature","rpm"],"properties":{"temperature":{"type":"number"}}}"#, "BACKWARD", "/required", "required-added"),
        ("a type is narrowed", #"{"type":"object","properties":{"temperature":{"type":"integer"}}}"#, "BACKWARD", "/properties/temperature/type", "type-narrowed"),
        ("a maximum is lowered", #"{"type":"object","properties":{"temperature":{"type":"number","maximum":500}}}"#, "BACKWARD", "/properties/temperature/maximum", "maximum-tightened"),
        ("an enum value is removed", #"{"type":"object","properties":{"status":{"enum":["running"]}}}"#, "BACKWARD", "/properties/status/enum", "enum-narrowed"),
        ("extra properties are closed", #"{"type":"object","properties":{"temperature":{"type":"number"},"status":{"enum":["running","idle"]}},"additionalProperties":false}"#, "BACKWARD", "/additionalProperties", "additional-properties-closed"),
        ("a pattern is added", #"{"type":"object","properties":{"site":{"type":"string","pattern":"^[A-Z]"}}}"#, "BACKWARD", "/properties/site/pattern", "pattern-changed"),
        ("forward: a maximum is raised", #"{"type":"object","properties":{"temperature":{"type":"number","maximum":2000}}}"#, "FORWARD", "/properties/temperature/maximum", "maximum-tightened"),
        ("forward: a type is widened", #"{"type":"object","properties":{"temperature":{"type":["number","string"]}}}"#, "FORWARD", "/properties/temperature/type", "type-narrowed"),
    ])
    func breakingChanges(_ name: String, _ candidate: String, _ mode: String, _ pointer: String, _ kind: String) async throws {
        let admin = CallerIdentity(subject: "a", tenantID: UUID(), roles: [.tenantAdmin])
        let base = #"{"type":"object","properties":{"temperature":{"type":"number","maximum":900},"status":{"enum":["running","idle"]},"site":{"type":"string"}}}"#
        try await RegistryTestApp.make().test(.router) { client in
            #expect(try await client.call(.post, "/api/v1/schemas/subjects", as: admin, json: #"{"name":"s","compatibility":"\#(mode)"}"#).0 == .created)
            #expect(try await client.call(.post, "/api/v1/schemas/subjects/s/versions", as: admin, json: #"{"schema":\#(base)}"#).0 == .created)
            let (status, problem) = try await client.call(.post, "/api/v1/schemas/subjects/s/versions", as: admin, json: #"{"schema":\#(candidate)}"#)
            #expect(status == .unprocessableContent, "\(name)")
            let errors = problem["errors"]?.array ?? []
            #expect(errors.contains { $0["pointer"]?.string == pointer && ($0["detail"]?.string ?? "").contains(kind) }, "\(name): \(problem.canonicalText)")
            // NONE accepts anything.
            #expect(try await client.call(.patch, "/api/v1/schemas/subjects/s", as: admin, json: #"{"compatibility":"NONE"}"#).0 == .ok)
            #expect(try await client.call(.post, "/api/v1/schemas/subjects/s/versions", as: admin, json: #"{"schema":\#(candidate)}"#).0 == .created)
        }
    }

    @Test("transitive modes check every earlier version, not only the latest")
    func transitive() async throws {
        let admin = CallerIdentity(subject: "a", tenantID: UUID(), roles: [.tenantAdmin])
        try await RegistryTestApp.make().test(.router) { client in
            for mode in ["BACKWARD", "BACKWARD_TRANSITIVE"] {
                let subject = "t-\(mode.lowercased())"
                _ = try await client.call(.post, "/api/v1/schemas/subjects", as: admin, json: #"{"name":"\#(subject)","compatibility":"\#(mode)"}"#)
                // v1 allows a string site; v2 drops site (open model, compatible); v3 re-adds it as a number.
                _ = try await client.call(.post, "/api/v1/schemas/subjects/\(subject)/versions", as: admin, json: #"{"schema":{"type":"object","properties":{"site":{"type":"string"}}}}"#)
                _ = try await client.call(.post, "/api/v1/schemas/subjects/\(subject)/versions", as: admin, json: #"{"schema":{"type":"object","properties":{"other":{"type":"string"}}}}"#)
                let (status, _) = try await client.call(.post, "/api/v1/schemas/subjects/\(subject)/versions", as: admin, json: #"{"schema":{"type":"object","properties":{"site":{"type":"number"}}}}"#)
                #expect(status == (mode == "BACKWARD" ? .created : .unprocessableContent), "\(mode)")
            }
        }
    }

    @Test("validation reports every violation of each payload, and bad input is a problem")
    func validation() async throws {
        let admin = CallerIdentity(subject: "a", tenantID: UUID(), roles: [.tenantAdmin])
        try await RegistryTestApp.make().test(.router) { client in
            _ = try await client.call(.post, "/api/v1/schemas/subjects/rotor/versions", as: admin, json: #"{"schema":\#(Self.v1)}"#)
            let (status, result) = try await client.call(.post, "/api/v1/schemas/subjects/rotor/versions/latest/validate", as: admin,
                                                          json: #"{"payloads":[{"temperature":20},{"temperature":"hot","status":"exploded"},{}]}"#)
            #expect(status == .ok)
            let results = result["results"]?.array ?? []
            #expect(results.map { $0["valid"] } == [.bool(true), .bool(false), .bool(false)])
            let second = Set((results[1]["violations"]?.array ?? []).map { "\($0["instanceLocation"]?.string ?? "") \($0["keyword"]?.string ?? "")" })
            #expect(second == ["/temperature type", "/status enum"])
            #expect(results[2]["violations"]?.array?.first?["keyword"] == .string("required"))
            #expect(try await client.call(.post, "/api/v1/schemas/subjects/rotor/versions/latest/validate", as: admin, json: #"{}"#).0 == .unprocessableContent)
            #expect(try await client.call(.post, "/api/v1/schemas/subjects/rotor/versions/x/validate", as: admin, json: #"{"payload":{}}"#).0 == .badRequest)
            #expect(try await client.call(.post, "/api/v1/schemas/subjects/rotor/versions/9/validate", as: admin, json: #"{"payload":{}}"#).0 == .notFound)
            let (badSchema, problem) = try await client.call(.post, "/api/v1/schemas/subjects/rotor/versions", as: admin,
                                                             json: #"{"schema":{"properties":{"a":{"pattern":"(["}}}}"#)
            #expect(badSchema == .unprocessableContent)
            #expect(problem["errors"]?.array?.first?["pointer"] == .string("/schema/properties/a/pattern"))
            #expect(try await client.call(.post, "/api/v1/schemas/subjects/bad%20name/versions", as: admin, json: #"{"schema":{}}"#).0 == .unprocessableContent)
        }
    }

    @Test("registered versions are mirrored in Redis for other services, and a new version moves latest")
    func redisCache() async throws {
        let admin = CallerIdentity(subject: "a", tenantID: UUID(), roles: [.tenantAdmin])
        let redis = RedisClient(configuration: try RedisClient.Configuration(reader: ConfigReader(values: ProcessInfo.processInfo.environment)))
        try await RegistryTestApp.make().test(.router) { client in
            _ = try await client.call(.post, "/api/v1/schemas/subjects/cached/versions", as: admin, json: #"{"schema":{"type":"object"}}"#)
            let key = "sensormine:schema:\(admin.tenantID.uuidString.lowercased()):cached"
            #expect(try await redis.command("GET", key + ":latest").string == "1")
            #expect(try await redis.command("GET", key + ":1").string == #"{"type":"object"}"#)
            _ = try await client.call(.post, "/api/v1/schemas/subjects/cached/versions", as: admin, json: #"{"schema":{"type":"object","properties":{"a":{}}}}"#)
            #expect(try await redis.command("GET", key + ":latest").string == "2")
            _ = try await client.call(.delete, "/api/v1/schemas/subjects/cached", as: admin)
            #expect(try await redis.command("GET", key + ":latest") == .null)
        }
        await redis.shutdown()
    }

    @Test("/openapi.yaml describes exactly the routes the SchemaRegistry serves")
    func openAPI() async throws {
        var logger = Logger(label: "openapi")
        logger.logLevel = .critical
        let observability = Observability(logger: logger)
        _ = try await RegistryTestApp.make(observability)
        #expect(observability.routes.undocumented.isEmpty, "\(observability.routes.undocumented.sorted())")
        #expect(observability.routes.unserved.isEmpty, "\(observability.routes.unserved.sorted())")
    }
}

extension RegistryTests {
    @Test("schemas that would crash or stall validation are refused at registration with the pointer; a catastrophic pattern answers in time")
    func hostileSchemas() async throws {
        let admin = CallerIdentity(subject: "a", tenantID: UUID(), roles: [.tenantAdmin])
        try await RegistryTestApp.make().test(.router) { client in
            let refused: [(schema: String, pointer: String)] = [
                (##"{"$ref":"#"}"##, "/$ref"),
                (##"{"$defs":{"a":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"}"##, "/$defs/a/$ref"),
                (#"{"type":"string","maxLength":1e300}"#, "/maxLength"),
                (#"{"type":"array","minItems":-1}"#, "/minItems"),
                (#"{"type":"array","maxItems":2.5}"#, "/maxItems"),
            ]
            for (schema, pointer) in refused {
                let (status, problem) = try await client.call(.post, "/api/v1/schemas/subjects/hostile/versions", as: admin, json: #"{"schema":\#(schema)}"#)
                #expect(status == .unprocessableContent, "\(schema)")
                let pointers = problem["errors"]?.array?.compactMap { $0["pointer"]?.string } ?? []
                #expect(pointers.contains { $0.contains(pointer) }, "\(schema): \(problem)")
            }
            // 1e400 is beyond a double: the body itself is refused, before any schema is compiled.
            let (huge, hugeProblem) = try await client.call(.post, "/api/v1/schemas/subjects/hostile/versions", as: admin,
                                                           json: #"{"schema":{"type":"string","maxLength":1e400}}"#)
            #expect(huge == .badRequest)
            #expect(hugeProblem["detail"]?.string?.contains("maxLength") == true)
            // Still usable: a tree of nodes, and a pattern that backtracks catastrophically.
            let tree = ##"{"type":"object","properties":{"name":{"type":"string","pattern":"^(a+)+$"},"children":{"type":"array","items":{"$ref":"#"}}}}"##
            #expect(try await client.call(.post, "/api/v1/schemas/subjects/hostile/versions", as: admin, json: #"{"schema":\#(tree)}"#).0 == .created)
            let evil = String(repeating: "a", count: 50) + "b"
            let clock = ContinuousClock()
            var answer: (HTTPResponse.Status, JSON) = (.ok, .null)
            let elapsed = try await clock.measure {
                answer = try await client.call(.post, "/api/v1/schemas/subjects/hostile/versions/latest/validate", as: admin,
                                               json: #"{"payloads":[{"name":"aaa","children":[{"name":"\#(evil)"}]},{"name":"aa"}]}"#)
            }
            #expect(answer.0 == .ok)
            let verdicts = answer.1["results"]?.array?.map { $0["valid"] } ?? []
            #expect(verdicts == [.bool(false), .bool(true)], "\(answer.1)")
            #expect(elapsed < .seconds(5), "took \(elapsed)")
        }
    }
}
