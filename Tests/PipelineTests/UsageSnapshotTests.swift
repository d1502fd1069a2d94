import ClientRuntime
import Foundation
import LibPQ
import Logging
import SensormineClients
import SensormineContracts
import SensormineCore
import SensormineTelemetry
import Testing

@testable import Ingestion

/// Ingestion's daily usage snapshot: active devices per month and storage per tenant.
@Suite("Usage snapshots")
struct UsageSnapshotTests {
    static func day(_ text: String) throws -> Date {
        try #require(try? Date(text + "T00:00:00Z", strategy: .iso8601))
    }

    @Test("a day's snapshot counts each tenant's devices active in the month so far (and those new that day), and its storage: the shared table shared out by the points the rollups count since its oldest point, a dedicated table measured; each day is taken once and published once",
          arguments: [ScratchTimeseries.plain, .timescale])
    func dailySnapshots(server: ScratchTimeseries) async throws {
        try await server.with { client in
            let telemetry = TelemetryStore(database: client)
            let (shared, small, dedicated) = (UUID(), UUID(), UUID())
            let (d1, d2, d3, e1, f1, f2) = (UUID(), UUID(), UUID(), UUID(), UUID(), UUID())
            func points(_ tenant: UUID, _ device: UUID, at day: String, count: Int) throws -> [StoredPoint] {
                let start = Int64(try Self.day(day).timeIntervalSince1970 + 10 * 3600) * 1_000_000
                return (0..<count).map { index in
                    StoredPoint(tenantID: tenant.uuidString.lowercased(), deviceID: device.uuidString.lowercased(),
                                point: TelemetryPoint(metric: "temp", time: start + Int64(index) * 60_000_000, value: Double(index)))
                }
            }
            // Points an hour apart at most 20 minutes long: one rollup row each series and day.
            let batches = [
                try points(shared, d1, at: "2026-03-01", count: 10), try points(shared, d2, at: "2026-03-01", count: 10),
                try points(shared, d2, at: "2026-03-02", count: 10), try points(shared, d3, at: "2026-03-02", count: 10),
                try points(small, e1, at: "2026-02-10", count: 10), try points(small, e1, at: "2026-03-02", count: 20),
            ]
            for batch in batches { #expect(try await telemetry.write(batch, deadLetters: []) == batch.count) }
            let own: Set<String> = [dedicated.uuidString.lowercased()]
            #expect(try await telemetry.write(try points(dedicated, f1, at: "2026-03-01", count: 15), deadLetters: [], dedicatedTenants: own) == 15)
            #expect(try await telemetry.write(try points(dedicated, f2, at: "2026-03-03", count: 15), deadLetters: [], dedicatedTenants: own) == 15)
            // February's raw points are past retention; their rollups stay, and must not count as stored.
            _ = try await client.query("DELETE FROM telemetry WHERE time < '2026-03-01T00:00:00Z'")

            let store = SnapshotStore(database: client)
            func levels(_ snapshots: [SnapshotStore.Snapshot]?) -> [UUID: [Int]] {
                Dictionary(uniqueKeysWithValues: (snapshots ?? []).map { ($0.tenant, [$0.activeDevices, $0.newActiveDevices]) })
            }
            #expect(try await store.lastDay() == nil)
            #expect(levels(try await store.take(day: try Self.day("2026-03-01"))) == [shared: [2, 2], small: [0, 0], dedicated: [1, 1]])
            #expect(levels(try await store.take(day: try Self.day("2026-03-02"))) == [shared: [3, 1], small: [1, 1], dedicated: [1, 0]])
            let third = try #require(try await store.take(day: try Self.day("2026-03-03")))
            #expect(levels(third) == [shared: [3, 0], small: [1, 0], dedicated: [2, 1]])
            // A day is taken once, whoever asks again.
            #expect(try await store.take(day: try Self.day("2026-03-02")) == nil)
            #expect(try await store.lastDay() == (try Self.day("2026-03-03")))

            // Storage: measured here independently of the store.
            func treeBytes(_ table: String) async throws -> Double {
                Double(try await client.query("""
                    SELECT sum(pg_total_relation_size(oid))::bigint AS bytes FROM pg_class
                    WHERE oid = $1::regclass OR oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = $1::regclass)
                    """, [table]).first?.int("bytes") ?? 0)
            }
            let ownTable = try #require(try await client.query("SELECT raw_table FROM tenant_tables WHERE tenant_id = $1", [dedicated]).first?["raw_table"])
            let (sharedBytes, rollupBytes, ownBytes) = (try await treeBytes("telemetry"), try await treeBytes("telemetry_hourly"), try await treeBytes(ownTable))
            var rollupRows: [UUID: Double] = [:]
            for row in try await client.query("SELECT tenant_id, count(*) AS n FROM telemetry_hourly GROUP BY tenant_id").all {
                rollupRows[try #require(row["tenant_id"].flatMap(UUID.init(uuidString:)))] = Double(row.int("n") ?? 0)
            }
            #expect(rollupRows == [shared: 4, small: 2, dedicated: 2])
            func rollupShare(_ tenant: UUID) -> Double { rollupBytes * (rollupRows[tenant] ?? 0) / 8 }
            let storage = Dictionary(uniqueKeysWithValues: third.map { ($0.tenant, $0) })
            // 40 of the shared table's 60 points are the first tenant's (February's 10 are gone).
            #expect(abs(Double(storage[shared]?.storageBytes ?? 0) - (sharedBytes * 40 / 60 + rollupShare(shared))) <= 1)
            #expect(abs(Double(storage[small]?.storageBytes ?? 0) - (sharedBytes * 20 / 60 + rollupShare(small))) <= 1)
            #expect(abs(Double(storage[dedicated]?.storageBytes ?? 0) - (ownBytes + rollupShare(dedicated))) <= 1)
            #expect(storage.values.map(\.rawStorageExact).sorted { !$0 && $1 } == [false, false, true])
            #expect(storage[dedicated]?.rawStorageExact == true)
            #expect(abs(Double(third.reduce(0) { $0 + $1.storageBytes }) - (sharedBytes + rollupBytes + ownBytes)) <= 3)

            // Published once: a failed publish leaves every snapshot pending.
            struct BrokerDown: Error {}
            await #expect(throws: BrokerDown.self) { try await store.publishPending { _ in throw BrokerDown() } }
            var published: [SnapshotStore.Snapshot] = []
            #expect(try await store.publishPending { published += $0 } == 9)
            #expect(try await store.publishPending { published += $0 } == 0)
            let records = published.flatMap(UsageSnapshotter.records)
            #expect(Set(records.map(\.eventId)).count == 18)
            // A month's active-devices records add up to its devices active so far.
            for (tenant, expected) in [(shared, 3.0), (small, 1.0), (dedicated, 2.0)] {
                #expect(records.filter { $0.tenantId == tenant && $0.resource == .activeDevices }.reduce(0) { $0 + $1.quantity } == expected)
            }
            let stored = try #require(records.first { $0.tenantId == dedicated && $0.resource == .timeseriesStorage && $0.time == (try? Self.day("2026-03-03")) })
            #expect(stored.quantity == Double(storage[dedicated]?.storageBytes ?? 0) / 31, "a day of March is a 31st of a month")
            #expect(stored.metadata == ["snapshot": "daily", "storageBytes": String(storage[dedicated]?.storageBytes ?? 0), "rawStorageExact": "true"])
            #expect(stored.eventId == "ingestion/timeseries-storage/\(dedicated.uuidString.lowercased())/2026-03-03")
            #expect(records.allSatisfy { $0.snapshotIsReadable && $0.unit == $0.resource.unit && $0.producer == "ingestion" })
        }
    }

    @Test("the snapshotter takes yesterday's snapshot the first time, then each day that ended since the last one, at most a month back")
    func dueDays() async throws {
        try await ScratchTimeseries.timescale.with { client in
            let store = SnapshotStore(database: client)
            let morning = try Self.day("2026-03-04").addingTimeInterval(5 * 3600)
            #expect(try await store.takeDue(now: morning, catchUpDays: 31) == [try Self.day("2026-03-03")])
            #expect(try await store.takeDue(now: morning.addingTimeInterval(3600), catchUpDays: 31) == [])
            #expect(try await store.takeDue(now: morning.addingTimeInterval(2 * 86_400), catchUpDays: 31) == [try Self.day("2026-03-04"), try Self.day("2026-03-05")])
            let later = try await store.takeDue(now: try Self.day("2026-06-01"), catchUpDays: 31)
            #expect(later.count == 31)
            #expect(later.first == (try Self.day("2026-05-01")))
        }
    }
}
