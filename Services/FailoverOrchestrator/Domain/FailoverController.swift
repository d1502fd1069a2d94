import ClientRuntime
import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers
import SensormineContracts
import ServiceLifecycle

/// The orchestrator's health loop and the decisions it takes as leader: failing the primary over
/// when it is lost for the grace period, fencing any other node that acts as a primary, keeping
/// replication synchronous while a standby can be waited for, and announcing each new topology.
final class FailoverController: Service, Sendable {
    /// Timings and choices.
    struct Settings: Sendable {
        var cluster: String
        var interval: Duration = .milliseconds(200)
        var probeTimeout: Duration = .milliseconds(400)
        /// How long the primary must be unreachable before it is failed over.
        var grace: Duration = .milliseconds(800)
        var automatic = true
        /// Synchronous replication wanted; without a standby for `degradeGrace` it goes asynchronous.
        var synchronous = true
        var degradeGrace: Duration = .seconds(2)
        /// A switchover refuses a target lagging more than this unless forced.
        var maximumSwitchoverLagBytes: Int64 = 16 * 1024 * 1024
        var promoteTimeout: Duration = .seconds(5)
    }

    /// Why a requested switchover was not done.
    enum SwitchoverRefusal: Error, Equatable {
        case notLeader(String?)
        case noCandidate(String)
        case lagging(String)
        case inProgress
        case failed(String)
    }

    /// Tells the platform about a new topology (Kafka in the service; tests record it).
    typealias Announcer = @Sendable (TopologyChange) async throws -> Void

    private struct Observation {
        var probe: NodeProbe?
        /// When the last answered probe started.
        var probedAt: ContinuousClock.Instant?
        var lastSeen: Date?
        var unreachableSince: ContinuousClock.Instant?
        var error: String?
    }

    private struct State {
        var observations: [String: Observation] = [:]
        var topology: StoredTopology?
        var lastFailover: FailoverRecord?
        var lastFencing: FencingRecord?
        var failing = false
        var degraded = false
        var noStandbySince: ContinuousClock.Instant?
        var redis: RedisStatus?
        var wasLeader = false
        /// Why a failover is held back: the primary is lost to the orchestrator but not to its standbys.
        var held: String?
    }

    let settings: Settings
    private let nodes: PostgresNodes
    private let election: LeaderElection
    private let etcd: EtcdClient
    private let sentinels: SentinelView?
    private let announce: Announcer
    private let logger: Logger
    private let state = NIOLockedValueBox(State())
    private let failovers = Counter(label: "sensormine_failover_promotions_total")
    private let fences = Counter(label: "sensormine_failover_fences_total")

    init(settings: Settings, nodes: PostgresNodes, election: LeaderElection, etcd: EtcdClient, sentinels: SentinelView?,
         announce: @escaping Announcer, logger: Logger) {
        self.settings = settings
        self.nodes = nodes
        self.election = election
        self.etcd = etcd
        self.sentinels = sentinels
        self.announce = announce
        self.logger = logger
    }

    private var keyPrefix: String { "/sensormine/failover/\(self.settings.cluster)/" }
    static func electionKey(cluster: String) -> String { "/sensormine/failover/\(cluster)/leader" }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let started = ContinuousClock.now
                await self.tick()
                let elapsed = ContinuousClock.now - started
                if elapsed < self.settings.interval { try? await Task.sleep(for: self.settings.interval - elapsed) }
            }
        }
    }

    /// One round: probe every node, then act if leader.
    func tick() async {
        await self.observe()
        await self.observeRedis()
        let leading = self.election.isLeader
        let becameLeader = self.state.withLockedValue { state in
            defer { state.wasLeader = leading }
            return leading && !state.wasLeader
        }
        guard leading else {
            // Followers show the leader's topology; a new leader reads it afresh before acting.
            try? await self.refreshTopology()
            return
        }
        if becameLeader { try? await self.refreshTopology() }
        do {
            try await self.actAsLeader()
        } catch {
            self.logger.warning("failover round failed", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Observation

    private func observe() async {
        // A node is unreachable since the start of the first probe it did not answer.
        let started = ContinuousClock.now
        let results = await withTaskGroup(of: (String, Result<NodeProbe, any Error>).self) { group in
            for node in self.nodes.nodes {
                group.addTask {
                    do { return (node.name, .success(try await self.nodes.probe(node))) } catch { return (node.name, .failure(error)) }
                }
            }
            var results: [(String, Result<NodeProbe, any Error>)] = []
            for await result in group { results.append(result) }
            return results
        }
        self.state.withLockedValue { state in
            for (name, result) in results {
                var observation = state.observations[name] ?? Observation()
                switch result {
                case .success(let probe):
                    observation.probe = probe
                    observation.probedAt = started
                    observation.lastSeen = Date()
                    observation.unreachableSince = nil
                    observation.error = nil
                case .failure(let error):
                    if observation.unreachableSince == nil { observation.unreachableSince = started }
                    observation.error = "\(error)"
                }
                state.observations[name] = observation
            }
        }
    }

    private func observeRedis() async {
        guard let sentinels = self.sentinels else { return }
        let masters = await sentinels.masters(timeout: self.settings.probeTimeout)
        let answered = masters.compactMap { $0 }
        let master = answered.first
        self.state.withLockedValue { state in
            var status = state.redis ?? RedisStatus(masterName: sentinels.masterName, master: nil, sentinelsAnswering: 0, sentinels: sentinels.count)
            if let master, let previous = status.master, previous != master {
                status.lastSwitch = Date()
                self.logger.notice("redis master switched", metadata: ["redis.from": "\(previous)", "redis.to": "\(master)"])
            }
            status.master = master ?? status.master
            status.sentinelsAnswering = answered.count
            status.error = answered.isEmpty ? "no Sentinel answered" : (Set(answered).count > 1 ? "Sentinels disagree: \(Set(answered).sorted())" : nil)
            state.redis = status
        }
    }

    // MARK: Decisions

    private func actAsLeader() async throws {
        let topology = try await self.currentTopology()
        guard let topology, let primary = self.nodes.nodes.first(where: { $0.name == topology.primary }) else { return }
        let (observations, failing) = self.state.withLockedValue { ($0.observations, $0.failing) }
        guard !failing else { return }

        // The recorded primary lost for the grace period: fail over. A node already promoted
        // past it (by a leader that stopped before recording that) is adopted at once.
        let lostSince = observations[primary.name]?.unreachableSince
        let lost = lostSince.map { ContinuousClock.now - $0 >= self.settings.grace } ?? false
        let adoptable = self.newerPrimary(than: primary, observations) != nil
        var hearing: String?
        if lost && !adoptable, let lostSince {
            hearing = self.standbyHearing(primary, since: lostSince, observations)
            if hearing == nil { hearing = await self.standbyHearingNow(primary, since: lostSince) }
        }
        self.updateHold(hearing.map { "\(primary.name) does not answer the orchestrator, but \($0) received from it after that: a partition, not a lost primary" })
        if (lost && hearing == nil) || adoptable {
            if self.settings.automatic { _ = try? await self.failover(to: nil, reason: "automatic", force: true) }
            return
        }

        // Any other node acting as a primary is a former primary back from the dead: fence it.
        for node in self.nodes.nodes where node.name != primary.name {
            guard let probe = observations[node.name]?.probe, observations[node.name]?.unreachableSince == nil,
                  !probe.inRecovery, !(probe.readOnly && probe.synchronousStandbyNames.contains("sensormine_fenced")) else { continue }
            self.logger.warning("fencing and stopping a former primary that acts as primary", metadata: ["failover.node": "\(node.name)", "failover.primary": "\(primary.name)"])
            do {
                try await self.nodes.fence(node, stop: true, timeout: self.settings.probeTimeout * 4)
                self.fences.increment()
                self.state.withLockedValue { $0.lastFencing = FencingRecord(node: node.name, at: Date(), stopped: true) }
            } catch {
                self.logger.error("fencing failed", metadata: ["failover.node": "\(node.name)", "error": "\(error)"])
                self.state.withLockedValue { $0.lastFencing = FencingRecord(node: node.name, at: Date(), stopped: false, error: "\(error)") }
            }
        }

        try await self.manageReplicationMode(primary: primary, probe: observations[primary.name]?.probe)
    }

    /// A reachable standby that received something from `primary` after the orchestrator lost it
    /// (`since`): the primary is alive and only the orchestrator's path to it is broken, so
    /// failing over would replace a working primary. The probe timeout is the margin: a probe
    /// that started just before a crash counts the primary lost from its start.
    private func standbyHearing(_ primary: PostgresNode, since lostSince: ContinuousClock.Instant, _ observations: [String: Observation]) -> String? {
        self.nodes.nodes.first { node in
            guard node.name != primary.name, let observation = observations[node.name], observation.unreachableSince == nil,
                  let probe = observation.probe, let probedAt = observation.probedAt else { return false }
            return self.heard(primary: primary, since: lostSince, probe: probe, probedAt: probedAt)
        }?.name
    }

    /// The same question asked of the standbys afresh, before a failover is started: the round's
    /// own probes of them may have started too soon after the loss to show the primary alive, or
    /// have timed out on a busy machine, and replacing a working primary is the costlier mistake.
    private func standbyHearingNow(_ primary: PostgresNode, since lostSince: ContinuousClock.Instant) async -> String? {
        let started = ContinuousClock.now
        return await withTaskGroup(of: String?.self) { group in
            for node in self.nodes.nodes where node.name != primary.name {
                group.addTask {
                    guard let probe = try? await self.nodes.probe(node) else { return nil }
                    return self.heard(primary: primary, since: lostSince, probe: probe, probedAt: started) ? node.name : nil
                }
            }
            for await case let name? in group { group.cancelAll(); return name }
            return nil
        }
    }

    private func heard(primary: PostgresNode, since lostSince: ContinuousClock.Instant, probe: NodeProbe, probedAt: ContinuousClock.Instant) -> Bool {
        guard probe.inRecovery, let ago = probe.heardFromPrimaryAgo else { return false }
        return probedAt - ago > lostSince + self.settings.probeTimeout
    }

    private func updateHold(_ reason: String?) {
        let changed = self.state.withLockedValue { state in
            defer { state.held = reason }
            return (state.held == nil) != (reason == nil)
        }
        guard changed else { return }
        if let reason {
            self.logger.warning("failover held", metadata: ["failover.reason": "\(reason)"])
        } else {
            self.logger.notice("failover no longer held")
        }
    }

    /// A reachable node other than `primary` that accepts writes on a later timeline than the
    /// one `primary` was last seen on (or, if it was never seen, while it is unreachable): a
    /// promotion the topology does not record yet. A former primary back from the dead is on an
    /// earlier timeline, and is fenced instead.
    private func newerPrimary(than primary: PostgresNode, _ observations: [String: Observation]) -> PostgresNode? {
        let recordedTimeline = observations[primary.name]?.probe?.timeline
        let primaryReachable = observations[primary.name]?.unreachableSince == nil && observations[primary.name]?.probe != nil
        return self.nodes.nodes.first { node in
            guard node.name != primary.name, observations[node.name]?.unreachableSince == nil,
                  let probe = observations[node.name]?.probe, !probe.inRecovery else { return false }
            if let recordedTimeline, let timeline = probe.timeline { return timeline > recordedTimeline }
            return !primaryReachable
        }
    }

    /// Synchronous while a standby streams; asynchronous (degraded, reported) after
    /// `degradeGrace` without one, since every commit would wait; synchronous again when one is back.
    private func manageReplicationMode(primary: PostgresNode, probe: NodeProbe?) async throws {
        guard self.settings.synchronous, let probe, !probe.inRecovery else { return }
        let streaming = probe.standbys.filter { $0.state == "streaming" }.map(\.name)
            .filter { name in self.nodes.nodes.contains { $0.name == name } }
        let configured = !probe.synchronousStandbyNames.isEmpty
        if streaming.isEmpty {
            let since = self.state.withLockedValue { state in
                if state.noStandbySince == nil { state.noStandbySince = .now }
                return state.noStandbySince ?? .now
            }
            if configured, ContinuousClock.now - since >= self.settings.degradeGrace {
                try await self.nodes.setSynchronousStandbys(primary, names: [])
                self.state.withLockedValue { $0.degraded = true }
                self.logger.error("no standby streams: replication switched to asynchronous (degraded)", metadata: ["failover.primary": "\(primary.name)"])
            }
        } else {
            self.state.withLockedValue { $0.noStandbySince = nil }
            let wanted = "FIRST 1 (" + streaming.sorted().joined(separator: ", ") + ")"
            if probe.synchronousStandbyNames != wanted {
                try await self.nodes.setSynchronousStandbys(primary, names: streaming.sorted())
                self.state.withLockedValue { $0.degraded = false }
                self.logger.notice("replication synchronous", metadata: ["failover.primary": "\(primary.name)", "failover.standbys": "\(streaming.sorted())"])
            }
        }
    }

    private func refreshTopology() async throws {
        guard let text = try await self.etcd.get(self.keyPrefix + "topology"),
              let stored = try? JSONDecoder().decode(StoredTopology.self, from: Data(text.utf8)) else { return }
        self.state.withLockedValue { $0.topology = stored }
    }

    /// The topology in etcd; the first leader of a new cluster records the one primary it sees.
    private func currentTopology() async throws -> StoredTopology? {
        if let known = self.state.withLockedValue({ $0.topology }) { return known }
        if let text = try await self.etcd.get(self.keyPrefix + "topology"),
           let stored = try? JSONDecoder().decode(StoredTopology.self, from: Data(text.utf8)) {
            if let record = try await self.etcd.get(self.keyPrefix + "last-failover") {
                let last = try? ContractCoding.decoder().decode(FailoverRecord.self, from: Data(record.utf8))
                self.state.withLockedValue { $0.lastFailover = last }
            }
            self.state.withLockedValue { $0.topology = stored }
            return stored
        }
        let observations = self.state.withLockedValue { $0.observations }
        let primaries = self.nodes.nodes.filter { observations[$0.name]?.probe?.inRecovery == false && observations[$0.name]?.unreachableSince == nil }
        guard primaries.count == 1, let primary = primaries.first else { return nil }
        let stored = StoredTopology(epoch: 1, primary: primary.name)
        try await self.etcd.put(self.keyPrefix + "topology", String(decoding: try JSONEncoder().encode(stored), as: UTF8.self))
        self.state.withLockedValue { $0.topology = stored }
        self.logger.notice("topology recorded", metadata: ["failover.primary": "\(primary.name)", "failover.epoch": "1"])
        try? await self.announce(TopologyChange(cluster: self.settings.cluster, epoch: 1, primary: primary.name, primaryAddress: primary.address,
                                                previousPrimary: nil, previousPrimaryAddress: nil, reason: "initial", at: Date()))
        return stored
    }

    // MARK: Failover

    /// Promotes `target` (or the most advanced reachable standby) and records the new topology.
    /// A reachable old primary is fenced first and the target must have received all it flushed.
    @discardableResult
    func failover(to target: String?, reason: String, force: Bool) async throws(SwitchoverRefusal) -> FailoverRecord {
        guard self.election.isLeader else { throw .notLeader(self.election.leader) }
        let topology: StoredTopology?
        do { topology = try await self.currentTopology() } catch { throw .failed("etcd: \(error)") }
        guard let topology, let oldPrimary = self.nodes.nodes.first(where: { $0.name == topology.primary }) else { throw .failed("no topology recorded yet") }
        guard self.state.withLockedValue({ state in
            defer { state.failing = true }
            return !state.failing
        }) else { throw .inProgress }
        defer { self.state.withLockedValue { $0.failing = false } }

        let clock = ContinuousClock.now
        let startedAt = Date()
        var steps: [FailoverStep] = []
        func step(_ name: String, _ detail: String) {
            steps.append(FailoverStep(at: Date(), step: name, detail: detail))
            self.logger.notice("failover step", metadata: ["failover.step": "\(name)", "failover.detail": "\(detail)"])
        }
        let observations = self.state.withLockedValue { $0.observations }
        let oldProbe = observations[oldPrimary.name]?.probe
        let oldReachable = observations[oldPrimary.name]?.unreachableSince == nil
        let synchronous = !(oldProbe?.synchronousStandbyNames.isEmpty ?? true)
        let lsnBefore = oldProbe?.walPosition
        step(oldReachable ? "switchover requested" : "primary lost",
             oldReachable ? "\(oldPrimary.name) answers; switching to \(target ?? "the most advanced standby")"
                          : "\(oldPrimary.name) unanswered since \(observations[oldPrimary.name]?.error ?? "?"); last flushed \(lsnBefore.map(\.description) ?? "unknown")")

        // The candidate: a node already promoted but not recorded (a leader stopped half-way),
        // else a reachable standby, the named one or the one that received the most.
        let standbys = self.nodes.nodes.filter { node in
            node.name != oldPrimary.name && observations[node.name]?.unreachableSince == nil && observations[node.name]?.probe?.inRecovery == true
        }
        let adopted = target == nil ? self.newerPrimary(than: oldPrimary, observations) : nil
        let candidates = target.map { name in standbys.filter { $0.name == name } } ?? standbys
        guard let candidate = adopted ?? candidates.max(by: { (observations[$0.name]?.probe?.walPosition ?? .init(value: 0)) < (observations[$1.name]?.probe?.walPosition ?? .init(value: 0)) }) else {
            throw .noCandidate(target.map { "\($0) is not a reachable standby" } ?? "no reachable standby")
        }
        if oldReachable, !force, let lag = oldProbe?.standbys.first(where: { $0.name == candidate.name })?.lagBytes, lag > self.settings.maximumSwitchoverLagBytes {
            throw .lagging("\(candidate.name) lags \(lag) bytes (bound \(self.settings.maximumSwitchoverLagBytes)); force to switch anyway")
        }
        step("candidate chosen", "\(candidate.name) in \(candidate.region), received \(observations[candidate.name]?.probe?.walPosition.map(\.description) ?? "unknown")")

        var lsnTarget = lsnBefore
        if let adopted {
            step("adopted", "\(adopted.name) already accepts writes on timeline \(observations[adopted.name]?.probe?.timeline.map(String.init) ?? "?"): promoted by a leader that stopped before recording it")
        } else if oldReachable {
            do {
                try await self.nodes.fence(oldPrimary, stop: false, timeout: self.settings.promoteTimeout)
                self.fences.increment()
                let fenced = try await self.nodes.probe(oldPrimary)
                lsnTarget = fenced.walPosition
                step("old primary fenced", "\(oldPrimary.name) read-only, commits wait for no standby; flushed \(fenced.walPosition.map(\.description) ?? "unknown")")
            } catch {
                step("fence failed", "\(error)")
            }
            // Wait (bounded) until the candidate has everything the old primary flushed.
            let deadline = ContinuousClock.now + self.settings.promoteTimeout
            while let wanted = lsnTarget, ContinuousClock.now < deadline {
                if let received = try? await self.nodes.probe(candidate).walPosition, received >= wanted { break }
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        guard self.election.isLeader else { throw .notLeader(self.election.leader) }
        let lsnAfter = adopted == nil ? try? await self.nodes.probe(candidate).walPosition : observations[candidate.name]?.probe?.walPosition
        if adopted == nil {
            step("consistency checked", "old primary flushed \(lsnTarget.map(\.description) ?? "unknown"), \(candidate.name) received \(lsnAfter.map(\.description) ?? "unknown")")
            do {
                try await self.nodes.promote(candidate, timeout: self.settings.promoteTimeout)
            } catch {
                step("promotion failed", "\(error)")
                throw .failed("promoting \(candidate.name): \(error)")
            }
            step("promoted", "\(candidate.name) accepts writes")
        }

        let epoch = topology.epoch + 1
        let stored = StoredTopology(epoch: epoch, primary: candidate.name)
        self.state.withLockedValue { $0.topology = stored }
        do {
            try await self.etcd.put(self.keyPrefix + "topology", String(decoding: try JSONEncoder().encode(stored), as: UTF8.self))
            step("topology recorded", "epoch \(epoch) in etcd")
        } catch {
            step("topology not recorded", "etcd: \(error)")
        }
        // The other standbys are not re-pointed here (a two-node cluster has none); until one
        // streams from the new primary, replication is asynchronous and reported as degraded.
        let others = standbys.filter { $0.name != candidate.name }.map(\.name)
        if self.settings.synchronous {
            try? await self.nodes.setSynchronousStandbys(candidate, names: [])
            self.state.withLockedValue { $0.degraded = true; $0.noStandbySince = .now }
            step("replication", others.isEmpty ? "asynchronous until a standby streams from \(candidate.name) (degraded)" : "asynchronous until \(others.joined(separator: ", ")) stream from \(candidate.name)")
        }
        let change = TopologyChange(cluster: self.settings.cluster, epoch: epoch, primary: candidate.name, primaryAddress: candidate.address,
                                    previousPrimary: oldPrimary.name, previousPrimaryAddress: oldPrimary.address, reason: reason, at: Date())
        do {
            try await self.announce(change)
            step("announced", "topology epoch \(epoch) on platform.topology")
        } catch {
            step("not announced", "\(error)")
        }
        let possibleLoss: UInt64 = synchronous ? 0 : (lsnTarget.flatMap { before in lsnAfter.map { $0.distance(to: before) } } ?? 0)
        let elapsed = ContinuousClock.now - clock
        let record = FailoverRecord(
            reason: reason, from: oldPrimary.name, to: candidate.name, epoch: epoch, startedAt: startedAt, completedAt: Date(),
            durationMilliseconds: Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15,
            synchronous: synchronous, lsnBefore: lsnTarget, lsnAfter: lsnAfter, possibleLossBytes: possibleLoss, steps: steps, failure: nil)
        self.state.withLockedValue { $0.lastFailover = record }
        if let data = try? ContractCoding.encoder().encode(record) { try? await self.etcd.put(self.keyPrefix + "last-failover", String(decoding: data, as: UTF8.self)) }
        self.failovers.increment()
        self.logger.notice("failover complete", metadata: ["failover.from": "\(oldPrimary.name)", "failover.to": "\(candidate.name)", "failover.epoch": "\(epoch)",
                                                           "failover.milliseconds": "\(record.durationMilliseconds ?? 0)"])
        return record
    }

    /// Promotes the standby in `region` on request.
    func switchover(region: String, force: Bool) async throws(SwitchoverRefusal) -> FailoverRecord {
        let topology = self.state.withLockedValue { $0.topology }
        guard let target = self.nodes.nodes.first(where: { $0.region == region && $0.name != topology?.primary }) else {
            throw .noCandidate("no standby in region \(region)")
        }
        return try await self.failover(to: target.name, reason: "switchover", force: force)
    }

    /// The Redis master name the Sentinels watch, when configured.
    var redisMasterName: String? { self.sentinels?.masterName }

    /// Asks the Sentinels to switch the Redis master.
    func redisSwitchover() async throws {
        guard let sentinels = self.sentinels else { throw ClientError(.invalidRequest, client: "sentinel", "no Sentinels configured") }
        try await sentinels.failover()
    }

    // MARK: Status

    func status() -> ClusterStatus {
        let state = self.state.withLockedValue { $0 }
        let primaryName = state.topology?.primary
        let primaryProbe = primaryName.flatMap { state.observations[$0]?.probe }
        var regions: [String: [NodeStatus]] = [:]
        var order: [String] = []
        for node in self.nodes.nodes {
            let observation = state.observations[node.name]
            let probe = observation?.probe
            let reachable = observation?.unreachableSince == nil && probe != nil
            let role: DatabaseNodeRole
            if !reachable {
                role = .unreachable
            } else if probe?.inRecovery == true {
                role = .standby
            } else {
                role = node.name == primaryName || primaryName == nil ? .primary : .fenced
            }
            let view = primaryProbe?.standbys.first { $0.name == node.name }
            if regions[node.region] == nil { order.append(node.region) }
            regions[node.region, default: []].append(NodeStatus(
                name: node.name, region: node.region, address: node.address, role: role, timeline: probe?.timeline,
                walPosition: probe?.walPosition, replayPosition: probe?.replayPosition, lagBytes: view?.lagBytes, lagSeconds: view?.lagSeconds,
                syncState: view?.syncState, lastSeen: observation?.lastSeen, error: reachable ? nil : observation?.error))
        }
        let replication: String
        if !self.settings.synchronous {
            replication = "asynchronous"
        } else if let primaryProbe {
            replication = primaryProbe.synchronousStandbyNames.isEmpty || primaryProbe.standbys.allSatisfy({ $0.syncState != "sync" }) ? "degraded" : "synchronous"
        } else {
            replication = state.degraded ? "degraded" : "unknown"
        }
        return ClusterStatus(
            cluster: self.settings.cluster, instance: self.election.identity, leader: self.election.leader, isLeader: self.election.isLeader,
            automaticFailover: self.settings.automatic, epoch: state.topology?.epoch ?? 0, primary: primaryName, replication: replication,
            regions: order.map { RegionStatus(name: $0, nodes: regions[$0] ?? []) }, failoverHeld: state.held, lastFailover: state.lastFailover,
            lastFencing: state.lastFencing, redis: state.redis)
    }
}
