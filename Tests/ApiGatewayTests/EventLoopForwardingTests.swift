import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOHTTP1
import NIOPosix
import SensormineAuth
import SensormineCore
import TestSupport
import Testing

@testable import ApiGateway

/// The gateway's event-loop path (ADR 33): a request whose token was verified before is
/// forwarded without the router, so these tests send each request after one that verified it.
@Suite("Gateway event-loop forwarding")
struct EventLoopForwardingTests {
    let tokens: AccessTokens

    init() async throws {
        let values = ProcessInfo.processInfo.environment.filter { $0.key.hasPrefix("SENSORMINE_") }
        self.tokens = try await AccessTokens(settings: try TokenSettings(reader: ConfigReader(values: values)))
    }

    /// What the upstream saw and what the client got, minus what differs on every request.
    struct Exchange: Equatable {
        var seen: [String: String]
        var status: HTTPResponse.Status
        var answerFields: [String: String]
    }

    static func exchanges(forwarding: Bool, token: String) async throws -> [Exchange] {
        try await GatewayTestApp.withEchoUpstream { port in
            let configuration = try GatewayTestApp.configuration(routes: "/api/v1/echo=http://127.0.0.1:\(port)",
                                                                 ["SENSORMINE_GATEWAY_EVENT_LOOP_FORWARDING": String(forwarding)])
            return try await GatewayTestApp.make(configuration).test(.live) { client in
                var exchanges: [Exchange] = []
                for (index, method) in [HTTPRequest.Method.get, .post, .put, .delete, .patch].enumerated() {
                    var headers = GatewayTestApp.bearer(token)
                    headers[.callerTenant] = UUID().uuidString
                    headers[.gatewayToken] = "guess"
                    headers[.proxyAuthorization] = "Basic c2VjcmV0"
                    headers[.requestID] = "req-\(index)"
                    headers[HTTPField.Name("X-Custom")!] = "kept"
                    let body = method == .get || method == .delete ? nil : ByteBuffer(string: #"{"n":\#(index)}"#)
                    let response = try await client.execute(uri: "/api/v1/echo/item/\(index)?x=1", method: method, headers: headers, body: body)
                    var seen = try GatewayTestApp.echo(response)
                    // A new span per request; its shape is checked, not its value.
                    #expect(TraceParent(header: seen.removeValue(forKey: "h:traceparent") ?? "") != nil)
                    var answerFields: [String: String] = [:]
                    for field in response.headers where field.name != .date && field.name != .traceparent {
                        answerFields[field.name.canonicalName] = field.value
                    }
                    #expect(TraceParent(header: response.headers[.traceparent] ?? "") != nil)
                    #expect(response.headers[.date] != nil)
                    exchanges.append(Exchange(seen: seen, status: response.status, answerFields: answerFields))
                }
                return exchanges
            }
        }
    }

    @Test("a request forwarded on the event loop reaches the upstream and the client exactly as one through the router: identity asserted, credentials, spoofed and hop-by-hop headers dropped")
    func sameAsRouter() async throws {
        let caller = CallerIdentity(subject: "user-el", tenantID: UUID(), roles: [.operator])
        let token = try await self.tokens.issue(for: caller).token
        let forwarded = try await Self.exchanges(forwarding: true, token: token)
        let routed = try await Self.exchanges(forwarding: false, token: token)
        #expect(forwarded == routed)
        for (index, exchange) in forwarded.enumerated() {
            #expect(exchange.status == .ok)
            #expect(exchange.seen["uri"] == "/api/v1/echo/item/\(index)?x=1")
            #expect(exchange.seen["h:x-sensormine-tenant"] == caller.tenantID.uuidString.lowercased())
            #expect(exchange.seen["h:x-sensormine-roles"] == "operator")
            #expect(exchange.seen["h:x-request-id"] == "req-\(index)")
            #expect(exchange.seen["h:x-custom"] == "kept")
            #expect(exchange.seen["h:authorization"] == nil)
            #expect(exchange.seen["h:proxy-authorization"] == nil)
            #expect(exchange.answerFields["x-request-id"] == "req-\(index)")
            #expect(exchange.answerFields["server"] == "ApiGateway")
            #expect(exchange.answerFields["x-upstream-secret"] == nil)
        }
        #expect(forwarded[1].seen["bodyBytes"] == "7")
    }

    /// One response as the raw client read it.
    struct RawAnswer: Sendable, Equatable {
        var status: UInt
        var requestID: String?
        var body: String

        /// What the echo upstream saw.
        var seen: [String: String] { (try? JSONDecoder().decode([String: String].self, from: Data(self.body.utf8))) ?? [:] }
    }

    /// Reads `expected` responses in order from a connection.
    final class AnswerCollector: ChannelInboundHandler {
        typealias InboundIn = HTTPClientResponsePart
        private var head: HTTPResponseHead?
        private var body = ""
        private var answers: [RawAnswer] = []
        private let expected: Int
        private let done: EventLoopPromise<[RawAnswer]>

        init(expected: Int, done: EventLoopPromise<[RawAnswer]>) {
            self.expected = expected
            self.done = done
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch self.unwrapInboundIn(data) {
            case .head(let head):
                self.head = head
                self.body = ""
            case .body(let chunk):
                self.body += String(buffer: chunk)
            case .end:
                guard let head = self.head else { return }
                self.answers.append(RawAnswer(status: head.status.code, requestID: head.headers.first(name: "x-request-id"), body: self.body))
                if self.answers.count == self.expected { self.done.succeed(self.answers) }
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            self.done.fail(ChannelError.ioOnClosedChannel)
        }
    }

    /// Writes `requests` in one flush on one connection (pipelined) and reads their answers.
    static func pipelined(port: Int, _ requests: [(HTTPRequestHead, ByteBuffer?)]) async throws -> [RawAnswer] {
        let group = MultiThreadedEventLoopGroup.singleton
        let done = group.any().makePromise(of: [RawAnswer].self)
        let channel = try await ClientBootstrap(group: group).channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHTTPClientHandlers()
                try channel.pipeline.syncOperations.addHandler(AnswerCollector(expected: requests.count, done: done))
            }
        }.connect(host: "127.0.0.1", port: port).get()
        for (head, body) in requests {
            channel.write(HTTPClientRequestPart.head(head), promise: nil)
            if let body { channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil) }
            channel.write(HTTPClientRequestPart.end(nil), promise: nil)
        }
        channel.flush()
        let timeout = channel.eventLoop.scheduleTask(in: .seconds(20)) { done.fail(ChannelError.connectTimeout(.seconds(20))) }
        defer { timeout.cancel() }
        let answers = try await done.futureResult.get()
        try await channel.close()
        return answers
    }

    static func request(_ method: HTTPMethod, _ uri: String, id: String, token: String?, body: String? = nil) -> (HTTPRequestHead, ByteBuffer?) {
        var headers = HTTPHeaders([("Host", "gateway"), ("X-Request-ID", id)])
        if let token { headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body { headers.add(name: "Content-Length", value: String(body.utf8.count)) }
        return (HTTPRequestHead(version: .http1_1, method: method, uri: uri, headers: headers), body.map { ByteBuffer(string: $0) })
    }

    @Test("pipelined requests are answered in the order sent, whether forwarded on the event loop or refused by the router between them")
    func pipelinedInOrder() async throws {
        let token = try await self.tokens.issue(for: CallerIdentity(subject: "user-pipe", tenantID: UUID(), roles: [.viewer])).token
        try await GatewayTestApp.withEchoUpstream { port in
            let configuration = try GatewayTestApp.configuration(routes: "/api/v1/echo=http://127.0.0.1:\(port)")
            try await GatewayTestApp.make(configuration).test(.live) { client in
                // Verifies the token, which the event-loop path then trusts.
                #expect(try await client.execute(uri: "/api/v1/echo/warm", method: .get, headers: GatewayTestApp.bearer(token)).status == .ok)
                let gateway = try #require(client.port)
                let first = try await Self.pipelined(port: gateway, [
                    Self.request(.GET, "/api/v1/echo/1", id: "r1", token: token),
                    Self.request(.POST, "/api/v1/echo/2", id: "r2", token: token, body: "{\"n\":2}"),
                    Self.request(.GET, "/api/v1/echo/3", id: "r3", token: nil),
                    Self.request(.GET, "/api/v1/nowhere/4", id: "r4", token: token),
                    Self.request(.DELETE, "/api/v1/echo/5", id: "r5", token: token),
                ])
                #expect(first.map(\.status) == [200, 200, 401, 404, 200])
                #expect(first.map(\.requestID) == ["r1", "r2", "r3", "r4", "r5"])
                #expect(first[0].seen["uri"] == "/api/v1/echo/1")
                #expect(first[1].seen["bodyBytes"] == "7")
                #expect(first[4].seen["method"] == "DELETE")
                // The router first, then the event loop, on a fresh connection.
                let second = try await Self.pipelined(port: gateway, [
                    Self.request(.GET, "/api/v1/echo/6", id: "r6", token: "not-a-token"),
                    Self.request(.GET, "/api/v1/echo/7", id: "r7", token: token),
                    Self.request(.GET, "/api/v1/echo/8", id: "r8", token: token),
                ])
                #expect(second.map(\.status) == [401, 200, 200])
                #expect(second.map(\.requestID) == ["r6", "r7", "r8"])
                #expect(second[2].seen["uri"] == "/api/v1/echo/8")
            }
        }
    }

    @Test("a client that stops sending mid-body still gets the upstream's early answer, on either path",
          arguments: [true, false])
    func stalledBody(forwarding: Bool) async throws {
        let token = try await self.tokens.issue(for: CallerIdentity(subject: "user-stall", tenantID: UUID(), roles: [.operator])).token
        try await GatewayTestApp.withUpstream({ router in
            // Answers before reading the body, as a service refusing a request may.
            router.post("/api/v1/early") { _, _ in Response(status: .accepted) }
        }) { port in
            let configuration = try GatewayTestApp.configuration(routes: "/api/v1/early=http://127.0.0.1:\(port)",
                                                                 ["SENSORMINE_GATEWAY_EVENT_LOOP_FORWARDING": String(forwarding)])
            try await GatewayTestApp.make(configuration).test(.live) { client in
                #expect(try await client.execute(uri: "/api/v1/early", method: .post, headers: GatewayTestApp.bearer(token), body: ByteBuffer(string: "{}")).status == .accepted)
                let gateway = try #require(client.port)
                // Five bytes declared, two sent, and then nothing: the connection stays open.
                let group = MultiThreadedEventLoopGroup.singleton
                let done = group.any().makePromise(of: [RawAnswer].self)
                let channel = try await ClientBootstrap(group: group).channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(AnswerCollector(expected: 1, done: done))
                    }
                }.connect(host: "127.0.0.1", port: gateway).get()
                let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/api/v1/early", headers: HTTPHeaders([
                    ("Host", "gateway"), ("Authorization", "Bearer \(token)"), ("Content-Length", "5"), ("X-Request-ID", "stalled-1")]))
                channel.write(HTTPClientRequestPart.head(head), promise: nil)
                channel.writeAndFlush(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(string: "ab"))), promise: nil)
                // A bound on the wait so that a hang fails the test instead of stalling the run.
                let bound = channel.eventLoop.scheduleTask(in: .seconds(30)) { done.fail(ChannelError.connectTimeout(.seconds(30))) }
                defer { bound.cancel() }
                let answers = try await done.futureResult.get()
                #expect(answers.map(\.status) == [202])
                #expect(answers.first?.requestID == "stalled-1")
                try? await channel.close()
            }
        }
    }

    @Test("on the event-loop path a dead upstream is a 502 and a slow one a 504, as problem+json naming the request; a large answer streams whole")
    func failuresAndLargeAnswers() async throws {
        let token = try await self.tokens.issue(for: CallerIdentity(subject: "user-fail", tenantID: UUID(), roles: [.viewer])).token
        let large = String(repeating: "0123456789abcdef", count: 16_384)  // 256 KiB: streamed, not held
        try await GatewayTestApp.withUpstream({ router in
            GatewayTestApp.echoRoutes(router)
            router.get("/api/v1/large") { _, _ in large }
        }) { port in
            let configuration = try GatewayTestApp.configuration(
                routes: "/api/v1/echo=http://127.0.0.1:\(port),/api/v1/large=http://127.0.0.1:\(port),/api/v1/slow=http://127.0.0.1:\(port),/api/v1/dead=http://127.0.0.1:1",
                ["SENSORMINE_GATEWAY_UPSTREAM_TIMEOUT": "300ms"])
            try await GatewayTestApp.make(configuration).test(.live) { client in
                var headers = GatewayTestApp.bearer(token)
                #expect(try await client.execute(uri: "/api/v1/echo/warm", method: .get, headers: headers).status == .ok)
                headers[.requestID] = "dead-1"
                let dead = try await client.execute(uri: "/api/v1/dead/x", method: .get, headers: headers)
                #expect(dead.status == .badGateway)
                #expect(dead.headers[.contentType] == "application/problem+json")
                #expect(dead.headers[.requestID] == "dead-1")
                let problem = try JSONDecoder().decode(ProblemDetails.self, from: Data(String(buffer: dead.body).utf8))
                #expect(problem.type == "urn:sensormine:problem:upstream-unavailable")
                #expect(problem.requestId == "dead-1")
                #expect(problem.instance == "/api/v1/dead/x")
                let slow = try await client.execute(uri: "/api/v1/slow", method: .get, headers: headers)
                #expect(slow.status == .gatewayTimeout)
                #expect(slow.headers[.contentType] == "application/problem+json")
                for _ in 0..<3 {
                    let answer = try await client.execute(uri: "/api/v1/large", method: .get, headers: headers)
                    #expect(answer.status == .ok)
                    #expect(String(buffer: answer.body) == large)
                }
                // The connection still serves after the failures.
                #expect(try await client.execute(uri: "/api/v1/echo/after", method: .get, headers: headers).status == .ok)
            }
        }
    }
}
