import ClientRuntime
import Foundation
import Logging
import Metrics
import RdKafka
import SensormineClients
import SensormineContracts
import ServiceLifecycle
import SensormineTelemetry
import TelemetryIntake

/// Consumes `device.telemetry` as the `stream` group: admits each message as Ingestion would,
/// enriches it, and runs the ``StreamEngine``. Per batch, what it produced (windows, late
/// points, alert events) is published and confirmed first, then the state it came from is
/// saved with the partitions' offsets in one transaction, then the offsets are committed to
/// Kafka (for lag monitoring; the saved offsets are what counts). A crash anywhere repeats the
/// batch from the saved state, which reproduces the same outputs with the same ids.
struct StreamPipeline: Service {
    let consumer: KafkaConsumer
    let producer: KafkaProducer
    let admission: TelemetryAdmission
    let profiles: DeviceProfiles
    let rules: RuleFeed
    let store: StreamStateStore
    let topics: TopicNames
    let settings: StreamSettings
    let rulesWait: Duration
    let logger: Logger

    private let messagesCounter = Counter(label: "sensormine_stream_messages_total")
    /// Points applied to the state (not those a repeat after a crash or rebalance skipped).
    private let pointsCounter = Counter(label: "sensormine_stream_points_total")
    private let refusedCounter = Counter(label: "sensormine_stream_refused_total")
    private let lateCounter = Counter(label: "sensormine_stream_late_points_total")
    private let redeliveredCounter = Counter(label: "sensormine_stream_redelivered_total")
    private let windowsCounter = Counter(label: "sensormine_stream_windows_total")
    private let alertsCounter = Counter(label: "sensormine_stream_alert_events_total")
    private let fencedCounter = Counter(label: "sensormine_stream_partitions_fenced_total")
    private let retries = Counter(label: "sensormine_stream_batch_retries_total")
    private let assignedGauge = Gauge(label: "sensormine_stream_assigned_partitions")
    private let lagGauge = Gauge(label: "sensormine_stream_consumer_lag")

    private static let backoff = Backoff(base: .milliseconds(200), maximum: .seconds(10))

    func run() async throws {
        let deadline = ContinuousClock.now + self.rulesWait
        while !self.rules.isCaughtUp, ContinuousClock.now < deadline, !Task.isCancelled {
            try await Task.sleep(for: .milliseconds(100))
        }
        if !self.rules.isCaughtUp { self.logger.warning("alerts.rules not read to its end; evaluating with the rules read so far") }
        var engine = StreamEngine(settings: self.settings)
        var lastTick = ContinuousClock.now
        // The newest message per partition processed since the last save: committed after it.
        var uncommitted: [PartitionKey: KafkaMessage] = [:]
        var counted = (late: 0, redelivered: 0)
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            let messages = try await self.consumer.poll(timeout: .milliseconds(100))
            let snapshot = self.rules.snapshot
            if snapshot.generation != engine.book.generation { engine.book = snapshot }
            var outputs: [StreamOutput] = []
            if !messages.isEmpty {
                try await Self.backoff.retryingUntilSuccess({ try await self.process(messages, engine: &engine, outputs: &outputs) }, failed: { attempt, error in
                    self.retries.increment()
                    if attempt == 1 || attempt % 10 == 0 { self.logger.error("batch not processed; retrying", metadata: ["error": "\(error)"]) }
                })
            }
            if ContinuousClock.now - lastTick >= .seconds(1) {
                lastTick = ContinuousClock.now
                try await self.dropRevoked(&engine)
                engine.tick(now: Self.now(), into: &outputs)
            } else {
                engine.closeWindows(into: &outputs)
            }
            try await self.publish(outputs)
            for message in messages { uncommitted[PartitionKey(topic: message.topic, partition: message.partition)] = message }
            self.lateCounter.increment(by: Int64(engine.latePoints - counted.late))
            self.redeliveredCounter.increment(by: Int64(engine.redeliveries - counted.redelivered))
            counted = (engine.latePoints, engine.redeliveries)
            try await self.checkpoint(&engine, &uncommitted)
        }
        // A clean stop saves what it holds, so the next owner repeats nothing.
        try await self.checkpoint(&engine, &uncommitted)
        await self.consumer.close()
    }

    /// Saves the state changed since the last save with the partitions' offsets, drops the
    /// partitions another member has claimed meanwhile, then commits the offsets to Kafka.
    private func checkpoint(_ engine: inout StreamEngine, _ uncommitted: inout [PartitionKey: KafkaMessage]) async throws {
        let changes = engine.takeChanges()
        if !changes.isEmpty {
            var fenced = Set<PartitionKey>()
            try await Self.backoff.retryingUntilSuccess({ fenced = try await self.store.save(changes) }, failed: { attempt, error in
                self.retries.increment()
                if attempt == 1 || attempt % 10 == 0 { self.logger.error("stream state not saved; retrying", metadata: ["error": "\(error)"]) }
            })
            for partition in fenced {
                self.logger.info("partition claimed by another member; its state here is dropped", metadata: ["partition": "\(partition)"])
                self.fencedCounter.increment()
                engine.drop(partition)
                uncommitted[partition] = nil
            }
        }
        if !uncommitted.isEmpty {
            try await self.consumer.commitRetrying(Array(uncommitted.values), backoff: Self.backoff)
            uncommitted.removeAll(keepingCapacity: true)
        }
    }

    /// Admits, enriches and applies one batch. Partitions seen for the first time (or seen
    /// again behind the position held, after a rebalance) are claimed from the store first.
    /// - Throws: when a dependency is unavailable; the caller retries the batch, which the
    ///   engine absorbs (offsets already applied are skipped).
    private func process(_ messages: [KafkaMessage], engine: inout StreamEngine, outputs: inout [StreamOutput]) async throws {
        // The first message of each partition tells: a partition not held, or held at a
        // position past this message (the group moved it away and back), is read from the store.
        var checked = Set<PartitionKey>()
        for message in messages {
            let key = PartitionKey(topic: message.topic, partition: message.partition)
            guard checked.insert(key).inserted else { continue }
            if let held = engine.partitions[key], message.offset >= held.nextOffset { continue }
            let claim = try await self.store.claim(key)
            if claim.unreadable > 0 { self.logger.warning("saved device states unreadable; they start afresh", metadata: ["partition": "\(key)", "devices": "\(claim.unreadable)"]) }
            engine.load(key, epoch: claim.epoch, nextOffset: claim.nextOffset, watermark: claim.watermark, devices: claim.devices, now: Self.now())
        }
        try await self.admission.warm(messages.compactMap { message in
            guard let key = message.key, let tenant = message.header("tenant") else { return nil }
            return (tenant, String(decoding: key, as: UTF8.self))
        })
        var admitted: [(message: KafkaMessage, admitted: TelemetryAdmission.Admitted?)] = []
        admitted.reserveCapacity(messages.count)
        var devices: [String: (UUID, UUID)] = [:]
        for message in messages {
            guard let held = engine.partitions[PartitionKey(topic: message.topic, partition: message.partition)], message.offset >= held.nextOffset else {
                admitted.append((message, nil))
                continue
            }
            switch try await self.admission.examine(message.value) {
            case .success(let accepted):
                if let tenant = UUID(uuidString: accepted.envelope.tenantID), let device = UUID(uuidString: accepted.envelope.deviceID) {
                    devices[accepted.envelope.tenantID + "/" + accepted.envelope.deviceID] = (tenant, device)
                    admitted.append((message, accepted))
                } else {
                    admitted.append((message, nil))
                }
            case .failure:
                self.refusedCounter.increment()
                admitted.append((message, nil))
            }
        }
        let profiles = try await self.profiles(for: Array(devices.values))
        let now = Self.now()
        var points = 0
        for (message, accepted) in admitted {
            let key = PartitionKey(topic: message.topic, partition: message.partition)
            guard let accepted, let profile = profiles[accepted.envelope.tenantID + "/" + accepted.envelope.deviceID] else {
                engine.advance(key, past: message.offset)
                continue
            }
            if engine.apply(accepted.envelope, points: accepted.points, partition: key, offset: message.offset, profile: profile, now: now, into: &outputs) {
                points += accepted.points.count
            }
        }
        engine.closeWindows(into: &outputs)
        self.messagesCounter.increment(by: Int64(messages.count))
        self.pointsCounter.increment(by: Int64(points))
    }

    /// The profiles of a batch's devices: the cached ones at once, the others 16 lookups at a time.
    private func profiles(for devices: [(UUID, UUID)]) async throws -> [String: DeviceProfile] {
        var result: [String: DeviceProfile] = [:]
        var missing: [(UUID, UUID)] = []
        for pair in devices {
            if let profile = self.profiles.cachedProfile(tenant: pair.0, device: pair.1) { result[Self.text(profile)] = profile } else { missing.append(pair) }
        }
        guard !missing.isEmpty else { return result }
        return try await withThrowingTaskGroup(of: DeviceProfile.self) { group in
            for (index, pair) in missing.enumerated() {
                if index >= 16, let profile = try await group.next() { result[Self.text(profile)] = profile }
                group.addTask { try await self.profiles.profile(tenant: pair.0, device: pair.1) }
            }
            for try await profile in group { result[Self.text(profile)] = profile }
            return result
        }
    }

    private static func text(_ profile: DeviceProfile) -> String {
        profile.tenantId.uuidString.lowercased() + "/" + profile.deviceId.uuidString.lowercased()
    }

    /// Drops the state of partitions the group no longer assigns to this member.
    private func dropRevoked(_ engine: inout StreamEngine) async throws {
        guard let assigned = try? await self.consumer.assignedPartitions() else { return }
        self.assignedGauge.record(assigned.values.reduce(0) { $0 + $1.count })
        if let lag = try? await self.consumer.lag() { self.lagGauge.record(lag) }
        for key in engine.partitions.keys where !(assigned[key.topic]?.contains(key.partition) ?? false) {
            engine.drop(key)
        }
    }

    /// Produces the batch's outputs and waits until the broker has them all.
    private func publish(_ outputs: [StreamOutput]) async throws {
        guard !outputs.isEmpty else { return }
        let encoder = ContractCoding.encoder()
        var records: [KafkaRecord] = []
        records.reserveCapacity(outputs.count)
        for output in outputs {
            switch output {
            case .window(let window):
                self.windowsCounter.increment()
                records.append(KafkaRecord(topic: self.topics.telemetryWindows, key: Array(window.deviceId.uuidString.lowercased().utf8),
                                           value: Array(try encoder.encode(window)), headers: [("tenant", Array(window.tenantId.uuidString.lowercased().utf8))]))
            case .late(let point):
                records.append(KafkaRecord(topic: self.topics.telemetryLate, key: Array(point.deviceId.uuidString.lowercased().utf8),
                                           value: Array(try encoder.encode(point)), headers: [("tenant", Array(point.tenantId.uuidString.lowercased().utf8))]))
            case .alert(let event):
                self.alertsCounter.increment()
                records.append(KafkaRecord(topic: self.topics.alertsTriggered, key: Array(event.partitionKey.utf8),
                                           value: Array(try encoder.encode(event)), headers: [("tenant", Array(event.tenantId.uuidString.lowercased().utf8))]))
            }
        }
        var start = 0
        while start < records.count {
            let chunk = Array(records[start..<min(start + 10_000, records.count)])
            try await Self.backoff.retryingUntilSuccess({
                for result in try await self.producer.send(chunk) {
                    if case .failure(let error) = result { throw error }
                }
            }, failed: { attempt, error in
                self.retries.increment()
                if attempt == 1 || attempt % 10 == 0 { self.logger.error("stream outputs not delivered; retrying", metadata: ["error": "\(error)"]) }
            })
            start += 10_000
        }
    }

    private static func now() -> Micros {
        Micros((Date().timeIntervalSince1970 * 1_000_000).rounded())
    }
}
