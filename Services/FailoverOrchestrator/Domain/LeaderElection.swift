import ClientRuntime
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle

/// Leadership among the orchestrator's replicas: the leader is whoever holds the election key,
/// bound to its etcd lease. It renews the lease several times per TTL, and counts itself leader
/// only until the moment its last renewal (timed from when it was *sent*) would run out, less a
/// margin for clock rate differences, so a leader cut off from etcd stops acting before
/// another can be elected.
final class LeaderElection: Service, Sendable {
    private struct State {
        var lease: EtcdClient.Lease?
        var leaderUntil: ContinuousClock.Instant?
        var leader: String?
        var abandoned = false
    }

    let identity: String
    private let etcd: EtcdClient
    private let key: String
    private let ttl: Duration
    private let logger: Logger
    private let state = NIOLockedValueBox(State())

    init(identity: String, etcd: EtcdClient, key: String, ttl: Duration, logger: Logger) {
        self.identity = identity
        self.etcd = etcd
        self.key = key
        self.ttl = ttl
        self.logger = logger
    }

    /// Whether this replica may act now.
    var isLeader: Bool {
        self.state.withLockedValue { state in state.leaderUntil.map { ContinuousClock.now < $0 } ?? false }
    }

    /// The current leader's identity as last read (nil before the first campaign).
    var leader: String? { self.state.withLockedValue { $0.leader } }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled, !self.state.withLockedValue({ $0.abandoned }) {
                await self.step()
                try? await Task.sleep(for: self.ttl / 4)
            }
        }
        // Hand over at once rather than after a TTL (unless abandoned, as a crash would).
        if let lease = self.state.withLockedValue({ state -> EtcdClient.Lease? in
            defer { state = State(abandoned: state.abandoned) }
            return state.leaderUntil != nil && !state.abandoned ? state.lease : nil
        }) {
            try? await self.etcd.revoke(lease)
        }
    }

    /// Stops campaigning and renewing without giving the lease back, as a crashed replica does
    /// (drills use it); acting stops when the last renewal runs out.
    func abandon() {
        self.state.withLockedValue { $0.abandoned = true }
    }

    /// One renewal (when leader) or campaign (when not). Every lease used was granted or renewed
    /// after `sent`, so it lives at least until `sent` + TTL.
    func step() async {
        let sent = ContinuousClock.now
        let (lease, leading) = self.state.withLockedValue { ($0.lease, $0.leaderUntil != nil) }
        do {
            if let lease, leading {
                guard try await self.etcd.keepAlive(lease) else {
                    self.lose("lease expired")
                    return
                }
                self.state.withLockedValue { $0.leaderUntil = sent + self.validity(lease) }
                return
            }
            var candidate = lease
            if let current = candidate {
                let alive = try await self.etcd.keepAlive(current)
                if !alive { candidate = nil }
            }
            let granted: EtcdClient.Lease
            if let candidate { granted = candidate } else { granted = try await self.etcd.grantLease(ttl: self.ttl) }
            let holder = try await self.etcd.putIfAbsent(key: self.key, value: self.identity, lease: granted)
            let won = holder == self.identity
            self.state.withLockedValue { state in
                state.lease = granted
                state.leader = holder
                state.leaderUntil = won ? sent + self.validity(granted) : nil
            }
            if won {
                self.logger.notice("elected leader", metadata: ["failover.identity": "\(self.identity)", "etcd.lease_ttl": "\(granted.ttl)"])
            }
        } catch {
            // Acting stops by itself when leaderUntil passes; once the lease must have expired
            // too, campaign afresh.
            let expired = self.state.withLockedValue { state in state.leaderUntil.map { ContinuousClock.now > $0 + self.ttl } ?? false }
            if expired { self.lose("etcd unreachable: \(error)") }
        }
    }

    /// Acting time granted by one renewal: two thirds of the TTL.
    private func validity(_ lease: EtcdClient.Lease) -> Duration { lease.ttl * 2 / 3 }

    private func lose(_ why: String) {
        let was = self.state.withLockedValue { state -> Bool in
            defer { state.leaderUntil = nil; state.lease = nil }
            return state.leaderUntil != nil
        }
        if was { self.logger.warning("leadership lost", metadata: ["failover.identity": "\(self.identity)", "reason": "\(why)"]) }
    }
}
