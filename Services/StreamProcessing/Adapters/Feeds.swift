import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers
import RdKafka
import SensormineContracts
import ServiceLifecycle

/// The rules in force, as `alerts.rules` (compacted) says: read from its beginning by every
/// member, each in a group of its own, and never committed.
final class RuleFeed: Service, Sendable {
    private let consumer: KafkaConsumer
    private let logger: Logger
    private let book = NIOLockedValueBox(RuleBook())
    private let caughtUp = NIOLockedValueBox(false)
    private let rulesGauge = Gauge(label: "sensormine_stream_rules")

    init(consumer: KafkaConsumer, logger: Logger) {
        self.consumer = consumer
        self.logger = logger
    }

    /// The rules as read so far.
    var snapshot: RuleBook { self.book.withLockedValue { $0 } }

    /// Whether the feed has read every rule that existed when it started.
    var isCaughtUp: Bool { self.caughtUp.withLockedValue { $0 } }

    func run() async throws {
        let decoder = ContractCoding.decoder()
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            let messages = try await self.consumer.poll(timeout: .milliseconds(200))
            if !messages.isEmpty {
                self.book.withLockedValue { book in
                    for message in messages {
                        guard let key = message.key, let id = UUID(uuidString: String(decoding: key, as: UTF8.self)) else { continue }
                        if message.value.isEmpty {
                            book.apply(id: id, rule: nil)
                        } else if let rule = try? decoder.decode(AlertRule.self, from: Data(message.value)), rule.id == id {
                            book.apply(id: id, rule: rule)
                        } else {
                            self.logger.warning("unreadable record on alerts.rules skipped", metadata: ["offset": "\(message.partition)/\(message.offset)"])
                        }
                    }
                    self.rulesGauge.record(book.count)
                }
            }
            if messages.isEmpty, !self.isCaughtUp, (try? await self.consumer.hasReachedEnd()) == true {
                self.caughtUp.withLockedValue { $0 = true }
                self.logger.info("alert rules loaded", metadata: ["rules": "\(self.snapshot.count)"])
            }
        }
        await self.consumer.close()
    }
}

/// Forgets cached device profiles when `device.events` or `asset.updates` says they changed;
/// each member reads both topics from the latest message on, in a group of its own.
struct DirectoryFeed: Service {
    let consumer: KafkaConsumer
    let profiles: DeviceProfiles
    let topics: (devices: String, assets: String)
    let logger: Logger

    func run() async throws {
        let decoder = ContractCoding.decoder()
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            for message in try await self.consumer.poll(timeout: .milliseconds(200)) {
                if message.topic == self.topics.devices, let event = try? decoder.decode(DeviceEvent.self, from: Data(message.value)) {
                    self.profiles.deviceChanged(tenant: event.tenantId, device: event.deviceId)
                } else if message.topic == self.topics.assets, let event = try? decoder.decode(AssetEvent.self, from: Data(message.value)) {
                    self.profiles.assetChanged(event.assetId)
                }
            }
        }
        await self.consumer.close()
    }
}
