import Foundation
import LibPQ
import SensormineClients
import SensormineJSON

/// A stored dead letter, as the API shows it.
struct DeadLetterRecord: Codable, Sendable {
    var id: Int
    var tenantId: String?
    var deviceId: String?
    var messageId: String?
    var schemaSubject: String?
    var schemaVersion: Int?
    var reason: String
    var receivedAt: Date?
    var replayedAt: Date?
    /// The original Kafka message value, base64.
    var original: String
}

/// Which dead letters a listing or a replay covers.
struct DeadLetterFilter: Sendable {
    var tenantID: UUID
    var deviceID: UUID?
    var schemaSubject: String?
    var reasonContains: String?
    var includeReplayed: Bool
}

/// Owns the SQL of `dead_letters` (the rows Ingestion writes with each batch).
struct DeadLetterRepository: Sendable {
    let database: PostgresClient

    private static func conditions(_ filter: DeadLetterFilter, startingAt first: Int) -> (sql: String, parameters: [(any PostgresBindable)?]) {
        var sql = "tenant_id = $\(first)"
        var parameters: [(any PostgresBindable)?] = [filter.tenantID]
        if let device = filter.deviceID {
            parameters.append(device)
            sql += " AND device_id = $\(first + parameters.count - 1)"
        }
        if let subject = filter.schemaSubject {
            parameters.append(subject)
            sql += " AND schema_subject = $\(first + parameters.count - 1)"
        }
        if let reason = filter.reasonContains {
            parameters.append(reason)
            sql += " AND strpos(reason, $\(first + parameters.count - 1)) > 0"
        }
        if !filter.includeReplayed { sql += " AND replayed_at IS NULL" }
        return (sql, parameters)
    }

    /// A page in id order after `cursor`.
    func list(_ filter: DeadLetterFilter, after cursor: Int, limit: Int) async throws -> [DeadLetterRecord] {
        let (conditions, parameters) = Self.conditions(filter, startingAt: 3)
        let rows = try await self.database.withTenant(filter.tenantID) { session in
            try await session.query("""
                SELECT id, tenant_id, device_id, message_id, schema_subject, schema_version, reason, received_at, replayed_at,
                       encode(original, 'base64') AS original
                FROM dead_letters WHERE id > $1 AND \(conditions) ORDER BY id LIMIT $2
                """, [cursor, limit] + parameters)
        }
        return rows.all.map(Self.record)
    }

    /// Locks up to `limit` unreplayed dead letters (the given ids, or all matching `filter`),
    /// lets `replay` hand them on, then marks them replayed, in one transaction: a failed
    /// replay marks nothing, and two replays at once never take the same row.
    func replay(_ filter: DeadLetterFilter, ids: [Int]?, limit: Int,
                _ replay: @Sendable ([(record: DeadLetterRecord, original: [UInt8], headers: [(name: String, value: [UInt8])])]) async throws -> Void) async throws -> Int {
        try await self.database.withTenant(filter.tenantID) { session in
            var (conditions, parameters) = Self.conditions(DeadLetterFilter(tenantID: filter.tenantID, deviceID: filter.deviceID, schemaSubject: filter.schemaSubject,
                                                                            reasonContains: filter.reasonContains, includeReplayed: false), startingAt: 2)
            if let ids {
                parameters.append("{" + ids.map(String.init).joined(separator: ",") + "}")
                conditions += " AND id = ANY ($\(parameters.count + 1)::bigint[])"
            }
            let rows = try await session.query("""
                SELECT id, tenant_id, device_id, message_id, schema_subject, schema_version, reason, received_at, replayed_at,
                       encode(original, 'base64') AS original, headers::text AS headers
                FROM dead_letters WHERE \(conditions) ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
                """, [limit] + parameters)
            let letters = rows.all.map { row in
                let record = Self.record(row)
                let stored = row["headers"].flatMap { try? JSON.parse($0) }?.object ?? [:]
                let headers = stored.compactMap { name, value -> (name: String, value: [UInt8])? in
                    guard !name.hasPrefix("dlq-"), let text = value.string else { return nil }
                    return (name, Array(text.utf8))
                }
                return (record: record, original: Array(Data(base64Encoded: record.original) ?? Data()), headers: headers)
            }
            guard !letters.isEmpty else { return 0 }
            try await replay(letters)
            let replayed = "{" + letters.map { String($0.record.id) }.joined(separator: ",") + "}"
            return try await session.execute("UPDATE dead_letters SET replayed_at = now() WHERE id = ANY ($1::bigint[])", [replayed])
        }
    }

    private static func record(_ row: PostgresRow) -> DeadLetterRecord {
        DeadLetterRecord(id: row.int("id") ?? 0, tenantId: row["tenant_id"], deviceId: row["device_id"], messageId: row["message_id"],
                         schemaSubject: row["schema_subject"], schemaVersion: row.int("schema_version"), reason: row["reason"] ?? "",
                         receivedAt: row.date("received_at"), replayedAt: row.date("replayed_at"), original: row["original"]?.replacingOccurrences(of: "\n", with: "") ?? "")
    }
}
