import Foundation
import Logging
import NIOConcurrencyHelpers
import RdKafka
import ServiceLifecycle

/// Reads a compacted topic that holds state by key (`alerts.rules`, `billing.quotas`) from its
/// beginning, as every replica of a service must: in a consumer group of its own that never
/// commits. Each batch goes to `apply` in order; ``isCaughtUp`` turns true once the records that
/// existed at start are read.
public final class CompactedTopicFeed: Service, Sendable {
    private let consumer: KafkaConsumer
    private let topic: String
    private let logger: Logger
    private let apply: @Sendable ([KafkaMessage]) -> Void
    private let caughtUp = NIOLockedValueBox(false)

    /// A feed of `topic` in the group `{groupPrefix}-{random}`.
    /// - Throws: ``ClientError`` when the consumer cannot be created.
    public init(kafka: KafkaConfiguration, groupPrefix: String, topic: String, batchSize: Int = 1000, logger: Logger,
                apply: @escaping @Sendable ([KafkaMessage]) -> Void) throws {
        self.consumer = try KafkaConsumer(configuration: KafkaConsumer.Configuration(
            kafka: kafka, groupID: "\(groupPrefix)-\(UUID().uuidString.lowercased())", topics: [topic], batchSize: batchSize), logger: logger)
        self.topic = topic
        self.logger = logger
        self.apply = apply
    }

    /// Whether every record that existed when the feed started has been applied.
    public var isCaughtUp: Bool { self.caughtUp.withLockedValue { $0 } }

    public func run() async throws {
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            let messages = try await self.consumer.poll(timeout: .milliseconds(200))
            if !messages.isEmpty { self.apply(messages) }
            if messages.isEmpty, !self.isCaughtUp, (try? await self.consumer.hasReachedEnd()) == true {
                self.caughtUp.withLockedValue { $0 = true }
                self.logger.info("compacted topic read to its end", metadata: ["topic": "\(self.topic)"])
            }
        }
        await self.consumer.close()
    }
}
