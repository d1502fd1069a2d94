import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import SensormineCore
import Testing

@testable import DeviceAPI

@Suite("Service callers")
struct CallerTokenTests {
    static var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// DeviceAPI holding only the gateway token's SHA-256, as the chart configures it.
    static func app() async throws -> ServiceApplication {
        var values = environment.filter { $0.key.hasPrefix("SENSORMINE_") }
        values["SENSORMINE_HTTP_PORT"] = "0"
        values["SENSORMINE_HTTP_HOST"] = "127.0.0.1"
        let gateway = try GatewaySettings.token(reader: ConfigReader(values: values))
        values["SENSORMINE_GATEWAY_TOKEN"] = nil
        values["SENSORMINE_GATEWAY_TOKEN_SHA256"] = SHA256.hash(data: Array(gateway.utf8)).map { String(format: "%02x", $0) }.joined()
        var logger = Logger(label: "caller-token-tests")
        logger.logLevel = .warning
        return try await DeviceAPIService.buildApplication(try DeviceAPIConfiguration(reader: ConfigReader(values: values)), observability: Observability(logger: logger))
    }

    static func request(_ client: some TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, caller: ServiceCaller?, token: String? = nil,
                        roles: [Role], body: String? = nil) async throws -> HTTPResponse.Status {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.gatewayToken] = try token ?? GatewaySettings.token(reader: ConfigReader(values: environment), caller: caller ?? .gateway)
        headers[.callerSubject] = "caller-test"
        headers[.callerTenant] = UUID().uuidString
        headers[.callerRoles] = roles.map(\.rawValue).joined(separator: ",")
        return try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }).status
    }

    @Test("each calling service asserts only what it may; a receiver holding only a token's SHA-256 still checks it")
    func callerRights() async throws {
        let app = try await Self.app()
        try await app.test(.live) { client in
            // The gateway (checked against its digest) may assert anyone.
            #expect(try await Self.request(client, .get, "/api/v1/devices", caller: .gateway, roles: [.viewer]) == .ok)
            #expect(try await Self.request(client, .get, "/api/v1/devices", caller: .gateway, roles: [.tenantAdmin]) == .ok)
            // Ingestion: a viewer's reads, nothing else.
            #expect(try await Self.request(client, .get, "/api/v1/devices", caller: .ingestion, roles: [.viewer]) == .ok)
            #expect(try await Self.request(client, .get, "/api/v1/devices", caller: .ingestion, roles: [.tenantAdmin]) == .forbidden)
            #expect(try await Self.request(client, .post, "/api/v1/device-types", caller: .ingestion, roles: [.viewer], body: #"{"name":"x"}"#) == .forbidden)
            // EdgeGateway: activity reports only.
            let activity = try await Self.request(client, .post, "/api/v1/devices/activity", caller: .edgeGateway, roles: [.operator], body: #"{"devices":[]}"#)
            #expect(activity != .forbidden && activity != .unauthorized)
            #expect(try await Self.request(client, .get, "/api/v1/devices", caller: .edgeGateway, roles: [.operator]) == .forbidden)
            #expect(try await Self.request(client, .post, "/api/v1/devices/activity", caller: .edgeGateway, roles: [.platformAdmin], body: #"{"devices":[]}"#) == .forbidden)
            // Billing: an organisation's plan, as a platform-admin, nothing else (the tenant is unknown here: 404, not 403).
            #expect(try await Self.request(client, .put, "/api/v1/tenants/\(UUID())/plan", caller: .billing, roles: [.platformAdmin], body: #"{"plan":"pro"}"#) == .notFound)
            #expect(try await Self.request(client, .put, "/api/v1/tenants/\(UUID())/plan", caller: .billing, roles: [.tenantAdmin], body: #"{"plan":"pro"}"#) == .forbidden)
            #expect(try await Self.request(client, .patch, "/api/v1/tenants/\(UUID())", caller: .billing, roles: [.platformAdmin], body: #"{"name":"x"}"#) == .forbidden)
            #expect(try await Self.request(client, .get, "/api/v1/devices", caller: .billing, roles: [.platformAdmin]) == .forbidden)
            // The plan route is Billing's alone: the gateway's platform-admin is refused.
            #expect(try await Self.request(client, .put, "/api/v1/tenants/\(UUID())/plan", caller: .gateway, roles: [.platformAdmin], body: #"{"plan":"pro"}"#) == .forbidden)
            // Only the gateway reaches the sign-in route; an unknown token reaches nothing.
            #expect(try await Self.request(client, .post, "/api/v1/auth/token", caller: .ingestion, roles: [.viewer], body: "{}") == .forbidden)
            #expect(try await Self.request(client, .get, "/api/v1/devices", caller: nil, token: String(repeating: "z", count: 48), roles: [.viewer]) == .unauthorized)
        }
    }

    @Test("a digest that is not 64 hex characters is a configuration error naming the key")
    func badDigest() {
        let error = #expect(throws: ConfigurationError.self) {
            try TrustedCallers(reader: ConfigReader(values: ["SENSORMINE_GATEWAY_TOKEN_SHA256": "abc"]))
        }
        #expect(error?.key == "SENSORMINE_GATEWAY_TOKEN_SHA256")
    }
}
