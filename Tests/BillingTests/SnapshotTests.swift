import Foundation
import Hummingbird
import HummingbirdTesting
import LibPQ
import SensormineClients
import SensormineContracts
import SensormineCore
import SensormineJSON
import TestSupport
import Testing

@testable import Billing

@Suite("Billing daily snapshots")
struct SnapshotTests {
    @Test("daily snapshot records keep each tenant's levels per day: the storage quota reads the latest level of each tenant (not a month's sum), active-devices records add up to the month's devices, levels per day for the subtree; a repeat changes nothing")
    func snapshotLevels() async throws {
        let tenants = try await BillingTenants.seed()
        let prefix = "snapshots-\(UUID().uuidString.prefix(8).lowercased())"
        let configuration = try BillingConfiguration(reader: ConfigReader(values: BillingTestApp.values(prefix: prefix)))
        try await BillingService.migrate(configuration, logger: BillingTestApp.logger)
        let database = PostgresClient(configuration: .init(url: try #require(ProcessInfo.processInfo.environment["SENSORMINE_METADATA_DB_URL"]), name: "billing-snapshots"))
        defer { Task { await database.shutdown() } }

        let now = Date()
        let today = Date(timeIntervalSince1970: (now.timeIntervalSince1970 / 86_400).rounded(.down) * 86_400)
        let yesterday = today.addingTimeInterval(-86_400)
        func snapshot(_ tenant: UUID, _ day: Date, devices: Int, new: Int, bytes: Int64) -> [UsageRecord] {
            let kind = [UsageRecord.SnapshotKey.kind: UsageRecord.SnapshotKey.daily]
            return [
                UsageRecord(eventId: "\(prefix)/devices/\(tenant)/\(day.timeIntervalSince1970)", tenantId: tenant, time: day, resource: .activeDevices,
                            quantity: Double(new), metadata: kind.merging([UsageRecord.SnapshotKey.activeDevicesInMonth: String(devices)]) { $1 }, producer: "ingestion"),
                UsageRecord(eventId: "\(prefix)/storage/\(tenant)/\(day.timeIntervalSince1970)", tenantId: tenant, time: day, resource: .timeseriesStorage,
                            quantity: Double(bytes) / 30, metadata: kind.merging([UsageRecord.SnapshotKey.storageBytes: String(bytes),
                                                                                  UsageRecord.SnapshotKey.rawStorageExact: "false"]) { $1 }, producer: "ingestion"),
            ]
        }
        let records = snapshot(tenants.north, yesterday, devices: 4, new: 4, bytes: 600_000_000) + snapshot(tenants.north, today, devices: 5, new: 1, bytes: 700_000_000)
            + snapshot(tenants.south, today, devices: 2, new: 2, bytes: 400_000_000)
        #expect(records.allSatisfy { $0.snapshotIsReadable })
        let store = UsageStore(database: database)
        let stored = try await store.insert(records)
        #expect(stored.inserted == 6)
        #expect(stored.organisations == [tenants.organisation])
        #expect(try await store.insert(records).inserted == 0)

        // The storage quota: north's latest level and south's, 1.1 GB against Free's 1 GB.
        let period = BillingPeriod.month(containing: now)
        let inputs = try #require(try await SubscriptionStore(database: database).quotaInputs([tenants.organisation], periodStart: period.start).first)
        #expect(inputs.storageBytes == 1_100_000_000)
        let plans = Dictionary(uniqueKeysWithValues: try await PlanStore(database: database).list().map { ($0.id, $0) })
        let state = QuotaCalculator.state(inputs, plans: plans, period: period, now: now)
        #expect(state[.timeseriesStorage] == ResourceQuota(included: 1e9, used: 1.1e9, hardLimit: true))
        #expect(state.refuses(.timeseriesStorage))

        let admin = CallerIdentity(subject: "org-admin", tenantID: tenants.organisation, roles: [.tenantAdmin])
        let northViewer = CallerIdentity(subject: "north-viewer", tenantID: tenants.north, roles: [.viewer])
        let stranger = CallerIdentity(subject: "stranger", tenantID: tenants.stranger, roles: [.tenantAdmin])
        let formatter = ISO8601DateFormatter()
        let range = "from=\(formatter.string(from: yesterday))&to=\(formatter.string(from: today.addingTimeInterval(86_400)))"
        let days = [yesterday, today].map { String(formatter.string(from: $0).prefix(10)) }
        try await BillingService.buildApplication(configuration, observability: Observability(logger: BillingTestApp.logger)).test(.live) { client in
            let (status, daily) = try await client.call(.get, "/api/v1/billing/usage/daily?\(range)", as: admin)
            #expect(status == .ok)
            let items = daily["items"]?.array ?? []
            #expect(items.compactMap { $0["day"]?.string } == days)
            #expect(items.compactMap { $0["activeDevices"]?.number } == [4, 7])
            #expect(items.compactMap { $0["storageBytes"]?.number } == [600_000_000, 1_100_000_000])
            #expect(items.compactMap { $0["tenants"]?.number } == [1, 2])
            let north = try await client.call(.get, "/api/v1/billing/usage/daily?\(range)", as: northViewer).1
            #expect(north["items"]?.array?.compactMap { $0["storageBytes"]?.number } == [600_000_000, 700_000_000])
            #expect(try await client.call(.get, "/api/v1/billing/usage/daily?tenantId=\(tenants.organisation)", as: stranger).0 == .notFound)
            let (badStatus, bad) = try await client.call(.get, "/api/v1/billing/usage/daily?from=2026-13-01", as: admin)
            #expect(badStatus == .badRequest)
            #expect(bad["errors"]?.array?.first?["pointer"] == .string("from"))

            // A month's active-devices records add up to its devices; storage to byte-months.
            let report = try await client.call(.get, "/api/v1/billing/usage?\(range)", as: admin).1
            #expect(UsageTests.quantity(report, "active-devices") == 7)
            #expect(UsageTests.quantity(report, "timeseries-storage").map { abs($0 - 1.7e9 / 30) < 1 } == true)
        }

        try await database.withTransaction { session in
            try await session.query("SELECT set_config('sensormine.platform_admin', 'on', true)")
            try await session.execute("DELETE FROM usage_events WHERE event_id LIKE $1", [prefix + "/%"])
            try await session.execute("DELETE FROM tenant_usage_snapshots WHERE tenant_id = ANY ($1::uuid[])", ["{\(tenants.north),\(tenants.south)}"])
            try await session.execute("DELETE FROM usage_totals WHERE tenant_id = ANY ($1::uuid[])", ["{\(tenants.north),\(tenants.south)}"])
            try await session.execute("DELETE FROM tenants WHERE id = ANY ($1::uuid[])", ["{\(tenants.north),\(tenants.south)}"])
            try await session.execute("DELETE FROM tenants WHERE id = ANY ($1::uuid[])", ["{\(tenants.organisation),\(tenants.stranger)}"])
        }
    }

    @Test("a snapshot record whose levels are not non-negative integers is not readable; other records' metadata is not judged")
    func unreadableSnapshots() {
        func record(_ metadata: [String: String]) -> UsageRecord {
            UsageRecord(eventId: "x", tenantId: UUID(), time: Date(), resource: .timeseriesStorage, quantity: 1, metadata: metadata, producer: "test")
        }
        #expect(record(["snapshot": "daily", "storageBytes": "12"]).snapshotIsReadable)
        #expect(!record(["snapshot": "daily", "storageBytes": "lots"]).snapshotIsReadable)
        #expect(!record(["snapshot": "daily", "storageBytes": "-5"]).snapshotIsReadable)
        #expect(!record(["snapshot": "daily", "storageBytes": "99999999999999999999"]).snapshotIsReadable)
        #expect(!record(["snapshot": "daily", "activeDevicesInMonth": ""]).snapshotIsReadable)
        #expect(!record(["snapshot": "daily", "rawStorageExact": "maybe"]).snapshotIsReadable)
        #expect(record(["storageBytes": "lots"]).snapshotIsReadable)
    }
}
