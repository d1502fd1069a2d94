import ClientRuntime
import Curl
import HTTPTypes
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle
import Testing

@Suite("HTTP client (libcurl)")
struct HTTPClientTests {
    /// Runs a real HTTP server on a free loopback port (or `port`) for the duration of `body`.
    static func withServer<Result: Sendable>(
        port: Int = 0,
        _ configure: (Router<BasicRequestContext>) -> Void,
        _ body: @Sendable (Int) async throws -> Result
    ) async throws -> Result {
        let router = Router()
        configure(router)
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: port)),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) },
            logger: TestStack.logger
        )
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            defer { group.cancelAll() }
            var iterator = ports.makeAsyncIterator()
            guard let bound = await iterator.next() else { throw ClientError(.unreachable, client: "test", "server did not start") }
            return try await body(bound)
        }
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
        }
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
