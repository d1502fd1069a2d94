import ClientRuntime
import Foundation
import Logging
import RdKafka
import SensormineContracts
import ServiceLifecycle

/// Takes each tenant's daily usage snapshot once a UTC day has ended and publishes it on
/// `metering.events`: the month's active devices (a device that sent telemetry in the month
/// counts once; each day's record carries the devices first seen that day, so a month's records
/// add up to its active devices) and time-series storage (the day's bytes as byte-months, a
/// month's records adding up to its GB-months). Storage in the shared table is an estimate: the
/// tenant's points, counted by the rollups, times the table's measured bytes per point; a tenant
/// with a table of its own has that table measured. Snapshots are stored before they are
/// published, and published with ids per tenant, day and resource, so a crash repeats nothing
/// Billing counts.
struct UsageSnapshotter: Service {
    let store: SnapshotStore
    let producer: KafkaProducer
    let topic: String
    let interval: Duration
    /// Days caught up at most after a pause (each measured with today's storage).
    var catchUpDays = 31
    let logger: Logger

    func run() async throws {
        let backoff = Backoff(base: .seconds(1), maximum: .seconds(60))
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            try await backoff.retryingUntilSuccess({ _ = try await self.pass(now: Date()) }, failed: { attempt, error in
                if attempt % 10 == 1 { self.logger.warning("usage snapshot not taken or published; retrying", metadata: ["error": "\(error)"]) }
            })
            _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
        }
    }

    /// Takes the snapshots that are due and publishes what is pending; returns the snapshots
    /// published.
    /// - Throws: when the database or the broker is unavailable.
    func pass(now: Date) async throws -> Int {
        for day in try await self.store.takeDue(now: now, catchUpDays: self.catchUpDays) {
            self.logger.info("usage snapshot taken", metadata: ["day": "\(SnapshotStore.dayText(day))"])
        }
        var published = 0
        while true {
            let count = try await self.publishPending()
            published += count
            if count == 0 { return published }
        }
    }

    /// Publishes one round of pending snapshots; returns how many.
    private func publishPending() async throws -> Int {
        let encoder = ContractCoding.encoder()
        return try await self.store.publishPending { snapshots in
            let records = try snapshots.flatMap(Self.records).map { record in
                let tenant = record.tenantId.lowercasedString
                return KafkaRecord(topic: self.topic, key: Array(tenant.utf8), value: Array(try encoder.encode(record)), headers: [("tenant", Array(tenant.utf8))])
            }
            for result in try await self.producer.send(records) { _ = try result.get() }
        }
    }

    /// A snapshot's usage records: active devices (the day's new ones) and storage (the day's
    /// share of a month, in byte-months), each with the snapshot's levels in its metadata.
    static func records(_ snapshot: SnapshotStore.Snapshot) -> [UsageRecord] {
        let tenant = snapshot.tenant.lowercasedString
        let day = SnapshotStore.dayText(snapshot.day)
        let devices = UsageRecord(
            eventId: "ingestion/active-devices/\(tenant)/\(day)", tenantId: snapshot.tenant, time: snapshot.day, resource: .activeDevices,
            quantity: Double(snapshot.newActiveDevices),
            metadata: [UsageRecord.SnapshotKey.kind: UsageRecord.SnapshotKey.daily, UsageRecord.SnapshotKey.activeDevicesInMonth: String(snapshot.activeDevices)],
            producer: "ingestion")
        let storage = UsageRecord(
            eventId: "ingestion/timeseries-storage/\(tenant)/\(day)", tenantId: snapshot.tenant, time: snapshot.day, resource: .timeseriesStorage,
            quantity: Double(snapshot.storageBytes) / Double(UsageDays.daysInMonth(snapshot.day)),
            metadata: [UsageRecord.SnapshotKey.kind: UsageRecord.SnapshotKey.daily, UsageRecord.SnapshotKey.storageBytes: String(snapshot.storageBytes),
                       UsageRecord.SnapshotKey.rawStorageExact: String(snapshot.rawStorageExact)],
            producer: "ingestion")
        return [devices, storage]
    }
}
