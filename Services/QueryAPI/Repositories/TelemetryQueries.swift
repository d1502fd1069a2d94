import ClientRuntime
import Foundation
import LibPQ
import SensormineClients

/// Owns the read SQL over `telemetry` (and a dedicated tenant's own table); every query is
/// confined to one tenant, by its WHERE clause and by the tables' row-level security (each
/// runs in a transaction that sees only that tenant).
struct TelemetryQueries: Sendable {
    let database: PostgresClient
    /// Tenant → its own raw table, or nil while it has none.
    private let ownTables = ExpiringCache<UUID, String?, ContinuousClock.Instant>(capacity: 100_000)

    init(database: PostgresClient) {
        self.database = database
    }

    /// The raw points the tenant may have: `telemetry`, together with its own table once
    /// Ingestion made one (points written before the tenant moved stay in `telemetry`).
    private func rawSource(_ tenant: UUID, _ session: PostgresSession) async throws -> String {
        let table: String?
        if let known = self.ownTables.value(for: tenant, now: .now) {
            table = known
        } else {
            let name = try await session.query("SELECT raw_table FROM tenant_tables WHERE tenant_id = $1", [tenant]).first?["raw_table"]
            // Ingestion names them telemetry_t_<32 hex digits>; anything else is not interpolated.
            table = name.flatMap { $0.wholeMatch(of: /telemetry_t_[0-9a-f]{32}/) != nil ? $0 : nil }
            // A tenant without a table is asked again soon: its first points make one.
            self.ownTables.insert(table, for: tenant, expires: .now + (table == nil ? .seconds(5) : .seconds(600)))
        }
        guard let table else { return "telemetry" }
        return "(SELECT tenant_id, device_id, metric, time, value FROM telemetry UNION ALL SELECT tenant_id, device_id, metric, time, value FROM \(table)) AS telemetry"
    }

    /// A stored value at a time (microseconds since 1970).
    struct Sample: Sendable {
        var time: Int64
        var value: Double
    }

    /// Points of one device and metric in [from, to), oldest first, after the cursor.
    func points(tenant: UUID, device: UUID, metric: String, from: Int64, to: Int64, after: Int64?, limit: Int) async throws -> [Sample] {
        let rows = try await self.database.withTenant(tenant) { session in
            let source = try await self.rawSource(tenant, session)
            return try await session.query("""
                SELECT (extract(epoch FROM time) * 1000000)::bigint AS micros, value FROM \(source)
                WHERE tenant_id = $1 AND device_id = $2 AND metric = $3
                  AND time >= \(Self.timestamp(4)) AND time < \(Self.timestamp(5)) AND time > \(Self.timestamp(6))
                ORDER BY time LIMIT $7
                """, [tenant, device, metric, from, to, after ?? (from - 1), limit])
        }
        return rows.all.compactMap { row in
            guard let micros = row["micros"].flatMap({ Int64($0) }), let value = row.double("value") else { return nil }
            return Sample(time: micros, value: value)
        }
    }

    /// The latest sample of every metric of each device.
    func latest(tenant: UUID, devices: [UUID]) async throws -> [UUID: [String: Sample]] {
        let rows = try await self.database.withTenant(tenant) { session in
            let source = try await self.rawSource(tenant, session)
            return try await session.query("""
                SELECT DISTINCT ON (device_id, metric) device_id, metric, (extract(epoch FROM time) * 1000000)::bigint AS micros, value
                FROM \(source) WHERE tenant_id = $1 AND device_id = ANY ($2::uuid[])
                ORDER BY device_id, metric, time DESC
                """, [tenant, "{" + devices.map { $0.uuidString.lowercased() }.joined(separator: ",") + "}"])
        }
        var result: [UUID: [String: Sample]] = [:]
        for row in rows.all {
            guard let device = row["device_id"].flatMap({ UUID(uuidString: $0) }), let metric = row["metric"],
                  let micros = row["micros"].flatMap({ Int64($0) }), let value = row.double("value") else { continue }
            result[device, default: [:]][metric] = Sample(time: micros, value: value)
        }
        return result
    }

    /// One aggregate of a metric per time bucket, across the given devices (all of the tenant's
    /// when empty). `date_bin` works on TimescaleDB and plain PostgreSQL alike.
    /// From `.hourlyRollup`, the buckets are built from whole hours of `telemetry_rollups` (the
    /// folded rollups and the partials not folded yet, which compose), which gives the same
    /// answer as the raw points when bucket and range are whole hours.
    func aggregate(tenant: UUID, metric: String, devices: [UUID], from: Int64, to: Int64, bucketSeconds: Int, function: AggregateFunction,
                   source: AggregateSource) async throws -> [(time: Int64, value: Double, count: Int)] {
        let deviceFilter = devices.isEmpty ? "" : "AND device_id = ANY ($6::uuid[])"
        var parameters: [(any PostgresBindable)?] = [tenant, metric, from, to, "\(bucketSeconds) seconds"]
        if !devices.isEmpty { parameters.append("{" + devices.map { $0.uuidString.lowercased() }.joined(separator: ",") + "}") }
        let bound = parameters
        let rows = try await self.database.withTenant(tenant) { session in
            let raw = source == .raw ? try await self.rawSource(tenant, session) : ""
            let (table, time, value, count) = switch source {
            case .raw: (raw, "time", function.sql, "count(*)")
            case .hourlyRollup: ("telemetry_rollups", "bucket", function.rollupSQL, "sum(count)")
            }
            return try await session.query("""
                SELECT (extract(epoch FROM bucket) * 1000000)::bigint AS micros, value, count FROM (
                    SELECT date_bin($5::interval, \(time), 'epoch'::timestamptz) AS bucket, \(value) AS value, \(count) AS count
                    FROM \(table)
                    WHERE tenant_id = $1 AND metric = $2 AND \(time) >= \(Self.timestamp(3)) AND \(time) < \(Self.timestamp(4)) \(deviceFilter)
                    GROUP BY 1
                ) buckets ORDER BY bucket
                """, bound)
        }
        return rows.all.compactMap { row in
            guard let micros = row["micros"].flatMap({ Int64($0) }), let value = row.double("value"), let count = row.int("count") else { return nil }
            return (micros, value, count)
        }
    }

    /// SQL turning the bigint parameter `$n` (microseconds) into a timestamptz.
    private static func timestamp(_ parameter: Int) -> String {
        "('epoch'::timestamptz + $\(parameter)::bigint * interval '1 microsecond')"
    }
}

/// Which table an aggregate reads.
enum AggregateSource: String, Sendable {
    case raw
    case hourlyRollup = "rollup-1h"
}

/// The aggregates QueryAPI computes.
enum AggregateFunction: String, Sendable, CaseIterable {
    case avg, min, max, sum, count, first, last

    var sql: String {
        switch self {
        case .avg: "avg(value)"
        case .min: "min(value)"
        case .max: "max(value)"
        case .sum: "sum(value)"
        case .count: "count(*)::double precision"
        case .first: "(array_agg(value ORDER BY time))[1]"
        case .last: "(array_agg(value ORDER BY time DESC))[1]"
        }
    }

    /// The same aggregate over partial aggregates (`telemetry_rollups`' rows).
    var rollupSQL: String {
        switch self {
        case .avg: "sum(sum) / sum(count)"
        case .min: "min(min)"
        case .max: "max(max)"
        case .sum: "sum(sum)"
        case .count: "sum(count)::double precision"
        case .first: "(array_agg(first_value ORDER BY first_time))[1]"
        case .last: "(array_agg(last_value ORDER BY last_time DESC))[1]"
        }
    }
}
