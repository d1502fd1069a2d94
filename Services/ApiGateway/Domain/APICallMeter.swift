import Foundation
import Logging
import NIOConcurrencyHelpers
import RdKafka
import SensormineClients
import SensormineContracts
import ServiceLifecycle

/// Counts each tenant's API calls through this gateway in memory and publishes them every
/// interval as usage records on `metering.events` (resource api-calls). A record's event id
/// names this gateway process and the interval, so a publication repeated after a failed
/// delivery counts once. What a crash loses is at most the interval not yet published.
final class APICallMeter: Service, Sendable {
    private let counts = NIOLockedValueBox<[UUID: Int]>([:])
    private let producer: KafkaProducer
    private let topic: String
    private let interval: Duration
    /// This gateway process: the host and a random part (a restarted process starts anew).
    private let instance: String
    private let logger: Logger

    init(producer: KafkaProducer, topic: String, interval: Duration, logger: Logger) {
        self.producer = producer
        self.topic = topic
        self.interval = interval
        self.instance = (ProcessInfo.processInfo.hostName.isEmpty ? "gateway" : ProcessInfo.processInfo.hostName) + "-" + UUID().uuidString.prefix(8).lowercased()
        self.logger = logger
    }

    /// Counts one API call of `tenant`.
    func record(_ tenant: UUID) {
        self.counts.withLockedValue { $0[tenant, default: 0] += 1 }
    }

    func run() async throws {
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
        return taken.compactMap { tenant, calls in
            let text = tenant.uuidString.lowercased()
            let record = UsageRecord(eventId: "gateway/\(self.instance)/\(sequence)/\(text)", tenantId: tenant, time: now, resource: .apiCalls,
                                     quantity: Double(calls), producer: "api-gateway")
            guard let value = try? encoder.encode(record) else { return nil }
            return KafkaRecord(topic: self.topic, key: Array(text.utf8), value: Array(value), headers: [("tenant", Array(text.utf8))])
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
            if !failed.isEmpty { self.logger.warning("API-call usage not delivered; kept for the next interval", metadata: ["records": "\(failed.count)"]) }
            return failed
        } catch {
            self.logger.warning("API-call usage not delivered; kept for the next interval", metadata: ["error": "\(error)"])
            return records
        }
    }
}
