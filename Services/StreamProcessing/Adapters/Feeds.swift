import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers
import ONNXRuntime
import RdKafka
import SensormineClients
import SensormineContracts
import ServiceLifecycle

/// The rules in force, as `alerts.rules` (compacted) says: read from its beginning by every
/// member (``CompactedTopicFeed``).
final class RuleFeed: Service, Sendable {
    private let book: NIOLockedValueBox<RuleBook>
    private let feed: CompactedTopicFeed

    init(kafka: KafkaConfiguration, groupPrefix: String, topic: String, logger: Logger) throws {
        let book = NIOLockedValueBox(RuleBook())
        let rulesGauge = Gauge(label: "sensormine_stream_rules")
        let decoder = ContractCoding.decoder()
        self.book = book
        self.feed = try CompactedTopicFeed(kafka: kafka, groupPrefix: groupPrefix, topic: topic, logger: logger) { messages in
            book.withLockedValue { book in
                for message in messages {
                    guard let key = message.key, let id = UUID(uuidString: String(decoding: key, as: UTF8.self)) else { continue }
                    if message.value.isEmpty {
                        book.apply(id: id, rule: nil)
                    } else if let rule = try? decoder.decode(AlertRule.self, from: Data(message.value)), rule.id == id {
                        book.apply(id: id, rule: rule)
                    } else {
                        logger.warning("unreadable record on alerts.rules skipped", metadata: ["offset": "\(message.partition)/\(message.offset)"])
                    }
                }
                rulesGauge.record(book.count)
            }
        }
    }

    /// The rules as read so far.
    var snapshot: RuleBook { self.book.withLockedValue { $0 } }

    /// Whether the feed has read every rule that existed when it started.
    var isCaughtUp: Bool { self.feed.isCaughtUp }

    func run() async throws {
        try await self.feed.run()
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

/// The enabled models, as the model registry's table says: every member polls it and loads
/// what is new or replaced into ONNX Runtime, so a model registered through any member runs on
/// all of them within one interval.
final class ModelFeed: Service, Sendable {
    private let store: ModelStore
    private let runtime: ONNXRuntime?
    private let interval: Duration
    private let logger: Logger
    private let book = NIOLockedValueBox(ModelBook())
    private let modelsGauge = Gauge(label: "sensormine_stream_models")

    init(store: ModelStore, runtime: ONNXRuntime?, interval: Duration, logger: Logger) {
        self.store = store
        self.runtime = runtime
        self.interval = interval
        self.logger = logger
    }

    /// The models loaded so far.
    var snapshot: ModelBook { self.book.withLockedValue { $0 } }

    func run() async throws {
        guard let runtime = self.runtime else { return }
        /// What failed to load, by id and revision: not tried again until it changes.
        var refused: [UUID: Int] = [:]
        var failures = 0
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            do {
                try await self.refresh(runtime: runtime, refused: &refused)
                failures = 0
            } catch {
                // The first read may come before the migrations have run; a second failure is news.
                failures += 1
                if failures >= 2 { self.logger.warning("model registry not read; keeping the models loaded", metadata: ["error": "\(error)"]) }
            }
            try? await Task.sleep(for: self.interval)
        }
    }

    /// Loads new and replaced models and drops deleted or disabled ones.
    func refresh(runtime: ONNXRuntime, refused: inout [UUID: Int]) async throws {
        let revisions = try await self.store.revisions()
        let current = self.snapshot
        var loaded: [UUID: LoadedModel] = [:]
        for models in current.byType.values { for model in models { loaded[model.record.id] = model } }
        let stale = revisions.filter { id, revision in loaded[id]?.record.revision != revision && refused[id] != revision }.map(\.key)
        let removed = loaded.keys.filter { revisions[$0] == nil }
        guard !stale.isEmpty || !removed.isEmpty else { return }
        for id in removed { loaded[id] = nil }
        for (record, bytes) in try await self.store.load(stale) {
            do {
                loaded[record.id] = LoadedModel(record: record, model: try runtime.model(bytes))
            } catch {
                refused[record.id] = record.revision
                loaded[record.id] = nil
                self.logger.error("model not loaded", metadata: ["model": "\(record.id)", "error": "\(error)"])
            }
        }
        var book = ModelBook()
        for model in loaded.values {
            book.byType[ModelBook.TypeKey(tenant: model.record.tenantId, deviceType: model.record.deviceTypeId), default: []].append(model)
        }
        book.generation = current.generation + 1
        self.book.withLockedValue { $0 = book }
        self.modelsGauge.record(loaded.count)
        self.logger.info("models loaded", metadata: ["models": "\(loaded.count)"])
    }
}
