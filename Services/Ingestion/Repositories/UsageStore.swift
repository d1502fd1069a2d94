import Foundation
import LibPQ

/// Owns the SQL of `usage_minutes`: what the insert transaction counted, read and marked
/// published by the ``UsagePublisher``.
struct UsageStore: Sendable {
    let database: PostgresClient

    /// One minute's growth of one tenant not published yet.
    struct Delta: Sendable {
        var tenant: UUID
        var minute: Date
        var points: Int
        var bytes: Int
        var revision: Int
    }

    /// Runs `publish` on the unpublished growth of minutes that have ended (up to `limit` rows,
    /// locked meanwhile, so writers of those minutes wait and no delta is counted twice), then
    /// marks what it published; returns how many rows.
    /// - Throws: ``ClientError`` from the database, or what `publish` throws (nothing is marked then).
    func publishPending(limit: Int = 1000, _ publish: ([Delta]) async throws -> Void) async throws -> Int {
        try await self.database.withTransaction { session in
            let rows = try await session.query("""
                SELECT tenant_id, extract(epoch FROM minute)::bigint AS minute, points - published_points AS points, bytes - published_bytes AS bytes, revision
                FROM usage_minutes WHERE points > published_points AND minute < date_trunc('minute', now())
                ORDER BY minute, tenant_id LIMIT $1 FOR UPDATE SKIP LOCKED
                """, [limit])
            let deltas = rows.all.compactMap { row -> Delta? in
                guard let tenant = row["tenant_id"].flatMap(UUID.init(uuidString:)), let minute = row.int("minute"), let points = row.int("points"),
                      let bytes = row.int("bytes"), let revision = row.int("revision") else { return nil }
                return Delta(tenant: tenant, minute: Date(timeIntervalSince1970: Double(minute)), points: points, bytes: bytes, revision: revision)
            }
            guard !deltas.isEmpty else { return 0 }
            try await publish(deltas)
            for delta in deltas {
                _ = try await session.execute("""
                    UPDATE usage_minutes SET published_points = published_points + $3, published_bytes = published_bytes + $4, revision = revision + 1
                    WHERE tenant_id = $1 AND minute = to_timestamp($2)
                    """, [delta.tenant.uuidString.lowercased(), Int(delta.minute.timeIntervalSince1970), delta.points, delta.bytes])
            }
            return deltas.count
        }
    }
}
