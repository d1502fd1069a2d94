import ClientRuntime
import Foundation
import SensormineClients
import LibPQ
import Logging
import SensormineTelemetry
import TelemetryIntake
import Testing

@testable import Ingestion
@testable import QueryAPI

/// The storage path of a PostgreSQL without TimescaleDB (a managed database), on the local
/// stack's PostgreSQL 15: native daily range partitions, created ahead and on demand.
@Suite("Telemetry storage: TimescaleDB and plain PostgreSQL")
struct NativePartitionTests {
    @Test("migrations make a partitioned table; points outside the prepared days get their partition; repeats are ignored; aggregates work")
    func nativePartitions() async throws {
        try await ScratchTimeseries.plain.with { client in
            #expect(try await client.query("SELECT count(*) AS n FROM pg_extension WHERE extname = 'timescaledb'").first?.int("n") == 0)
            #expect(try await client.query("SELECT count(*) AS n FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid WHERE c.relname = 'telemetry'").first?.int("n") == 1)
            let prepared = try await client.query("SELECT count(*) AS n FROM pg_inherits WHERE inhparent = 'telemetry'::regclass").first?.int("n")
            #expect(prepared == 9)  // yesterday to a week ahead

            let store = TelemetryStore(database: client)
            let tenant = UUID().uuidString.lowercased()
            let device = UUID().uuidString.lowercased()
            let far = try #require(RFC3339.microseconds("2031-05-04T10:00:00Z"))
            let points = (0..<120).map { StoredPoint(tenantID: tenant, deviceID: device, point: TelemetryPoint(metric: "rpm", time: far + Int64($0) * 1_000_000, value: Double($0))) }
            #expect(try await store.write(points, deadLetters: []) == 120)
            #expect(try await store.write(Array(points.prefix(30)), deadLetters: []) == 0)
            #expect(try await client.query("SELECT to_regclass('telemetry_p20310504') IS NOT NULL AS made").first?.bool("made") == true)

            let queries = TelemetryQueries(database: client)
            let buckets = try await queries.aggregate(tenant: try #require(UUID(uuidString: tenant)), metric: "rpm", devices: [], from: far, to: far + 120_000_000,
                                                      bucketSeconds: 60, function: .count, source: .raw)
            #expect(buckets.map(\.count) == [60, 60])
            let page = try await queries.points(tenant: try #require(UUID(uuidString: tenant)), device: try #require(UUID(uuidString: device)), metric: "rpm",
                                                from: far, to: far + 120_000_000, after: far + 99_000_000, limit: 10)
            #expect(page.map(\.value) == Array(100..<110).map(Double.init))
        }
    }

    @Test("on the stack's TimescaleDB the same migrations make a hypertable")
    func hypertable() async throws {
        try await ScratchTimeseries.timescale.with { (client: PostgresClient) async throws in
            #expect(try await client.query("SELECT count(*) AS n FROM timescaledb_information.hypertables WHERE hypertable_name IN ('telemetry', 'telemetry_hourly')").first?.int("n") == 2)
        }
    }

    @Test("the rollups' pages, the hypertable's chunks made after the migration included, keep half their room for in-place updates",
          arguments: [ScratchTimeseries.plain, .timescale])
    func rollupPagesKeepRoom(server: ScratchTimeseries) async throws {
        try await server.with { client in
            let store = TelemetryStore(database: client)
            let (tenant, device) = (UUID().uuidString.lowercased(), UUID().uuidString.lowercased())
            let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
            // Two months apart: on TimescaleDB, two 30-day chunks made after the migration ran.
            let points = [now, now - 60 * 86_400_000_000].map { StoredPoint(tenantID: tenant, deviceID: device, point: TelemetryPoint(metric: "temp", time: $0, value: 1)) }
            #expect(try await store.write(points, deadLetters: []) == 2)
            #expect(try await store.foldPendingRollups() == 2)
            let tables = try await client.query("""
                SELECT c.relname, coalesce('fillfactor=50' = ANY (c.reloptions), false) AS roomy FROM pg_class c
                WHERE c.oid = 'telemetry_hourly'::regclass OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'telemetry_hourly'::regclass)
                """).all
            #expect(tables.count == (server == .timescale ? 3 : 1))
            #expect(tables.filter { $0.bool("roomy") != true }.compactMap { $0["relname"] } == [])
        }
    }

    @Test("hourly rollups give the raw aggregates and ignore replays; retention keeps each tenant's days and drops whole chunks",
          arguments: [ScratchTimeseries.plain, .timescale])
    func rollupsAndRetention(server: ScratchTimeseries) async throws {
        try await server.with { client in
            let store = TelemetryStore(database: client)
            let queries = TelemetryQueries(database: client)
            let hour: Int64 = 3_600_000_000
            let now = Date()
            let nowMicros = Int64(now.timeIntervalSince1970 * 1_000_000)
            let (short, medium, unset) = (UUID(), UUID(), UUID())
            let device = UUID()
            // 30 points two minutes apart, half an hour before to half an hour after a whole hour,
            // at each age; values vary so first, last, min and max all differ.
            func points(_ tenant: UUID, daysAgo: Int) -> [StoredPoint] {
                let hourStart = (nowMicros - Int64(daysAgo) * 24 * hour) / hour * hour
                return (0..<30).map { index in
                    StoredPoint(tenantID: tenant.uuidString.lowercased(), deviceID: device.uuidString.lowercased(),
                                point: TelemetryPoint(metric: "temp", time: hourStart - hour / 2 + Int64(index) * 120_000_000, value: Double((index * 37) % 23) + Double(daysAgo)))
                }
            }
            let ages = [70, 45, 20, 5]
            for tenant in [short, medium, unset] {
                for age in ages { #expect(try await store.write(points(tenant, daysAgo: age), deadLetters: []) == 30) }
            }
            // A replay stores nothing and leaves the rollups alone.
            #expect(try await store.write(points(short, daysAgo: 5), deadLetters: []) == 0)

            let from = (nowMicros - 72 * 24 * hour) / hour * hour
            let to = (nowMicros / hour + 1) * hour
            for function in AggregateFunction.allCases {
                let raw = try await queries.aggregate(tenant: short, metric: "temp", devices: [device], from: from, to: to, bucketSeconds: 3600, function: function, source: .raw)
                let rolled = try await queries.aggregate(tenant: short, metric: "temp", devices: [], from: from, to: to, bucketSeconds: 3600, function: function, source: .hourlyRollup)
                #expect(raw.count == 8)
                #expect(rolled.map(\.time) == raw.map(\.time), "\(function)")
                #expect(rolled.map(\.count) == raw.map(\.count), "\(function)")
                #expect(zip(rolled, raw).allSatisfy { abs($0.value - $1.value) < 1e-9 }, "\(function): \(rolled.map(\.value)) vs \(raw.map(\.value))")
            }

            // A batch partly stored before, one of its new points in it twice, stores (and rolls
            // up) only its new points, once each.
            let mixed = UUID()
            let stored = points(mixed, daysAgo: 5)
            #expect(try await store.write(stored, deadLetters: []) == 30)
            let fresh = stored.prefix(10).map { old in
                var point = old
                point.point.time += 60_000_000
                point.point.value += 0.5
                return point
            }
            #expect(try await store.write(Array(stored.prefix(10)) + fresh + [fresh[3]], deadLetters: []) == 10)
            #expect(try await store.write(fresh, deadLetters: []) == 0)
            func expectMixedRollupsMatchRaw(_ stage: String, points: Int = 40) async throws {
                for function in AggregateFunction.allCases {
                    let raw = try await queries.aggregate(tenant: mixed, metric: "temp", devices: [device], from: from, to: to, bucketSeconds: 3600, function: function, source: .raw)
                    let rolled = try await queries.aggregate(tenant: mixed, metric: "temp", devices: [], from: from, to: to, bucketSeconds: 3600, function: function, source: .hourlyRollup)
                    #expect(raw.map(\.count).reduce(0, +) == points)
                    #expect(rolled.map(\.count) == raw.map(\.count), "\(stage) \(function)")
                    #expect(zip(rolled, raw).allSatisfy { abs($0.value - $1.value) < 1e-9 }, "\(stage) \(function): \(rolled.map(\.value)) vs \(raw.map(\.value))")
                }
            }
            func rollupRows(_ table: String) async throws -> Int? {
                try await client.query("SELECT count(*) AS n FROM \(table) WHERE tenant_id = $1", [mixed]).first?.int("n")
            }
            // Each stored batch appended its partials: two hours, then the hours its new points fell in.
            let pending = try #require(try await rollupRows("telemetry_hourly_pending"))
            #expect(pending > 2)
            #expect(try await rollupRows("telemetry_hourly") == 0)
            try await expectMixedRollupsMatchRaw("pending")
            // Folded, they are one row per device, metric and hour, with the same answers.
            #expect(try await store.foldPendingRollups() ?? 0 >= 2)
            #expect(try await rollupRows("telemetry_hourly_pending") == 0)
            #expect(try await rollupRows("telemetry_hourly") == 2)
            try await expectMixedRollupsMatchRaw("folded")
            // A later batch's partial merges into a folded row as it did into the pending ones.
            let late = stored.suffix(5).map { old in
                var point = old
                point.point.time += 30_000_000
                point.point.value = -1_000
                return point
            }
            #expect(try await store.write(late, deadLetters: []) == 5)
            #expect(try await store.foldPendingRollups() ?? 0 >= 1)
            #expect(try await rollupRows("telemetry_hourly") == 2)
            try await expectMixedRollupsMatchRaw("refolded", points: 45)

            let retention: [UUID: Int] = [short: 10, medium: 30]
            let worker = RetentionWorker(store: RetentionStore(database: client), policy: RetentionPolicy(defaultDays: 60, rollupDays: 65, sharedMaximumDays: 60, interval: .seconds(3600)),
                                         tenantRetention: { retention[$0] }, logger: Logger(label: "retention"))
            let report = try await worker.apply(now: now)
            #expect(report.droppedChunks >= 1)
            #expect(report.deletedPoints == 30 * 2 + 30)  // the short tenant's 45 and 20 days, the medium one's 45 days
            #expect(report.removedRollups >= 1)
            func rawCount(_ tenant: UUID) async throws -> Int {
                try await client.query("SELECT count(*) AS n FROM telemetry WHERE tenant_id = $1", [tenant]).first?.int("n") ?? -1
            }
            #expect(try await rawCount(short) == 30)
            #expect(try await rawCount(medium) == 60)
            #expect(try await rawCount(unset) == 90)
            // Rollups outlive raw points: the short tenant's 45-day-old hours still aggregate.
            let daily = try await queries.aggregate(tenant: short, metric: "temp", devices: [], from: from, to: to, bucketSeconds: 86_400, function: .count, source: .hourlyRollup)
            #expect(daily.map(\.count).reduce(0, +) == 90)
            #expect(try await worker.apply(now: now) == RetentionReport(droppedChunks: 0, deletedPoints: 0, removedRollups: 0))
        }
    }
}

extension NativePartitionTests {
    @Test("a dedicated tenant's points go to its own table, are read with its earlier shared ones, and its retention drops whole chunks",
          arguments: [ScratchTimeseries.plain, .timescale])
    func dedicatedTenant(server: ScratchTimeseries) async throws {
        try await server.with { client in
            let store = TelemetryStore(database: client)
            let queries = TelemetryQueries(database: client)
            let (tenant, neighbour, device) = (UUID(), UUID(), UUID())
            let day: Int64 = 86_400_000_000
            let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
            func points(_ owner: UUID, ageDays: Int64, count: Int) -> [StoredPoint] {
                (0..<count).map { StoredPoint(tenantID: owner.uuidString.lowercased(), deviceID: device.uuidString.lowercased(),
                                              point: TelemetryPoint(metric: "flow", time: now - ageDays * day + Int64($0) * 1_000_000, value: Double($0))) }
            }
            // 10 points from before the move stay in the shared table.
            #expect(try await store.write(points(tenant, ageDays: 2, count: 10), deadLetters: []) == 10)
            let owned: Set<String> = [tenant.uuidString.lowercased()]
            let batch = points(tenant, ageDays: 20, count: 40) + points(tenant, ageDays: 0, count: 30) + points(neighbour, ageDays: 0, count: 5)
            #expect(try await store.write(batch, deadLetters: [], dedicatedTenants: owned) == 75)
            #expect(try await store.write(batch, deadLetters: [], dedicatedTenants: owned) == 0)

            let table = try #require(try await client.query("SELECT raw_table FROM tenant_tables WHERE tenant_id = $1", [tenant]).first?["raw_table"])
            func count(_ relation: String, _ owner: UUID) async throws -> Int {
                try await client.query("SELECT count(*) AS n FROM \(relation) WHERE tenant_id = $1", [owner]).first?.int("n") ?? -1
            }
            #expect(try await count(table, tenant) == 70)
            #expect(try await count("telemetry", tenant) == 10)
            #expect(try await count("telemetry", neighbour) == 5)
            #expect(try await count(table, neighbour) == 0)

            let everything = try await queries.aggregate(tenant: tenant, metric: "flow", devices: [], from: now - 30 * day, to: now + day,
                                                         bucketSeconds: 86_400, function: .count, source: .raw)
            #expect(everything.map(\.count).reduce(0, +) == 80)
            let latest = try await queries.latest(tenant: tenant, devices: [device])
            #expect(latest[device]?["flow"]?.value == 29)

            let worker = RetentionWorker(store: RetentionStore(database: client), policy: RetentionPolicy(defaultDays: 60, rollupDays: 65, sharedMaximumDays: 60, interval: .seconds(3600)),
                                         tenantRetention: { $0 == tenant ? 10 : nil }, logger: Logger(label: "retention"))
            let report = try await worker.apply(now: Date())
            #expect(report.droppedChunks >= 1)
            #expect(try await count(table, tenant) == 30)
            #expect(try await count("telemetry", tenant) == 10)
            #expect(try await count("telemetry", neighbour) == 5)
        }
    }
}

extension NativePartitionTests {
    @Test("a tenant kept longer than the shared table's maximum keeps its points in a table of its own; the shared table still drops whole chunks at the others' retention",
          arguments: [ScratchTimeseries.plain, .timescale])
    func longRetentionTenant(server: ScratchTimeseries) async throws {
        try await server.with { client in
            let store = TelemetryStore(database: client)
            let queries = TelemetryQueries(database: client)
            let (standard, archive, device) = (UUID(), UUID(), UUID())
            let day: Int64 = 86_400_000_000
            let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
            func points(_ owner: UUID, ageDays: Int64) -> [StoredPoint] {
                (0..<30).map { StoredPoint(tenantID: owner.uuidString.lowercased(), deviceID: device.uuidString.lowercased(),
                                           point: TelemetryPoint(metric: "level", time: now - ageDays * day + Int64($0) * 60_000_000, value: Double($0))) }
            }
            // Written while both tenants shared the table: 50 and 5 days old.
            for owner in [standard, archive] {
                for age: Int64 in [50, 5] { #expect(try await store.write(points(owner, ageDays: age), deadLetters: []) == 30) }
            }
            let retention: [UUID: Int] = [archive: 400]
            let policy = RetentionPolicy(defaultDays: 30, rollupDays: 500, sharedMaximumDays: 30, interval: .seconds(3600))
            #expect(TenantStorageSettings(dedicated: false, retentionDays: 400).ownsTable(sharedMaximumDays: policy.sharedMaximumDays))
            #expect(!TenantStorageSettings(dedicated: false, retentionDays: nil).ownsTable(sharedMaximumDays: policy.sharedMaximumDays))
            let worker = RetentionWorker(store: RetentionStore(database: client), policy: policy, tenantRetention: { retention[$0] }, logger: Logger(label: "retention"))

            let report = try await worker.apply(now: Date())
            // The 50-day chunk went whole (no row deletes for the standard tenant), after the
            // archive tenant's points in it were copied to its own table.
            #expect(report.droppedChunks >= 1)
            #expect(report.deletedPoints == 0)
            #expect(report.movedPoints == 30)
            func count(_ relation: String, _ owner: UUID) async throws -> Int {
                try await client.query("SELECT count(*) AS n FROM \(relation) WHERE tenant_id = $1", [owner]).first?.int("n") ?? -1
            }
            let table = try #require(try await client.query("SELECT raw_table FROM tenant_tables WHERE tenant_id = $1", [archive]).first?["raw_table"])
            #expect(try await count("telemetry", standard) == 30)
            #expect(try await count("telemetry", archive) == 30)
            #expect(try await count(table, archive) == 30)
            let kept = try await queries.aggregate(tenant: archive, metric: "level", devices: [], from: now - 60 * day, to: now + day,
                                                   bucketSeconds: 86_400, function: .count, source: .raw)
            #expect(kept.map(\.count).reduce(0, +) == 60)
            // A second pass finds nothing left to move, drop or delete.
            let again = try await worker.apply(now: Date())
            #expect(again.movedPoints == 0 && again.deletedPoints == 0 && again.droppedChunks == 0)
        }
    }
}

/// A database of its own on one of the stack's servers, migrated for telemetry and dropped after.
enum ScratchTimeseries: Sendable, CustomStringConvertible {
    /// The host's PostgreSQL 15 without TimescaleDB: native partitions.
    case plain
    /// The stack's PostgreSQL 17 with TimescaleDB: hypertables.
    case timescale

    var description: String { self == .plain ? "PostgreSQL 15" : "TimescaleDB" }

    func with(_ body: (PostgresClient) async throws -> Void) async throws {
        try await self.withURL { _, client in try await body(client) }
    }

    /// A scratch database with Ingestion's migrations applied; `body` gets its URL and a client.
    func withURL(_ body: (String, PostgresClient) async throws -> Void) async throws {
        let serverURL: String
        switch self {
        case .plain:
            let url = try #require(ProcessInfo.processInfo.environment["SENSORMINE_TEST_PLAIN_POSTGRES_URL"])
            serverURL = String(url[..<(url.lastIndex(of: "/") ?? url.endIndex)])
        case .timescale:
            let timeseries = try #require(ProcessInfo.processInfo.environment["SENSORMINE_TIMESERIES_DB_URL"])
            // The primary is the first host of the stack's (multi-host) URL.
            let port = try #require(timeseries.split(separator: "@").last?.split(separator: "/").first?.split(separator: ",").first?.split(separator: ":").last)
            serverURL = "postgresql://postgres@127.0.0.1:\(port)"
        }
        let admin = PostgresClient(configuration: .init(url: serverURL + "/postgres", name: "scratch-admin"))
        let database = "scratch_\(UUID().uuidString.prefix(8).lowercased())"
        _ = try await admin.query("CREATE DATABASE \(database)")
        let client = PostgresClient(configuration: .init(url: serverURL + "/" + database, name: "scratch", sessionSettings: PostgresClient.Configuration.allTenants))
        let outcome: Result<Void, any Error>
        do {
            _ = try await IngestionService.migrations.run(on: client, logger: Logger(label: "scratch-timeseries"))
            try await body(serverURL + "/" + database, client)
            outcome = .success(())
        } catch {
            outcome = .failure(error)
        }
        await client.shutdown()
        _ = try? await admin.query("DROP DATABASE \(database) WITH (FORCE)")
        await admin.shutdown()
        try outcome.get()
    }
}

extension NativePartitionTests {
    @Test("row-level security confines every time-series table to one tenant even when a query forgets its own filter",
          arguments: [ScratchTimeseries.plain, .timescale])
    func rowLevelSecurity(server: ScratchTimeseries) async throws {
        try await server.withURL { url, writer in
            let store = TelemetryStore(database: writer)
            let (mine, theirs, device) = (UUID(), UUID(), UUID())
            let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
            func points(_ tenant: UUID, _ count: Int) -> [StoredPoint] {
                (0..<count).map { StoredPoint(tenantID: tenant.uuidString.lowercased(), deviceID: device.uuidString.lowercased(),
                                              point: TelemetryPoint(metric: "v", time: now - Int64($0) * 1_000_000, value: Double($0))) }
            }
            let letter = DeadLetter(tenantID: theirs.uuidString.lowercased(), deviceID: nil, messageID: "m", schemaSubject: nil, schemaVersion: nil,
                                    reason: "test", topic: "t", partition: 0, offset: Int64.random(in: 0..<1_000_000_000), original: [1], headers: [])
            #expect(try await store.write(points(mine, 5) + points(theirs, 7), deadLetters: [letter]) == 12)
            _ = try await store.dedicatedTable(for: theirs.uuidString.lowercased())

            // The services' role, as in the stack: no superuser, so the policies apply (the
            // scratch database's own user is a superuser and bypasses them).
            let role = "rls_\(UUID().uuidString.prefix(8).lowercased())"
            try await writer.withSession { session in
                try await session.executeScript("""
                    CREATE ROLE \(role) LOGIN;
                    GRANT USAGE ON SCHEMA public TO \(role);
                    GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO \(role);
                    """)
            }
            guard var components = URLComponents(string: url) else { return }
            components.user = role
            // A reader without a scope sees nothing; scoped to one tenant, a query with no
            // tenant filter at all sees only that tenant's rows.
            let reader = PostgresClient(configuration: .init(url: try #require(components.string), name: "rls-reader"))
            for table in ["telemetry", "telemetry_hourly", "telemetry_hourly_pending", "telemetry_rollups", "dead_letters", "tenant_tables"] {
                #expect(try await reader.query("SELECT count(*) AS n FROM \(table)").first?.int("n") == 0, "\(table)")
            }
            let seen = try await reader.withTenant(mine) { session in
                (try await session.query("SELECT count(*) AS n FROM telemetry").first?.int("n"),
                 try await session.query("SELECT count(DISTINCT tenant_id) AS n FROM telemetry_rollups").first?.int("n"),
                 try await session.query("SELECT count(*) AS n FROM dead_letters").first?.int("n"),
                 try await session.query("SELECT count(*) AS n FROM tenant_tables").first?.int("n"))
            }
            #expect(seen.0 == 5)
            #expect(seen.1 == 1)
            #expect(seen.2 == 0)
            #expect(seen.3 == 0)
            let theirTable = try await reader.withTenant(theirs) { try await $0.query("SELECT raw_table FROM tenant_tables").first?["raw_table"] }
            #expect(theirTable?.hasPrefix("telemetry_t_") == true)
            // Writing another tenant's row from a scoped transaction is refused by the policy.
            await #expect(throws: ClientError.self) {
                try await reader.withTenant(mine) { session in
                    try await session.execute("INSERT INTO telemetry (tenant_id, device_id, metric, time, value) VALUES ($1, $2, 'v', now(), 1)", [theirs, device])
                }
            }
            await reader.shutdown()
            try await writer.withSession { try await $0.executeScript("DROP OWNED BY \(role); DROP ROLE \(role)") }
        }
    }
}
