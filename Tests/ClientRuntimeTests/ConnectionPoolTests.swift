import NIOConcurrencyHelpers
import Testing

@testable import ClientRuntime

/// A connection object for exercising the pool's own logic (no server involved).
final class CountingConnection: PooledConnection {
    let id: Int
    private let broken = NIOLockedValueBox(false)
    private let closed = NIOLockedValueBox(false)
    init(id: Int) { self.id = id }
    var isBroken: Bool { self.broken.withLockedValue { $0 } }
    func breakIt() { self.broken.withLockedValue { $0 = true } }
    func close() { self.closed.withLockedValue { $0 = true } }
    var isClosed: Bool { self.closed.withLockedValue { $0 } }
}

@Suite("Connection pool")
struct ConnectionPoolTests {
    private func makePool(size: Int, timeout: Duration = .seconds(2), failFirst: Int = 0) -> (ConnectionPool<CountingConnection>, NIOLockedValueBox<Int>) {
        let created = NIOLockedValueBox(0)
        let pool = ConnectionPool<CountingConnection>(name: "test", configuration: .init(maximumConnections: size, leaseTimeout: timeout)) {
            let count = created.withLockedValue { value -> Int in
                value += 1
                return value
            }
            if count <= failFirst { throw ClientError(.unreachable, client: "test", "down") }
            return CountingConnection(id: count)
        }
        return (pool, created)
    }

    @Test("never opens more than the limit under concurrent use, and reuses connections")
    func boundedUnderLoad() async throws {
        let (pool, created) = makePool(size: 3)
        let peak = NIOLockedValueBox((current: 0, peak: 0))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<50 {
                group.addTask {
                    try await pool.withConnection { _ in
                        peak.withLockedValue { $0.current += 1; $0.peak = max($0.peak, $0.current) }
                        try await Task.sleep(for: .milliseconds(2))
                        peak.withLockedValue { $0.current -= 1 }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(peak.withLockedValue { $0.peak } <= 3)
        #expect(created.withLockedValue { $0 } == 3)
        #expect(pool.counts.idle == 3)
        #expect(pool.counts.inUse == 0)
    }

    @Test("a waiter times out with a clear error when every connection stays leased")
    func leaseTimeout() async throws {
        let (pool, _) = makePool(size: 1, timeout: .milliseconds(100))
        let held = try await pool.lease()
        await #expect(throws: ClientError.self) { _ = try await pool.lease() }
        pool.release(held)
        let again = try await pool.lease()
        #expect(again.id == held.id)
        pool.release(again)
    }

    @Test("broken connections are replaced and a failed connect is reported, not hung on")
    func recoversFromBrokenAndFailedConnects() async throws {
        let (pool, created) = makePool(size: 1, failFirst: 1)
        await #expect(throws: ClientError.self) { _ = try await pool.lease() }
        let first = try await pool.lease()
        first.breakIt()
        pool.release(first)
        #expect(first.isClosed)
        let second = try await pool.lease()
        #expect(second.id != first.id)
        pool.release(second)
        #expect(created.withLockedValue { $0 } == 3)
    }

    @Test("shutdown closes idle connections and refuses new leases")
    func shutdown() async throws {
        let (pool, _) = makePool(size: 2)
        let connection = try await pool.lease()
        pool.release(connection)
        pool.shutdown()
        #expect(connection.isClosed)
        await #expect(throws: ClientError.self) { _ = try await pool.lease() }
    }
}
