import AsyncAlgorithms
import ClientRuntime
import Foundation
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// The gateway's connections to the services behind it: a keep-alive pool per upstream on the
/// server's own event loops, each connection a channel whose one handler runs an exchange
/// without leaving its event loop (ADR 30). Redirects are passed to the caller, never followed;
/// bodies stream both ways with back-pressure.
final class UpstreamClient: Sendable {
    /// What went wrong with an exchange that is the upstream's fault, not the caller's.
    enum Failure: Error, Equatable {
        /// No answer within the deadline (connecting, waiting for a connection, or between two reads).
        case timeout
        /// The upstream could not be reached or broke the connection.
        case unreachable(String)
    }

    /// An upstream's answer; its body whole when it was small, else still arriving.
    struct Answer: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: UpstreamBody

        /// The whole body, when it is known to be small.
        /// - Throws: ``Failure`` when the upstream breaks off or is too slow.
        func collect(upTo limit: Int) async throws -> ByteBuffer {
            if case .whole(let buffer) = self.body.content { return buffer }
            var collected = ByteBuffer()
            for try await chunk in self.body {
                guard collected.readableBytes + chunk.readableBytes <= limit else { throw Failure.unreachable("the answer is longer than it declared") }
                collected.writeImmutableBuffer(chunk)
            }
            return collected
        }
    }

    private let settings: UpstreamPool.Settings
    private let pools = NIOLockedValueBox<[UpstreamAddress: UpstreamPool]>([:])

    /// - Parameters:
    ///   - connectionsPerUpstream: connections open at most per service; a request beyond waits for one (within its deadline).
    ///   - connectTimeout: how long a new connection may take before the request fails.
    ///   - wholeBodyBytes: answers with a Content-Length up to this are read whole before they are handed over.
    init(connectionsPerUpstream: Int, connectTimeout: Duration, wholeBodyBytes: Int = ProxyController.wholeBodyBytes, logger: Logger) throws {
        self.settings = UpstreamPool.Settings(
            maximumConnections: connectionsPerUpstream, connectTimeout: .milliseconds(connectTimeout.milliseconds),
            wholeBodyBytes: wholeBodyBytes, tls: try NIOSSLContext(configuration: .makeClientConfiguration()), logger: logger)
    }

    /// Sends one request to `target` (path and query) on `address`. A request without a body is
    /// sent again once if a pooled connection turns out to have been closed by the upstream just
    /// before it was used.
    /// - Throws: ``Failure`` for the upstream's faults; the body's own error (a 413 from the relay)
    ///   or cancellation as they are.
    func send(method: HTTPMethod, to address: UpstreamAddress, target: String, headers: HTTPHeaders, body: RequestBodyRelay?,
              timeout: Duration) async throws -> Answer {
        let head = Self.head(method: method, to: address, target: target, headers: headers, body: body.map { $0.length ?? -1 })
        return try await self.send(head, to: address, body: body, timeout: timeout)
    }

    /// Sends a request whose head ``head(method:to:target:headers:body:)`` made.
    func send(_ head: HTTPRequestHead, to address: UpstreamAddress, body: RequestBodyRelay?, timeout: Duration) async throws -> Answer {
        let pool = self.pool(for: address)
        let timeout = TimeAmount.milliseconds(timeout.milliseconds)
        let deadline = NIODeadline.now() + timeout
        var attempt = 0
        while true {
            attempt += 1
            let connection = try await pool.acquire(deadline: deadline)
            do {
                return try await connection.exchange(head, body: body, timeout: timeout)
            } catch UpstreamConnection.Closed.beforeAnswer(let reused) {
                if reused && body == nil && attempt == 1 { continue }
                throw Failure.unreachable("the connection closed before an answer")
            }
        }
    }

    /// The head sent upstream: the target under the service's base path, its Host, and the
    /// body's framing (`body`: its length, -1 for one streamed without a length, nil for none).
    static func head(method: HTTPMethod, to address: UpstreamAddress, target: String, headers: HTTPHeaders, body: Int?) -> HTTPRequestHead {
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: address.basePath + target, headers: headers)
        head.headers.replaceOrAdd(name: "host", value: address.authority)
        if let length = body {
            if length >= 0 {
                head.headers.replaceOrAdd(name: "content-length", value: String(length))
            } else {
                head.headers.replaceOrAdd(name: "transfer-encoding", value: "chunked")
            }
        }
        return head
    }

    /// A connection to `address` on `loop` for one exchange on that loop (the gateway's
    /// event-loop path, ADR 33): idle, or opened there; nil when the pool is full.
    func checkout(to address: UpstreamAddress, on loop: any EventLoop) -> UpstreamPool.Checkout? {
        self.pool(for: address).checkout(on: loop)
    }

    private func pool(for address: UpstreamAddress) -> UpstreamPool {
        if let pool = self.pools.withLockedValue({ $0[address] }) { return pool }
        return self.pools.withLockedValue { pools in
            if let pool = pools[address] { return pool }
            let pool = UpstreamPool(address: address, settings: self.settings)
            pools[address] = pool
            return pool
        }
    }

    /// Closes the pooled connections.
    func shutdown() async {
        for pool in self.pools.withLockedValue({ Array($0.values) }) { await pool.shutdown() }
    }

    /// The upstream's faults as ``Failure``; anything else (the relay's 413, cancellation) as it is.
    static func classify(_ error: any Error) -> any Error {
        switch error {
        case is Failure: error
        case ChannelError.connectTimeout: Failure.timeout
        case let error as IOError: Failure.unreachable("\(error)")
        case let error as ChannelError: Failure.unreachable("\(error)")
        case let error as NIOConnectionError: Failure.unreachable("\(error)")
        case let error as HTTPParserError: Failure.unreachable("malformed answer: \(error)")
        case let error as NIOSSLError: Failure.unreachable("TLS: \(error)")
        default: error
        }
    }
}

/// Where an upstream service listens, parsed once from its base URL (`http://host:port/base`).
struct UpstreamAddress: Hashable, Sendable {
    let secure: Bool
    let host: String
    let port: Int
    /// The path the service is mounted under, without a trailing slash ("" at the root).
    let basePath: String
    /// The Host header each request carries.
    let authority: String

    /// nil unless `url` is `http(s)://host[:port][/path]` with no credentials, query or fragment.
    /// Parsed once, when the routes are configured, by the same URL parser as every other setting.
    init?(url: String) {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let encodedHost = components.percentEncodedHost, !encodedHost.isEmpty,
              components.user == nil, components.password == nil, components.query == nil, components.fragment == nil
        else { return nil }
        self.secure = scheme == "https"
        // An IPv6 literal keeps its brackets in the Host header and loses them for the resolver.
        let literal = encodedHost.hasPrefix("[") && encodedHost.hasSuffix("]")
        let host = literal ? String(encodedHost.dropFirst().dropLast()) : encodedHost
        guard !host.isEmpty, !host.contains(where: { $0 == "[" || $0 == "]" }) else { return nil }
        let port = components.port ?? (self.secure ? 443 : 80)
        guard (1...65_535).contains(port) else { return nil }
        var path = Substring(components.percentEncodedPath)
        while path.hasSuffix("/") { path.removeLast() }
        self.host = host
        self.port = port
        self.basePath = String(path)
        self.authority = components.port.map { "\(encodedHost):\($0)" } ?? encodedHost
    }
}

/// An upstream answer's body: whole when it was small enough to read before answering, else
/// the parts as the upstream sends them, read from the connection only as fast as they are taken.
struct UpstreamBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    typealias Stream = NIOThrowingAsyncSequenceProducer<ByteBuffer, any Error, NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark,
                                                        UpstreamConnection.BodyDemand>

    enum Content: Sendable {
        case whole(ByteBuffer)
        case streamed(Stream)
    }

    let content: Content

    struct AsyncIterator: AsyncIteratorProtocol {
        fileprivate var whole: ByteBuffer?
        fileprivate var streamed: Stream.AsyncIterator?

        mutating func next() async throws -> ByteBuffer? {
            if let whole = self.whole {
                self.whole = nil
                return whole.readableBytes > 0 ? whole : nil
            }
            return try await self.streamed?.next()
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        switch self.content {
        case .whole(let buffer): AsyncIterator(whole: buffer, streamed: nil)
        case .streamed(let stream): AsyncIterator(whole: nil, streamed: stream.makeAsyncIterator())
        }
    }
}

/// A client's request body on its way upstream: a pump beside the handler reads it and hands it
/// over chunk by chunk (each send waits until the upstream connection took the last), stopping
/// past the gateway's limit with a 413.
struct RequestBodyRelay: Sendable {
    let channel = AsyncThrowingChannel<ByteBuffer, any Error>()
    /// The declared Content-Length, if any.
    let length: Int?
    private let pump: Task<Void, Never>
    /// Whether the pump has read the body to its end (or failed).
    private let pumped: NIOLockedValueBox<Bool>

    /// How long a finished exchange waits for the rest of a body the client is still sending.
    static let drainGrace = Duration.seconds(1)

    init(_ body: RequestBody, length: Int?, limit: Int, tooLarge: @escaping @Sendable () -> any Error) {
        self.length = length
        let channel = self.channel
        let pumped = NIOLockedValueBox(false)
        self.pumped = pumped
        self.pump = Task {
            var sent = 0
            defer { pumped.withLockedValue { $0 = true } }
            do {
                for try await chunk in body {
                    sent += chunk.readableBytes
                    guard sent <= limit else { throw tooLarge() }
                    await channel.send(chunk)
                }
                channel.finish()
            } catch {
                channel.fail(error)
            }
        }
    }

    /// Ends the relay once the exchange is over: a send still waiting returns, and the pump ends.
    /// Hummingbird reads what is left of the body after the response, and one body must never
    /// have two readers at once, so every exchange awaits this before its response ends. A pump
    /// still reading after ``drainGrace`` is cancelled (which ends the connection after the
    /// answer): a client that stopped sending mid-body would otherwise hold the answer back for
    /// ever. Nearly always the pump has already read the body's end, and nothing is scheduled.
    func close() async {
        self.channel.finish()
        guard !self.pumped.withLockedValue({ $0 }) else { return await self.pump.value }
        let pump = self.pump
        let overdue = Task {
            try await Task.sleep(for: Self.drainGrace)
            pump.cancel()
        }
        await pump.value
        overdue.cancel()
    }
}
