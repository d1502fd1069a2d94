import ClientRuntime
import Foundation
import Logging
import RdKafka
import SensormineContracts
import ServiceLifecycle

/// Publishes what Ingestion stored, per tenant and minute, on `metering.events` (resource
/// `data-ingested`, bytes, with the points in the metadata): each ended minute's growth once,
/// produced and confirmed before it is marked published. A record produced again after a crash
/// carries the same event id (tenant, minute, revision), which Billing counts once.
struct UsagePublisher: Service {
    let store: UsageStore
    let producer: KafkaProducer
    let topic: String
    let interval: Duration
    let logger: Logger

    func run() async throws {
        let backoff = Backoff(base: .milliseconds(500), maximum: .seconds(30))
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            try await backoff.retryingUntilSuccess({ while try await self.publishOnce() > 0 {} }, failed: { attempt, error in
                if attempt % 10 == 0 { self.logger.warning("usage not published; retrying", metadata: ["error": "\(error)"]) }
            })
            try await Task.sleep(for: self.interval)
        }
    }

    /// Publishes one round of pending minutes; returns how many.
    /// - Throws: when the database or the broker is unavailable.
    func publishOnce() async throws -> Int {
        let encoder = ContractCoding.encoder()
        return try await self.store.publishPending { deltas in
            let records = try deltas.map { delta in
                let tenant = delta.tenant.lowercasedString
                let record = UsageRecord(eventId: "ingestion/\(tenant)/\(Int(delta.minute.timeIntervalSince1970))/\(delta.revision)", tenantId: delta.tenant,
                                         time: delta.minute, resource: .dataIngested, quantity: Double(delta.bytes), metadata: ["points": String(delta.points)],
                                         producer: "ingestion")
                return KafkaRecord(topic: self.topic, key: Array(tenant.utf8), value: Array(try encoder.encode(record)), headers: [("tenant", Array(tenant.utf8))])
            }
            for result in try await self.producer.send(records) { _ = try result.get() }
        }
    }
}
