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

/// An HTTP response.
public struct HTTPClientResponse: Sendable {
    /// Status code.
    public var status: Int
    /// Response headers in order (names lower-cased).
    public var headers: [(name: String, value: String)]
    /// Body bytes.
    public var body: [UInt8]

    /// The first header called `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        let lowered = name.lowercased()
        return self.headers.first { $0.name == lowered }?.value
    }
}

/// An HTTP client over libcurl: pooled easy handles (so connections are reused), per-request
/// timeouts, retries with backoff for idempotent requests, and `X-Request-ID`/`traceparent`
/// propagated from the current request.
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
        /// Concurrent requests (one pooled handle and one thread each).
        public var maximumConcurrentRequests: Int
        /// Name for metrics.
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
    private let pool: ConnectionPool<CurlHandle>
    private let executor: BlockingExecutor
    private let retries: Counter

    /// Creates a client.
    public init(configuration: Configuration = .init()) {
        _ = Self.globalInitialized
        self.configuration = configuration
        self.executor = BlockingExecutor(threads: configuration.maximumConcurrentRequests)
        self.pool = ConnectionPool(
            name: configuration.name,
            configuration: ConnectionPoolConfiguration(maximumConnections: configuration.maximumConcurrentRequests, leaseTimeout: configuration.timeout)
        ) {
            try CurlHandle()
        }
        self.retries = Counter(label: "sensormine_http_client_retries_total", dimensions: [("client", configuration.name)])
    }

    /// Sends `request`, retrying idempotent ones on connection failures and 502/503/504.
    /// - Throws: ``ClientError`` `unreachable` or `timeout` once retries are exhausted.
    public func execute(_ request: HTTPClientRequest) async throws -> HTTPClientResponse {
        var request = request
        if let outbound = OutboundContext.current {
            if !request.headers.contains(where: { $0.name.lowercased() == "x-request-id" }) {
                request.headers.append(("X-Request-ID", outbound.requestID))
            }
            if !request.headers.contains(where: { $0.name.lowercased() == "traceparent" }) {
                request.headers.append(("traceparent", outbound.traceparent))
            }
        }
        let attempts = request.isIdempotent ? self.configuration.maximumRetries + 1 : 1
        var attempt = 0
        while true {
            do {
                let response = try await self.attempt(request)
                if [502, 503, 504].contains(response.status), attempt + 1 < attempts {
                    try await self.pause(attempt)
                    attempt += 1
                    continue
                }
                return response
            } catch let error as ClientError where (error.code == .unreachable || error.code == .timeout) && attempt + 1 < attempts {
                try await self.pause(attempt)
                attempt += 1
            }
        }
    }

    /// Convenience GET.
    /// - Throws: see ``execute(_:)``.
    public func get(_ url: String, headers: [(name: String, value: String)] = []) async throws -> HTTPClientResponse {
        try await self.execute(HTTPClientRequest(method: "GET", url: url, headers: headers))
    }

    /// Closes pooled handles and stops the executor.
    public func shutdown() async {
        self.pool.shutdown()
        await self.executor.shutdown()
    }

    private func pause(_ attempt: Int) async throws {
        self.retries.increment()
        try await Task.sleep(for: self.configuration.backoff.delay(attempt: attempt))
    }

    private func attempt(_ request: HTTPClientRequest) async throws -> HTTPClientResponse {
        let timeout = request.timeout ?? self.configuration.timeout
        let connectTimeout = self.configuration.connectTimeout
        return try await self.pool.withConnection { handle in
            try await self.executor.run { try handle.perform(request, timeout: timeout, connectTimeout: connectTimeout) }
        }
    }
}

/// One libcurl easy handle; reusing it keeps its connections alive.
// @unchecked Sendable: an easy handle must not be used by two threads at once; the pool leases
// it to one task, which awaits each perform before the next.
final class CurlHandle: PooledConnection, @unchecked Sendable {
    private let handle: UnsafeMutableRawPointer

    init() throws {
        guard let handle = curl_easy_init() else {
            throw ClientError(.invalidRequest, client: "http", "curl_easy_init failed")
        }
        self.handle = handle
    }

    var isBroken: Bool { false }

    func close() { curl_easy_cleanup(self.handle) }

    private final class Accumulator {
        var body: [UInt8] = []
        var headers: [(name: String, value: String)] = []
    }

    func perform(_ request: HTTPClientRequest, timeout: Duration, connectTimeout: Duration) throws -> HTTPClientResponse {
        curl_easy_reset(self.handle)
        let accumulator = Accumulator()
        let context = Unmanaged.passUnretained(accumulator).toOpaque()
        var headerList: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headerList) }
        for header in request.headers { headerList = curl_slist_append(headerList, "\(header.name): \(header.value)") }
        // libcurl adds "Expect: 100-continue" to larger bodies, costing a round trip; turn it off.
        headerList = curl_slist_append(headerList, "Expect:")

        sm_curl_setopt_string(self.handle, CURLOPT_URL, request.url)
        sm_curl_setopt_long(self.handle, CURLOPT_NOSIGNAL, 1)
        sm_curl_setopt_long(self.handle, CURLOPT_TIMEOUT_MS, Self.milliseconds(timeout))
        sm_curl_setopt_long(self.handle, CURLOPT_CONNECTTIMEOUT_MS, Self.milliseconds(connectTimeout))
        sm_curl_setopt_slist(self.handle, CURLOPT_HTTPHEADER, headerList)
        let method = request.method.uppercased()
        if method == "HEAD" {
            sm_curl_setopt_long(self.handle, CURLOPT_NOBODY, 1)
        } else if method != "GET" {
            sm_curl_setopt_string(self.handle, CURLOPT_CUSTOMREQUEST, method)
        }
        if let body = request.body {
            sm_curl_setopt_off(self.handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))
            body.withUnsafeBytes { bytes in
                _ = sm_curl_setopt_pointer(self.handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!))
            }
        }
        sm_curl_setopt_write_function(self.handle) { data, size, count, context in
            guard let data, let context else { return 0 }
            let accumulator = Unmanaged<Accumulator>.fromOpaque(context).takeUnretainedValue()
            let length = size * count
            data.withMemoryRebound(to: UInt8.self, capacity: length) { accumulator.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: length)) }
            return length
        }
        sm_curl_setopt_pointer(self.handle, CURLOPT_WRITEDATA, context)
        sm_curl_setopt_header_function(self.handle) { data, size, count, context in
            guard let data, let context else { return 0 }
            let accumulator = Unmanaged<Accumulator>.fromOpaque(context).takeUnretainedValue()
            let length = size * count
            let line = data.withMemoryRebound(to: UInt8.self, capacity: length) { String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self) }
            if line.hasPrefix("HTTP/") {
                accumulator.headers = []  // a new response (after 100 Continue or a redirect) starts
            } else if let colon = line.firstIndex(of: ":") {
                let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
                let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
                accumulator.headers.append((name, value))
            }
            return length
        }
        sm_curl_setopt_pointer(self.handle, CURLOPT_HEADERDATA, context)

        let code = withExtendedLifetime(accumulator) { curl_easy_perform(self.handle) }
        guard code == CURLE_OK else {
            let text = String(cString: curl_easy_strerror(code))
            let kind: ClientError.Code = code == CURLE_OPERATION_TIMEDOUT ? .timeout : .unreachable
            throw ClientError(kind, client: "http", "\(method) \(Self.redacted(request.url)): \(text)", serverCode: String(code.rawValue))
        }
        var status = 0
        sm_curl_getinfo_long(self.handle, CURLINFO_RESPONSE_CODE, &status)
        return HTTPClientResponse(status: status, headers: accumulator.headers, body: accumulator.body)
    }

    private static func milliseconds(_ duration: Duration) -> Int {
        Int(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)
    }

    /// The URL without query string or credentials, for error messages.
    static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url) else { return "(url)" }
        components.query = nil
        components.user = nil
        components.password = nil
        return components.string ?? "(url)"
    }
}
