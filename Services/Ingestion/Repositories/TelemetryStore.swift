import ClientRuntime
import Foundation
import LibPQ
import NIOConcurrencyHelpers
import SensormineCore
import SensormineJSON
import SensormineTelemetry

/// A point with its owner, as stored.
struct StoredPoint: Sendable {
    var tenantID: String
    var deviceID: String
    var point: TelemetryPoint
}

/// A message that could not be stored, with why.
struct DeadLetter: Sendable {
    var tenantID: String?
    var deviceID: String?
    var messageID: String?
    var schemaSubject: String?
    var schemaVersion: Int?
    var reason: String
    var topic: String
    var partition: Int32
    var offset: Int64
    var original: [UInt8]
    var headers: [(name: String, value: [UInt8])]
}

/// Owns the SQL of the telemetry tables: batches go in through COPY into a session-local staging
/// table and one insert per target table (the shared `telemetry`, or a dedicated tenant's own),
/// `ON CONFLICT DO NOTHING` when a plain insert meets a key already stored, so a replayed batch
/// changes nothing.
final class TelemetryStore: Sendable {
    static let sharedTable = "telemetry"

    private let database: PostgresClient
    /// Partitions known to exist, as "table/day" (native partitioning only).
    private let knownDays = NIOLockedValueBox<Set<String>>([])
    /// Dedicated tenants' table names, once made.
    private let dedicatedTables = NIOLockedValueBox<[String: String]>([:])

    init(database: PostgresClient) {
        self.database = database
    }

    /// Stores points and dead letters in one transaction; returns how many points were new.
    /// Points of a tenant in `dedicatedTenants` go to that tenant's own table.
    /// - Throws: ``ClientError`` from the database; nothing is stored then.
    func write(_ points: [StoredPoint], deadLetters: [DeadLetter], dedicatedTenants: Set<String> = []) async throws -> Int {
        guard !points.isEmpty || !deadLetters.isEmpty else { return 0 }
        var ownTables: [String: String] = [:]  // tenant → table
        for tenant in dedicatedTenants where UUIDText.isValid(tenant) { ownTables[tenant] = try await self.dedicatedTable(for: tenant) }
        var daysByTable: [String: Set<Int64>] = [:]
        for stored in points { daysByTable[ownTables[stored.tenantID] ?? Self.sharedTable, default: []].insert(Self.day(of: stored.point.time)) }
        let missing: [(table: String, days: [Int64])] = self.knownDays.withLockedValue { known in
            daysByTable.compactMap { table, days in
                let unknown = days.filter { !known.contains("\(table)/\($0)") }.sorted()
                return unknown.isEmpty ? nil : (table, unknown)
            }
        }
        var rows = PostgresCopyBuffer(capacity: points.count * 110)
        for stored in Self.inKeyOrder(points) {
            rows.append(stored.tenantID)
            rows.append(stored.deviceID)
            rows.append(stored.point.metric)
            rows.append(Int(stored.point.time))
            rows.append(stored.point.value)
            rows.endRow()
        }
        let inserted = try await self.database.withTransaction { session -> Int in
            for (table, days) in missing {
                // One call per run of consecutive days: points a year apart make two
                // partitions, not every day between them.
                for run in Self.consecutiveRuns(days) {
                    _ = try await session.query("SELECT sensormine_ensure_partitions($1::date, $2::date, $3)",
                                                [Self.dateText(run.lowerBound), Self.dateText(run.upperBound), table])
                }
            }
            var inserted = 0
            if rows.rowCount > 0 {
                // Statements whose results are not read go out with the next one awaited (ADR 34):
                // the table's creation with the COPY, the savepoints with the inserts, the
                // dead letters and the last release with the COMMIT.
                try session.enqueue("""
                    CREATE TEMP TABLE IF NOT EXISTS telemetry_staging
                        (tenant_id uuid, device_id uuid, metric text, micros bigint, value double precision) ON COMMIT DELETE ROWS
                    """)
                _ = try await session.copy(into: "telemetry_staging", columns: ["tenant_id", "device_id", "metric", "micros", "value"], rows: rows)
                let dedicated = "{" + ownTables.keys.joined(separator: ",") + "}"
                if daysByTable[Self.sharedTable] != nil {
                    inserted += try await Self.insert(session, into: Self.sharedTable, filter: "NOT (tenant_id = ANY ($1::uuid[]))", dedicated)
                }
                for (tenant, table) in ownTables.sorted(by: { $0.key < $1.key }) {
                    inserted += try await Self.insert(session, into: table, filter: "tenant_id = $1::uuid", tenant)
                }
            }
            for letter in deadLetters {
                try session.enqueue("""
                    INSERT INTO dead_letters (tenant_id, device_id, message_id, schema_subject, schema_version, reason, topic,
                                              kafka_partition, kafka_offset, original, headers)
                    VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6, $7, $8, $9, decode($10, 'base64'), $11::jsonb)
                    ON CONFLICT (topic, kafka_partition, kafka_offset) DO NOTHING
                    """, [letter.tenantID.flatMap { UUIDText.isValid($0) ? $0 : nil }, letter.deviceID.flatMap { UUIDText.isValid($0) ? $0 : nil },
                          letter.messageID.map(Self.storable), letter.schemaSubject.map(Self.storable), letter.schemaVersion,
                          Self.storable(letter.reason), letter.topic, Int(letter.partition),
                          Int(letter.offset), Data(letter.original).base64EncodedString(), Self.headersJSON(letter.headers)])
            }
            return inserted
        }
        // Retention may drop partitions of days before yesterday (never later ones), so only
        // yesterday onwards is remembered as present.
        let yesterday = Self.day(of: Int64(Date().timeIntervalSince1970 * 1_000_000)) - 1
        self.knownDays.withLockedValue { known in
            for (table, days) in missing {
                for day in days where day >= yesterday { known.insert("\(table)/\(day)") }
            }
        }
        return inserted
    }

    /// `points` in the raw tables' primary key order (tenant, device, metric, time; a lowercase
    /// UUID's text sorts as its bytes do). A batch interleaves its devices; inserted in key order,
    /// it touches the key's B-tree pages one after another instead of at random: a backlog
    /// batch's statement took about a quarter less time (8,000 rows from 200 devices, nine
    /// alternated runs each: median 89 against 125 ms), for about 4 ms of sorting here.
    static func inKeyOrder(_ points: [StoredPoint]) -> [StoredPoint] {
        points.sorted { a, b in
            if a.tenantID != b.tenantID { return a.tenantID < b.tenantID }
            if a.deviceID != b.deviceID { return a.deviceID < b.deviceID }
            if a.point.metric != b.point.metric { return a.point.metric < b.point.metric }
            return a.point.time < b.point.time
        }
    }

    /// Moves the staged rows that pass `filter` into `table`, and only those that were really
    /// new into the pending hourly rollups and the usage, so a replayed batch changes none of them;
    /// returns how many.
    ///
    /// A batch is almost always new, so it is first inserted as it is, the rollups and the usage
    /// taken from the staged rows, inside a savepoint: `ON CONFLICT` would look each key up once
    /// more before inserting it, and `RETURNING` would hold every row again, about a quarter of
    /// the statement's time. A key already stored (a replay, a record produced twice, one
    /// repeated in the batch) fails that insert; the savepoint is rolled back and the batch goes
    /// in with `ON CONFLICT DO NOTHING`, the rollups and usage taken from what it returned.
    private static func insert(_ session: PostgresSession, into table: String, filter: String, _ parameter: String) async throws -> Int {
        try session.enqueue("SAVEPOINT fresh_batch")
        do {
            let inserted = try await session.execute("""
                WITH staged AS (
                    SELECT tenant_id, device_id, metric, 'epoch'::timestamptz + micros * interval '1 microsecond' AS time, micros, value
                    FROM telemetry_staging WHERE \(filter)
                ), \(Self.rollupAndUsage(of: "staged"))
                INSERT INTO \(table) (tenant_id, device_id, metric, time, value) SELECT tenant_id, device_id, metric, time, value FROM staged
                """, [parameter])
            try session.enqueue("RELEASE SAVEPOINT fresh_batch")
            return inserted
        } catch let error as ClientError where error.serverCode == SQLState.uniqueViolation {
            try session.enqueue("ROLLBACK TO SAVEPOINT fresh_batch")
        }
        let counted = try await session.query("""
            WITH inserted AS (
                INSERT INTO \(table) (tenant_id, device_id, metric, time, value)
                SELECT tenant_id, device_id, metric, 'epoch'::timestamptz + micros * interval '1 microsecond', value
                FROM telemetry_staging WHERE \(filter)
                ON CONFLICT DO NOTHING
                RETURNING tenant_id, device_id, metric, time, (extract(epoch FROM time) * 1000000)::bigint AS micros, value
            ), \(Self.rollupAndUsage(of: "inserted"))
            SELECT count(*) AS inserted FROM inserted
            """, [parameter])
        try session.enqueue("RELEASE SAVEPOINT fresh_batch")
        return counted.first?.int("inserted") ?? 0
    }

    /// The common table expressions that append the rows of `source` (tenant_id, device_id,
    /// metric, time, micros, value) to the pending hourly rollups and add them to the tenants'
    /// usage of the current minute. Appending looks up no key, so the batch's cost does not grow
    /// with the devices it holds; ``foldPendingRollups(in:)`` merges the partials later (ADR 32).
    ///
    /// The first and last values are the smallest and largest `[micros, value]` pairs: `min` and
    /// `max` of an array aggregate in a hash table, where `array_agg(… ORDER BY time)` made the
    /// planner sort the whole batch first (about half the rollups' time for 8,000 rows). A
    /// float8 holds every microsecond exactly from 1685 to 2255 (the default event-time window
    /// admits ten years back and a day ahead), and a device's metric has one value per time (the
    /// primary key), so no two pairs tie on their time.
    private static func rollupAndUsage(of source: String) -> String {
        """
        rolled AS (
            INSERT INTO telemetry_hourly_pending
            SELECT tenant_id, device_id, metric, date_bin('1 hour', time, 'epoch'::timestamptz) AS bucket,
                   count(*), sum(value), min(value), max(value),
                   min(time), (min(ARRAY[micros::float8, value]))[2], max(time), (max(ARRAY[micros::float8, value]))[2]
            FROM \(source) GROUP BY 1, 2, 3, 4
        ), metered AS (
            -- Usage: the rows really stored, and their bytes as stored (ids, time and value:
            -- 48, plus the metric's name).
            INSERT INTO usage_minutes AS u (tenant_id, minute, points, bytes)
            SELECT tenant_id, date_trunc('minute', now()), count(*), sum(48 + octet_length(metric)) FROM \(source) GROUP BY 1 ORDER BY 1
            ON CONFLICT (tenant_id, minute) DO UPDATE SET points = u.points + excluded.points, bytes = u.bytes + excluded.bytes
        )
        """
    }

    /// Moves every pending partial aggregate into `telemetry_hourly`, one row per device, metric
    /// and hour; returns the rollup rows written, or nil when another session was folding (it
    /// takes what this one would have). Inside `session`'s transaction, so readers of
    /// `telemetry_rollups` see the partials either pending or folded, never both or neither.
    /// Partials committed while the fold runs stay for the next one.
    static func foldPendingRollups(in session: PostgresSession) async throws -> Int? {
        guard try await session.query("SELECT pg_try_advisory_xact_lock(hashtext('sensormine.rollups.fold')) AS locked").first?.bool("locked") == true else {
            return nil
        }
        // Sorted by key, so folds and deletes of rollups take their row locks in one order.
        return try await session.execute("""
            WITH moved AS (DELETE FROM telemetry_hourly_pending RETURNING *)
            INSERT INTO telemetry_hourly AS r
            SELECT tenant_id, device_id, metric, bucket, sum(count), sum(sum), min(min), max(max),
                   min(first_time), (array_agg(first_value ORDER BY first_time))[1], max(last_time), (array_agg(last_value ORDER BY last_time DESC))[1]
            FROM moved GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
            ON CONFLICT (tenant_id, device_id, metric, bucket) DO UPDATE SET
                count = r.count + excluded.count,
                sum = r.sum + excluded.sum,
                min = least(r.min, excluded.min),
                max = greatest(r.max, excluded.max),
                first_time = least(r.first_time, excluded.first_time),
                first_value = CASE WHEN excluded.first_time < r.first_time THEN excluded.first_value ELSE r.first_value END,
                last_time = greatest(r.last_time, excluded.last_time),
                last_value = CASE WHEN excluded.last_time > r.last_time THEN excluded.last_value ELSE r.last_value END
            """)
    }

    /// ``foldPendingRollups(in:)`` in a transaction of its own.
    func foldPendingRollups() async throws -> Int? {
        try await self.database.withTransaction { try await Self.foldPendingRollups(in: $0) }
    }

    /// The tenant's own raw table, made on first use (`sensormine_dedicated_table`).
    func dedicatedTable(for tenant: String) async throws -> String {
        if let known = self.dedicatedTables.withLockedValue({ $0[tenant] }) { return known }
        let rows = try await self.database.query("SELECT sensormine_dedicated_table($1::uuid) AS name", [tenant])
        guard let name = rows.first?["name"] else { throw ClientError(.serverError, client: "postgres", "no dedicated table for tenant \(tenant)") }
        self.dedicatedTables.withLockedValue { $0[tenant] = name }
        return name
    }

    /// Sorted days as closed ranges of consecutive days.
    static func consecutiveRuns(_ sortedDays: [Int64]) -> [ClosedRange<Int64>] {
        var runs: [ClosedRange<Int64>] = []
        for day in sortedDays {
            if let last = runs.last, last.upperBound + 1 == day {
                runs[runs.count - 1] = last.lowerBound...day
            } else if runs.last?.contains(day) != true {
                runs.append(day...day)
            }
        }
        return runs
    }

    static func day(of micros: Int64) -> Int64 {
        micros >= 0 ? micros / 86_400_000_000 : (micros - 86_399_999_999) / 86_400_000_000
    }

    static func dateText(_ day: Int64) -> String {
        String(RFC3339.string(microseconds: day * 86_400_000_000).prefix(10))
    }

    /// The headers as a jsonb object; text PostgreSQL cannot hold is made storable.
    static func headersJSON(_ headers: [(name: String, value: [UInt8])]) -> String {
        var object: [String: JSON] = [:]
        for header in headers { object[Self.storable(header.name)] = .string(Self.storable(String(decoding: header.value, as: UTF8.self))) }
        return JSON.object(object).canonicalText
    }

    /// `text` with U+0000, which neither text nor jsonb can hold, shown as U+FFFD: a dead
    /// letter keeps the original bytes, so its searchable fields only need to be close.
    static func storable(_ text: String) -> String {
        guard text.utf8.contains(0) else { return text }
        return String(String.UnicodeScalarView(text.unicodeScalars.map { $0 == "\u{0}" ? "\u{FFFD}" : $0 }))
    }
}
