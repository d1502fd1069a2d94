import ClientRuntime
import Foundation
import LibPQ
import Logging
import Metrics
import RdKafka
import SensormineContracts
import ServiceLifecycle

/// Consumes `metering.events` as the `billing` consumer group: stores each batch's usage
/// records (a record whose event id is stored already changes nothing), then commits the
/// batch's offsets. A crash replays the batch, which the event ids absorb. A record that
/// cannot be read is logged and counted, never retried; a database that is down is retried
/// until it answers. The organisations whose usage grew have their quota state computed again.
struct UsageConsumer: Service {
    let consumer: KafkaConsumer
    let store: UsageStore
    /// Told which organisations' usage grew, after each stored batch.
    let quotas: QuotaKeeper
    let logger: Logger
    private let stored = Counter(label: "sensormine_billing_usage_events_total")
    private let repeated = Counter(label: "sensormine_billing_usage_events_repeated_total")
    private let unreadable = Counter(label: "sensormine_billing_usage_events_unreadable_total")

    init(consumer: KafkaConsumer, store: UsageStore, quotas: QuotaKeeper, logger: Logger) {
        self.consumer = consumer
        self.store = store
        self.quotas = quotas
        self.logger = logger
    }

    private static let backoff = Backoff(base: .milliseconds(200), maximum: .seconds(10))

    func run() async throws {
        for try await batch in self.consumer.batches.cancelOnGracefulShutdown() {
            let records = self.readable(batch)
            let stored = try await Self.backoff.retryingUntilSuccess({ try await self.store.insert(records) }, failed: { attempt, error in
                if attempt % 10 == 1 { self.logger.error("usage records not stored; retrying", metadata: ["error": "\(error)", "records": "\(records.count)"]) }
            })
            self.stored.increment(by: Int64(stored.inserted))
            self.repeated.increment(by: Int64(records.count - stored.inserted))
            try await self.consumer.commitRetrying(batch, backoff: Self.backoff)
            do {
                try await self.quotas.evaluate(stored.organisations)
            } catch {
                // The usage is stored; the next sweep brings the quota states up to date.
                self.logger.warning("quota states not updated after a batch", metadata: ["error": "\(error)"])
            }
        }
        await self.consumer.close()
    }

    /// The batch's records that decode and make sense; the rest are logged and counted.
    private func readable(_ batch: [KafkaMessage]) -> [UsageRecord] {
        let decoder = ContractCoding.decoder()
        var records: [UsageRecord] = []
        records.reserveCapacity(batch.count)
        for message in batch {
            guard let record = try? decoder.decode(UsageRecord.self, from: Data(message.value)), !record.eventId.isEmpty, record.eventId.utf8.count <= 500,
                  !record.eventId.utf8.contains(0), record.quantity.isFinite, record.quantity >= 0, record.unit == record.resource.unit, record.snapshotIsReadable else {
                self.unreadable.increment()
                self.logger.warning("unreadable usage record skipped", metadata: ["offset": "\(message.partition)/\(message.offset)"])
                continue
            }
            records.append(record)
        }
        return records
    }
}
