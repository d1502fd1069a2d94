import Foundation
import LibPQ
import Logging
import Testing

@testable import StreamProcessing

@Suite("Stream state saved in PostgreSQL")
struct StreamStateStoreTests {
    static let logger = Logger(label: "stream-state-store-tests")

    /// A device state larger than PostgreSQL's TOAST threshold: many recent message ids, most
    /// of them a device's own (text that compresses), some EdgeGateway's UUIDs.
    static func state(seen: Int, marker: Micros) -> DeviceState {
        var state = DeviceState()
        state.seen = (0..<seen).map { SeenMessage(id: $0 % 5 == 0 ? UUID().uuidString.lowercased() : "reading-\($0)-from-the-device-counter", time: marker + Micros($0) * 1_000_000) }
        state.lastArrival = marker
        return state
    }

    @Test("a save writes every partition's devices and position in one transaction; a partition claimed since is fenced and left as its new owner has it; states are read back exactly, compressed with lz4")
    func saveClaimAndFence() async throws {
        let database = PostgresClient(configuration: .init(url: try #require(ProcessInfo.processInfo.environment["SENSORMINE_TIMESERIES_DB_URL"]), name: "stream-state-test"))
        _ = try await StreamProcessingService.migrations.run(on: database, logger: Self.logger)
        let store = StreamStateStore(database: database, group: "test-\(UUID().uuidString.lowercased())")
        let topic = "device.telemetry.test-\(UUID().uuidString.lowercased())"
        let partitions = (0..<6).map { PartitionKey(topic: topic, partition: Int32($0)) }

        var claims: [PartitionKey: StreamStateStore.Claim] = [:]
        for partition in partitions { claims[partition] = try await store.claim(partition) }
        #expect(claims.values.allSatisfy { $0.epoch == 1 && $0.nextOffset == 0 && $0.devices.isEmpty })

        // Partition 5 is claimed by another member before the first member saves.
        let taken = try await store.claim(partitions[5])
        #expect(taken.epoch == 2)

        var states: [PartitionKey: [String: DeviceState]] = [:]
        let changes = partitions.map { partition in
            let devices = (0..<40).map { device in ("device-\(partition.partition)-\(device)", Self.state(seen: 90, marker: Micros(partition.partition) * 1_000 + Micros(device))) }
            states[partition] = Dictionary(uniqueKeysWithValues: devices)
            return PartitionChanges(partition: partition, epoch: claims[partition]?.epoch ?? 0, nextOffset: 100 + Int64(partition.partition),
                                    watermark: 5_000 + Micros(partition.partition), devices: devices.map { ($0.0, StateCodec.encode($0.1)) })
        }
        let fenced = try await store.save(changes)
        #expect(fenced == [partitions[5]])

        for partition in partitions {
            let claim = try await store.claim(partition)
            if partition == partitions[5] {
                #expect(claim.devices.isEmpty && claim.nextOffset == 0, "the fenced save wrote nothing for the partition's new owner")
                continue
            }
            #expect(claim.nextOffset == 100 + Int64(partition.partition))
            #expect(claim.watermark == 5_000 + Micros(partition.partition))
            #expect(claim.unreadable == 0)
            #expect(claim.devices == states[partition])
        }

        let compression = try await database.query("""
            SELECT DISTINCT pg_column_compression(state) AS method FROM stream_device_state WHERE consumer_group = $1
            """, [store.group])
        let size = try await database.query("SELECT min(octet_length(state)) AS raw FROM stream_device_state WHERE consumer_group = $1", [store.group])
        #expect((size.first?.int("raw") ?? 0) > 2_100, "large enough to be compressed")
        #expect(compression.all.map { $0["method"] } == ["lz4"])

        try await store.reset()
        #expect(try await database.query("SELECT count(*) AS n FROM stream_device_state WHERE consumer_group = $1", [store.group]).first?.int("n") == 0)
        await database.shutdown()
    }
}
