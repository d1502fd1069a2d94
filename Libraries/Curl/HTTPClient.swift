import CCurl
import ClientRuntime
import Foundation
import Logging
import Metrics

/// An outbound HTTP request.
public struct HTTPClientRequest: Sendable {
    /// Method, e.g. "GET".
    public var method: String
    /// Absolute URL.
    public var url: String
    /// Headers in order.
    public var headers: [(name: String, value: String)]
    /// Body bytes, if any.
    public var body: [UInt8]?
    /// Overall deadline for this request (per attempt); nil uses the client's default.
    public var timeout: Duration?
    /// Connect to this IP address instead of resolving the URL's host again (the host name still
    /// goes in the Host header and TLS): a caller that checked where a host resolves pins that
    /// answer, so a second lookup cannot be steered elsewhere (DNS rebinding).
    public var pinnedAddress: String?

    /// Creates a request.
    public init(method: String = "GET", url: String, headers: [(name: String, value: String)] = [], body: [UInt8]? = nil, timeout: Duration? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }

    /// Methods that may be retried without changing the outcome (RFC 9110 §9.2.2).
    public var isIdempotent: Bool { ["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"].contains(self.method.uppercased()) }
}

/// An HTTP response, read whole.
public struct HTTPClientResponse: Sendable {
    /// Status code.
    public var status: Int
    /// Response headers in order (names lower-cased).
    public var headers: [(name: String, value: String)]
    /// Body bytes.
    public var body: [UInt8]

    /// The first header called `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        HTTPClientResponseHead(status: self.status, headers: self.headers).header(name)
    }
}

/// An HTTP client over libcurl's multi interface: one event thread drives every transfer, so
/// thousands can wait on sockets without a thread each; connections are kept alive and reused;
/// per-request timeouts; retries with backoff for idempotent requests; `X-Request-ID` and
/// `traceparent` propagated from the current request. ``execute(_:)`` reads a response whole,
/// ``start(_:upload:)`` streams both bodies.
public final class HTTPClient: Sendable {
    /// Client settings.
    public struct Configuration: Sendable {
        /// Default per-attempt deadline.
        public var timeout: Duration
        /// Deadline for establishing a connection.
        public var connectTimeout: Duration
        /// Retries after the first attempt, for idempotent requests only.
        public var maximumRetries: Int
        /// Delay policy between retries.
        public var backoff: Backoff
        /// Open connections at most; further transfers queue inside libcurl until one is free.
        public var maximumConcurrentRequests: Int
        /// Name for metrics and the event thread.
        public var name: String

        /// Creates settings.
        public init(timeout: Duration = .seconds(10), connectTimeout: Duration = .seconds(2), maximumRetries: Int = 2,
                    backoff: Backoff = Backoff(base: .milliseconds(50), maximum: .seconds(2)),
                    maximumConcurrentRequests: Int = 16, name: String = "http") {
            self.timeout = timeout
            self.connectTimeout = connectTimeout
            self.maximumRetries = maximumRetries
            self.backoff = backoff
            self.maximumConcurrentRequests = maximumConcurrentRequests
            self.name = name
        }
    }

    private static let globalInitialized: Void = { _ = curl_global_init(Int(CURL_GLOBAL_DEFAULT)) }()

    private let configuration: Configuration
    private let loop: CurlMultiLoop
    private let retries: Counter

    /// Creates a client and starts its event thread.
    public init(configuration: Configuration = .init()) {
        _ = Self.globalInitialized
        self.configuration = configuration
        do {
            self.loop = try CurlMultiLoop(maximumConnections: configuration.maximumConcurrentRequests, name: configuration.name)
        } catch {
            // curl_multi_init fails only when malloc does.
            fatalError("libcurl could not allocate a multi handle: \(error)")
        }
        self.retries = Counter(label: "sensormine_http_client_retries_total", dimensions: [("client", configuration.name)])
    }

    /// Sends `request` and reads the whole response, retrying idempotent ones on connection
    /// failures and 502/503/504.
    /// - Throws: ``ClientError`` `unreachable` or `timeout` once retries are exhausted.
    public func execute(_ request: HTTPClientRequest) async throws -> HTTPClientResponse {
        let request = Self.propagatingContext(request)
        let attempts = request.isIdempotent ? self.configuration.maximumRetries + 1 : 1
        var attempt = 0
        while true {
            do {
                let transfer = try self.makeTransfer(request, upload: .none)
                let head = try await transfer.response()
                let body = try await transfer.body.collect(reservingCapacity: head.header("content-length").flatMap(Int.init) ?? 0)
                if [502, 503, 504].contains(head.status), attempt + 1 < attempts {
                    try await self.pause(attempt)
                    attempt += 1
                    continue
                }
                return HTTPClientResponse(status: head.status, headers: head.headers, body: body)
            } catch let error as ClientError where (error.code == .unreachable || error.code == .timeout) && attempt + 1 < attempts {
                try await self.pause(attempt)
                attempt += 1
            }
        }
    }

    /// Starts `request` once, without retries: write a streamed body with
    /// ``HTTPClientTransfer/write(_:)`` and ``HTTPClientTransfer/finishBody()``, await
    /// ``HTTPClientTransfer/response()``, then read ``HTTPClientTransfer/body``.
    /// - Throws: ``ClientError`` if the client has been shut down.
    public func start(_ request: HTTPClientRequest, upload: HTTPClientUpload = .none) throws -> HTTPClientTransfer {
        try self.makeTransfer(Self.propagatingContext(request), upload: upload)
    }

    /// Convenience GET.
    /// - Throws: see ``execute(_:)``.
    public func get(_ url: String, headers: [(name: String, value: String)] = []) async throws -> HTTPClientResponse {
        try await self.execute(HTTPClientRequest(method: "GET", url: url, headers: headers))
    }

    /// Fails transfers still running and stops the event thread.
    public func shutdown() async {
        await self.loop.shutdown()
    }

    private func makeTransfer(_ request: HTTPClientRequest, upload: HTTPClientUpload) throws -> HTTPClientTransfer {
        let transfer = try HTTPClientTransfer(request, upload: upload, timeout: request.timeout ?? self.configuration.timeout,
                                              connectTimeout: self.configuration.connectTimeout, loop: self.loop)
        try self.loop.add(transfer)
        return transfer
    }

    private static func propagatingContext(_ request: HTTPClientRequest) -> HTTPClientRequest {
        guard let outbound = OutboundContext.current else { return request }
        var request = request
        if !request.headers.contains(where: { $0.name.lowercased() == "x-request-id" }) {
            request.headers.append(("X-Request-ID", outbound.requestID))
        }
        if !request.headers.contains(where: { $0.name.lowercased() == "traceparent" }) {
            request.headers.append(("traceparent", outbound.traceparent))
        }
        return request
    }

    private func pause(_ attempt: Int) async throws {
        self.retries.increment()
        try await Task.sleep(for: self.configuration.backoff.delay(attempt: attempt))
    }
}
