import Hummingbird
import Logging

/// A Hummingbird server on 127.0.0.1 for tests that need something to call: an upstream, an
/// identity provider, a webhook receiver.
public enum LocalServer {
    /// The server did not report a bound port.
    public struct NotStarted: Error {}

    /// Serves `configure`'s routes on `port` (a free one by default) while `body` runs with the
    /// bound port; the server stops when `body` returns or throws.
    public static func run<Result: Sendable>(
        port: Int = 0,
        _ configure: (Router<BasicRequestContext>) -> Void,
        _ body: @Sendable (Int) async throws -> Result
    ) async throws -> Result {
        let router = Router()
        configure(router)
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        var logger = Logger(label: "local-server")
        logger.logLevel = .critical
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)),
                              onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            defer { group.cancelAll() }
            var iterator = ports.makeAsyncIterator()
            guard let bound = await iterator.next(), bound > 0 else { throw NotStarted() }
            return try await body(bound)
        }
    }
}
