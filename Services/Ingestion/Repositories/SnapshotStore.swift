import Foundation
import LibPQ

/// Owns the SQL of the daily usage snapshots: the devices that sent telemetry in each month, each
/// tenant's storage on each day, and the snapshots waiting to be published.
struct SnapshotStore: Sendable {
    let database: PostgresClient

    /// One tenant's snapshot of one day (UTC).
    struct Snapshot: Sendable, Equatable {
        var tenant: UUID
        /// The day's first instant (UTC).
        var day: Date
        /// Devices that sent telemetry in the day's month up to the day's end.
        var activeDevices: Int
        /// Those whose first telemetry of the month was on this day.
        var newActiveDevices: Int
        /// Raw points and the tenant's share of the rollups, in bytes.
        var storageBytes: Int64
        /// Whether the raw part was measured on a table of the tenant's own (otherwise it is the
        /// tenant's points times the shared table's bytes per point).
        var rawStorageExact: Bool
    }

    /// What a pass measured of the tables, from which each tenant's storage is estimated.
    struct StorageMeasure: Sendable, Equatable {
        /// The shared raw table with its chunks or partitions.
        var sharedRawBytes: Int64
        /// The rollup table with its chunks.
        var rollupBytes: Int64
        /// Each dedicated tenant's own raw table.
        var dedicatedRawBytes: [UUID: Int64]
        /// Per tenant: its rollup rows and the points those rollups count since the shared
        /// table's oldest point (what the shared table holds of it).
        var rollupRows: [UUID: Int64]
        var rawPoints: [UUID: Int64]

        /// Each tenant's storage: its own table, or its points × the shared table's bytes per
        /// point; plus its rollup rows × the rollup table's bytes per row.
        func storage(of tenant: UUID) -> (bytes: Int64, exact: Bool) {
            let rollupTotal = self.rollupRows.values.reduce(0, +)
            let rollupShare = rollupTotal > 0 ? Double(self.rollupBytes) * Double(self.rollupRows[tenant] ?? 0) / Double(rollupTotal) : 0
            if let own = self.dedicatedRawBytes[tenant] { return (own + Int64(rollupShare.rounded()), true) }
            let sharedPoints = self.rawPoints.filter { self.dedicatedRawBytes[$0.key] == nil }.values.reduce(0, +)
            let rawShare = sharedPoints > 0 ? Double(self.sharedRawBytes) * Double(self.rawPoints[tenant] ?? 0) / Double(sharedPoints) : 0
            return (Int64((rawShare + rollupShare).rounded()), false)
        }
    }

    /// The latest day a snapshot was taken for (nil: none yet).
    func lastDay() async throws -> Date? {
        try await self.database.query("SELECT extract(epoch FROM max(day)::timestamp)::bigint AS day FROM usage_snapshot_days").first?.int("day")
            .map { Date(timeIntervalSince1970: Double($0)) }
    }

    /// Takes the snapshots of the days that ended since the last one taken (yesterday's the first
    /// time, at most `catchUpDays` back after a pause, each with the storage measured now);
    /// returns the days taken here.
    func takeDue(now: Date, catchUpDays: Int) async throws -> [Date] {
        let today = UsageDays.start(of: now)
        let earliest = today.addingTimeInterval(-Double(catchUpDays) * 86_400)
        var day = max(try await self.lastDay().map { $0.addingTimeInterval(86_400) } ?? today.addingTimeInterval(-86_400), earliest)
        var taken: [Date] = []
        while day < today {
            if try await self.take(day: day) != nil { taken.append(day) }
            day = day.addingTimeInterval(86_400)
        }
        return taken
    }

    /// Takes `day`'s snapshot of every tenant with telemetry in its month or storage, unless it
    /// was taken already; returns the snapshots taken (nil: the day was taken before). One
    /// transaction under an advisory lock, so replicas taking the same day wait and then find it
    /// taken.
    func take(day: Date) async throws -> [Snapshot]? {
        let dayText = Self.dayText(day)
        return try await self.database.withTransaction { session in
            _ = try await session.query("SELECT pg_advisory_xact_lock(hashtext('sensormine.usage.snapshot'))")
            guard try await session.query("SELECT 1 FROM usage_snapshot_days WHERE day = $1::date", [dayText]).rows.isEmpty else { return nil }
            // Rollup rows are counted for storage: folded first, they are one per device, metric
            // and hour, not one per stored batch.
            _ = try await TelemetryStore.foldPendingRollups(in: session)
            // The day's devices join their month's set; those already in it keep their first day.
            _ = try await session.execute("""
                INSERT INTO usage_active_devices (tenant_id, month, device_id, first_day)
                SELECT DISTINCT tenant_id, date_trunc('month', $1::date)::date, device_id, $1::date FROM telemetry_rollups
                WHERE bucket >= $1::date::timestamp AT TIME ZONE 'UTC' AND bucket < ($1::date + 1)::timestamp AT TIME ZONE 'UTC'
                ON CONFLICT DO NOTHING
                """, [dayText])
            var devices: [UUID: (active: Int, new: Int)] = [:]
            for row in try await session.query("""
                SELECT tenant_id, count(*) AS active, count(*) FILTER (WHERE first_day = $1::date) AS new FROM usage_active_devices
                WHERE month = date_trunc('month', $1::date)::date AND first_day <= $1::date GROUP BY tenant_id
                """, [dayText]).all {
                guard let tenant = row["tenant_id"].flatMap(UUID.init(uuidString:)) else { continue }
                devices[tenant] = (row.int("active") ?? 0, row.int("new") ?? 0)
            }
            let measure = try await Self.measure(session)
            let tenants = Set(devices.keys).union(measure.rollupRows.keys).union(measure.dedicatedRawBytes.keys)
            let snapshots = tenants.sorted { $0.uuidString < $1.uuidString }.map { tenant in
                let storage = measure.storage(of: tenant)
                return Snapshot(tenant: tenant, day: day, activeDevices: devices[tenant]?.active ?? 0, newActiveDevices: devices[tenant]?.new ?? 0,
                                storageBytes: storage.bytes, rawStorageExact: storage.exact)
            }
            for snapshot in snapshots {
                _ = try await session.execute("""
                    INSERT INTO usage_snapshots (tenant_id, day, active_devices, new_active_devices, storage_bytes, raw_storage_exact)
                    VALUES ($1, $2::date, $3, $4, $5, $6) ON CONFLICT DO NOTHING
                    """, [snapshot.tenant, dayText, snapshot.activeDevices, snapshot.newActiveDevices, Int(snapshot.storageBytes), snapshot.rawStorageExact])
            }
            _ = try await session.execute("INSERT INTO usage_snapshot_days (day, tenants) VALUES ($1::date, $2)", [dayText, snapshots.count])
            return snapshots
        }
    }

    /// Runs `publish` on snapshots not published yet (up to `limit`, locked meanwhile), then
    /// marks them published; returns how many.
    /// - Throws: ``ClientError`` from the database, or what `publish` throws (nothing is marked then).
    func publishPending(limit: Int = 500, _ publish: ([Snapshot]) async throws -> Void) async throws -> Int {
        try await self.database.withTransaction { session in
            let rows = try await session.query("""
                SELECT tenant_id, extract(epoch FROM day::timestamp)::bigint AS day, active_devices, new_active_devices, storage_bytes, raw_storage_exact
                FROM usage_snapshots WHERE NOT published ORDER BY day, tenant_id LIMIT $1 FOR UPDATE SKIP LOCKED
                """, [limit])
            let snapshots = rows.all.compactMap { row -> Snapshot? in
                guard let tenant = row["tenant_id"].flatMap(UUID.init(uuidString:)), let day = row.int("day"), let active = row.int("active_devices"),
                      let new = row.int("new_active_devices"), let bytes = row.int("storage_bytes"), let exact = row.bool("raw_storage_exact") else { return nil }
                return Snapshot(tenant: tenant, day: Date(timeIntervalSince1970: Double(day)), activeDevices: active, newActiveDevices: new,
                                storageBytes: Int64(bytes), rawStorageExact: exact)
            }
            guard !snapshots.isEmpty else { return 0 }
            try await publish(snapshots)
            for snapshot in snapshots {
                _ = try await session.execute("UPDATE usage_snapshots SET published = true WHERE day = $1::date AND tenant_id = $2",
                                              [Self.dayText(snapshot.day), snapshot.tenant])
            }
            return snapshots.count
        }
    }

    /// The tables' sizes (each with its chunks or partitions) and the rollups' rows and points
    /// per tenant: one pass over the rollups.
    private static func measure(_ session: PostgresSession) async throws -> StorageMeasure {
        func treeBytes(_ table: String) async throws -> Int64 {
            let row = try await session.query("""
                SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint AS bytes FROM pg_class c
                WHERE c.oid = to_regclass($1) OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = to_regclass($1))
                """, [table]).first
            return Int64(row?.int("bytes") ?? 0)
        }
        var dedicated: [UUID: Int64] = [:]
        for row in try await session.query("SELECT tenant_id, raw_table FROM tenant_tables").all {
            guard let tenant = row["tenant_id"].flatMap(UUID.init(uuidString:)), let table = row["raw_table"] else { continue }
            dedicated[tenant] = try await treeBytes(table)
        }
        var rows: [UUID: Int64] = [:]
        var points: [UUID: Int64] = [:]
        // The shared table's oldest point bounds the rollups that count what it still holds
        // (rollups outlive raw points). Every point has a rollup row, so the oldest is the least
        // of each tenant's and metric's oldest, each found at the end of telemetry_tenant_metric_time
        // (the table has no index on time alone: migration 9).
        for row in try await session.query("""
            WITH oldest AS (
                SELECT coalesce(min(first.time), 'infinity') AS time
                FROM (SELECT DISTINCT tenant_id, metric FROM telemetry_hourly) series,
                     LATERAL (SELECT time FROM telemetry WHERE tenant_id = series.tenant_id AND metric = series.metric ORDER BY time LIMIT 1) first
            )
            SELECT tenant_id, count(*) AS rollup_rows, coalesce(sum(count) FILTER (WHERE bucket >= date_bin('1 hour', (SELECT time FROM oldest), 'epoch'::timestamptz)), 0) AS points
            FROM telemetry_hourly GROUP BY tenant_id
            """).all {
            guard let tenant = row["tenant_id"].flatMap(UUID.init(uuidString:)) else { continue }
            rows[tenant] = Int64(row.int("rollup_rows") ?? 0)
            points[tenant] = Int64(row.int("points") ?? 0)
        }
        return StorageMeasure(sharedRawBytes: try await treeBytes("telemetry"), rollupBytes: try await treeBytes("telemetry_hourly"),
                              dedicatedRawBytes: dedicated, rollupRows: rows, rawPoints: points)
    }

    /// `yyyy-mm-dd` of `day` in UTC.
    static func dayText(_ day: Date) -> String {
        let components = UsageDays.calendar.dateComponents([.year, .month, .day], from: day)
        return String(format: "%04d-%02d-%02d", components.year ?? 1970, components.month ?? 1, components.day ?? 1)
    }
}

/// UTC days and months, as snapshots count them.
enum UsageDays {
    static let calendar: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? .gmt
        return calendar
    }()

    /// The first instant of `date`'s UTC day.
    static func start(of date: Date) -> Date { calendar.startOfDay(for: date) }

    /// Days in `date`'s UTC month.
    static func daysInMonth(_ date: Date) -> Int { calendar.range(of: .day, in: .month, for: date)?.count ?? 30 }
}
