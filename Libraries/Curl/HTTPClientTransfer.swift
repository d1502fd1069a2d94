import CCurl
import ClientRuntime
import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// The status line and headers of a response.
public struct HTTPClientResponseHead: Sendable {
    /// Status code.
    public var status: Int
    /// Response headers in order (names lower-cased).
    public var headers: [(name: String, value: String)]

    /// The first header called `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        let lowered = name.lowercased()
        return self.headers.first { $0.name == lowered }?.value
    }
}

/// How a streamed request sends its body.
public enum HTTPClientUpload: Sendable {
    /// No streamed body (a buffered `HTTPClientRequest.body` is still sent).
    case none
    /// The body is written with ``HTTPClientTransfer/write(_:)``; `length` becomes Content-Length,
    /// and without it the body is sent chunked.
    case streamed(length: Int?)
}

/// One request in flight: its body is written while it is sent, and its response is read as it
/// arrives. Both directions apply back-pressure: a writer waits while the upstream is slower, and
/// libcurl stops reading from the socket while the reader is slower.
// @unchecked Sendable: the easy handle is configured in `init` before the loop sees it and is then
// used only on the loop thread (the callbacks run there); every other stored property that two
// threads touch is guarded by `lock`. `pendingHeaders` is touched only by the header callback.
public final class HTTPClientTransfer: @unchecked Sendable {
    /// Buffered bytes in either direction above which the faster side waits.
    static let highWater = 256 * 1024
    /// Buffered bytes below which the waiting side continues.
    static let lowWater = 64 * 1024

    let easy: UnsafeMutableRawPointer
    private let method: String
    private let url: String
    private let loop: CurlMultiLoop
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private var connectToList: UnsafeMutablePointer<curl_slist>?
    private var pendingHeaders: [(name: String, value: String)] = []

    private let lock = NIOLock()
    private var outcome: Result<Void, any Error>?
    private var head: HTTPClientResponseHead?
    private var headWaiter: CheckedContinuation<HTTPClientResponseHead, any Error>?
    private var received = CircularBuffer<ByteBuffer>()
    private var receivedBytes = 0
    private var receivePaused = false
    private var bodyWaiter: CheckedContinuation<ByteBuffer?, any Error>?
    private var toSend = CircularBuffer<ByteBuffer>()
    private var toSendBytes = 0
    private var sendFinished = false
    private var sendPaused = false
    private var senderWaiter: CheckedContinuation<Void, any Error>?

    init(_ request: HTTPClientRequest, upload: HTTPClientUpload, timeout: Duration, connectTimeout: Duration, loop: CurlMultiLoop) throws {
        guard let easy = loop.makeHandle() else {
            throw ClientError(.invalidRequest, client: "http", "curl_easy_init failed")
        }
        self.easy = easy
        self.loop = loop
        let method = request.method.uppercased()
        self.method = method
        self.url = request.url
        for header in request.headers { self.headerList = curl_slist_append(self.headerList, "\(header.name): \(header.value)") }
        // libcurl adds "Expect: 100-continue" to larger bodies, costing a round trip; turn it off.
        self.headerList = curl_slist_append(self.headerList, "Expect:")

        sm_curl_setopt_string(easy, CURLOPT_URL, request.url)
        if let address = request.pinnedAddress {
            // "HOST:PORT:ADDRESS:PORT" with empty host and ports: every connection of this transfer goes to ADDRESS.
            self.connectToList = curl_slist_append(nil, "::\(address.contains(":") ? "[\(address)]" : address):")
            sm_curl_setopt_slist(easy, CURLOPT_CONNECT_TO, self.connectToList)
        }
        sm_curl_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
        sm_curl_setopt_long(easy, CURLOPT_TIMEOUT_MS, Self.milliseconds(timeout))
        sm_curl_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, Self.milliseconds(connectTimeout))
        if method == "HEAD" {
            sm_curl_setopt_long(easy, CURLOPT_NOBODY, 1)
        } else if method != "GET" {
            sm_curl_setopt_string(easy, CURLOPT_CUSTOMREQUEST, method)
        }
        let context = Unmanaged.passUnretained(self).toOpaque()
        if let body = request.body {
            sm_curl_setopt_off(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))
            body.withUnsafeBytes { bytes in
                // COPYPOSTFIELDS copies the bytes, so the array need not outlive this call.
                _ = sm_curl_setopt_pointer(easy, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!))
            }
            self.sendFinished = true
        } else if case .streamed(let length) = upload {
            sm_curl_setopt_long(easy, CURLOPT_UPLOAD, 1)
            if let length {
                sm_curl_setopt_off(easy, CURLOPT_INFILESIZE_LARGE, curl_off_t(length))
            } else {
                self.headerList = curl_slist_append(self.headerList, "Transfer-Encoding: chunked")
            }
            sm_curl_setopt_read_function(easy) { buffer, size, count, context in
                guard let buffer, let context else { return Int(CURL_READFUNC_ABORT) }
                let transfer = Unmanaged<HTTPClientTransfer>.fromOpaque(context).takeUnretainedValue()
                return transfer.fill(UnsafeMutableRawBufferPointer(start: buffer, count: size * count))
            }
            sm_curl_setopt_pointer(easy, CURLOPT_READDATA, context)
        } else {
            self.sendFinished = true
        }
        sm_curl_setopt_slist(easy, CURLOPT_HTTPHEADER, self.headerList)
        sm_curl_setopt_write_function(easy) { data, size, count, context in
            guard let data, let context else { return 0 }
            let transfer = Unmanaged<HTTPClientTransfer>.fromOpaque(context).takeUnretainedValue()
            return transfer.receive(UnsafeRawBufferPointer(start: data, count: size * count))
        }
        sm_curl_setopt_pointer(easy, CURLOPT_WRITEDATA, context)
        sm_curl_setopt_header_function(easy) { data, size, count, context in
            guard let data, let context else { return 0 }
            let transfer = Unmanaged<HTTPClientTransfer>.fromOpaque(context).takeUnretainedValue()
            transfer.headerLine(UnsafeRawBufferPointer(start: data, count: size * count))
            return size * count
        }
        sm_curl_setopt_pointer(easy, CURLOPT_HEADERDATA, context)
    }

    /// Method and URL without query or credentials, for error messages.
    var summary: String { "\(self.method) \(Self.redacted(self.url))" }

    deinit {
        self.loop.recycle(self.easy)
        curl_slist_free_all(self.headerList)
        curl_slist_free_all(self.connectToList)
    }

    // MARK: The caller's side

    /// Waits for the status line and headers.
    /// - Throws: ``ClientError`` `timeout` or `unreachable`, or `CancellationError`.
    public func response() async throws -> HTTPClientResponseHead {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<HTTPClientResponseHead, any Error>) in
                let ready: Result<HTTPClientResponseHead, any Error>? = self.lock.withLock {
                    if let head = self.head { return .success(head) }
                    if let outcome = self.outcome { return .failure(Self.failure(outcome, "no response")) }
                    self.headWaiter = continuation
                    return nil
                }
                if let ready { continuation.resume(with: ready) }
            }
        } onCancel: {
            self.cancel()
        }
    }

    /// The response body as it arrives. Dropping it unread ends the transfer.
    public var body: HTTPClientResponseBody { HTTPClientResponseBody(abandon: AbandonGuard(self)) }

    /// Sends one chunk of a streamed body, waiting while too much is already queued.
    /// - Throws: ``ClientError`` once the transfer has ended (e.g. the upstream answered early).
    public func write(_ chunk: ByteBuffer) async throws {
        guard chunk.readableBytes > 0 else { return }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let (proceed, resume): (Result<Bool, any Error>, Bool) = self.lock.withLock {
                if let outcome = self.outcome { return (.failure(Self.failure(outcome, "the upstream no longer reads the body")), false) }
                self.toSend.append(chunk)
                self.toSendBytes += chunk.readableBytes
                let resume = self.sendPaused
                self.sendPaused = false
                if self.toSendBytes > Self.highWater {
                    self.senderWaiter = continuation
                    return (.success(false), resume)
                }
                return (.success(true), resume)
            }
            if resume { self.loop.resume(self) }
            switch proceed {
            case .success(true): continuation.resume()
            case .success(false): break
            case .failure(let error): continuation.resume(throwing: error)
            }
        }
    }

    /// Marks the end of a streamed body.
    public func finishBody() {
        let resume = self.lock.withLock {
            self.sendFinished = true
            defer { self.sendPaused = false }
            return self.sendPaused
        }
        if resume { self.loop.resume(self) }
    }

    /// Ends the transfer early; whoever waits on it gets `error`.
    public func cancel(with error: any Error = CancellationError()) {
        self.loop.cancel(self, error: error)
    }

    /// Ends the transfer if it is still running (a reader gave up).
    func abandon() {
        let running = self.lock.withLock { self.outcome == nil }
        if running { self.cancel() }
    }

    func nextChunk() async throws -> ByteBuffer? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ByteBuffer?, any Error>) in
                let (ready, resume): (Result<ByteBuffer?, any Error>?, Bool) = self.lock.withLock {
                    if let chunk = self.received.popFirst() {
                        self.receivedBytes -= chunk.readableBytes
                        let resume = self.receivePaused && self.receivedBytes <= Self.lowWater
                        if resume { self.receivePaused = false }
                        return (.success(chunk), resume)
                    }
                    switch self.outcome {
                    case .success: return (.success(nil), false)
                    case .failure(let error): return (.failure(error), false)
                    case nil:
                        self.bodyWaiter = continuation
                        defer { self.receivePaused = false }
                        return (nil, self.receivePaused)
                    }
                }
                if resume { self.loop.resume(self) }
                if let ready { continuation.resume(with: ready) }
            }
        } onCancel: {
            self.cancel()
        }
    }

    // MARK: The loop thread's side

    /// Takes response bytes from libcurl: straight to a waiting reader, else into the buffer, or
    /// pauses the transfer (libcurl then delivers the same bytes again once resumed).
    private func receive(_ bytes: UnsafeRawBufferPointer) -> Int {
        enum Action { case deliver(CheckedContinuation<ByteBuffer?, any Error>), answer(Int) }
        let action: Action = self.lock.withLock {
            if let waiter = self.bodyWaiter {
                self.bodyWaiter = nil
                return .deliver(waiter)
            }
            if self.outcome != nil { return .answer(0) }
            if self.receivedBytes >= Self.highWater {
                self.receivePaused = true
                return .answer(sm_curl_write_pause)
            }
            self.received.append(ByteBuffer(bytes: bytes))
            self.receivedBytes += bytes.count
            return .answer(bytes.count)
        }
        switch action {
        case .deliver(let waiter):
            waiter.resume(returning: ByteBuffer(bytes: bytes))
            return bytes.count
        case .answer(let count):
            return count
        }
    }

    /// Gives libcurl the next bytes of a streamed body, or pauses until the writer adds some.
    private func fill(_ buffer: UnsafeMutableRawBufferPointer) -> Int {
        let (count, waiter): (Int, CheckedContinuation<Void, any Error>?) = self.lock.withLock {
            guard var first = self.toSend.first else {
                if self.sendFinished { return (0, nil) }
                self.sendPaused = true
                return (sm_curl_read_pause, nil)
            }
            let count = min(first.readableBytes, buffer.count)
            first.withUnsafeReadableBytes { bytes in buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes.prefix(count))) }
            first.moveReaderIndex(forwardBy: count)
            if first.readableBytes == 0 { self.toSend.removeFirst() } else { self.toSend[self.toSend.startIndex] = first }
            self.toSendBytes -= count
            guard self.toSendBytes <= Self.lowWater, let waiter = self.senderWaiter else { return (count, nil) }
            self.senderWaiter = nil
            return (count, waiter)
        }
        waiter?.resume()
        return count
    }

    private func headerLine(_ bytes: UnsafeRawBufferPointer) {
        let colon = UInt8(ascii: ":")
        if bytes.starts(with: "HTTP/".utf8) {
            self.pendingHeaders = []  // a new response (after 100 Continue or a redirect) starts
        } else if bytes.count <= 2, bytes.allSatisfy({ $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\n") }) {
            var status = 0
            sm_curl_getinfo_long(self.easy, CURLINFO_RESPONSE_CODE, &status)
            guard status >= 200 else { return }  // an interim response; the final one follows
            let head = HTTPClientResponseHead(status: status, headers: self.pendingHeaders)
            let waiter: CheckedContinuation<HTTPClientResponseHead, any Error>? = self.lock.withLock {
                self.head = head
                defer { self.headWaiter = nil }
                return self.headWaiter
            }
            waiter?.resume(returning: head)
        } else if let separator = bytes.firstIndex(of: colon) {
            let name = Self.trimmed(bytes[..<separator])
            let value = Self.trimmed(bytes[(separator + 1)...])
            self.pendingHeaders.append((String(decoding: name, as: UTF8.self).lowercased(), String(decoding: value, as: UTF8.self)))
        }
    }

    private static func trimmed(_ bytes: Slice<UnsafeRawBufferPointer>) -> Slice<UnsafeRawBufferPointer> {
        let isSpace = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n") }
        var slice = bytes
        while let first = slice.first, isSpace(first) { slice = slice.dropFirst() }
        while let last = slice.last, isSpace(last) { slice = slice.dropLast() }
        return slice
    }

    /// Records how the transfer ended and wakes everyone waiting on it.
    func complete(_ result: Result<Void, any Error>) {
        let (headWaiter, bodyWaiter, senderWaiter) = self.lock.withLock {
            if self.outcome == nil { self.outcome = result }
            defer {
                self.headWaiter = nil
                self.bodyWaiter = nil
                self.senderWaiter = nil
            }
            return (self.headWaiter, self.bodyWaiter, self.senderWaiter)
        }
        headWaiter?.resume(throwing: Self.failure(result, "the upstream closed without a response"))
        switch result {
        case .success: bodyWaiter?.resume(returning: nil)
        case .failure(let error): bodyWaiter?.resume(throwing: error)
        }
        senderWaiter?.resume(throwing: Self.failure(result, "the upstream no longer reads the body"))
    }

    private static func failure(_ outcome: Result<Void, any Error>, _ otherwise: String) -> any Error {
        if case .failure(let error) = outcome { return error }
        return ClientError(.unreachable, client: "http", otherwise)
    }

    private static func milliseconds(_ duration: Duration) -> Int {
        Int(duration.milliseconds)
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

/// Ends its transfer when the last reader of the body lets go before the end.
final class AbandonGuard: Sendable {
    let transfer: HTTPClientTransfer
    init(_ transfer: HTTPClientTransfer) { self.transfer = transfer }
    deinit { self.transfer.abandon() }
}

/// A response body read chunk by chunk as it arrives.
public struct HTTPClientResponseBody: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer
    let abandon: AbandonGuard

    /// Iterates the chunks.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let abandon: AbandonGuard
        public mutating func next() async throws -> ByteBuffer? { try await self.abandon.transfer.nextChunk() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(abandon: self.abandon) }

    /// Reads the whole body.
    /// - Throws: what the transfer ends with.
    public func collect(reservingCapacity capacity: Int = 0) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(capacity)
        for try await chunk in self { bytes.append(contentsOf: chunk.readableBytesView) }
        return bytes
    }
}
