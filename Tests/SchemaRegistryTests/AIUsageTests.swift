import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOConcurrencyHelpers
import SensormineCore
import SensormineJSON
import TestSupport
import Testing

@testable import SchemaRegistry

/// A local server speaking the Anthropic Messages wire format: it checks the headers, records
/// what it was asked, and answers with a refined schema (or fails, on demand).
final class FakeMessagesAPI: Sendable {
    let requests = NIOLockedValueBox<[JSON]>([])
    let failing = NIOLockedValueBox(false)
    static let refined = #"{"type":"object","required":["temperature"],"properties":{"temperature":{"type":"number","minimum":-40,"maximum":120,"x-unit":"°C"}}}"#

    func run<Result: Sendable>(_ body: @Sendable (String) async throws -> Result) async throws -> Result {
        try await LocalServer.run({ router in self.addRoutes(to: router) }, { port in try await body("http://127.0.0.1:\(port)") })
    }

    private func addRoutes(to router: Router<BasicRequestContext>) {
        router.post("/v1/messages") { request, _ -> Response in
            let bytes = try await request.body.collect(upTo: 1 << 20)
            self.requests.withLockedValue { $0.append((try? JSON.parse(Array(buffer: bytes))) ?? .null) }
            guard request.headers[HTTPField.Name("x-api-key")!] == "test-key", request.headers[HTTPField.Name("anthropic-version")!] == "2023-06-01" else {
                return Response(status: .unauthorized, body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"type":"error","error":{"type":"authentication_error","message":"bad key"}}"#)))
            }
            if self.failing.withLockedValue({ $0 }) {
                return Response(status: .internalServerError, body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"type":"error","error":{"type":"api_error","message":"overloaded"}}"#)))
            }
            let reply = JSON.object([
                "id": .string("msg_1"), "type": .string("message"), "role": .string("assistant"), "model": .string("test-model"),
                "content": .array([.object(["type": .string("text"), "text": .string("Here is the schema:\n```json\n\(FakeMessagesAPI.refined)\n```")])]),
                "stop_reason": .string("end_turn"), "usage": .object(["input_tokens": .number(1200), "output_tokens": .number(300)]),
            ]).canonicalText
            return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: reply)))
        }
    }
}

@Suite("SchemaRegistry AI refinement and metering")
struct AIUsageTests {
    @Test("a configured provider refines the proposal; every call is metered and reported per tenant")
    func refinementIsMetered() async throws {
        let fake = FakeMessagesAPI()
        let tenant = UUID()
        let viewer = CallerIdentity(subject: "v", tenantID: tenant, roles: [.viewer])
        let admin = CallerIdentity(subject: "a", tenantID: tenant, roles: [.tenantAdmin])
        let platform = CallerIdentity(subject: "p", tenantID: UUID(), roles: [.platformAdmin])
        try await fake.run { url in
            var values = ProcessInfo.processInfo.environment.filter { $0.key.hasPrefix("SENSORMINE_") }
            values["SENSORMINE_HTTP_PORT"] = "0"
            values["SENSORMINE_AI_URL"] = url
            values["SENSORMINE_AI_KEY"] = "test-key"
            values["SENSORMINE_AI_MODEL"] = "test-model"
            values["SENSORMINE_AI_PRICE_IN"] = "3"
            values["SENSORMINE_AI_PRICE_OUT"] = "15"
            var logger = Logger(label: "ai-tests")
            logger.logLevel = .critical
            let app = try await SchemaRegistryService.buildApplication(try SchemaRegistryConfiguration(reader: ConfigReader(values: values)),
                                                                        observability: Observability(logger: logger))
            try await app.test(.router) { client in
                var headers = try TrustedCallerRequests.headers(viewer)
                headers[.contentType] = "text/csv"
                let sample = "temperature,site\n21.5,north\n22.0,north\n"
                let refined = try JSON.parse(String(buffer: try await client.execute(uri: "/api/v1/schemas/infer", method: .post, headers: headers, body: ByteBuffer(string: sample)).body))
                #expect(refined["engine"] == .string("anthropic:test-model"))
                #expect(refined["schema"] == (try JSON.parse(FakeMessagesAPI.refined)))
                let asked = fake.requests.withLockedValue { $0 }.first
                #expect(asked?["model"] == .string("test-model"))
                #expect((asked?["messages"]?.array?.first?["content"]?.string ?? "").contains("21.5,north"))

                fake.failing.withLockedValue { $0 = true }
                let fallback = try JSON.parse(String(buffer: try await client.execute(uri: "/api/v1/schemas/infer", method: .post, headers: headers, body: ByteBuffer(string: sample)).body))
                #expect(fallback["engine"] == .string("deterministic"))
                let skipped = try JSON.parse(String(buffer: try await client.execute(uri: "/api/v1/schemas/infer?refine=false", method: .post, headers: headers, body: ByteBuffer(string: sample)).body))
                #expect(skipped["engine"] == .string("deterministic"))
                #expect(fake.requests.withLockedValue { $0.count } == 2)

                let (status, current) = try await client.call(.get, "/api/v1/aiusage/current", as: viewer)
                #expect(status == .ok)
                #expect(current["calls"] == .number(2))
                #expect(current["successful"] == .number(1))
                #expect(current["tokensIn"] == .number(1200))
                #expect(current["tokensOut"] == .number(300))
                // 1200 × $3/M + 300 × $15/M
                #expect(abs((current["costUSD"]?.number ?? 0) - 0.0081) < 1e-9)
                #expect(current["byModel"]?.array?.first?["provider"] == .string("anthropic"))
                #expect(try await client.call(.get, "/api/v1/aiusage/tenant/\(tenant)", as: viewer).0 == .forbidden)
                #expect(try await client.call(.get, "/api/v1/aiusage/tenant/\(tenant)", as: admin).1["calls"] == .number(2))
                #expect(try await client.call(.get, "/api/v1/aiusage/tenant/\(UUID())", as: admin).0 == .forbidden)
                #expect(try await client.call(.get, "/api/v1/aiusage/all", as: admin).0 == .forbidden)
                let (allStatus, all) = try await client.call(.get, "/api/v1/aiusage/all", as: platform)
                #expect(allStatus == .ok)
                #expect(all["tenants"]?.array?.contains { $0["tenantId"]?.string?.lowercased() == tenant.uuidString.lowercased() && $0["calls"] == .number(2) } == true)
            }
        }
    }
}
