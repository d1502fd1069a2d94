import Foundation
import LibPQ

/// Owns the SQL that removes telemetry past its retention: whole chunks or partitions where every
/// tenant's data in them has expired, bounded deletes for tenants whose retention is shorter.
struct RetentionStore: Sendable {
    /// How telemetry is laid out in this database.
    enum Layout: String, Sendable {
        /// A TimescaleDB hypertable: old chunks go with `drop_chunks`.
        case hypertable
        /// Native daily range partitions: old partitions are dropped.
        case partitioned
    }

    let database: PostgresClient

    /// The telemetry table's layout.
    func layout() async throws -> Layout {
        let rows = try await self.database.query("""
            SELECT EXISTS (SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid WHERE c.relname = 'telemetry') AS partitioned
            """)
        return rows.first?.bool("partitioned") == true ? .partitioned : .hypertable
    }

    /// Every tenant that has rollups, the longest-lived record of a tenant's data; a skip scan over
    /// the rollups' primary key, so it costs one index probe per tenant, and the few partials not
    /// folded yet.
    func tenants() async throws -> [UUID] {
        let rows = try await self.database.query("""
            WITH RECURSIVE tenants AS (
                (SELECT tenant_id FROM telemetry_hourly ORDER BY tenant_id LIMIT 1)
                UNION ALL
                SELECT (SELECT h.tenant_id FROM telemetry_hourly h WHERE h.tenant_id > t.tenant_id ORDER BY h.tenant_id LIMIT 1)
                FROM tenants t WHERE t.tenant_id IS NOT NULL
            )
            SELECT tenant_id FROM tenants WHERE tenant_id IS NOT NULL
            UNION
            SELECT DISTINCT tenant_id FROM telemetry_hourly_pending
            """)
        return rows.all.compactMap { $0["tenant_id"].flatMap(UUID.init(uuidString:)) }
    }

    /// Dedicated tenants and their own raw tables.
    func dedicatedTables() async throws -> [UUID: String] {
        var tables: [UUID: String] = [:]
        for row in try await self.database.query("SELECT tenant_id, raw_table FROM tenant_tables").all {
            if let tenant = row["tenant_id"].flatMap(UUID.init(uuidString:)), let table = row["raw_table"] { tables[tenant] = table }
        }
        return tables
    }

    /// Copies a tenant's points in the shared table from `from` up to `before` into the tenant's
    /// own table (made if need be), so that dropping the shared table's old chunks costs the
    /// tenant nothing it still keeps; returns the points copied. Repeats copy nothing twice.
    func evacuate(tenant: UUID, from: Date, before: Date, layout: Layout) async throws -> Int {
        guard from < before else { return 0 }
        let range: [(any PostgresBindable)?] = [tenant, from.timeIntervalSince1970, before.timeIntervalSince1970]
        let selection = "FROM telemetry WHERE tenant_id = $1 AND time >= to_timestamp($2::double precision) AND time < to_timestamp($3::double precision)"
        return try await self.database.withTransaction { session in
            guard try await session.query("SELECT EXISTS (SELECT 1 \(selection)) AS found", range).first?.bool("found") == true else { return 0 }
            guard let name = try await session.query("SELECT sensormine_dedicated_table($1::uuid) AS name", [tenant]).first?["name"] else { return 0 }
            let table = try PostgresIdentifier.quoted(name)
            if layout == .partitioned {
                // Partitions for the days that hold points, one call per run of consecutive days.
                let runs = try await session.query("""
                    SELECT min(day)::text AS first, max(day)::text AS last FROM (
                        SELECT day, day - (row_number() OVER (ORDER BY day))::int AS island
                        FROM (SELECT DISTINCT (time AT TIME ZONE 'UTC')::date AS day \(selection)) days
                    ) grouped GROUP BY island
                    """, range)
                for run in runs.all {
                    _ = try await session.query("SELECT sensormine_ensure_partitions($1::date, $2::date, $3)", [run["first"], run["last"], name])
                }
            }
            return try await session.execute("INSERT INTO \(table) SELECT * \(selection) ON CONFLICT DO NOTHING", range)
        }
    }

    /// Drops the chunks (or partitions) of a raw table that end at or before `cutoff`; returns
    /// how many.
    func dropRaw(table: String = "telemetry", before cutoff: Date, layout: Layout) async throws -> Int {
        try await self.drop(table: table, before: cutoff, layout: layout)
    }

    /// Removes rollups older than `cutoff`: whole chunks first on TimescaleDB, then bounded
    /// deletes for what a chunk straddling the cutoff still holds. Returns chunks plus rows.
    func dropRollups(before cutoff: Date, layout: Layout) async throws -> Int {
        let chunks = layout == .hypertable ? try await self.drop(table: "telemetry_hourly", before: cutoff, layout: layout) : 0
        return try await chunks + self.deleteInBatches("""
            DELETE FROM telemetry_hourly h USING (
                SELECT tenant_id, device_id, metric, bucket FROM telemetry_hourly WHERE bucket < to_timestamp($1::double precision) LIMIT $2
            ) old
            WHERE h.tenant_id = old.tenant_id AND h.device_id = old.device_id AND h.metric = old.metric AND h.bucket = old.bucket
            """, [cutoff.timeIntervalSince1970])
    }

    /// Deletes one tenant's raw points in the shared table older than `cutoff`; returns how many.
    func deleteRaw(tenant: UUID, before cutoff: Date) async throws -> Int {
        try await self.deleteInBatches("""
            DELETE FROM telemetry t USING (
                SELECT device_id, metric, time FROM telemetry
                WHERE tenant_id = $2 AND time < to_timestamp($1::double precision) LIMIT $3
            ) old
            WHERE t.tenant_id = $2 AND t.device_id = old.device_id AND t.metric = old.metric AND t.time = old.time
            """, [cutoff.timeIntervalSince1970, tenant])
    }

    /// Runs a `DELETE` whose last parameter is its batch size, one transaction per batch (so
    /// none holds many row locks), until a batch comes back short; returns the rows deleted.
    private func deleteInBatches(_ sql: String, _ parameters: [(any PostgresBindable)?], batch: Int = 20_000) async throws -> Int {
        var removed = 0
        while true {
            let deleted = try await self.database.withTransaction { session in try await session.execute(sql, parameters + [batch]) }
            removed += deleted
            if deleted < batch { return removed }
        }
    }

    private func drop(table: String, before cutoff: Date, layout: Layout) async throws -> Int {
        let rows: PostgresRows
        switch layout {
        case .hypertable:
            rows = try await self.database.query(
                "SELECT count(*) AS dropped FROM drop_chunks($1::regclass, older_than => to_timestamp($2::double precision))",
                [table, cutoff.timeIntervalSince1970])
        case .partitioned:
            rows = try await self.database.query("SELECT sensormine_drop_partitions(to_timestamp($1::double precision), $2) AS dropped",
                                                 [cutoff.timeIntervalSince1970, table])
        }
        return rows.first?.int("dropped") ?? 0
    }
}
