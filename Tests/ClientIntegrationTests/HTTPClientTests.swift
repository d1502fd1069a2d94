import ClientRuntime
import Curl
import HTTPTypes
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle
import TestSupport
import Testing

@Suite("HTTP client (libcurl)")
struct HTTPClientTests {
    /// Runs a real HTTP server on a free loopback port (or `port`) for the duration of `body`.
    static func withServer<Result: Sendable>(
        port: Int = 0,
        _ configure: (Router<BasicRequestContext>) -> Void,
        _ body: @Sendable (Int) async throws -> Result
    ) async throws -> Result {
        try await LocalServer.run(port: port, configure, body)
    }

    static func routes(_ attempts: NIOLockedValueBox<[String: Int]>) -> (Router<BasicRequestContext>) -> Void {
        { router in
            router.get("/headers") { request, _ in
                "\(request.headers[values: HTTPField.Name("X-Request-ID")!].first ?? "-") \(request.headers[.traceparent] ?? "-")"
            }
            router.post("/echo") { request, _ -> Response in
                let body = try await request.body.collect(upTo: 10 << 20)
                return Response(status: .created, headers: [.contentType: "application/octet-stream"], body: .init(byteBuffer: body))
            }
            router.on("/flaky", method: .get) { _, _ -> Response in
                let count = attempts.withLockedValue { $0["GET", default: 0] += 1; return $0["GET"]! }
                return Response(status: count < 3 ? .serviceUnavailable : .ok)
            }
            router.on("/flaky", method: .post) { _, _ -> Response in
                attempts.withLockedValue { $0["POST", default: 0] += 1 }
                return Response(status: .serviceUnavailable)
            }
            router.get("/slow") { _, _ -> String in
                try await Task.sleep(for: .seconds(2))
                return "late"
            }
            router.post("/count") { request, _ -> String in
                var count = 0
                var checksum: UInt64 = 0
                for try await chunk in request.body {
                    count += chunk.readableBytes
                    chunk.withUnsafeReadableBytes { bytes in for byte in bytes { checksum = checksum &* 31 &+ UInt64(byte) } }
                }
                return "\(count) \(checksum)"
            }
            router.get("/download") { request, _ -> Response in
                let total = request.uri.queryParameters["bytes"].flatMap { Int($0) } ?? 0
                return Response(status: .ok, body: ResponseBody { writer in
                    var sent = 0
                    while sent < total {
                        let count = min(65_536, total - sent)
                        try await writer.write(ByteBuffer(repeating: UInt8(sent / 65_536 % 251), count: count))
                        sent += count
                    }
                    try await writer.finish(nil)
                })
            }
            router.post("/duplex") { request, _ -> Response in
                Response(status: .ok, body: ResponseBody(asyncSequence: request.body))
            }
            router.get("/endless") { _, _ -> Response in
                Response(status: .ok, body: ResponseBody { writer in
                    do {
                        while true { try await writer.write(ByteBuffer(repeating: 0x2E, count: 65_536)) }
                    } catch {
                        attempts.withLockedValue { $0["endless-stopped", default: 0] += 1 }
                        throw error
                    }
                })
            }
        }
    }

    static func checksum(_ chunks: [[UInt8]]) -> UInt64 {
        var checksum: UInt64 = 0
        for chunk in chunks { for byte in chunk { checksum = checksum &* 31 &+ UInt64(byte) } }
        return checksum
    }

    @Test("streamed uploads and downloads move many megabytes through bounded buffers, with or without a length")
    func streamsLargeBodies() async throws {
        let client = HTTPClient()
        try await Self.withServer(Self.routes(NIOLockedValueBox([:]))) { port in
            let chunks = (0..<64).map { index in [UInt8](repeating: UInt8(index), count: 65_536) }  // 4 MiB, 16 times the buffer bound
            let total = chunks.count * 65_536
            for length in [nil, total] as [Int?] {
                let upload = try client.start(HTTPClientRequest(method: "POST", url: "http://127.0.0.1:\(port)/count"), upload: .streamed(length: length))
                for chunk in chunks { try await upload.write(ByteBuffer(bytes: chunk)) }
                upload.finishBody()
                #expect(try await upload.response().status == 200)
                #expect(String(decoding: try await upload.body.collect(), as: UTF8.self) == "\(total) \(Self.checksum(chunks))")
            }

            let download = try client.start(HTTPClientRequest(url: "http://127.0.0.1:\(port)/download?bytes=\(total)"))
            #expect(try await download.response().status == 200)
            // Not reading for a while makes libcurl pause the transfer; nothing may be lost.
            try await Task.sleep(for: .milliseconds(300))
            var received = 0
            var mismatches = 0
            for try await chunk in download.body {
                chunk.withUnsafeReadableBytes { bytes in
                    for (offset, byte) in bytes.enumerated() where byte != UInt8((received + offset) / 65_536 % 251) { mismatches += 1 }
                }
                received += chunk.readableBytes
            }
            #expect(received == total)
            #expect(mismatches == 0)
        }
        await client.shutdown()
    }

    @Test("request and response bodies stream at the same time")
    func fullDuplex() async throws {
        let client = HTTPClient()
        try await Self.withServer(Self.routes(NIOLockedValueBox([:]))) { port in
            let transfer = try client.start(HTTPClientRequest(method: "POST", url: "http://127.0.0.1:\(port)/duplex"), upload: .streamed(length: nil))
            try await transfer.write(ByteBuffer(string: "first"))
            #expect(try await transfer.response().status == 200)
            var body = transfer.body.makeAsyncIterator()
            // The echo of the first chunk arrives while the request is still open.
            #expect(try await body.next().map { String(buffer: $0) } == "first")
            try await transfer.write(ByteBuffer(string: "second"))
            #expect(try await body.next().map { String(buffer: $0) } == "second")
            transfer.finishBody()
            #expect(try await body.next() == nil)
        }
        await client.shutdown()
    }

    @Test("dropping an unread response body ends the transfer and frees the connection")
    func abandonedBody() async throws {
        let attempts = NIOLockedValueBox<[String: Int]>([:])
        let client = HTTPClient(configuration: .init(maximumConcurrentRequests: 1))
        try await Self.withServer(Self.routes(attempts)) { port in
            do {
                let transfer = try client.start(HTTPClientRequest(url: "http://127.0.0.1:\(port)/endless"))
                #expect(try await transfer.response().status == 200)
                var body = transfer.body.makeAsyncIterator()
                #expect(try await body.next() != nil)
            }
            // The server sees its client go away; the single connection is usable again.
            for _ in 0..<100 where attempts.withLockedValue({ $0["endless-stopped"] }) == nil {
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(attempts.withLockedValue { $0["endless-stopped"] } == 1)
            #expect(try await client.get("http://127.0.0.1:\(port)/headers").status == 200)
        }
        await client.shutdown()
    }

    @Test("requests and bodies round-trip; request id and traceparent are propagated")
    func roundTrip() async throws {
        let attempts = NIOLockedValueBox<[String: Int]>([:])
        let client = HTTPClient()
        try await Self.withServer(Self.routes(attempts)) { port in
            let body = (0..<200_000).map { UInt8(truncatingIfNeeded: $0) }
            let echoed = try await client.execute(HTTPClientRequest(method: "POST", url: "http://127.0.0.1:\(port)/echo", headers: [("Content-Type", "application/octet-stream")], body: body))
            #expect(echoed.status == 201)
            #expect(echoed.body == body)
            #expect(echoed.header("Content-Type") == "application/octet-stream")
            let context = OutboundContext(requestID: "req-42", traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            let headers = try await OutboundContext.$current.withValue(context) { try await client.get("http://127.0.0.1:\(port)/headers") }
            #expect(String(decoding: headers.body, as: UTF8.self) == "req-42 \(context.traceparent)")
        }
        await client.shutdown()
    }

    @Test("idempotent requests are retried on 503; POST is not")
    func retries() async throws {
        let attempts = NIOLockedValueBox<[String: Int]>([:])
        let client = HTTPClient(configuration: .init(maximumRetries: 3, backoff: Backoff(base: .milliseconds(5), maximum: .milliseconds(20))))
        try await Self.withServer(Self.routes(attempts)) { port in
            let get = try await client.get("http://127.0.0.1:\(port)/flaky")
            #expect(get.status == 200)
            let post = try await client.execute(HTTPClientRequest(method: "POST", url: "http://127.0.0.1:\(port)/flaky", body: []))
            #expect(post.status == 503)
        }
        #expect(attempts.withLockedValue { $0 } == ["GET": 3, "POST": 1])
        await client.shutdown()
    }

    @Test("a slow upstream times out with a timeout error")
    func timeout() async throws {
        let client = HTTPClient(configuration: .init(maximumRetries: 0))
        try await Self.withServer(Self.routes(NIOLockedValueBox([:]))) { port in
            let error = await #expect(throws: ClientError.self) {
                try await client.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)/slow", timeout: .milliseconds(200)))
            }
            #expect(error?.code == .timeout)
        }
        await client.shutdown()
    }

    @Test("an unreachable server gives a clear error after the retries")
    func unreachable() async throws {
        let client = HTTPClient(configuration: .init(maximumRetries: 1, backoff: Backoff(base: .milliseconds(5), maximum: .milliseconds(10))))
        let error = await #expect(throws: ClientError.self) { try await client.get("http://127.0.0.1:1/health?token=secret") }
        #expect(error?.code == .unreachable)
        #expect(error?.description.contains("127.0.0.1:1/health") == true)
        #expect(error?.description.contains("secret") == false)
        await client.shutdown()
    }

    @Test("pooled connections survive the server restarting on the same port")
    func survivesRestart() async throws {
        let client = HTTPClient(configuration: .init(maximumRetries: 0, maximumConcurrentRequests: 1))
        let attempts = NIOLockedValueBox<[String: Int]>([:])
        let port = try await Self.withServer(Self.routes(attempts)) { port in
            let status = try await client.get("http://127.0.0.1:\(port)/headers").status
            #expect(status == 200)
            return port
        }
        try await Self.withServer(port: port, Self.routes(attempts)) { _ in
            let status = try await client.get("http://127.0.0.1:\(port)/headers").status
            #expect(status == 200)
        }
        await client.shutdown()
    }
}
