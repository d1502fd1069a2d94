/// The decision logic of ``ConnectionPool``, free of I/O so it can be tested on its own.
///
/// The machine tracks idle connections, how many are leased or being created, and who waits.
/// It never creates, closes or resumes anything itself: each event returns the action the pool
/// must carry out.
public struct PoolStateMachine<Connection> {
    /// Identifies a waiting lease request.
    public typealias WaiterID = Int

    /// What the pool must do for a new lease request.
    public enum LeaseAction {
        /// Hand this idle connection to the caller.
        case lease(Connection)
        /// The caller may open a new connection; a slot is reserved for it.
        case create
        /// All slots are busy: park the caller until a connection is released.
        case wait
        /// The pool is shut down.
        case fail
    }

    /// What the pool must do when a leased connection comes back.
    public enum ReleaseAction {
        /// Give the connection to this waiter.
        case handOver(Connection, WaiterID)
        /// Keep the connection idle.
        case keepIdle
        /// Close the connection; if a waiter is named, it may open a new one in its place.
        case close(Connection, createFor: WaiterID?)
    }

    /// Upper bound on connections, leased and idle together.
    public let maximumConnections: Int
    /// Connections ready to lease, most recently used last.
    public private(set) var idle: [Connection] = []
    /// Connections handed out and not yet returned.
    public private(set) var leased = 0
    /// Connections being opened on behalf of a caller.
    public private(set) var connecting = 0
    /// Callers waiting for a connection, oldest first.
    public private(set) var waiters: [WaiterID] = []
    /// Whether ``shutdown()`` was called.
    public private(set) var isShutdown = false

    /// Creates an empty pool state with room for `maximumConnections`.
    public init(maximumConnections: Int) {
        precondition(maximumConnections > 0, "a pool needs at least one connection")
        self.maximumConnections = maximumConnections
    }

    /// A caller asks for a connection.
    public mutating func leaseRequested(_ waiter: WaiterID) -> LeaseAction {
        if self.isShutdown { return .fail }
        if let connection = self.idle.popLast() {
            self.leased += 1
            return .lease(connection)
        }
        if self.leased + self.connecting < self.maximumConnections {
            self.connecting += 1
            return .create
        }
        self.waiters.append(waiter)
        return .wait
    }

    /// A connection opened after `.create` (or a `.close(createFor:)`) is ready and now leased.
    public mutating func connectionCreated() {
        self.connecting -= 1
        self.leased += 1
    }

    /// Opening a connection failed. The slot is freed; if someone waits, they may try next.
    public mutating func connectionFailed() -> WaiterID? {
        self.connecting -= 1
        guard !self.isShutdown, !self.waiters.isEmpty else { return nil }
        self.connecting += 1
        return self.waiters.removeFirst()
    }

    /// A leased connection is returned; `reusable` is false when it broke.
    public mutating func released(_ connection: Connection, reusable: Bool) -> ReleaseAction {
        self.leased -= 1
        if self.isShutdown { return .close(connection, createFor: nil) }
        if !reusable {
            guard !self.waiters.isEmpty else { return .close(connection, createFor: nil) }
            self.connecting += 1
            return .close(connection, createFor: self.waiters.removeFirst())
        }
        if !self.waiters.isEmpty {
            self.leased += 1
            return .handOver(connection, self.waiters.removeFirst())
        }
        self.idle.append(connection)
        return .keepIdle
    }

    /// A waiter gave up (timeout or cancellation). Returns false when it was already served.
    public mutating func waiterCancelled(_ waiter: WaiterID) -> Bool {
        guard let index = self.waiters.firstIndex(of: waiter) else { return false }
        self.waiters.remove(at: index)
        return true
    }

    /// Removes idle connections for which `isBroken` answers true, so they can be closed.
    public mutating func removeIdle(where isBroken: (Connection) -> Bool) -> [Connection] {
        let broken = self.idle.filter(isBroken)
        self.idle.removeAll(where: isBroken)
        return broken
    }

    /// Stops the pool: returns the idle connections to close and the waiters to fail.
    public mutating func shutdown() -> (close: [Connection], fail: [WaiterID]) {
        self.isShutdown = true
        defer {
            self.idle = []
            self.waiters = []
        }
        return (self.idle, self.waiters)
    }
}

extension PoolStateMachine: Sendable where Connection: Sendable {}
extension PoolStateMachine.LeaseAction: Sendable where Connection: Sendable {}
extension PoolStateMachine.ReleaseAction: Sendable where Connection: Sendable {}
