import Logging
import Metrics
import NIOConcurrencyHelpers

/// A connection a ``ConnectionPool`` can hand out.
///
/// Conformers wrap one C handle that is safe to use from one task at a time; the pool
/// guarantees that exclusivity by leasing each connection to a single caller.
public protocol PooledConnection: AnyObject, Sendable {
    /// True once the connection can no longer be used (the server went away, a protocol error).
    /// Checked when a connection is returned and before an idle one is handed out, so it must be
    /// cheap and must not block.
    var isBroken: Bool { get }
    /// Releases the C handle. Called exactly once, by the pool.
    func close()
    /// Ends the connection at once from any thread, even while its lessee waits on it; it then
    /// reads as broken. Connections that cannot do this do nothing.
    func abort()
}

extension PooledConnection {
    public func abort() {}
}

/// Settings of a ``ConnectionPool``.
public struct ConnectionPoolConfiguration: Sendable {
    /// Upper bound on open connections.
    public var maximumConnections: Int
    /// How long a caller waits for a free connection before ``ClientError/Code/timeout``.
    public var leaseTimeout: Duration

    /// Creates pool settings.
    public init(maximumConnections: Int = 10, leaseTimeout: Duration = .seconds(5)) {
        self.maximumConnections = maximumConnections
        self.leaseTimeout = leaseTimeout
    }
}

/// A bounded pool of connections, shared by every client wrapper (PostgreSQL, Redis, HTTP).
///
/// Connections are opened lazily by the caller that needs one, so a server that is down makes
/// the call fail with the factory's error rather than hang, and a restarted server is picked up
/// by the next lease: broken connections are discarded on return and on lease.
///
/// Metrics (dimension `pool`): `sensormine_pool_connections_in_use`, `sensormine_pool_connections_idle`,
/// `sensormine_pool_connect_errors_total`, `sensormine_pool_reconnects_total`.
public final class ConnectionPool<Connection: PooledConnection>: Sendable {
    /// Opens a new connection.
    public typealias Factory = @Sendable () async throws -> Connection

    private enum Grant: Sendable {
        case connection(Connection)
        case create
    }

    private struct State: Sendable {
        var machine: PoolStateMachine<Connection>
        var continuations: [Int: CheckedContinuation<Grant, any Error>] = [:]
        /// Grants or failures that arrived before their waiter suspended.
        var early: [Int: Result<Grant, any Error>] = [:]
        var nextWaiterID = 0
        var reconnectPending = false
        /// Connections handed out, for ``ConnectionPool/abortConnections(where:)``.
        var leased: [ObjectIdentifier: Connection] = [:]
    }

    private enum WaitOutcome: Sendable {
        case granted(Grant)
        case failed(any Error)
        case timedOut
        case timerStopped
    }

    /// The pool's name, used as the metrics dimension and in errors.
    public let name: String
    private let configuration: ConnectionPoolConfiguration
    private let factory: Factory
    private let state: NIOLockedValueBox<State>
    private let inUseGauge: Gauge
    private let idleGauge: Gauge
    private let connectErrors: Counter
    private let reconnects: Counter

    /// Creates a pool that opens connections with `factory`.
    public init(name: String, configuration: ConnectionPoolConfiguration, factory: @escaping Factory) {
        self.name = name
        self.configuration = configuration
        self.factory = factory
        self.state = NIOLockedValueBox(State(machine: PoolStateMachine(maximumConnections: configuration.maximumConnections)))
        let dimensions = [("pool", name)]
        self.inUseGauge = Gauge(label: "sensormine_pool_connections_in_use", dimensions: dimensions)
        self.idleGauge = Gauge(label: "sensormine_pool_connections_idle", dimensions: dimensions)
        self.connectErrors = Counter(label: "sensormine_pool_connect_errors_total", dimensions: dimensions)
        self.reconnects = Counter(label: "sensormine_pool_reconnects_total", dimensions: dimensions)
    }

    /// Leases a connection for the duration of `body` and returns it afterwards.
    /// - Throws: the factory's error when no connection can be opened, ``ClientError/Code/timeout``
    ///   when none frees up in time, or what `body` throws.
    public func withConnection<Result>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (Connection) async throws -> Result
    ) async throws -> Result {
        let connection = try await self.lease()
        do {
            let result = try await body(connection)
            self.release(connection)
            return result
        } catch {
            self.release(connection)
            throw error
        }
    }

    /// Leases a connection; the caller must ``release(_:)`` it.
    /// - Throws: see ``withConnection(isolation:_:)``.
    public func lease() async throws -> Connection {
        while true {
            let (waiter, action) = self.state.withLockedValue { state in
                state.nextWaiterID &+= 1
                return (state.nextWaiterID, state.machine.leaseRequested(state.nextWaiterID))
            }
            switch action {
            case .lease(let connection):
                self.track(connection)
                if connection.isBroken {
                    self.release(connection)
                    continue
                }
                self.updateGauges()
                return connection
            case .create:
                return try await self.create()
            case .fail:
                throw ClientError(.shutdown, client: self.name, "connection pool is shut down")
            case .wait:
                switch try await self.waitForGrant(waiter) {
                case .connection(let connection):
                    self.track(connection)
                    if connection.isBroken {
                        self.release(connection)
                        continue
                    }
                    self.updateGauges()
                    return connection
                case .create:
                    return try await self.create()
                }
            }
        }
    }

    /// Returns a leased connection; a broken one is closed and its slot freed.
    public func release(_ connection: Connection) {
        let broken = connection.isBroken
        let action = self.state.withLockedValue { state in
            state.leased[ObjectIdentifier(connection)] = nil
            if broken { state.reconnectPending = true }
            return state.machine.released(connection, reusable: !broken)
        }
        switch action {
        case .keepIdle:
            break
        case .handOver(let connection, let waiter):
            self.grant(waiter, .success(.connection(connection)))
        case .close(let connection, let waiter):
            connection.close()
            if let waiter { self.grant(waiter, .success(.create)) }
        }
        self.updateGauges()
    }

    /// Closes idle connections and fails waiters; connections still leased close on return.
    public func shutdown() {
        let (idle, waiters) = self.state.withLockedValue { state in state.machine.shutdown() }
        for connection in idle { connection.close() }
        for waiter in waiters {
            self.grant(waiter, .failure(ClientError(.shutdown, client: self.name, "connection pool is shut down")))
        }
        self.updateGauges()
    }

    /// Aborts every open connection, idle or leased, that `selected` picks (e.g. those to a
    /// database primary that was just replaced); returns how many. Statements in flight on them
    /// fail at once, and each is discarded instead of reused.
    @discardableResult
    public func abortConnections(where selected: (Connection) -> Bool) -> Int {
        let chosen = self.state.withLockedValue { state in
            (state.machine.idle + Array(state.leased.values)).filter(selected)
        }
        for connection in chosen { connection.abort() }
        return chosen.count
    }

    private func track(_ connection: Connection) {
        self.state.withLockedValue { $0.leased[ObjectIdentifier(connection)] = connection }
    }

    /// Connections currently leased and idle, for tests and diagnostics.
    public var counts: (inUse: Int, idle: Int) {
        self.state.withLockedValue { ($0.machine.leased, $0.machine.idle.count) }
    }

    private func create() async throws -> Connection {
        do {
            let connection = try await self.factory()
            self.track(connection)
            let reconnected = self.state.withLockedValue { state in
                state.machine.connectionCreated()
                defer { state.reconnectPending = false }
                return state.reconnectPending
            }
            if reconnected { self.reconnects.increment() }
            self.updateGauges()
            return connection
        } catch {
            self.connectErrors.increment()
            let next = self.state.withLockedValue { state in
                state.reconnectPending = true
                return state.machine.connectionFailed()
            }
            if let next { self.grant(next, .success(.create)) }
            throw error
        }
    }

    private func grant(_ waiter: Int, _ result: Result<Grant, any Error>) {
        let continuation = self.state.withLockedValue { state -> CheckedContinuation<Grant, any Error>? in
            if let continuation = state.continuations.removeValue(forKey: waiter) { return continuation }
            state.early[waiter] = result
            return nil
        }
        continuation?.resume(with: result)
    }

    private func waitForGrant(_ waiter: Int) async throws -> Grant {
        let timeout = self.configuration.leaseTimeout
        let outcome = await withTaskGroup(of: WaitOutcome.self) { group in
            group.addTask {
                do { return .granted(try await self.suspend(waiter)) } catch { return .failed(error) }
            }
            group.addTask {
                do {
                    try await Task.sleep(for: timeout)
                    return .timedOut
                } catch {
                    return .timerStopped
                }
            }
            var timedOut = false
            while let next = await group.next() {
                switch next {
                case .granted, .failed:
                    group.cancelAll()
                    // A grant that races the timeout still wins: the connection must not be lost.
                    if case .failed = next, timedOut { return WaitOutcome.timedOut }
                    return next
                case .timedOut:
                    timedOut = true
                    group.cancelAll()
                case .timerStopped:
                    continue
                }
            }
            return .timedOut
        }
        switch outcome {
        case .granted(let grant): return grant
        case .failed(let error): throw error
        case .timedOut, .timerStopped:
            throw ClientError(.timeout, client: self.name, "no connection became free within \(timeout)")
        }
    }

    private func suspend(_ waiter: Int) async throws -> Grant {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let early = self.state.withLockedValue { state -> Result<Grant, any Error>? in
                    if let early = state.early.removeValue(forKey: waiter) { return early }
                    state.continuations[waiter] = continuation
                    return nil
                }
                if let early { continuation.resume(with: early) }
            }
        } onCancel: {
            let continuation = self.state.withLockedValue { state -> CheckedContinuation<Grant, any Error>? in
                guard state.machine.waiterCancelled(waiter) else { return nil }
                if let continuation = state.continuations.removeValue(forKey: waiter) { return continuation }
                state.early[waiter] = .failure(CancellationError())
                return nil
            }
            continuation?.resume(throwing: CancellationError())
        }
    }

    private func updateGauges() {
        let (inUse, idle) = self.counts
        self.inUseGauge.record(inUse)
        self.idleGauge.record(idle)
    }
}
