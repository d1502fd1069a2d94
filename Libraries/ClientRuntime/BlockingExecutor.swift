import NIOPosix

/// A fixed set of threads for blocking C calls (`PQexec`, `redisCommandArgv`,
/// `rd_kafka_consumer_poll`), so they never occupy the cooperative pool.
///
/// Size it to the number of calls that may block at once, usually the connection pool's size.
public final class BlockingExecutor: Sendable {
    private let threadPool: NIOThreadPool

    /// Starts `threads` threads.
    public init(threads: Int) {
        self.threadPool = NIOThreadPool(numberOfThreads: max(1, threads))
        self.threadPool.start()
    }

    /// Runs `body` on one of the executor's threads and returns its result.
    /// - Throws: what `body` throws, or an error if the executor was shut down.
    public func run<Result: Sendable>(_ body: @escaping @Sendable () throws -> Result) async throws -> Result {
        try await self.threadPool.runIfActive(body)
    }

    /// Runs `body` on one of the executor's threads without waiting for it (for work that must
    /// not block the caller, such as waiting for queue space); `body` learns whether the
    /// executor still ran it (false once it is shut down).
    public func submit(_ body: @escaping @Sendable (_ active: Bool) -> Void) {
        self.threadPool.submit { state in
            if case .active = state { body(true) } else { body(false) }
        }
    }

    /// Stops the threads once their current work is done.
    public func shutdown() async {
        try? await self.threadPool.shutdownGracefully()
    }
}
