import AsyncAlgorithms
import AsyncHTTPClient
import ClientRuntime
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// The gateway's connections to the services behind it: AsyncHTTPClient's keep-alive pool on
/// the server's own event loops, so a proxied request never leaves SwiftNIO (ADR 30). Redirects
/// are passed to the caller, never followed; bodies stream both ways.
final class UpstreamClient: Sendable {
    /// What went wrong with an exchange that is the upstream's fault, not the caller's.
    enum Failure: Error, Equatable {
        /// No answer within the deadline (connecting, writing or reading).
        case timeout
        /// The upstream could not be reached or broke the connection.
        case unreachable(String)
    }

    /// An upstream's answer; its body still arriving.
    struct Answer: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: HTTPClientResponse.Body

        /// The whole body, when it is known to be small.
        /// - Throws: ``Failure`` when the upstream breaks off or is too slow.
        func collect(upTo limit: Int) async throws -> ByteBuffer {
            do {
                return try await self.body.collect(upTo: limit)
            } catch {
                throw UpstreamClient.classify(error)
            }
        }
    }

    private let client: AsyncHTTPClient.HTTPClient

    /// - Parameters:
    ///   - connectionsPerUpstream: idle keep-alive connections kept per service (more are opened under load).
    ///   - connectTimeout: how long a new connection may take before the request fails.
    init(connectionsPerUpstream: Int, connectTimeout: Duration, logger: Logger) {
        var configuration = AsyncHTTPClient.HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .milliseconds(connectTimeout.milliseconds)),
            decompression: .disabled
        )
        configuration.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: connectionsPerUpstream)
        // A service that is down answers 502 at once instead of after the deadline's retries.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.httpVersion = .http1Only
        self.client = AsyncHTTPClient.HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration,
                                                 backgroundActivityLogger: logger)
    }

    /// Sends one request. A request without a body is sent again once if a pooled connection
    /// turns out to have been closed by the upstream just before it was used.
    /// - Throws: ``Failure`` for the upstream's faults; the body's own error (a 413 from the relay)
    ///   or cancellation as they are.
    func send(method: HTTPMethod, url: String, headers: HTTPHeaders, body: RequestBodyRelay?, timeout: Duration) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers = headers
        if let body { request.body = .stream(body.channel, length: body.length.map { .known(Int64($0)) } ?? .unknown) }
        let deadline = NIODeadline.now() + .milliseconds(timeout.milliseconds)
        var attempt = 0
        while true {
            attempt += 1
            do {
                let response = try await self.client.execute(request, deadline: deadline)
                return Answer(status: Int(response.status.code), headers: response.headers, body: response.body)
            } catch let error as HTTPClientError where error == .remoteConnectionClosed && body == nil && attempt == 1 {
                continue
            } catch {
                throw Self.classify(error)
            }
        }
    }

    /// The upstream's faults as ``Failure``; anything else (the relay's 413, cancellation) as it is.
    fileprivate static func classify(_ error: any Error) -> any Error {
        switch error {
        case let error as HTTPClientError: Self.failure(error)
        case let error as IOError: Failure.unreachable("\(error)")
        case let error as ChannelError: Failure.unreachable("\(error)")
        case let error as NIOConnectionError: Failure.unreachable("\(error)")
        case let error as NIOTooManyBytesError: Failure.unreachable("\(error)")
        default: error
        }
    }

    private static func failure(_ error: HTTPClientError) -> Failure {
        switch error {
        case .deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout: .timeout
        default: .unreachable("\(error)")
        }
    }

    /// Closes the pooled connections.
    func shutdown() async {
        try? await self.client.shutdown()
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

    init(_ body: RequestBody, length: Int?, limit: Int, tooLarge: @escaping @Sendable () -> any Error) {
        self.length = length
        let channel = self.channel
        self.pump = Task {
            var sent = 0
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
    /// have two readers at once, so every exchange awaits this before its response ends.
    func close() async {
        self.channel.finish()
        await self.pump.value
    }
}
