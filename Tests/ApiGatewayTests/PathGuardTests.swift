import Foundation
import HTTPTypes
import Hiredis
import SensormineAuth
import SensormineClients
import Hummingbird
import HummingbirdTesting
import SensormineCore
import Testing

@testable import ApiGateway

/// What the gateway decides on is what it forwards: paths servers would read differently are refused.
@Suite("Gateway path guard")
struct PathGuardTests {
    @Test("dot segments, encoded slashes, dots and NULs, backslashes and empty segments are refused",
          arguments: ["/api/v1/auth/../tenants", "/api/v1/auth/./token", "/api/v1/auth/%2e%2e/tenants", "/api/v1/auth/.%2E/tenants",
                      "/api/v1/auth%2f..%2ftenants", "/api/v1/auth%2F..%2Ftenants", "/api/v1/tenants%00", "/api/v1\\auth", "/api/v1//tenants",
                      "/api/v1/auth/..", "api/v1/tenants"])
    func refused(path: String) {
        #expect(PathGuard.refusal(path) != nil)
    }

    @Test("plain paths, a trailing slash and encoded characters that are not separators pass",
          arguments: ["/api/v1/tenants", "/api/v1/tenants/", "/api/v1/devices/42/api-keys", "/api/v1/schemas/subjects/a%20b", "/api/v1/x.y/z..w"])
    func accepted(path: String) {
        #expect(PathGuard.refusal(path) == nil)
    }

    @Test("public and device prefixes cover whole segments only")
    func prefixes() {
        #expect(PathGuard.isUnder("/api/v1/auth/token", prefix: "/api/v1/auth/"))
        #expect(PathGuard.isUnder("/api/v1/auth/token", prefix: "/api/v1/auth"))
        #expect(PathGuard.isUnder("/api/v1/auth", prefix: "/api/v1/auth/"))
        #expect(!PathGuard.isUnder("/api/v1/authx/token", prefix: "/api/v1/auth"))
        #expect(!PathGuard.isUnder("/api/v1/ingestion", prefix: "/api/v1/ingest"))
        #expect(PathGuard.isUnder("/api/v1/ingest", prefix: "/api/v1/ingest"))
    }
}

extension GatewayTests {
    @Test("a path that climbs out of a public prefix is refused before it is forwarded; prefixes match whole segments")
    func pathTricks() async throws {
        try await GatewayTestApp.withEchoUpstream { port in
            let configuration = try GatewayTestApp.configuration(routes: "/api/v1/echo=http://127.0.0.1:\(port)",
                                                                 ["SENSORMINE_GATEWAY_PUBLIC_PREFIXES": "/api/v1/echo/open/"])
            try await GatewayTestApp.make(configuration).test(.live) { client in
                #expect(try await client.execute(uri: "/api/v1/echo/open/thing", method: .get).status == .ok)
                for tricky in ["/api/v1/echo/open/../secret", "/api/v1/echo/open/%2e%2e/secret", "/api/v1/echo/open%2f..%2fsecret", "/api/v1/echo/open//x"] {
                    let response = try await client.execute(uri: tricky, method: .get)
                    #expect(response.status == .badRequest, "\(tricky)")
                    #expect(response.headers[.contentType] == "application/problem+json")
                }
                #expect(try await client.execute(uri: "/api/v1/echo/openx/secret", method: .get).status == .unauthorized)
            }
        }
    }
}

extension GatewayTests {
    @Test("sign-in attempts are limited per account (any case) and per client address, and the body still reaches the token endpoint")
    func signInThrottle() async throws {
        let redis = RedisClient(configuration: try RedisClient.Configuration(reader: ConfigReader(values: GatewayTestApp.stack)))
        let addressKey = "sensormine:ratelimit:signin:address:127.0.0.1"
        _ = try await redis.command(["DEL", addressKey])
        try await GatewayTestApp.withEchoUpstream { port in
            let configuration = try GatewayTestApp.configuration(routes: "/api/v1/auth=http://127.0.0.1:\(port)", [
                "SENSORMINE_GATEWAY_PUBLIC_PREFIXES": "/api/v1/auth/",
                "SENSORMINE_GATEWAY_SIGNIN_ACCOUNT_LIMIT": "2/2", "SENSORMINE_GATEWAY_SIGNIN_ADDRESS_LIMIT": "5/5",
            ])
            try await GatewayTestApp.make(configuration).test(.live) { client in
                let account = "guess-\(UUID().uuidString.prefix(8))@example.com"
                func attempt(_ username: String) async throws -> TestResponse {
                    let body = #"{"grant_type":"password","username":"\#(username)","password":"wrong"}"#
                    return try await client.execute(uri: "/api/v1/auth/token", method: .post, headers: [.contentType: "application/json"],
                                                    body: ByteBuffer(string: body))
                }
                let first = try await attempt(account)
                #expect(first.status == .ok)
                let echoed = try GatewayTestApp.echo(first)
                #expect(echoed["bodyBytes"] == String(#"{"grant_type":"password","username":"\#(account)","password":"wrong"}"#.utf8.count))
                #expect(try await attempt(account.uppercased()).status == .ok)
                let refused = try await attempt(account)
                #expect(refused.status == .tooManyRequests)
                #expect(Int(refused.headers[.retryAfter] ?? "") ?? 0 >= 1)
                // Another account from the same address, until the address's budget is spent.
                let other = "other-\(UUID().uuidString.prefix(8))@example.com"
                #expect(try await attempt(other).status == .ok)
                #expect(try await attempt(other).status == .ok)
                #expect(try await attempt("third-\(UUID().uuidString.prefix(8))@example.com").status == .tooManyRequests)
            }
        }
        _ = try await redis.command(["DEL", addressKey])
        await redis.shutdown()
    }
}

extension GatewayTests {
    @Test("sub-tenants spend their organisation's rate-limit budget instead of each having their own")
    func organisationBudget() async throws {
        let tokens = try await AccessTokens(settings: tokenSettings)
        let organisation = UUID()
        let siteA = try await tokens.issue(for: CallerIdentity(subject: "a", tenantID: UUID(), roles: [.operator], organisationID: organisation)).token
        let siteB = try await tokens.issue(for: CallerIdentity(subject: "b", tenantID: UUID(), roles: [.operator], organisationID: organisation)).token
        let elsewhere = try await tokens.issue(for: CallerIdentity(subject: "c", tenantID: UUID(), roles: [.operator], organisationID: UUID())).token
        try await GatewayTestApp.withEchoUpstream { port in
            let configuration = try GatewayTestApp.configuration(
                routes: "/api/v1/echo=http://127.0.0.1:\(port)", ["SENSORMINE_GATEWAY_RATE_PER_SECOND": "1", "SENSORMINE_GATEWAY_RATE_BURST": "6"])
            try await GatewayTestApp.make(configuration).test(.live) { client in
                var allowed = 0
                for index in 0..<12 {
                    let token = index % 2 == 0 ? siteA : siteB
                    if try await client.execute(uri: "/api/v1/echo", method: .get, headers: GatewayTestApp.bearer(token)).status == .ok { allowed += 1 }
                }
                // One bucket of 6 (plus at most a token or two refilled meanwhile), not two.
                #expect((6...8).contains(allowed), "\(allowed)")
                #expect(try await client.execute(uri: "/api/v1/echo", method: .get, headers: GatewayTestApp.bearer(elsewhere)).status == .ok)
            }
        }
    }
}
