import Hummingbird
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOPosix
import Testing

@testable import ApiGateway

/// An upstream on raw SwiftNIO whose every connection is counted, so the pool's behaviour
/// (reuse, its bound, a connection closed under it, a broken answer) shows from the other side.
final class CountingUpstream: Sendable {
    enum Behaviour: Sendable {
        /// Answers `ok` after `delay`, keeping the connection alive.
        case answer(delay: TimeAmount)
        /// Answers a connection's first request, then closes it when the next one arrives, unanswered.
        case closeOnSecondRequest
        /// Answers bytes that are not HTTP.
        case garbage
        /// Answers `bytes` bytes of `x`, keeping the connection alive.
        case large(bytes: Int)
    }

    struct Counts {
        var connections = 0
        var open = 0
        var mostOpen = 0
        var requests = 0
    }

    let counts = NIOLockedValueBox(Counts())
    private let channel: any Channel
    var port: Int { self.channel.localAddress?.port ?? 0 }

    init(_ behaviour: Behaviour) async throws {
        let counts = self.counts
        self.channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if case .garbage = behaviour {
                        try channel.pipeline.syncOperations.addHandler(GarbageHandler())
                    } else {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                        try channel.pipeline.syncOperations.addHandler(Handler(behaviour: behaviour, counts: counts))
                    }
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    func stop() async {
        try? await self.channel.close()
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let behaviour: Behaviour
        let counts: NIOLockedValueBox<Counts>
        var answered = 0

        init(behaviour: Behaviour, counts: NIOLockedValueBox<Counts>) {
            self.behaviour = behaviour
            self.counts = counts
        }

        func channelActive(context: ChannelHandlerContext) {
            self.counts.withLockedValue { counts in
                counts.connections += 1
                counts.open += 1
                counts.mostOpen = max(counts.mostOpen, counts.open)
            }
            context.fireChannelActive()
        }

        func channelInactive(context: ChannelHandlerContext) {
            self.counts.withLockedValue { $0.open -= 1 }
            context.fireChannelInactive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .end = self.unwrapInboundIn(data) else { return }
            self.counts.withLockedValue { $0.requests += 1 }
            switch self.behaviour {
            case .closeOnSecondRequest where self.answered > 0:
                context.close(promise: nil)
            case .answer(let delay) where delay > .zero:
                context.eventLoop.assumeIsolated().scheduleTask(in: delay) { self.answer(context: context) }
            default:
                self.answer(context: context)
            }
        }

        private func answer(context: ChannelHandlerContext) {
            self.answered += 1
            if case .large(let bytes) = self.behaviour {
                let head = HTTPResponseHead(version: .http1_1, status: .ok, headers: ["content-length": String(bytes)])
                context.write(self.wrapOutboundOut(.head(head)), promise: nil)
                for _ in 0..<(bytes / 4096) { context.write(self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(repeating: 0x78, count: 4096)))), promise: nil) }
                context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
                return
            }
            let head = HTTPResponseHead(version: .http1_1, status: .ok, headers: ["content-length": "2"])
            context.write(self.wrapOutboundOut(.head(head)), promise: nil)
            context.write(self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: "ok")))), promise: nil)
            context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
        }
    }

    private final class GarbageHandler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(string: "HTTP/1.1 two hundred\r\nno colon here\r\n\r\n")), promise: nil)
        }
    }
}

@Suite("Gateway upstream client")
struct UpstreamClientTests {
    static func client(connections: Int) throws -> UpstreamClient {
        try UpstreamClient(connectionsPerUpstream: connections, connectTimeout: .seconds(2), logger: Logger(label: "upstream-tests"))
    }

    static func address(_ upstream: CountingUpstream) throws -> UpstreamAddress {
        try #require(UpstreamAddress(url: "http://127.0.0.1:\(upstream.port)"))
    }

    @Test("an upstream's base URL is read once: host, port, IPv6 literal, mount path; credentials, queries and bad ports are refused")
    func addresses() throws {
        let plain = try #require(UpstreamAddress(url: "http://device-api:8081"))
        #expect(plain.host == "device-api" && plain.port == 8081 && plain.basePath == "" && !plain.secure && plain.authority == "device-api:8081")
        let mounted = try #require(UpstreamAddress(url: "https://query.example/base/v2/"))
        #expect(mounted.secure && mounted.port == 443 && mounted.basePath == "/base/v2" && mounted.authority == "query.example")
        let literal = try #require(UpstreamAddress(url: "http://[::1]:9000"))
        #expect(literal.host == "::1" && literal.port == 9000 && literal.authority == "[::1]:9000")
        for refused in ["ftp://a:1", "http://", "http://user:secret@a:1", "http://a:1/x?y=1", "http://a:1/x#f", "http://a:0", "http://a:65536",
                        "http://a:port", "http://[::1", "http://[::1]x", "http://:80"] {
            #expect(UpstreamAddress(url: refused) == nil, "\(refused)")
        }
    }

    @Test("requests in turn share one keep-alive connection; 12 at once open no more than the pool's 3, and every one is answered")
    func poolBound() async throws {
        let upstream = try await CountingUpstream(.answer(delay: .milliseconds(50)))
        let client = try Self.client(connections: 3)
        let address = try Self.address(upstream)
        for _ in 0..<5 {
            let answer = try await client.send(method: .GET, to: address, target: "/x", headers: [:], body: nil, timeout: .seconds(5))
            #expect(answer.status == 200)
            #expect(String(buffer: try await answer.collect(upTo: 100)) == "ok")
        }
        #expect(upstream.counts.withLockedValue { $0.connections } == 1)
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<12 {
                group.addTask { try await client.send(method: .GET, to: address, target: "/y", headers: [:], body: nil, timeout: .seconds(5)).status }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(statuses == Array(repeating: 200, count: 12))
        let counts = upstream.counts.withLockedValue { $0 }
        #expect(counts.mostOpen <= 3 && counts.connections <= 3 && counts.requests == 17)
        await client.shutdown()
        await upstream.stop()
    }

    /// Counts the reads the exchange handler lets through towards the socket.
    final class ReadCounter: ChannelOutboundHandler {
        typealias OutboundIn = Any
        var count = 0

        func read(context: ChannelHandlerContext) {
            self.count += 1
            context.read()
        }
    }

    @Test("a streamed answer's reader that falls behind holds the socket's reads back, and the read held when the answer ends is issued, so the kept-alive connection reads again")
    func heldReadIsOwed() throws {
        let channel = EmbeddedChannel()
        let reads = ReadCounter()
        let handler = UpstreamExchangeHandler(wholeBodyBytes: 16)
        try channel.pipeline.syncOperations.addHandler(reads)
        try channel.pipeline.syncOperations.addHandler(handler)
        let answer = channel.eventLoop.makePromise(of: UpstreamClient.Answer.self)
        _ = handler.start(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/big"), hasBody: false, timeout: .seconds(5), answer: answer)
        try channel.writeInbound(HTTPClientResponsePart.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: ["content-length": "1000"])))
        channel.read()
        #expect(reads.count == 1)
        // Nobody takes the body (the answer holds it): past the high watermark reads are held.
        for _ in 0..<10 { try channel.writeInbound(HTTPClientResponsePart.body(ByteBuffer(repeating: 0x61, count: 100))) }
        channel.read()
        #expect(reads.count == 1)
        try channel.writeInbound(HTTPClientResponsePart.end(nil))
        #expect(reads.count == 2)
        _ = answer
    }

    @Test("a request waiting for a connection of a full pool times out at its deadline")
    func waitingTimesOut() async throws {
        let upstream = try await CountingUpstream(.answer(delay: .seconds(2)))
        let client = try Self.client(connections: 1)
        let address = try Self.address(upstream)
        async let slow = client.send(method: .GET, to: address, target: "/slow", headers: [:], body: nil, timeout: .seconds(5))
        try await Task.sleep(for: .milliseconds(100))
        await #expect(throws: UpstreamClient.Failure.timeout) {
            _ = try await client.send(method: .GET, to: address, target: "/second", headers: [:], body: nil, timeout: .milliseconds(300))
        }
        #expect(try await slow.status == 200)
        #expect(upstream.counts.withLockedValue { $0.connections } == 1)
        await client.shutdown()
        await upstream.stop()
    }

    @Test("a pooled connection the upstream closes as it is reused is replaced for a request without a body; one with a body is not resent")
    func staleConnection() async throws {
        let upstream = try await CountingUpstream(.closeOnSecondRequest)
        let client = try Self.client(connections: 4)
        let address = try Self.address(upstream)
        for _ in 0..<3 {
            #expect(try await client.send(method: .GET, to: address, target: "/x", headers: [:], body: nil, timeout: .seconds(5)).status == 200)
        }
        // Three answered, each on a new connection after the upstream dropped the one before.
        #expect(upstream.counts.withLockedValue { ($0.connections, $0.requests) } == (3, 5))
        let relay = RequestBodyRelay(RequestBody(buffer: ByteBuffer(string: "payload")), length: 7, limit: 100, tooLarge: { UpstreamClient.Failure.timeout })
        await #expect(throws: UpstreamClient.Failure.self) {
            _ = try await client.send(method: .POST, to: address, target: "/x", headers: [:], body: relay, timeout: .seconds(5))
        }
        await relay.close()
        #expect(upstream.counts.withLockedValue { $0.requests } == 6)
        await client.shutdown()
        await upstream.stop()
    }

    @Test("an https:// upstream is spoken to in TLS: a plain-HTTP server behind one fails the handshake instead of answering in the clear")
    func tlsUpstream() async throws {
        let upstream = try await CountingUpstream(.answer(delay: .zero))
        let client = try Self.client(connections: 2)
        let plain = try Self.address(upstream)
        #expect(try await client.send(method: .GET, to: plain, target: "/x", headers: [:], body: nil, timeout: .seconds(5)).status == 200)
        let secure = try #require(UpstreamAddress(url: "https://127.0.0.1:\(upstream.port)"))
        await #expect(throws: UpstreamClient.Failure.self) {
            _ = try await client.send(method: .GET, to: secure, target: "/x", headers: [:], body: nil, timeout: .seconds(5))
        }
        #expect(upstream.counts.withLockedValue { $0.requests } == 1)
        await client.shutdown()
        await upstream.stop()
    }

    @Test("an answer that is not HTTP fails the exchange as the upstream's fault; a dead port too")
    func brokenUpstreams() async throws {
        let upstream = try await CountingUpstream(.garbage)
        let client = try Self.client(connections: 2)
        await #expect(throws: UpstreamClient.Failure.self) {
            _ = try await client.send(method: .GET, to: try Self.address(upstream), target: "/x", headers: [:], body: nil, timeout: .seconds(5))
        }
        let dead = try #require(UpstreamAddress(url: "http://127.0.0.1:1"))
        await #expect(throws: UpstreamClient.Failure.self) {
            _ = try await client.send(method: .GET, to: dead, target: "/x", headers: [:], body: nil, timeout: .seconds(5))
        }
        await client.shutdown()
        await upstream.stop()
    }
}
