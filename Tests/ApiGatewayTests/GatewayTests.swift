import Curl
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOConcurrencyHelpers
import RdKafka
import SensormineAuth
import SensormineClients
import SensormineContracts
import SensormineCore
import TestSupport
import Testing

@testable import ApiGateway
@testable import DeviceAPI

/// The gateway built from the local stack's settings, with test overrides.
enum GatewayTestApp {
    static var stack: [String: String] { ProcessInfo.processInfo.environment.filter { $0.key.hasPrefix("SENSORMINE_") } }

    static func configuration(routes: String, _ overrides: [String: String] = [:]) throws -> ApiGatewayConfiguration {
        var values = stack
        values["SENSORMINE_HTTP_PORT"] = "0"
        values["SENSORMINE_HTTP_HOST"] = "127.0.0.1"
        values["SENSORMINE_GATEWAY_ROUTES"] = routes
        values.merge(overrides) { $1 }
        return try ApiGatewayConfiguration(reader: ConfigReader(values: values))
    }

    static var logger: Logger {
        var logger = Logger(label: "gateway-tests")
        logger.logLevel = .critical
        return logger
    }

    static func make(_ configuration: ApiGatewayConfiguration) async throws -> ServiceApplication {
        try await ApiGatewayService.buildApplication(configuration, observability: Observability(logger: logger))
    }

    static func bearer(_ token: String) -> HTTPFields {
        var fields = HTTPFields()
        fields[.authorization] = "Bearer \(token)"
        fields[.contentType] = "application/json"
        return fields
    }

    /// Runs an upstream that answers every /api/v1 request with what it received, on a free port.
    static func withEchoUpstream<Result: Sendable>(_ body: @Sendable (Int) async throws -> Result) async throws -> Result {
        try await withUpstream(echoRoutes, body)
    }

    static func echoRoutes(_ router: Router<BasicRequestContext>) {
        for method in [HTTPRequest.Method.get, .post, .put, .patch, .delete] {
            router.on("/api/v1/**", method: method) { request, _ -> Response in
                if request.uri.path.hasPrefix("/api/v1/slow") { try await Task.sleep(for: .seconds(2)) }
                let received = try await request.body.collect(upTo: 10 << 20)
                var echo: [String: String] = ["method": request.method.rawValue, "uri": request.uri.description, "bodyBytes": String(received.readableBytes)]
                for field in request.headers { echo["h:" + field.name.canonicalName] = field.value }
                let data = try JSONEncoder().encode(echo)
                return Response(status: .ok, headers: [.contentType: "application/json", .connection: "x-upstream-secret", HTTPField.Name("X-Upstream-Secret")!: "1"],
                                body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
            }
        }
    }

    /// Runs an upstream with `configure`'s routes on a free port while `body` runs.
    static func withUpstream<Result: Sendable>(_ configure: (Router<BasicRequestContext>) -> Void, _ body: @Sendable (Int) async throws -> Result) async throws -> Result {
        try await LocalServer.run(configure, body)
    }

    /// Runs the real DeviceAPI on `port` while `body` runs.
    static func withDeviceAPI<Result: Sendable>(port: Int, _ body: @Sendable () async throws -> Result) async throws -> Result {
        var values = stack
        values["SENSORMINE_HTTP_PORT"] = String(port)
        values["SENSORMINE_HTTP_HOST"] = "127.0.0.1"
        let deviceAPI = try await DeviceAPIService.buildApplication(try DeviceAPIConfiguration(reader: ConfigReader(values: values)), observability: Observability(logger: logger))
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await deviceAPI.run() }
            defer { group.cancelAll() }
            return try await body()
        }
    }

    /// Creates an organisation through the gateway, waiting while DeviceAPI (which migrates
    /// before it listens) still answers 502.
    static func createOrganisation(_ client: some TestClientProtocol, token: String, json: String) async throws -> TestResponse {
        for _ in 0..<100 {
            let response = try await client.execute(uri: "/api/v1/tenants", method: .post, headers: bearer(token), body: ByteBuffer(string: json))
            if response.status != .badGateway { return response }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw DeviceAPIUnavailable()
    }

    struct DeviceAPIUnavailable: Error {}

    static func echo(_ response: TestResponse) throws -> [String: String] {
        try JSONDecoder().decode([String: String].self, from: Data(String(buffer: response.body).utf8))
    }
}

@Suite("ApiGateway")
struct GatewayTests {
    let tokenSettings: TokenSettings = {
        let values = ProcessInfo.processInfo.environment.filter { $0.key.hasPrefix("SENSORMINE_") }
        return (try? TokenSettings(reader: ConfigReader(values: values))) ?? TokenSettings(hs256Secret: "unset-unset-unset-unset-unset-unset")
    }()

    @Test("the routing table matches the longest prefix on whole segments")
    func routingTable() throws {
        let table = try RoutingTable(parsing: "/api/v1/tenants=http://a:1, /api/v1/tenants/special=http://b:2/, /api/v1/devices=https://c", key: "K")
        #expect(table.route(for: "/api/v1/tenants")?.upstream == "http://a:1")
        #expect(table.route(for: "/api/v1/tenants/42")?.upstream == "http://a:1")
        #expect(table.route(for: "/api/v1/tenants/special/x")?.upstream == "http://b:2")
        #expect(table.route(for: "/api/v1/tenantsx") == nil)
        #expect(table.route(for: "/api/v2/tenants") == nil)
        let error = #expect(throws: ConfigurationError.self) { try RoutingTable(parsing: "/api/v1/x=ftp://nope", key: "SENSORMINE_GATEWAY_ROUTES") }
        #expect(error?.key == "SENSORMINE_GATEWAY_ROUTES")
    }

    @Test("the verified identity is attached; spoofed identity and hop-by-hop headers are not forwarded")
    func forwardsIdentity() async throws {
        let tokens = try await AccessTokens(settings: tokenSettings)
        let caller = CallerIdentity(subject: "user-1", tenantID: UUID(), roles: [.operator])
        let token = try await tokens.issue(for: caller).token
        try await GatewayTestApp.withEchoUpstream { port in
            let configuration = try GatewayTestApp.configuration(routes: "/api/v1/echo=http://127.0.0.1:\(port)")
            try await GatewayTestApp.make(configuration).test(.live) { client in
                var headers = GatewayTestApp.bearer(token)
                headers[.callerRoles] = "platform-admin"
                headers[.callerTenant] = UUID().uuidString
                headers[.gatewayToken] = "guess"
                headers[.proxyAuthorization] = "Basic c2VjcmV0"
                headers[HTTPField.Name("Keep-Alive")!] = "timeout=5"
                headers[.requestID] = "req-gw-1"
                headers[HTTPField.Name("X-Custom")!] = "kept"
                let response = try await client.execute(uri: "/api/v1/echo/item?x=1", method: .post, headers: headers, body: ByteBuffer(string: #"{"a":1}"#))
                #expect(response.status == .ok)
                let seen = try GatewayTestApp.echo(response)
                #expect(seen["uri"] == "/api/v1/echo/item?x=1")
                #expect(seen["method"] == "POST")
                #expect(seen["bodyBytes"] == "7")
                #expect(seen["h:x-sensormine-roles"] == "operator")
                #expect(seen["h:x-sensormine-tenant"] == caller.tenantID.uuidString.lowercased())
                #expect(seen["h:x-sensormine-subject"] == "user-1")
                #expect(seen["h:x-sensormine-gateway-token"] == configuration.gatewayToken)
                #expect(seen["h:proxy-authorization"] == nil)
                #expect(seen["h:keep-alive"] == nil)
                #expect(seen["h:authorization"] == nil)
                #expect(seen["h:x-custom"] == "kept")
                #expect(seen["h:x-request-id"] == "req-gw-1")
                #expect(TraceParent(header: seen["h:traceparent"] ?? "") != nil)
                #expect(response.headers[HTTPField.Name("X-Upstream-Secret")!] == nil)
                #expect(response.headers[.requestID] == "req-gw-1")
            }
        }
    }

    @Test("each tenant's API calls are counted and published on metering.events as usage records (api-calls), once each; a refused request is not a call")
    func metersAPICalls() async throws {
        let tokens = try await AccessTokens(settings: tokenSettings)
        let (first, second) = (UUID(), UUID())
        let firstToken = try await tokens.issue(for: CallerIdentity(subject: "u-1", tenantID: first, roles: [.viewer])).token
        let secondToken = try await tokens.issue(for: CallerIdentity(subject: "u-2", tenantID: second, roles: [.operator])).token
        let prefix = "gateway-\(UUID().uuidString.prefix(8).lowercased())"
        try await GatewayTestApp.withEchoUpstream { port in
            let configuration = try GatewayTestApp.configuration(routes: "/api/v1/echo=http://127.0.0.1:\(port)",
                                                                 ["SENSORMINE_KAFKA_TOPIC_PREFIX": prefix, "SENSORMINE_GATEWAY_USAGE_INTERVAL": "200ms"])
            let admin = try KafkaAdmin(configuration: configuration.kafka.kafka, logger: GatewayTestApp.logger)
            try await admin.createTopics([configuration.kafka.topics.meteringEvents], partitions: 3)
            await admin.shutdown()
            try await GatewayTestApp.make(configuration).test(.live) { client in
                for _ in 0..<5 { #expect(try await client.execute(uri: "/api/v1/echo/a", method: .get, headers: GatewayTestApp.bearer(firstToken)).status == .ok) }
                for _ in 0..<3 { #expect(try await client.execute(uri: "/api/v1/echo/b", method: .post, headers: GatewayTestApp.bearer(secondToken), body: ByteBuffer(string: "{}")).status == .ok) }
                // Refused before it was forwarded: not a call.
                #expect(try await client.execute(uri: "/api/v1/echo/a", method: .get, headers: GatewayTestApp.bearer("forged")).status == .unauthorized)
                let consumer = try KafkaConsumer(configuration: .init(kafka: configuration.kafka.kafka, groupID: "\(prefix)-reader", topics: [configuration.kafka.topics.meteringEvents],
                                                                      batchSize: 1000), logger: GatewayTestApp.logger)
                var records: [UsageRecord] = []
                let deadline = ContinuousClock.now + .seconds(60)
                let decoder = ContractCoding.decoder()
                func total(_ tenant: UUID) -> Double { records.filter { $0.tenantId == tenant }.reduce(0) { $0 + $1.quantity } }
                while ContinuousClock.now < deadline, total(first) < 5 || total(second) < 3 {
                    records += try await consumer.poll(timeout: .milliseconds(200)).compactMap { try? decoder.decode(UsageRecord.self, from: Data($0.value)) }
                }
                // Nothing more arrives later (each interval's counts go out once).
                let settle = ContinuousClock.now + .seconds(1)
                while ContinuousClock.now < settle {
                    records += try await consumer.poll(timeout: .milliseconds(200)).compactMap { try? decoder.decode(UsageRecord.self, from: Data($0.value)) }
                }
                await consumer.close()
                #expect(total(first) == 5)
                #expect(total(second) == 3)
                #expect(records.allSatisfy { $0.resource == .apiCalls && $0.unit == "calls" && $0.producer == "api-gateway" })
                #expect(Set(records.map(\.eventId)).count == records.count)
            }
        }
    }

    @Test("forged, expired and foreign tokens are refused with 401")
    func tokenAttacks() async throws {
        let tokens = try await AccessTokens(settings: tokenSettings)
        let caller = CallerIdentity(subject: "user-2", tenantID: UUID(), roles: [.tenantAdmin])
        let valid = try await tokens.issue(for: caller).token
        let parts = valid.split(separator: ".").map(String.init)
        func base64URL(_ data: Data) -> String {
            data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        }
        func decoded(_ segment: String) throws -> [String: Any] {
            var text = segment.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            while text.count % 4 != 0 { text += "=" }
            return try JSONSerialization.jsonObject(with: Data(base64Encoded: text)!) as! [String: Any]
        }
        var payload = try decoded(parts[1])
        payload["tid"] = UUID().uuidString.lowercased()
        let tampered = [parts[0], base64URL(try JSONSerialization.data(withJSONObject: payload)), parts[2]].joined(separator: ".")
        let algNone = [base64URL(Data(#"{"alg":"none","typ":"JWT"}"#.utf8)), parts[1], ""].joined(separator: ".")
        var expiredSettings = tokenSettings
        expiredSettings.accessTokenLifetime = .seconds(60)
        let expired = try await AccessTokens(settings: expiredSettings).issue(for: caller, now: Date().addingTimeInterval(-3600)).token
        var otherKey = tokenSettings
        otherKey.hs256Secret = String(repeating: "k", count: 40)
        var otherIssuer = tokenSettings
        otherIssuer.issuer = "someone-else"
        var otherAudience = tokenSettings
        otherAudience.audience = "another-api"
        let wrongSignature = try await AccessTokens(settings: otherKey).issue(for: caller).token
        let wrongIssuer = try await AccessTokens(settings: otherIssuer).issue(for: caller).token
        let wrongAudience = try await AccessTokens(settings: otherAudience).issue(for: caller).token

        try await GatewayTestApp.withEchoUpstream { port in
            try await GatewayTestApp.make(try GatewayTestApp.configuration(routes: "/api/v1/echo=http://127.0.0.1:\(port)")).test(.live) { client in
                #expect(try await client.execute(uri: "/api/v1/echo", method: .get, headers: GatewayTestApp.bearer(valid)).status == .ok)
                for (name, token) in [("tampered tenant", tampered), ("alg none", algNone), ("expired", expired), ("wrong signature", wrongSignature),
                                      ("wrong issuer", wrongIssuer), ("wrong audience", wrongAudience), ("garbage", "not.a.token")] {
                    let response = try await client.execute(uri: "/api/v1/echo", method: .get, headers: GatewayTestApp.bearer(token))
                    #expect(response.status == .unauthorized, "\(name) was not refused")
                    #expect(response.headers[.contentType] == "application/problem+json")
                }
                #expect(try await client.execute(uri: "/api/v1/echo", method: .get).status == .unauthorized)
                var basic = HTTPFields()
                basic[.authorization] = "Basic dXNlcjpwYXNz"
                #expect(try await client.execute(uri: "/api/v1/echo", method: .get, headers: basic).status == .unauthorized)
            }
        }
    }

    @Test("the console's pages are forwarded for GET without credentials (and without identity headers); other methods are not; / leads to the console")
    func consolePrefix() async throws {
        try await GatewayTestApp.withUpstream({ router in
            router.get("/console/**") { request, _ -> Response in
                var echo: [String: String] = ["uri": request.uri.description]
                for field in request.headers { echo["h:" + field.name.canonicalName] = field.value }
                return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: try JSONEncoder().encode(echo))))
            }
        }) { port in
            let configuration = try GatewayTestApp.configuration(routes: "/api/v1/echo=http://127.0.0.1:1,/console=http://127.0.0.1:\(port)")
            #expect(configuration.staticPrefixes == ["/console"])
            try await GatewayTestApp.make(configuration).test(.live) { client in
                var spoofed = HTTPFields()
                spoofed[HTTPField.Name("X-Sensormine-Caller-Roles")!] = "platform-admin"
                let page = try await client.execute(uri: "/console/devices/42?range=24h", method: .get, headers: spoofed)
                #expect(page.status == .ok)
                let echo = try GatewayTestApp.echo(page)
                #expect(echo["uri"] == "/console/devices/42?range=24h")
                #expect(echo.keys.contains { $0.hasPrefix("h:x-sensormine-caller") } == false, "\(echo)")
                let post = try await client.execute(uri: "/console/x", method: .post)
                #expect(post.status != .ok)
                #expect(try await client.execute(uri: "/console/../api/v1/echo", method: .get).status != .ok)
                let root = try await client.execute(uri: "/", method: .get)
                #expect(root.status == .found)
                #expect(root.headers[.location] == "/console/")
            }
        }
        #expect(throws: ConfigurationError.self) {
            try GatewayTestApp.configuration(routes: "/api/v1/echo=http://127.0.0.1:1", ["SENSORMINE_GATEWAY_STATIC_PREFIXES": "/api/v1/devices"])
        }
    }

    @Test("the platform's health lists each upstream with its readiness, for platform-admins only")
    func platformHealth() async throws {
        let tokens = try await AccessTokens(settings: tokenSettings)
        let admin = try await tokens.issue(for: CallerIdentity(subject: "root", tenantID: UUID(), roles: [.platformAdmin])).token
        let tenantAdmin = try await tokens.issue(for: CallerIdentity(subject: "u", tenantID: UUID(), roles: [.tenantAdmin])).token
        try await GatewayTestApp.withUpstream({ router in
            router.get("/health/ready") { _, _ -> Response in
                Response(status: .ok, headers: [.contentType: "application/json", .server: "EchoService"],
                         body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"status":"ready","checks":{"postgres":"up"}}"#)))
            }
        }) { port in
            let configuration = try GatewayTestApp.configuration(routes: "/api/v1/echo=http://127.0.0.1:\(port),/api/v1/more=http://127.0.0.1:\(port),/api/v1/dead=http://127.0.0.1:1")
            try await GatewayTestApp.make(configuration).test(.live) { client in
                #expect(try await client.execute(uri: "/api/v1/platform/health", method: .get).status == .unauthorized)
                #expect(try await client.execute(uri: "/api/v1/platform/health", method: .get, headers: GatewayTestApp.bearer(tenantAdmin)).status == .forbidden)
                let answer = try await client.execute(uri: "/api/v1/platform/health", method: .get, headers: GatewayTestApp.bearer(admin))
                #expect(answer.status == .ok)
                let decoder = JSONDecoder()
                decoder.dateDecodingStrategy = .iso8601
                let health = try decoder.decode(PlatformHealth.self, from: Data(String(buffer: answer.body).utf8))
                #expect(health.services.count == 2)
                let echo = try #require(health.services.first { $0.name == "EchoService" })
                #expect(echo.ready && echo.checks == ["postgres": "up"] && echo.prefixes == ["/api/v1/echo", "/api/v1/more"])
                let dead = try #require(health.services.first { $0.upstream == "http://127.0.0.1:1" })
                #expect(!dead.ready && dead.detail?.contains("did not answer") == true)
            }
        }
    }

    @Test("unknown paths are 404, dead upstreams 502, slow ones 504, large bodies 413")
    func upstreamFailures() async throws {
        let token = try await AccessTokens(settings: tokenSettings).issue(for: CallerIdentity(subject: "u", tenantID: UUID(), roles: [.viewer])).token
        try await GatewayTestApp.withEchoUpstream { port in
            let configuration = try GatewayTestApp.configuration(
                routes: "/api/v1/echo=http://127.0.0.1:\(port),/api/v1/slow=http://127.0.0.1:\(port),/api/v1/dead=http://127.0.0.1:1",
                ["SENSORMINE_GATEWAY_UPSTREAM_TIMEOUT": "300ms", "SENSORMINE_GATEWAY_MAX_BODY_BYTES": "1024"]
            )
            try await GatewayTestApp.make(configuration).test(.live) { client in
                let headers = GatewayTestApp.bearer(token)
                #expect(try await client.execute(uri: "/api/v1/nowhere", method: .get, headers: headers).status == .notFound)
                let dead = try await client.execute(uri: "/api/v1/dead/x", method: .get, headers: headers)
                #expect(dead.status == .badGateway)
                #expect(dead.headers[.contentType] == "application/problem+json")
                #expect(try await client.execute(uri: "/api/v1/slow", method: .get, headers: headers).status == .gatewayTimeout)
                let large = try await client.execute(uri: "/api/v1/echo", method: .post, headers: headers, body: ByteBuffer(repeating: 0x41, count: 4096))
                #expect(large.status == .contentTooLarge)
            }
        }
    }

    @Test("bodies stream through the gateway both ways: large uploads pass, the limit applies without a length, responses arrive chunk by chunk")
    func streamsBodies() async throws {
        let token = try await AccessTokens(settings: tokenSettings).issue(for: CallerIdentity(subject: "u", tenantID: UUID(), roles: [.operator])).token
        let gate = AsyncStream<Void>.makeStream()
        try await GatewayTestApp.withUpstream({ router in
            router.post("/api/v1/stream/count") { request, _ -> String in
                var count = 0
                for try await chunk in request.body { count += chunk.readableBytes }
                return String(count)
            }
            router.get("/api/v1/stream/gated") { _, _ -> Response in
                Response(status: .ok, headers: [.contentType: "text/plain"], body: ResponseBody { writer in
                    try await writer.write(ByteBuffer(string: "first;"))
                    // The second chunk waits until the client has seen the first, which it
                    // cannot if the gateway buffers the response.
                    let waited = try await withThrowingTaskGroup(of: Bool.self) { group in
                        group.addTask {
                            var opened = gate.stream.makeAsyncIterator()
                            return await opened.next() != nil
                        }
                        group.addTask { try await Task.sleep(for: .seconds(10)); return false }
                        defer { group.cancelAll() }
                        return try await group.next() ?? false
                    }
                    try await writer.write(ByteBuffer(string: waited ? "second" : "second-after-timeout"))
                    try await writer.finish(nil)
                })
            }
        }) { port in
            let configuration = try GatewayTestApp.configuration(routes: "/api/v1/stream=http://127.0.0.1:\(port)", ["SENSORMINE_GATEWAY_MAX_BODY_BYTES": String(8 << 20)])
            try await GatewayTestApp.make(configuration).test(.live) { testClient in
                let gateway = "http://127.0.0.1:\(testClient.port ?? 0)"
                let client = HTTPClient(configuration: .init(maximumRetries: 0))
                let headers = [(name: "Authorization", value: "Bearer \(token)")]

                // 6 MiB sent chunked (no Content-Length), more than the gateway ever holds.
                let upload = try client.start(HTTPClientRequest(method: "POST", url: gateway + "/api/v1/stream/count", headers: headers), upload: .streamed(length: nil))
                for _ in 0..<96 { try await upload.write(ByteBuffer(repeating: 0x61, count: 65_536)) }
                upload.finishBody()
                #expect(try await upload.response().status == 200)
                #expect(String(decoding: try await upload.body.collect(), as: UTF8.self) == String(96 * 65_536))

                // Past the limit without a Content-Length: the gateway stops at the limit.
                let tooLarge = try client.start(HTTPClientRequest(method: "POST", url: gateway + "/api/v1/stream/count", headers: headers), upload: .streamed(length: nil))
                for _ in 0..<160 { try? await tooLarge.write(ByteBuffer(repeating: 0x62, count: 65_536)) }
                tooLarge.finishBody()
                let refused = try await tooLarge.response()
                #expect(refused.status == 413)
                #expect(refused.header("content-type") == "application/problem+json")

                // With a declared length over the limit it refuses before reading anything.
                let declared = try await client.execute(HTTPClientRequest(method: "POST", url: gateway + "/api/v1/stream/count", headers: headers,
                                                                          body: [UInt8](repeating: 0x63, count: (8 << 20) + 1)))
                #expect(declared.status == 413)

                let gated = try client.start(HTTPClientRequest(url: gateway + "/api/v1/stream/gated", headers: headers))
                #expect(try await gated.response().status == 200)
                var chunks = gated.body.makeAsyncIterator()
                #expect(try await chunks.next().map { String(buffer: $0) } == "first;")
                gate.continuation.yield()
                var rest = ""
                while let chunk = try await chunks.next() { rest += String(buffer: chunk) }
                #expect(rest == "second")
                await client.shutdown()
            }
        }
    }

    @Test("a tenant past its rate limit gets 429 with Retry-After; other tenants are unaffected")
    func rateLimit() async throws {
        let tokens = try await AccessTokens(settings: tokenSettings)
        let busy = try await tokens.issue(for: CallerIdentity(subject: "busy", tenantID: UUID(), roles: [.operator])).token
        let quiet = try await tokens.issue(for: CallerIdentity(subject: "quiet", tenantID: UUID(), roles: [.operator])).token
        try await GatewayTestApp.withEchoUpstream { port in
            let configuration = try GatewayTestApp.configuration(
                routes: "/api/v1/echo=http://127.0.0.1:\(port)", ["SENSORMINE_GATEWAY_RATE_PER_SECOND": "1", "SENSORMINE_GATEWAY_RATE_BURST": "5"])
            try await GatewayTestApp.make(configuration).test(.live) { client in
                let statuses = try await withThrowingTaskGroup(of: (HTTPResponse.Status, String?).self) { group in
                    for _ in 0..<20 {
                        group.addTask {
                            let response = try await client.execute(uri: "/api/v1/echo", method: .get, headers: GatewayTestApp.bearer(busy))
                            return (response.status, response.headers[.retryAfter])
                        }
                    }
                    return try await group.reduce(into: [(HTTPResponse.Status, String?)]()) { $0.append($1) }
                }
                let allowed = statuses.filter { $0.0 == .ok }.count
                let limited = statuses.filter { $0.0 == .tooManyRequests }
                #expect((5...6).contains(allowed))
                #expect(limited.count == 20 - allowed)
                #expect(limited.allSatisfy { Int($0.1 ?? "") ?? 0 >= 1 })
                #expect(try await client.execute(uri: "/api/v1/echo", method: .get, headers: GatewayTestApp.bearer(quiet)).status == .ok)
            }
        }
    }

    @Test("through the gateway to the real DeviceAPI: tokens decide what each caller sees")
    func endToEnd() async throws {
        let tokens = try await AccessTokens(settings: tokenSettings)
        try await GatewayTestApp.withDeviceAPI(port: 18281) {
            let configuration = try GatewayTestApp.configuration(routes: "/api/v1/tenants=http://127.0.0.1:18281")
            try await GatewayTestApp.make(configuration).test(.live) { client in
                let admin = try await tokens.issue(for: CallerIdentity(subject: "root", tenantID: UUID(), roles: [.platformAdmin])).token
                let created = try await GatewayTestApp.createOrganisation(client, token: admin, json: #"{"name":"GW \#(UUID().uuidString.prefix(8))","kind":"organisation"}"#)
                #expect(created.status == .created)
                let org = try DeviceAPITestSupport.decode(Tenant.self, created)
                let orgAdmin = try await tokens.issue(for: CallerIdentity(subject: "org-admin", tenantID: org.id, roles: [.tenantAdmin])).token
                let site = try await client.execute(uri: "/api/v1/tenants", method: .post, headers: GatewayTestApp.bearer(orgAdmin),
                                                    body: ByteBuffer(string: #"{"name":"Plant","kind":"site","parentId":"\#(org.id)"}"#))
                #expect(site.status == .created)
                let siteID = try DeviceAPITestSupport.decode(Tenant.self, site).id
                let viewer = try await tokens.issue(for: CallerIdentity(subject: "viewer", tenantID: siteID, roles: [.viewer])).token
                #expect(try await client.execute(uri: "/api/v1/tenants/\(org.id)", method: .get, headers: GatewayTestApp.bearer(viewer)).status == .notFound)
                #expect(try await client.execute(uri: "/api/v1/tenants/\(siteID)", method: .get, headers: GatewayTestApp.bearer(viewer)).status == .ok)
                #expect(try await client.execute(uri: "/api/v1/tenants/\(siteID)", method: .delete, headers: GatewayTestApp.bearer(viewer)).status == .forbidden)
                #expect(try await client.execute(uri: "/api/v1/tenants/\(siteID)", method: .delete, headers: GatewayTestApp.bearer(orgAdmin)).status == .noContent)
                #expect(try await client.execute(uri: "/api/v1/tenants/\(org.id)", method: .delete, headers: GatewayTestApp.bearer(admin)).status == .noContent)
            }
        }
    }

    @Test("a tenant's plan sizes its bucket: a free-plan tenant is limited sooner than an enterprise one")
    func planLimits() async throws {
        let tokens = try await AccessTokens(settings: tokenSettings)
        let free = try await tokens.issue(for: CallerIdentity(subject: "f", tenantID: UUID(), roles: [.viewer], plan: "free")).token
        let enterprise = try await tokens.issue(for: CallerIdentity(subject: "e", tenantID: UUID(), roles: [.viewer], plan: "enterprise")).token
        try await GatewayTestApp.withEchoUpstream { port in
            let configuration = try GatewayTestApp.configuration(routes: "/api/v1/echo=http://127.0.0.1:\(port)", [
                "SENSORMINE_GATEWAY_PLAN_LIMITS": "free=1/3,enterprise=1000/2000",
                "SENSORMINE_GATEWAY_RATE_PER_SECOND": "1", "SENSORMINE_GATEWAY_RATE_BURST": "5",
            ])
            try await GatewayTestApp.make(configuration).test(.live) { client in
                func burst(_ token: String) async throws -> Int {
                    try await withThrowingTaskGroup(of: Bool.self) { group in
                        for _ in 0..<12 {
                            group.addTask { try await client.execute(uri: "/api/v1/echo", method: .get, headers: GatewayTestApp.bearer(token)).status == .ok }
                        }
                        return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
                    }
                }
                let freeAllowed = try await burst(free)
                let enterpriseAllowed = try await burst(enterprise)
                #expect((3...4).contains(freeAllowed))
                #expect(enterpriseAllowed == 12)
            }
        }
        let invalid = #expect(throws: ConfigurationError.self) {
            try GatewayTestApp.configuration(routes: "/api/v1/echo=http://127.0.0.1:1", ["SENSORMINE_GATEWAY_PLAN_LIMITS": "free=fast"])
        }
        #expect(invalid?.key == "SENSORMINE_GATEWAY_PLAN_LIMITS")
    }

    @Test("device API keys through the gateway: accepted on device routes only, refused the moment DeviceAPI revokes them")
    func deviceKeys() async throws {
        let tokens = try await AccessTokens(settings: tokenSettings)
        try await GatewayTestApp.withEchoUpstream { port in
            try await GatewayTestApp.withDeviceAPI(port: 18282) {
                let routes = "/api/v1/devices=http://127.0.0.1:18282,/api/v1/device-types=http://127.0.0.1:18282,/api/v1/tenants=http://127.0.0.1:18282,/api/v1/ingest=http://127.0.0.1:\(port)"
                try await GatewayTestApp.make(try GatewayTestApp.configuration(routes: routes)).test(.live) { client in
                    let admin = try await tokens.issue(for: CallerIdentity(subject: "root", tenantID: UUID(), roles: [.platformAdmin])).token
                    let created = try await GatewayTestApp.createOrganisation(
                        client, token: admin, json: #"{"name":"Keys \#(UUID().uuidString.prefix(8))","kind":"organisation"}"#)
                    let org = try DeviceAPITestSupport.decode(Tenant.self, created)
                    let orgAdmin = GatewayTestApp.bearer(try await tokens.issue(for: CallerIdentity(subject: "a", tenantID: org.id, roles: [.tenantAdmin])).token)
                    let type = try DeviceAPITestSupport.decode(DeviceType.self, try await client.execute(
                        uri: "/api/v1/device-types", method: .post, headers: orgAdmin, body: ByteBuffer(string: #"{"name":"Rotor"}"#)))
                    let device = try DeviceAPITestSupport.decode(Device.self, try await client.execute(
                        uri: "/api/v1/devices", method: .post, headers: orgAdmin, body: ByteBuffer(string: #"{"name":"r-1","deviceTypeId":"\#(type.id)"}"#)))
                    let issued = try DeviceAPITestSupport.decode(IssuedAPIKey.self, try await client.execute(
                        uri: "/api/v1/devices/\(device.id)/api-keys", method: .post, headers: orgAdmin, body: ByteBuffer(string: "{}")))

                    var keyed = HTTPFields()
                    keyed[ProxyController.apiKey] = issued.key
                    keyed[.contentType] = "application/json"
                    let accepted = try await client.execute(uri: "/api/v1/ingest", method: .post, headers: keyed, body: ByteBuffer(string: "{}"))
                    #expect(accepted.status == .ok)
                    let seen = try GatewayTestApp.echo(accepted)
                    #expect(seen["h:x-sensormine-subject"] == device.id.uuidString.lowercased())
                    #expect(seen["h:x-sensormine-tenant"] == org.id.uuidString.lowercased())
                    #expect(seen["h:x-sensormine-roles"] == "device")
                    #expect(seen["h:x-api-key"] == nil)
                    // A device key opens device routes only.
                    #expect(try await client.execute(uri: "/api/v1/devices", method: .get, headers: keyed).status == .forbidden)
                    var wrong = keyed
                    wrong[ProxyController.apiKey] = issued.key + "x"
                    #expect(try await client.execute(uri: "/api/v1/ingest", method: .post, headers: wrong, body: ByteBuffer(string: "{}")).status == .unauthorized)

                    let revoke = try await client.execute(uri: "/api/v1/devices/\(device.id)/api-keys/\(issued.apiKey.id)", method: .delete, headers: orgAdmin)
                    #expect(revoke.status == .noContent)
                    let refused = try await client.execute(uri: "/api/v1/ingest", method: .post, headers: keyed, body: ByteBuffer(string: "{}"))
                    #expect(refused.status == .unauthorized)
                    #expect(refused.headers[.contentType] == "application/problem+json")
                    _ = try await client.execute(uri: "/api/v1/devices/\(device.id)", method: .delete, headers: orgAdmin)
                }
            }
        }
    }
}

/// Decoding DeviceAPI's JSON (ISO 8601 dates).
enum DeviceAPITestSupport {
    static func decode<Value: Decodable>(_ type: Value.Type, _ response: TestResponse) throws -> Value {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(type, from: Data(String(buffer: response.body).utf8))
    }
}
