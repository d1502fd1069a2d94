import Foundation
import LibPQ

/// StreamProcessing's saved state: per partition the next offset, watermark and claim epoch;
/// per device its encoded state. A save writes a batch's changed devices and its partitions'
/// offsets in one transaction, so state and position never disagree after a crash.
struct StreamStateStore: Sendable {
    let database: PostgresClient
    let group: String

    /// A partition's saved state, claimed for this member.
    struct Claim: Sendable {
        var epoch: Int64
        var nextOffset: Int64
        var watermark: Micros
        var devices: [String: DeviceState]
        /// Saved device states that could not be read (another version); they start afresh.
        var unreadable: Int
    }

    /// Claims `partition`: raises its epoch (fencing out the previous owner's saves) and reads
    /// its state.
    /// - Throws: ``ClientError`` when the database is unavailable.
    func claim(_ partition: PartitionKey) async throws -> Claim {
        try await self.database.withTransaction { session in
            let row = try await session.query("""
                INSERT INTO stream_partitions (consumer_group, topic, partition) VALUES ($1, $2, $3)
                ON CONFLICT (consumer_group, topic, partition) DO UPDATE SET epoch = stream_partitions.epoch + 1, updated_at = now()
                RETURNING epoch, next_offset, watermark
                """, [self.group, partition.topic, partition.partition]).first
            let rows = try await session.query("SELECT device_key, state FROM stream_device_state WHERE consumer_group = $1 AND topic = $2 AND partition = $3",
                                               [self.group, partition.topic, partition.partition])
            var devices: [String: DeviceState] = [:]
            var unreadable = 0
            for row in rows.all {
                guard let key = row["device_key"], let bytes = row["state"].flatMap(PostgresBytea.bytes(fromText:)), let state = try? StateCodec.decode(bytes) else {
                    unreadable += 1
                    continue
                }
                devices[key] = state
            }
            return Claim(epoch: Int64(row?.int("epoch") ?? 1), nextOffset: Int64(row?.int("next_offset") ?? 0),
                         watermark: row?["watermark"].flatMap { Int64($0) } ?? .min, devices: devices, unreadable: unreadable)
        }
    }

    /// Saves the changes of a batch; partitions whose epoch moved on (another member claimed
    /// them) are left unwritten and returned.
    /// - Throws: ``ClientError`` when the database is unavailable; nothing is saved then.
    func save(_ changes: [PartitionChanges]) async throws -> Set<PartitionKey> {
        try await self.database.withTransaction { session in
            // Every partition's epoch is locked and read in one round trip; the writes go out
            // with the COPY and the COMMIT (ADR 34): four round trips whatever the partitions.
            let epochs = try await session.pipeline(changes.map { change in
                ("SELECT epoch FROM stream_partitions WHERE consumer_group = $1 AND topic = $2 AND partition = $3 FOR UPDATE",
                 [self.group, change.partition.topic, change.partition.partition])
            })
            var fenced = Set<PartitionKey>()
            var rows = PostgresCopyBuffer(capacity: 256 * 1024)
            for (change, epoch) in zip(changes, epochs) {
                guard epoch.first?.int("epoch").map(Int64.init) == change.epoch else {
                    fenced.insert(change.partition)
                    continue
                }
                for device in change.devices {
                    rows.append(self.group)
                    rows.append(change.partition.topic)
                    rows.append(Int(change.partition.partition))
                    rows.append(device.key)
                    rows.append(bytea: device.state)
                    rows.endRow()
                }
                try session.enqueue("""
                    UPDATE stream_partitions SET next_offset = $4, watermark = $5, updated_at = now()
                    WHERE consumer_group = $1 AND topic = $2 AND partition = $3
                    """, [self.group, change.partition.topic, change.partition.partition, change.nextOffset,
                          change.watermark == .min ? nil : change.watermark])
            }
            if rows.rowCount > 0 {
                // States are compressed as they land here, with the table's own method (lz4),
                // and go into the table as they are: compressed once.
                try session.enqueue("CREATE TEMP TABLE IF NOT EXISTS stream_state_in (LIKE stream_device_state INCLUDING COMPRESSION) ON COMMIT DELETE ROWS")
                _ = try await session.copy(into: "stream_state_in", columns: ["consumer_group", "topic", "partition", "device_key", "state"], rows: rows)
                try session.enqueue("""
                    INSERT INTO stream_device_state SELECT * FROM stream_state_in
                    ON CONFLICT (consumer_group, topic, partition, device_key) DO UPDATE SET state = EXCLUDED.state
                    """)
            }
            return fenced
        }
    }

    /// Forgets a consumer group's state (tests, and an operator resetting a group).
    /// - Throws: ``ClientError`` when the database is unavailable.
    func reset() async throws {
        try await self.database.withTransaction { session in
            _ = try await session.execute("DELETE FROM stream_device_state WHERE consumer_group = $1", [self.group])
            _ = try await session.execute("DELETE FROM stream_partitions WHERE consumer_group = $1", [self.group])
        }
    }
}
