import ClientRuntime
import Curl
@testable import FailoverOrchestrator
import Foundation
import LibPQ
import Logging
import NIOConcurrencyHelpers
import SensormineContracts
import SensormineCore
import Testing
import TestSupport

/// A primary and a synchronous standby of their own (PostgreSQL 17 in the Debian 13 root, made
/// by scripts/stack/pg-cluster.sh), so drills never move the shared stack's primary.
struct ScratchCluster {
    let tag = String(UUID().uuidString.prefix(8)).lowercased()
    let ports: (a: Int, b: Int)
    var directoryA: String { "/var/lib/sensormine/drill-\(self.tag)-a" }
    var directoryB: String { "/var/lib/sensormine/drill-\(self.tag)-b" }
    var nodeA: PostgresNode { PostgresNode(name: "pg_a", region: "region-a", url: "postgresql://postgres@127.0.0.1:\(self.ports.a)/postgres", address: "127.0.0.1:\(self.ports.a)") }
    var nodeB: PostgresNode { PostgresNode(name: "pg_b", region: "region-b", url: "postgresql://postgres@127.0.0.1:\(self.ports.b)/postgres", address: "127.0.0.1:\(self.ports.b)") }
    /// What services use: both hosts, the one that accepts writes.
    var multiHostURL: String { "postgresql://postgres@127.0.0.1:\(self.ports.a),127.0.0.1:\(self.ports.b)/postgres?target_session_attrs=read-write&connect_timeout=2" }

    static func script(_ arguments: [String]) async throws {
        try await StackScript.run("pg-cluster.sh", arguments)
    }

    func create() async throws {
        try await Self.script(["primary", self.directoryA, String(self.ports.a)])
        try await Self.script(["replica", self.directoryB, String(self.ports.b), String(self.ports.a), "pg_b"])
    }

    func destroy() async {
        try? await Self.script(["destroy", self.directoryA])
        try? await Self.script(["destroy", self.directoryB])
    }

    /// Writes to pg_a directly, a fresh session each time, until it refuses connections (it was
    /// shut down) or 100 attempts; answers how many writes it acknowledged and whether it went
    /// down. `overridingReadOnly` sets the session read-write first, as a client could.
    func writesToA(overridingReadOnly: Bool) async throws -> (accepted: Int, down: Bool) {
        let direct = PostgresClient(configuration: .init(url: self.nodeA.url, name: "drill-direct", pool: .init(maximumConnections: 1, leaseTimeout: .seconds(3)),
                                                         statementTimeout: .seconds(2), connectTimeout: .seconds(2)))
        var accepted = 0, down = false
        for attempt in 0..<100 where !down {
            do {
                _ = try await direct.withSession { session in
                    if overridingReadOnly { try await session.execute("SET default_transaction_read_only = off") }
                    return try await session.execute("INSERT INTO drill_ledger (id) VALUES ($1)", [-1 - attempt])
                }
                accepted += 1
            } catch let error as ClientError where error.code == .unreachable && "\(error)".contains("onnection refused") {
                down = true
            } catch {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        await direct.shutdown()
        return (accepted, down)
    }
}

struct DrillError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// An orchestrator replica run in-process against a scratch cluster and the stack's etcd.
struct OrchestratorUnderTest {
    let controller: FailoverController
    let election: LeaderElection
    let etcd: EtcdClient
    let nodes: PostgresNodes
    let announced: NIOLockedValueBox<[TopologyChange]>
    let tasks: [Task<Void, Never>]

    static func start(cluster: String, nodes nodeList: [PostgresNode], identity: String = "drill",
                      onChange: @escaping @Sendable (TopologyChange) -> Void = { _ in }) -> OrchestratorUnderTest {
        var logger = Logger(label: "failover-drill")
        logger.logLevel = .warning
        let endpoints = ProcessInfo.processInfo.environment["SENSORMINE_FAILOVER_ETCD_ENDPOINTS"].map { $0.split(separator: ",").map(String.init) } ?? ["http://127.0.0.1:52379"]
        let etcd = EtcdClient(endpoints: endpoints, http: HTTPClient(configuration: .init(timeout: .milliseconds(500), connectTimeout: .milliseconds(300), maximumRetries: 0)),
                              timeout: .milliseconds(500))
        let nodes = PostgresNodes(nodes: nodeList, probeTimeout: .milliseconds(400))
        let election = LeaderElection(identity: identity, etcd: etcd, key: FailoverController.electionKey(cluster: cluster), ttl: .seconds(1), logger: logger)
        let announced = NIOLockedValueBox<[TopologyChange]>([])
        var settings = FailoverController.Settings(cluster: cluster)
        settings.degradeGrace = .seconds(1)
        let controller = FailoverController(settings: settings, nodes: nodes, election: election, etcd: etcd, sentinels: nil,
                                            announce: { change in
                                                announced.withLockedValue { $0.append(change) }
                                                onChange(change)
                                            }, logger: logger)
        let tasks: [Task<Void, Never>] = [Task { _ = try? await election.run() }, Task { _ = try? await controller.run() }]
        return OrchestratorUnderTest(controller: controller, election: election, etcd: etcd, nodes: nodes, announced: announced, tasks: tasks)
    }

    func stop(cluster: String) async {
        for task in self.tasks { task.cancel() }
        for task in self.tasks { await task.value }
        try? await self.etcd.deletePrefix("/sensormine/failover/\(cluster)/")
        await self.nodes.shutdown()
    }

    /// Polls `condition` every 50 ms for up to `seconds`.
    func waitUntil(seconds: Double, _ condition: (ClusterStatus) -> Bool) async throws -> ClusterStatus {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            let status = self.controller.status()
            if condition(status) { return status }
            try await Task.sleep(for: .milliseconds(50))
        }
        return self.controller.status()
    }
}

/// Writes rows with increasing ids through the multi-host URL from several tasks, and keeps the
/// ledger of those whose COMMIT was acknowledged.
final class WriteLedger: Sendable {
    private let acknowledged = NIOLockedValueBox<[(id: Int, at: ContinuousClock.Instant)]>([])
    private let failures = NIOLockedValueBox(0)
    private let nextID: NIOLockedValueBox<Int>
    private let stopped = NIOLockedValueBox(false)

    /// A ledger whose ids start at `firstID` (ledgers on one table must not overlap).
    init(firstID: Int = 0) { self.nextID = NIOLockedValueBox(firstID) }

    var ids: [Int] { self.acknowledged.withLockedValue { $0.map(\.id) } }
    /// How many writes were acknowledged after `instant`.
    func acknowledgedCount(after instant: ContinuousClock.Instant) -> Int { self.acknowledged.withLockedValue { $0.filter { $0.at > instant }.count } }
    var failed: Int { self.failures.withLockedValue { $0 } }

    /// The longest time without an acknowledged write after `instant`: the outage writers saw.
    func longestGap(after instant: ContinuousClock.Instant) -> Duration {
        let times = [instant] + self.acknowledged.withLockedValue { $0.map(\.at) }.filter { $0 > instant }.sorted()
        return zip(times, times.dropFirst()).map { $1 - $0 }.max() ?? .zero
    }

    func stop() { self.stopped.withLockedValue { $0 = true } }

    func run(client: PostgresClient, writers: Int) -> Task<Void, Never> {
        Task {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<writers {
                    group.addTask {
                        while !self.stopped.withLockedValue({ $0 }) {
                            let id = self.nextID.withLockedValue { next in
                                defer { next += 1 }
                                return next
                            }
                            do {
                                _ = try await client.query("INSERT INTO drill_ledger (id) VALUES ($1)", [id])
                                let now = ContinuousClock.now
                                self.acknowledged.withLockedValue { $0.append((id, now)) }
                            } catch {
                                self.failures.withLockedValue { $0 += 1 }
                                try? await Task.sleep(for: .milliseconds(20))
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Drills against scratch clusters: a primary killed under load, the old primary back and
/// fenced, its rejoin by pg_rewind, and a switchover back, each with its ledger checked.
@Suite("Failover drills (scratch PostgreSQL clusters, the stack's etcd)", .serialized)
struct FailoverDrillTests {
    static func milliseconds(_ duration: Duration) -> Int { Int(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000) }

    @Test("primary killed under writes: promoted in under two seconds, no acknowledged write lost; back, it is fenced, rejoins by pg_rewind, and a switchover returns")
    func killedPrimary() async throws {
        let cluster = ScratchCluster(ports: (55461, 55462))
        let name = "drill-\(cluster.tag)"
        await cluster.destroy()
        try await cluster.create()
        let orchestrator = OrchestratorUnderTest.start(cluster: name, nodes: [cluster.nodeA, cluster.nodeB])
        let writerPool = PostgresClient(configuration: .init(url: cluster.multiHostURL, name: "drill-writer", pool: .init(maximumConnections: 4, leaseTimeout: .seconds(5)),
                                                             statementTimeout: .seconds(5), connectTimeout: .seconds(2)))
        do {
            // The orchestrator records pg_a as the primary and makes replication synchronous to pg_b.
            let ready = try await orchestrator.waitUntil(seconds: 15) { $0.isLeader && $0.primary == "pg_a" && $0.replication == "synchronous" }
            #expect(ready.isLeader)
            #expect(ready.primary == "pg_a")
            #expect(ready.replication == "synchronous")
            _ = try await writerPool.query("CREATE TABLE drill_ledger (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())")

            // Writes from four tasks; then the primary's machine is lost (SIGKILL, backends too).
            let ledger = WriteLedger()
            let writing = ledger.run(client: writerPool, writers: 4)
            try await Task.sleep(for: .seconds(1))
            let killed = ContinuousClock.now
            let killedAt = Date()
            try await ScratchCluster.script(["kill", cluster.directoryA])
            let killDone = ContinuousClock.now
            let failedOver = try await orchestrator.waitUntil(seconds: 15) { $0.lastFailover != nil }
            let promotedAt = ContinuousClock.now
            try await Task.sleep(for: .milliseconds(500))
            ledger.stop()
            await writing.value

            let record = try #require(failedOver.lastFailover)
            #expect(record.from == "pg_a")
            #expect(record.to == "pg_b")
            #expect(record.reason == "automatic")
            #expect(record.synchronous)
            #expect(record.possibleLossBytes == 0)
            #expect(failedOver.primary == "pg_b")
            #expect(failedOver.epoch == 2)
            let announcement = orchestrator.announced.withLockedValue { $0.last }
            #expect(announcement?.epoch == 2)
            #expect(announcement?.primaryAddress == cluster.nodeB.address)
            #expect(announcement?.previousPrimaryAddress == cluster.nodeA.address)

            // The ledger against what the new primary holds.
            let acknowledged = ledger.ids
            let stored = Set(try await writerPool.query("SELECT id FROM drill_ledger").all.compactMap { $0.int("id") })
            let lost = acknowledged.filter { !stored.contains($0) }
            #expect(acknowledged.count > 100)
            #expect(lost.isEmpty, "acknowledged writes missing after the failover: \(lost.prefix(20))")
            let outage = Self.milliseconds(ledger.longestGap(after: killed))
            let timeline = record.steps.map { "\($0.step) +\(Int($0.at.timeIntervalSince(killedAt) * 1000)) ms" }.joined(separator: ", ")
            print("failover drill timeline after the kill (the kill script took \(Self.milliseconds(killDone - killed)) ms): \(timeline)")
            print("failover drill: kill -9 of the primary → promoted by the orchestrator in \(Self.milliseconds(promotedAt - killed)) ms "
                  + "(failover steps \(Int(record.durationMilliseconds ?? 0)) ms, grace 800 ms); longest time without an acknowledged write \(outage) ms; "
                  + "\(acknowledged.count) acknowledged, \(lost.count) lost, \(ledger.failed) failed attempts (never acknowledged)")
            #expect(outage < 2000, "no write was acknowledged for \(outage) ms")

            // The old primary comes back as it was (a primary): the orchestrator fences it and
            // shuts it down; meanwhile it accepts no write.
            // (pg_ctl may report the start failed: the orchestrator can stop it before pg_ctl sees it ready.)
            let restartedAt = Date()
            try? await ScratchCluster.script(["start", cluster.directoryA, String(cluster.ports.a)])
            let restarted = ContinuousClock.now
            let (accepted, down) = try await cluster.writesToA(overridingReadOnly: false)
            #expect(accepted == 0, "the former primary acknowledged \(accepted) writes")
            #expect(down, "the former primary was not shut down")
            let fencing = try await orchestrator.waitUntil(seconds: 5) { $0.lastFencing.map { $0.at > restartedAt } ?? false }.lastFencing
            #expect(fencing?.node == "pg_a")
            #expect(fencing?.stopped == true)
            print("failover drill: the former primary, restarted as a primary, was fenced and shut down within \(Self.milliseconds(ContinuousClock.now - restarted)) ms, accepting no write")

            // It rejoins as a standby of the new primary (pg_rewind), and replication is synchronous again.
            try await ScratchCluster.script(["stop", cluster.directoryA])
            try await ScratchCluster.script(["rewind", cluster.directoryA, String(cluster.ports.a), String(cluster.ports.b), "pg_a"])
            let rejoined = try await orchestrator.waitUntil(seconds: 20) { status in
                status.regions.flatMap(\.nodes).first { $0.name == "pg_a" }?.role == .standby && status.replication == "synchronous"
            }
            #expect(rejoined.regions.flatMap(\.nodes).first { $0.name == "pg_a" }?.role == .standby)
            #expect(rejoined.replication == "synchronous")

            // A switchover back to region-a under writes: fenced first, caught up, promoted; nothing lost.
            let second = WriteLedger(firstID: 10_000_000)
            let writingAgain = second.run(client: writerPool, writers: 4)
            try await Task.sleep(for: .milliseconds(500))
            let back = try await orchestrator.controller.switchover(region: "region-a", force: false)
            try await Task.sleep(for: .milliseconds(500))
            second.stop()
            await writingAgain.value
            #expect(back.to == "pg_a")
            #expect(back.reason == "switchover")
            #expect(back.steps.contains { $0.step == "old primary fenced" })
            let storedAfter = Set(try await writerPool.query("SELECT id FROM drill_ledger").all.compactMap { $0.int("id") })
            let lostAfter = (acknowledged + second.ids).filter { !storedAfter.contains($0) }
            #expect(second.ids.count > 50)
            #expect(lostAfter.isEmpty, "acknowledged writes missing after the switchover: \(lostAfter.prefix(20))")
            print("switchover drill: \(Int(back.durationMilliseconds ?? 0)) ms, \(second.ids.count) acknowledged during it, \(lostAfter.count) lost")
        } catch {
            Issue.record(error)
        }
        await writerPool.shutdown()
        await orchestrator.stop(cluster: name)
        await cluster.destroy()
    }

    @Test("primary stopped (SIGSTOP: a hang, not a crash) under writes: failed over, pools told drop their connections to it, nothing acknowledged lost; continued, it accepts no write")
    func stoppedPrimary() async throws {
        let cluster = ScratchCluster(ports: (55463, 55464))
        let name = "drill-\(cluster.tag)"
        await cluster.destroy()
        try await cluster.create()
        let writerPool = PostgresClient(configuration: .init(url: cluster.multiHostURL, name: "drill-writer", pool: .init(maximumConnections: 4, leaseTimeout: .seconds(5)),
                                                             statementTimeout: .seconds(5), connectTimeout: .seconds(2)))
        // What DatabaseTopologyFollower does on each platform.topology record, done in-process here.
        let orchestrator = OrchestratorUnderTest.start(cluster: name, nodes: [cluster.nodeA, cluster.nodeB]) { change in
            writerPool.prefer(address: change.primaryAddress)
            if let old = change.previousPrimaryAddress { writerPool.dropConnections(to: old) }
        }
        var paused = false
        do {
            let ready = try await orchestrator.waitUntil(seconds: 15) { $0.isLeader && $0.primary == "pg_a" && $0.replication == "synchronous" }
            #expect(ready.replication == "synchronous")
            _ = try await writerPool.query("CREATE TABLE drill_ledger (id bigint PRIMARY KEY)")
            let ledger = WriteLedger()
            let writing = ledger.run(client: writerPool, writers: 4)
            try await Task.sleep(for: .seconds(1))
            let stopped = ContinuousClock.now
            let stoppedAt = Date()
            try await ScratchCluster.script(["pause", cluster.directoryA])
            paused = true
            let failedOver = try await orchestrator.waitUntil(seconds: 15) { $0.lastFailover != nil }
            try await Task.sleep(for: .seconds(1))
            ledger.stop()
            await writing.value
            let record = try #require(failedOver.lastFailover)
            #expect(record.to == "pg_b")
            #expect(record.possibleLossBytes == 0)
            let acknowledged = ledger.ids
            let stored = Set(try await writerPool.query("SELECT id FROM drill_ledger").all.compactMap { $0.int("id") })
            let lost = acknowledged.filter { !stored.contains($0) }
            let outage = Self.milliseconds(ledger.longestGap(after: stopped))
            #expect(lost.isEmpty, "acknowledged writes missing after the failover: \(lost.prefix(20))")
            #expect(outage < 2000, "no write was acknowledged for \(outage) ms")
            let promoted = record.steps.first { $0.step == "promoted" }.map { Int($0.at.timeIntervalSince(stoppedAt) * 1000) }
            #expect((promoted ?? Int.max) < 2000, "promoted only \(promoted ?? -1) ms after SIGSTOP")
            print("stopped-primary drill: SIGSTOP of the primary → promoted \(promoted.map(String.init) ?? "?") ms after; "
                  + "longest time without an acknowledged write \(outage) ms; \(acknowledged.count) acknowledged, \(lost.count) lost")

            // Continued, the old primary still believes it is the primary: it must accept no write
            // (it is fenced and shut down).
            let resumedAt = Date()
            try await ScratchCluster.script(["resume", cluster.directoryA])
            paused = false
            let (accepted, down) = try await cluster.writesToA(overridingReadOnly: true)
            #expect(accepted == 0, "the former primary acknowledged \(accepted) writes after it was continued")
            #expect(down, "the former primary was not shut down")
            let fencing = try await orchestrator.waitUntil(seconds: 5) { $0.lastFencing.map { $0.at > resumedAt } ?? false }.lastFencing
            #expect(fencing?.node == "pg_a")
            #expect(fencing?.stopped == true)
            let onNewPrimary = try await writerPool.query("SELECT count(*) AS n FROM drill_ledger WHERE id < 0")
            #expect(onNewPrimary.first?.int("n") == 0)
        } catch {
            Issue.record(error)
        }
        if paused { try? await ScratchCluster.script(["resume", cluster.directoryA]) }
        await writerPool.shutdown()
        await orchestrator.stop(cluster: name)
        await cluster.destroy()
    }

    @Test("the leader crashes in the middle of a failover (the standby promoted, nothing recorded): the other replica takes over, adopts the promoted node and finishes; nothing acknowledged lost")
    func leaderCrashMidFailover() async throws {
        let cluster = ScratchCluster(ports: (55465, 55466))
        let name = "drill-\(cluster.tag)"
        await cluster.destroy()
        try await cluster.create()
        let writerPool = PostgresClient(configuration: .init(url: cluster.multiHostURL, name: "drill-writer", pool: .init(maximumConnections: 4, leaseTimeout: .seconds(5)),
                                                             statementTimeout: .seconds(5), connectTimeout: .seconds(2)))
        let first = OrchestratorUnderTest.start(cluster: name, nodes: [cluster.nodeA, cluster.nodeB], identity: "first")
        let ready = try await first.waitUntil(seconds: 15) { $0.isLeader && $0.primary == "pg_a" && $0.replication == "synchronous" }
        #expect(ready.isLeader)
        let second = OrchestratorUnderTest.start(cluster: name, nodes: [cluster.nodeA, cluster.nodeB], identity: "second") { change in
            writerPool.prefer(address: change.primaryAddress)
            if let old = change.previousPrimaryAddress { writerPool.dropConnections(to: old) }
        }
        do {
            let following = try await second.waitUntil(seconds: 5) { $0.leader == "first" && $0.primary == "pg_a" && $0.regions.flatMap(\.nodes).allSatisfy { $0.lastSeen != nil } }
            #expect(!following.isLeader)
            _ = try await writerPool.query("CREATE TABLE drill_ledger (id bigint PRIMARY KEY)")
            let ledger = WriteLedger()
            let writing = ledger.run(client: writerPool, writers: 4)
            try await Task.sleep(for: .seconds(1))

            // The primary is lost; the leader promotes pg_b and dies before it records anything.
            let killed = ContinuousClock.now
            try await ScratchCluster.script(["kill", cluster.directoryA])
            first.election.abandon()
            for task in first.tasks { task.cancel() }
            let promoter = PostgresClient(configuration: .init(url: cluster.nodeB.url, name: "drill-promoter"))
            _ = try await promoter.query("SELECT pg_promote(true, 5)")
            await promoter.shutdown()

            let finished = try await second.waitUntil(seconds: 15) { $0.isLeader && $0.lastFailover != nil }
            let took = ContinuousClock.now - killed
            try await Task.sleep(for: .milliseconds(500))
            ledger.stop()
            await writing.value
            let record = try #require(finished.lastFailover)
            #expect(finished.leader == "second")
            #expect(finished.primary == "pg_b")
            #expect(finished.epoch == 2)
            #expect(record.to == "pg_b")
            #expect(record.steps.contains { $0.step == "adopted" })
            #expect(second.announced.withLockedValue { $0.last?.epoch } == 2)
            let acknowledged = ledger.ids
            let stored = Set(try await writerPool.query("SELECT id FROM drill_ledger").all.compactMap { $0.int("id") })
            let lost = acknowledged.filter { !stored.contains($0) }
            #expect(lost.isEmpty, "acknowledged writes missing: \(lost.prefix(20))")
            #expect(took < .seconds(5))
            print("leader-crash drill: primary killed and the leader crashed after promoting; the other replica led and recorded the new primary "
                  + "\(Self.milliseconds(took)) ms after the kill; longest time without an acknowledged write \(Self.milliseconds(ledger.longestGap(after: killed))) ms; "
                  + "\(acknowledged.count) acknowledged, \(lost.count) lost")
        } catch {
            Issue.record(error)
        }
        await writerPool.shutdown()
        await first.stop(cluster: name)
        await second.stop(cluster: name)
        await cluster.destroy()
    }

    @Test("the orchestrator cut off from a primary its standby still hears (a partition, not a crash): no failover, the hold reported, writes go on; reconnected, the hold ends")
    func partitionedFromPrimary() async throws {
        let cluster = ScratchCluster(ports: (55473, 55474))
        let name = "drill-\(cluster.tag)"
        await cluster.destroy()
        try await cluster.create()
        // The orchestrator reaches pg_a only through a TCP relay; stopping the relay (SIGSTOP)
        // cuts that path alone, while pg_b streams from pg_a and writers reach it directly.
        let relayPort = 55475
        let relay = try ChildProcess(executable: "/usr/bin/python3", arguments: ["-c", Self.relayScript, String(relayPort), String(cluster.ports.a)],
                                     environment: ProcessInfo.processInfo.environment)
        var relayed = cluster.nodeA
        relayed.url = "postgresql://postgres@127.0.0.1:\(relayPort)/postgres"
        for _ in 0..<50 where !relay.output.contains("relaying") { try await Task.sleep(for: .milliseconds(100)) }
        let orchestrator = OrchestratorUnderTest.start(cluster: name, nodes: [relayed, cluster.nodeB])
        let writerPool = PostgresClient(configuration: .init(url: cluster.multiHostURL, name: "drill-writer", pool: .init(maximumConnections: 4, leaseTimeout: .seconds(5)),
                                                             statementTimeout: .seconds(5), connectTimeout: .seconds(2)))
        var cut = false
        do {
            let ready = try await orchestrator.waitUntil(seconds: 15) { $0.isLeader && $0.primary == "pg_a" && $0.replication == "synchronous" }
            #expect(ready.replication == "synchronous")
            _ = try await writerPool.query("CREATE TABLE drill_ledger (id bigint PRIMARY KEY)")
            let ledger = WriteLedger()
            let writing = ledger.run(client: writerPool, writers: 2)
            try await Task.sleep(for: .seconds(1))
            relay.signal(SIGSTOP)
            cut = true
            let cutAt = ContinuousClock.now
            let held = try await orchestrator.waitUntil(seconds: 5) { $0.failoverHeld != nil }
            // Well past the grace (800 ms): still no failover.
            try await Task.sleep(for: .seconds(3))
            let later = orchestrator.controller.status()
            #expect(held.failoverHeld?.contains("pg_b") == true, "no hold reported: \(String(describing: held.failoverHeld))")
            #expect(later.primary == "pg_a")
            #expect(later.epoch == ready.epoch)
            #expect(later.lastFailover == nil)
            #expect(later.regions.flatMap(\.nodes).first { $0.name == "pg_a" }?.role == .unreachable)
            let acknowledgedDuringCut = ledger.acknowledgedCount(after: cutAt)
            #expect(acknowledgedDuringCut > 100, "the primary acknowledged only \(acknowledgedDuringCut) writes while the orchestrator was cut off")

            relay.signal(SIGCONT)
            cut = false
            let healed = try await orchestrator.waitUntil(seconds: 5) { $0.failoverHeld == nil && $0.regions.flatMap(\.nodes).first { $0.name == "pg_a" }?.role == .primary }
            #expect(healed.failoverHeld == nil)
            #expect(healed.primary == "pg_a")
            ledger.stop()
            await writing.value
            print("partition drill: the orchestrator cut off from the primary for 3 s+, its standby still streaming: no failover (held), "
                  + "\(acknowledgedDuringCut) writes acknowledged by the primary meanwhile; \(held.failoverHeld ?? "")")
        } catch {
            Issue.record(error)
        }
        if cut { relay.signal(SIGCONT) }
        relay.signal(SIGKILL)
        _ = await relay.waitForExit(timeout: .seconds(5))
        await writerPool.shutdown()
        await orchestrator.stop(cluster: name)
        await cluster.destroy()
    }

    /// A TCP relay: listens on argv[1], forwards every connection to 127.0.0.1:argv[2].
    static let relayScript = """
        import asyncio, sys
        async def pipe(reader, writer):
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except Exception:
                pass
            finally:
                writer.close()
        async def handle(reader, writer):
            upstream_reader, upstream_writer = await asyncio.open_connection('127.0.0.1', int(sys.argv[2]))
            await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))
        async def main():
            server = await asyncio.start_server(handle, '127.0.0.1', int(sys.argv[1]))
            print('relaying', flush=True)
            async with server:
                await server.serve_forever()
        asyncio.run(main())
        """

    @Test("a second replica does not act while the first holds the lease, and takes over within about a TTL when it stops")
    func leaderHandover() async throws {
        let cluster = "election-\(UUID().uuidString.prefix(8).lowercased())"
        let first = OrchestratorUnderTest.start(cluster: cluster, nodes: [], identity: "first")
        let leading = try await first.waitUntil(seconds: 5) { $0.isLeader }
        #expect(leading.isLeader)
        let second = OrchestratorUnderTest.start(cluster: cluster, nodes: [], identity: "second")
        let following = try await second.waitUntil(seconds: 2) { $0.leader == "first" }
        #expect(following.leader == "first")
        #expect(!following.isLeader)
        // The leader stops renewing (a crash: nothing revoked): the follower takes over after the lease expires.
        for task in first.tasks { task.cancel() }
        let stopped = ContinuousClock.now
        let taken = try await second.waitUntil(seconds: 5) { $0.isLeader }
        #expect(taken.isLeader)
        #expect(taken.leader == "second")
        print("leader handover: the second replica led \(Self.milliseconds(ContinuousClock.now - stopped)) ms after the first stopped")
        await first.stop(cluster: cluster)
        await second.stop(cluster: cluster)
    }
}

/// Configuration and WAL positions (no I/O).
@Suite("Failover configuration and WAL positions")
struct FailoverUnitTests {
    @Test("node lists are name@region=url; bad names, hosts and duplicates are refused naming the variable")
    func nodeParsing() throws {
        let nodes = try FailoverOrchestratorConfiguration.nodes(["pg_a@eu-west=postgresql://postgres@db-a:5432/postgres", "pg_b@eu-central=postgresql://postgres@db-b/postgres"])
        #expect(nodes.map(\.address) == ["db-a:5432", "db-b:5432"])
        #expect(nodes.map(\.region) == ["eu-west", "eu-central"])
        for bad in [["pg_a=postgresql://x@h/p"], ["pg-a@r=postgresql://x@h/p"], ["pg_a@r=http://h/p"], ["pg_a@r=postgresql://h/p", "pg_a@s=postgresql://h2/p"], ["pg\u{0}a@r=postgresql://h/p"]] {
            #expect(throws: ConfigurationError.self) { try FailoverOrchestratorConfiguration.nodes(bad) }
        }
    }

    @Test("WAL positions parse, order and measure distances; nonsense does not parse")
    func logSequenceNumbers() throws {
        let low = try #require(LogSequenceNumber("0/3000060"))
        let high = try #require(LogSequenceNumber("1/0"))
        #expect(low < high)
        #expect(low.distance(to: high) == (1 << 32) - 0x3000060)
        #expect(high.distance(to: low) == 0)
        #expect(LogSequenceNumber("16/B374D848")?.description == "16/B374D848")
        for bad in ["", "0", "x/1", "1/", "/1", "100000000/0", "0/-1"] { #expect(LogSequenceNumber(bad) == nil) }
    }
}
