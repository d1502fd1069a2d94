import Foundation
import Logging
import NIOConcurrencyHelpers
import RdKafka
import SensormineContracts
import ServiceLifecycle

/// Counts usage per tenant and resource in memory and publishes it every interval as usage
/// records on `metering.events`: the gateway's API calls, QueryAPI's bytes sent. A record's
/// event id names the producing process, the interval, the tenant and the resource, so a
/// publication repeated after a failed delivery counts once. What a crash loses is at most the
/// interval not yet published.
public final class UsageMeter: Service, Sendable {
    private struct Key: Hashable {
        var tenant: UUID
        var resource: MeteredResource
    }

    private let counts = NIOLockedValueBox<[Key: Double]>([:])
    private let producer: KafkaProducer
    private let topic: String
    private let interval: Duration
    /// The producing service, as the records name it (e.g. `api-gateway`).
    private let producerName: String
    /// This process: the host and a random part (a restarted process starts anew).
    private let instance: String
    private let logger: Logger

    /// A meter publishing to `topic` every `interval` as `producerName`.
    public init(producer: KafkaProducer, topic: String, interval: Duration, producerName: String, logger: Logger) {
        self.producer = producer
        self.topic = topic
        self.interval = interval
        self.producerName = producerName
        self.instance = (ProcessInfo.processInfo.hostName.isEmpty ? producerName : ProcessInfo.processInfo.hostName) + "-" + UUID().uuidString.prefix(8).lowercased()
        self.logger = logger
    }

    /// Adds `quantity` (in the resource's unit) of `resource` to `tenant`'s count.
    public func record(_ tenant: UUID, _ resource: MeteredResource, _ quantity: Double = 1) {
        guard quantity.isFinite, quantity > 0 else { return }
        self.counts.withLockedValue { $0[Key(tenant: tenant, resource: resource), default: 0] += quantity }
    }

    public func run() async throws {
        var sequence = 0
        var pending: [KafkaRecord] = []
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
            sequence += 1
            pending += self.take(sequence: sequence)
            pending = await self.publish(pending)
        }
        // A clean stop publishes what it counted last.
        pending += self.take(sequence: sequence + 1)
        _ = await self.publish(pending)
    }

    /// The counts since the last call as usage records, the counts starting again from zero.
    private func take(sequence: Int) -> [KafkaRecord] {
        let taken = self.counts.withLockedValue { counts in
            defer { counts.removeAll(keepingCapacity: true) }
            return counts
        }
        let encoder = ContractCoding.encoder()
        let now = Date()
        return taken.compactMap { key, quantity in
            let tenant = key.tenant.lowercasedString
            let record = UsageRecord(eventId: "\(self.producerName)/\(self.instance)/\(sequence)/\(tenant)/\(key.resource.rawValue)", tenantId: key.tenant, time: now,
                                     resource: key.resource, quantity: quantity, producer: self.producerName)
            guard let value = try? encoder.encode(record) else { return nil }
            return KafkaRecord(topic: self.topic, key: Array(tenant.utf8), value: Array(value), headers: [("tenant", Array(tenant.utf8))])
        }
    }

    /// Sends `records`; returns those not delivered (sent again next time, under the same ids).
    private func publish(_ records: [KafkaRecord]) async -> [KafkaRecord] {
        guard !records.isEmpty else { return [] }
        do {
            let results = try await self.producer.send(records)
            let failed = zip(records, results).compactMap { record, result -> KafkaRecord? in
                if case .failure = result { return record }
                return nil
            }
            if !failed.isEmpty { self.logger.warning("usage not delivered; kept for the next interval", metadata: ["records": "\(failed.count)"]) }
            return failed
        } catch {
            self.logger.warning("usage not delivered; kept for the next interval", metadata: ["error": "\(error)"])
            return records
        }
    }
}
