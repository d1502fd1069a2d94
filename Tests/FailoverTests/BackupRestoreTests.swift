import ClientRuntime
import Foundation
import LibPQ
import NIOConcurrencyHelpers
import Testing
import TestSupport

/// Base backup and WAL archive by scripts/stack/backup.sh (pgBackRest in the Debian 13 root),
/// restored to a point in time into a second scratch cluster.
@Suite("Backup and point-in-time restore (pgBackRest, scratch clusters)", .serialized)
struct BackupRestoreTests {
    /// One write of the ledger: when it was sent and when its commit was acknowledged.
    struct Write {
        let id: Int
        let sent: Date
        let acknowledged: Date
    }

    @Test("restored to a chosen time, the cluster holds every write acknowledged before it and none sent after it; the backup was taken under writes")
    func pointInTimeRestore() async throws {
        let tag = String(UUID().uuidString.prefix(8)).lowercased()
        let stanza = "test-\(tag)"
        let source = (directory: "/var/lib/sensormine/backup-\(tag)-source", port: 55467)
        let restored = (directory: "/var/lib/sensormine/backup-\(tag)-restored", port: 55468)
        let sourceClient = PostgresClient(configuration: .init(url: "postgresql://postgres@127.0.0.1:\(source.port)/postgres", name: "backup-writer",
                                                               pool: .init(maximumConnections: 4, leaseTimeout: .seconds(5)), statementTimeout: .seconds(5)))
        let restoredClient = PostgresClient(configuration: .init(url: "postgresql://postgres@127.0.0.1:\(restored.port)/postgres", name: "backup-reader",
                                                                 pool: .init(maximumConnections: 1, leaseTimeout: .seconds(5)), statementTimeout: .seconds(30)))
        do {
            try await ScratchCluster.script(["primary", source.directory, String(source.port)])
            try await StackScript.run("backup.sh", ["pg-stanza", stanza, source.directory, String(source.port)])
            _ = try await sourceClient.query("CREATE TABLE backup_ledger (id bigint PRIMARY KEY, payload text NOT NULL)")

            // Four writers throughout: before the base backup, while it is taken, and on both
            // sides of the chosen time.
            let writes = NIOLockedValueBox<[Write]>([])
            let nextID = NIOLockedValueBox(0)
            let stopped = NIOLockedValueBox(false)
            let writing = Task {
                await withTaskGroup(of: Void.self) { group in
                    for _ in 0..<4 {
                        group.addTask {
                            while !stopped.withLockedValue({ $0 }) {
                                let id = nextID.withLockedValue { next in
                                    defer { next += 1 }
                                    return next
                                }
                                let sent = Date()
                                if (try? await sourceClient.query("INSERT INTO backup_ledger (id, payload) VALUES ($1, repeat('x', 200))", [id])) != nil {
                                    let acknowledged = Date()
                                    writes.withLockedValue { $0.append(Write(id: id, sent: sent, acknowledged: acknowledged)) }
                                }
                            }
                        }
                    }
                }
            }
            try await Task.sleep(for: .milliseconds(700))
            let backupStarted = ContinuousClock.now
            try await StackScript.run("backup.sh", ["pg-backup", stanza, source.directory, String(source.port), "full"])
            let backupTook = ContinuousClock.now - backupStarted
            try await Task.sleep(for: .milliseconds(1500))
            // The chosen time from the server's clock (the one commit timestamps come from), to the microsecond.
            let now = try #require(try await sourceClient.query("""
                SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' AS target, extract(epoch FROM ts)::float8::text AS epoch
                FROM (SELECT clock_timestamp() AS ts) AS s
                """).first)
            let target = try #require(now["target"])
            let chosen = Date(timeIntervalSince1970: try #require(now["epoch"].flatMap(Double.init)))
            try await Task.sleep(for: .milliseconds(1500))
            stopped.withLockedValue { $0 = true }
            await writing.value

            // The segment holding the last commits is switched out and archived before restoring.
            let switched = try #require(try await sourceClient.query("SELECT pg_walfile_name(pg_switch_wal()) AS segment").first?["segment"])
            var archived = false
            for _ in 0..<200 where !archived {
                let last = try await sourceClient.query("SELECT coalesce(last_archived_wal, '') AS wal FROM pg_stat_archiver").first?["wal"] ?? ""
                archived = last >= switched
                if !archived { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(archived, "segment \(switched) was not archived within 20 s")

            let restoreStarted = ContinuousClock.now
            try await StackScript.run("backup.sh", ["pg-restore", stanza, restored.directory, String(restored.port), target], timeout: .seconds(300))
            let restoreTook = ContinuousClock.now - restoreStarted

            let ledger = writes.withLockedValue { $0 }
            let stored = Set(try await restoredClient.query("SELECT id FROM backup_ledger").all.compactMap { $0.int("id") })
            let before = ledger.filter { $0.acknowledged <= chosen }
            let after = ledger.filter { $0.sent > chosen }
            let missing = before.filter { !stored.contains($0.id) }.map(\.id)
            let present = after.filter { stored.contains($0.id) }.map(\.id)
            #expect(before.count > 100, "only \(before.count) writes were acknowledged before the chosen time")
            #expect(after.count > 100, "only \(after.count) writes were sent after the chosen time")
            #expect(missing.isEmpty, "acknowledged before \(target) but not restored: \(missing.prefix(20))")
            #expect(present.isEmpty, "sent after \(target) but restored: \(present.prefix(20))")
            // The restored cluster is a primary of its own, and does not archive into the stanza.
            // Nor does it keep the recovery target, which a standby cloned from it would obey.
            let state = try #require(try await restoredClient.query("""
                SELECT pg_is_in_recovery()::text AS recovering, current_setting('archive_mode') AS archiving,
                       (SELECT string_agg(name, ',') FROM pg_file_settings WHERE name LIKE 'recovery_target%' OR name = 'restore_command') AS recovery
                """).first)
            #expect(state["recovering"] == "false")
            #expect(state["archiving"] == "off")
            #expect(state["recovery"] == nil, "recovery settings left in the configuration files: \(state["recovery"] ?? "")")
            print("backup drill: full backup under 4 writers in \(FailoverDrillTests.milliseconds(backupTook)) ms; restored to \(target) in "
                  + "\(FailoverDrillTests.milliseconds(restoreTook)) ms: \(before.count) writes acknowledged before it, \(missing.count) missing; "
                  + "\(after.count) sent after it, \(present.count) restored; \(stored.count - before.count) in flight at that time restored")
        } catch {
            Issue.record(error)
        }
        await sourceClient.shutdown()
        await restoredClient.shutdown()
        try? await ScratchCluster.script(["destroy", restored.directory])
        try? await ScratchCluster.script(["destroy", source.directory])
        try? await StackScript.run("backup.sh", ["pg-drop", stanza])
    }
}
