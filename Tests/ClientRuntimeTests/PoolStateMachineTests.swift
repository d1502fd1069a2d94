import Testing

@testable import ClientRuntime

@Suite("Pool state machine")
struct PoolStateMachineTests {
    @Test("creates up to the limit, then parks callers")
    func createsThenWaits() {
        var machine = PoolStateMachine<String>(maximumConnections: 2)
        guard case .create = machine.leaseRequested(1) else { Issue.record("expected create"); return }
        machine.connectionCreated()
        guard case .create = machine.leaseRequested(2) else { Issue.record("expected create"); return }
        machine.connectionCreated()
        guard case .wait = machine.leaseRequested(3) else { Issue.record("expected wait"); return }
        #expect(machine.leased == 2)
        #expect(machine.waiters == [3])
    }

    @Test("a released connection goes to the oldest waiter, else idle")
    func releaseHandsOver() {
        var machine = PoolStateMachine<String>(maximumConnections: 1)
        _ = machine.leaseRequested(1)
        machine.connectionCreated()
        _ = machine.leaseRequested(2)
        _ = machine.leaseRequested(3)
        guard case .handOver(let connection, let waiter) = machine.released("a", reusable: true) else {
            Issue.record("expected hand-over"); return
        }
        #expect(connection == "a")
        #expect(waiter == 2)
        guard case .handOver(_, 3) = machine.released("a", reusable: true) else { Issue.record("expected hand-over to 3"); return }
        guard case .keepIdle = machine.released("a", reusable: true) else { Issue.record("expected idle"); return }
        guard case .lease("a") = machine.leaseRequested(4) else { Issue.record("expected idle lease"); return }
    }

    @Test("a broken connection is closed and its slot given to a waiter to open a new one")
    func brokenConnectionFreesSlot() {
        var machine = PoolStateMachine<String>(maximumConnections: 1)
        _ = machine.leaseRequested(1)
        machine.connectionCreated()
        _ = machine.leaseRequested(2)
        guard case .close("a", createFor: 2) = machine.released("a", reusable: false) else {
            Issue.record("expected close and create for waiter"); return
        }
        #expect(machine.connecting == 1)
        #expect(machine.leased == 0)
    }

    @Test("a failed connect lets the next waiter try instead of leaving it parked")
    func failedConnectPassesSlotOn() {
        var machine = PoolStateMachine<String>(maximumConnections: 1)
        _ = machine.leaseRequested(1)
        _ = machine.leaseRequested(2)
        let next = machine.connectionFailed()
        #expect(next == 2)
        #expect(machine.connecting == 1)
        let none = machine.connectionFailed()
        #expect(none == nil)
        #expect(machine.connecting == 0)
    }

    @Test("cancelled waiters leave the queue; shutdown returns idle and waiters")
    func cancelAndShutdown() {
        var machine = PoolStateMachine<String>(maximumConnections: 1)
        _ = machine.leaseRequested(1)
        machine.connectionCreated()
        _ = machine.leaseRequested(2)
        _ = machine.leaseRequested(3)
        let removed = machine.waiterCancelled(2)
        let removedAgain = machine.waiterCancelled(2)
        #expect(removed)
        #expect(!removedAgain)
        let result = machine.shutdown()
        #expect(result.fail == [3])
        guard case .fail = machine.leaseRequested(4) else { Issue.record("expected fail after shutdown"); return }
        guard case .close("a", createFor: nil) = machine.released("a", reusable: true) else { Issue.record("expected close"); return }
    }
}

@Suite("Backoff")
struct BackoffTests {
    @Test("grows exponentially up to the cap and applies jitter")
    func growth() {
        let backoff = Backoff(base: .milliseconds(100), maximum: .seconds(1))
        #expect(backoff.ceiling(attempt: 0) == .milliseconds(100))
        #expect(backoff.ceiling(attempt: 2) == .milliseconds(400))
        #expect(backoff.ceiling(attempt: 10) == .seconds(1))
        #expect(backoff.delay(attempt: 2, fraction: 0.5) == .milliseconds(200))
        #expect(backoff.delay(attempt: 2, fraction: 7) == .milliseconds(400))
        #expect(backoff.delay(attempt: 100, fraction: 0) == .zero)
    }
}
