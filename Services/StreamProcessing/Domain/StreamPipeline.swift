import ClientRuntime
import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers
import RdKafka
import SensormineClients
import SensormineContracts
import ServiceLifecycle
import Synchronization
import SensormineTelemetry
import TelemetryIntake

/// Consumes `device.telemetry` as the `stream` group: admits each message as Ingestion would,
/// enriches it, and runs the ``StreamEngine``. Per batch, what it produced (windows, late
/// points, alert events) is published and confirmed first; the state it came from is saved
/// later, with the partitions' offsets in one transaction, by the first save that starts after
/// it (one runs at a time, beside the batches), then the offsets are committed to Kafka (for
/// lag monitoring; the saved offsets are what counts). A crash anywhere repeats the
/// batch from the saved state, which reproduces the same outputs with the same ids.
struct StreamPipeline: Service {
    let consumer: KafkaConsumer
    let producer: KafkaProducer
    let admission: TelemetryAdmission
    let profiles: DeviceProfiles
    let rules: RuleFeed
    let models: ModelFeed
    let store: StreamStateStore
    let topics: TopicNames
    let settings: StreamSettings
    let rulesWait: Duration
    /// Least time from one save's start to the next: what changed meanwhile is saved once.
    let saveInterval: Duration
    let logger: Logger

    private let messagesCounter = Counter(label: "sensormine_stream_messages_total")
    /// Points applied to the state (not those a repeat after a crash or rebalance skipped).
    private let pointsCounter = Counter(label: "sensormine_stream_points_total")
    private let refusedCounter = Counter(label: "sensormine_stream_refused_total")
    private let lateCounter = Counter(label: "sensormine_stream_late_points_total")
    private let redeliveredCounter = Counter(label: "sensormine_stream_redelivered_total")
    private let windowsCounter = Counter(label: "sensormine_stream_windows_total")
    private let alertsCounter = Counter(label: "sensormine_stream_alert_events_total")
    private let inferencesCounter = Counter(label: "sensormine_stream_inferences_total")
    private let inferencesSkippedCounter = Counter(label: "sensormine_stream_inferences_skipped_total")
    private let inferenceFailuresCounter = Counter(label: "sensormine_stream_inference_failures_total")
    private let fencedCounter = Counter(label: "sensormine_stream_partitions_fenced_total")
    private let retries = Counter(label: "sensormine_stream_batch_retries_total")
    private let assignedGauge = Gauge(label: "sensormine_stream_assigned_partitions")
    private let lagGauge = Gauge(label: "sensormine_stream_consumer_lag")
    /// Where a reading's time goes, as in Ingestion's `sensormine_pipeline_stage_seconds`:
    /// produced → polled (`kafka`), a batch's processing (`process`), its outputs confirmed by the
    /// broker (`publish`), the wait for the previous batch's save (`save_wait`), a save (`save`).
    private let kafkaStage = Metrics.Timer(label: "sensormine_stream_stage_seconds", dimensions: [("stage", "kafka")], preferredDisplayUnit: .seconds)
    private let processStage = Metrics.Timer(label: "sensormine_stream_stage_seconds", dimensions: [("stage", "process")], preferredDisplayUnit: .seconds)
    private let publishStage = Metrics.Timer(label: "sensormine_stream_stage_seconds", dimensions: [("stage", "publish")], preferredDisplayUnit: .seconds)
    private let saveWaitStage = Metrics.Timer(label: "sensormine_stream_stage_seconds", dimensions: [("stage", "save_wait")], preferredDisplayUnit: .seconds)
    private let saveStage = Metrics.Timer(label: "sensormine_stream_stage_seconds", dimensions: [("stage", "save")], preferredDisplayUnit: .seconds)

    private static let backoff = Backoff(base: .milliseconds(200), maximum: .seconds(10))

    func run() async throws {
        let deadline = ContinuousClock.now + self.rulesWait
        while !self.rules.isCaughtUp, ContinuousClock.now < deadline, !Task.isCancelled {
            try await Task.sleep(for: .milliseconds(100))
        }
        if !self.rules.isCaughtUp { self.logger.warning("alerts.rules not read to its end; evaluating with the rules read so far") }
        // One engine per partition: a batch's partitions are processed side by side.
        var engines: [PartitionKey: StreamEngine] = [:]
        var lastTick = ContinuousClock.now
        // The newest message per partition processed since the last save: committed after it.
        var uncommitted: [PartitionKey: KafkaMessage] = [:]
        // The save in flight runs while batches are read and processed.
        var saving: SaveInFlight?
        var lastSave = ContinuousClock.now - self.saveInterval
        var reportedError: String?
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            let messages = try await self.consumer.poll(timeout: .milliseconds(100))
            self.kafkaStage.recordWaitSinceProduced(messages)
            let polled = ContinuousClock.now
            let rules = self.rules.snapshot
            let models = self.models.snapshot
            for key in Array(engines.keys) {
                if engines[key]?.book.generation != rules.generation { engines[key]?.book = rules }
                if engines[key]?.models.generation != models.generation { engines[key]?.models = models }
            }
            var outputs: [StreamOutput] = []
            if !messages.isEmpty {
                // Decided once per batch: an attempt repeated after a failure keeps what the
                // failed one applied (the engines skip those offsets; their outputs are kept in
                // `outputs`). Claimed again, a partition would go back to its last save, which
                // may lie before this batch, and the messages between would be skipped.
                var claims = Self.partitionsToClaim(messages, engines)
                try await Self.backoff.retryingUntilSuccess({
                    // A claim reads the saved state: the save in flight must be in it first.
                    if let previous = saving, !claims.isEmpty || Self.anyUnheld(messages, engines) {
                        saving = nil
                        try await self.finish(previous, engines: &engines)
                    }
                    try await self.process(messages, engines: &engines, claims: &claims, rules: rules, models: models, outputs: &outputs)
                }, failed: { attempt, error in
                    self.retries.increment()
                    if attempt == 1 || attempt % 10 == 0 { self.logger.error("batch not processed; retrying", metadata: ["error": "\(error)"]) }
                })
            }
            // Windows close in `process` as watermarks move; between batches only the clock moves them.
            if ContinuousClock.now - lastTick >= .seconds(1) {
                lastTick = ContinuousClock.now
                try await self.dropRevoked(&engines)
                let now = Self.now()
                // A quiet partition is idle only when read to its end (not when its messages
                // wait behind a rebalance): asked of the broker, for the quiet ones only.
                var quiet: [String: Set<Int32>] = [:]
                for engine in engines.values { for key in engine.quietPartitions(now: now) { quiet[key.topic, default: []].insert(key.partition) } }
                let caughtUp = (try? await self.consumer.readToEnd(quiet)) ?? [:]
                for key in Array(engines.keys) {
                    let before = engines[key]?.partitions[key]?.watermark
                    engines[key]?.tick(now: now, caughtUp: { caughtUp[$0.topic]?.contains($0.partition) ?? false }, into: &outputs)
                    if let after = engines[key]?.partitions[key]?.watermark, after != before {
                        self.logger.debug("idle partition: its watermark follows the clock", metadata: ["partition": "\(key)", "watermark": "\(after)"])
                    }
                }
            }
            if !messages.isEmpty { self.processStage.recordInterval(since: polled) }
            let publishing = ContinuousClock.now
            try await self.publish(outputs)
            if !outputs.isEmpty { self.publishStage.recordInterval(since: publishing) }
            for message in messages { uncommitted[PartitionKey(topic: message.topic, partition: message.partition)] = message }
            var counters = StreamEngine.Counters()
            for key in Array(engines.keys) { if let taken = engines[key]?.takeCounters() { counters.add(taken) } }
            self.lateCounter.increment(by: Int64(counters.latePoints))
            self.redeliveredCounter.increment(by: Int64(counters.redeliveries))
            self.inferencesCounter.increment(by: Int64(counters.inferences))
            self.inferencesSkippedCounter.increment(by: Int64(counters.inferencesSkipped))
            self.inferenceFailuresCounter.increment(by: Int64(counters.inferenceFailures))
            if counters.inferenceFailures > 0, let error = counters.lastInferenceError, error != reportedError {
                reportedError = error
                self.logger.warning("model inference failed", metadata: ["error": "\(error)"])
            }
            if ContinuousClock.now - lastSave >= self.saveInterval,
               try await self.checkpoint(&engines, &uncommitted, saving: &saving, wait: false) {
                lastSave = ContinuousClock.now
            }
        }
        if Task.isCancelled {
            // Cancelled, not stopped: the services beside it (the database's client among them)
            // are going too, and a save would wait for them for ever. As after a crash, the next
            // owner repeats what came after the last save.
            saving?.task.cancel()
        } else {
            // A clean stop saves what it holds, so the next owner repeats nothing.
            _ = try await self.checkpoint(&engines, &uncommitted, saving: &saving, wait: true)
        }
        await self.consumer.close()
    }

    /// A save of the state and positions of one batch, with the messages to commit to Kafka once it is done.
    private struct SaveInFlight {
        var task: Task<Set<PartitionKey>, any Error>
        /// Set when the task has ended, so that a batch need not wait to find out.
        var ended: NIOLockedValueBox<Bool>
        var offsets: [PartitionKey: KafkaMessage]
        /// The claim each partition's changes were made under.
        var epochs: [PartitionKey: Int64]
    }

    /// Finishes the save in flight (drops the partitions another member has claimed meanwhile,
    /// commits its offsets to Kafka), then starts saving the state changed since, with the
    /// partitions' offsets, after publishing the usage it counted. `wait`: also finish the new save.
    ///
    /// A save still running is not waited for (unless `wait`): the state changed meanwhile stays
    /// marked in the engines and goes into the next save. So a slow database makes saves larger
    /// and fewer, never a batch (and the alerts it raises) later; a crash repeats more from the
    /// saved state, with the same outputs and ids.
    /// - Returns: whether a save was started (false: the one in flight is still running).
    @discardableResult
    private func checkpoint(_ engines: inout [PartitionKey: StreamEngine], _ uncommitted: inout [PartitionKey: KafkaMessage],
                            saving: inout SaveInFlight?, wait: Bool) async throws -> Bool {
        if let previous = saving {
            guard wait || previous.ended.withLockedValue({ $0 }) else { return false }
            saving = nil
            try await self.finish(previous, engines: &engines)
        }
        var changes: [PartitionChanges] = []
        for key in Array(engines.keys) { changes += engines[key]?.takeChanges() ?? [] }
        // Usage goes out before the state that counted it is saved; a repeat after a crash
        // names its records the same (the position saved before), so Billing counts them once.
        try await self.publish(changes.flatMap(self.usageRecords))
        guard !changes.isEmpty || !uncommitted.isEmpty else { return true }
        let store = self.store
        let retries = self.retries
        let logger = self.logger
        let epochs = Dictionary(changes.map { ($0.partition, $0.epoch) }) { first, _ in first }
        let saved = changes
        let saveStage = self.saveStage
        let ended = NIOLockedValueBox(false)
        let task = Task<Set<PartitionKey>, any Error> {
            defer { ended.withLockedValue { $0 = true } }
            guard !saved.isEmpty else { return [] }
            let started = ContinuousClock.now
            var fenced = Set<PartitionKey>()
            try await Self.backoff.retryingUntilSuccess({ fenced = try await store.save(saved) }, failed: { attempt, error in
                retries.increment()
                if attempt == 1 || attempt % 10 == 0 { logger.error("stream state not saved; retrying", metadata: ["error": "\(error)"]) }
            })
            saveStage.recordInterval(since: started)
            return fenced
        }
        // Only partitions still held: a fenced one's new owner commits its own.
        let started = SaveInFlight(task: task, ended: ended, offsets: uncommitted.filter { engines[$0.key] != nil },
                                   epochs: epochs)
        uncommitted.removeAll(keepingCapacity: true)
        if wait {
            try await self.finish(started, engines: &engines)
        } else {
            saving = started
        }
        return true
    }

    private func finish(_ save: SaveInFlight, engines: inout [PartitionKey: StreamEngine]) async throws {
        let waiting = ContinuousClock.now
        let fenced = try await save.task.value
        self.saveWaitStage.recordInterval(since: waiting)
        var offsets = save.offsets
        for partition in fenced {
            offsets[partition] = nil
            // Claimed again meanwhile by this member (the group moved the partition away and
            // back while the save was running): the new claim's engine stays.
            guard let engine = engines[partition], engine.partitions[partition]?.epoch == save.epochs[partition] else { continue }
            self.logger.info("partition claimed by another member; its state here is dropped", metadata: ["partition": "\(partition)"])
            self.fencedCounter.increment()
            engines[partition] = nil
        }
        if !offsets.isEmpty { try await self.consumer.commitRetrying(Array(offsets.values), backoff: Self.backoff) }
    }

    /// What processing one partition's share of a batch gave back: its outputs, and the error
    /// that stopped it, if one did.
    private struct PartitionRun: Sendable {
        var key: PartitionKey
        var outputs: [StreamOutput]
        var points: Int
        var error: (any Error)?
    }

    /// A partition's engine while a task processes it, held nowhere else. An engine is a value
    /// whose dictionaries change in place only while nothing else refers to them: a copy left
    /// in the batch's list (as before) made every batch copy the partition's whole state, every
    /// device and rule, and free the old one after; with small batches that was most of the work.
    private final class EngineSlot: Sendable {
        let engine: Mutex<StreamEngine>

        init(_ engine: consuming sending StreamEngine) { self.engine = Mutex(engine) }

        /// The engine, moved out (the slot keeps an empty one).
        func take(settings: StreamSettings) -> StreamEngine {
            self.engine.withLock { engine in
                let taken = engine
                engine = StreamEngine(settings: settings)
                return taken
            }
        }
    }

    /// Admits, enriches and applies one batch, its partitions side by side (each on its own
    /// engine). Partitions seen for the first time (or seen again behind the position held,
    /// after a rebalance) are claimed from the store first.
    /// - Throws: when a dependency is unavailable; the caller retries the batch, which the
    ///   engines absorb (offsets already applied are skipped, their outputs already kept).
    /// - Parameter claims: the partitions to read from the store (see ``partitionsToClaim(_:_:)``),
    ///   less those read by this call; a partition without an engine (a save found it fenced) is read too.
    private func process(_ messages: [KafkaMessage], engines: inout [PartitionKey: StreamEngine], claims: inout Set<PartitionKey>,
                         rules: RuleBook, models: ModelBook, outputs: inout [StreamOutput]) async throws {
        var batches: [PartitionKey: [KafkaMessage]] = [:]
        for message in messages { batches[PartitionKey(topic: message.topic, partition: message.partition), default: []].append(message) }
        for (key, batch) in batches {
            guard let first = batch.first else { continue }
            if engines[key] != nil, !claims.contains(key) { continue }
            let claim = try await self.store.claim(key)
            if claim.unreadable > 0 { self.logger.warning("saved device states unreadable; they start afresh", metadata: ["partition": "\(key)", "devices": "\(claim.unreadable)"]) }
            self.logger.debug("partition claimed", metadata: ["partition": "\(key)", "epoch": "\(claim.epoch)", "offset": "\(claim.nextOffset)",
                                                              "watermark": "\(claim.watermark)", "first": "\(first.offset)"])
            var engine = StreamEngine(settings: self.settings)
            engine.book = rules
            engine.models = models
            engine.load(key, epoch: claim.epoch, nextOffset: claim.nextOffset, watermark: claim.watermark, devices: claim.devices, now: Self.now())
            engines[key] = engine
            claims.remove(key)
        }
        try await self.admission.warm(messages.compactMap { message in
            guard let key = message.key, let tenant = message.header("tenant") else { return nil }
            return (tenant, String(decoding: key, as: UTF8.self))
        })
        var slots: [(PartitionKey, EngineSlot, [KafkaMessage])] = []
        for (key, batch) in batches {
            if let engine = engines.removeValue(forKey: key) { slots.append((key, EngineSlot(engine), batch)) }
        }
        let runs = await withTaskGroup(of: PartitionRun.self) { group in
            for (key, slot, batch) in slots {
                group.addTask { await self.process(batch, partition: key, slot: slot) }
            }
            var runs: [PartitionRun] = []
            for await run in group { runs.append(run) }
            return runs
        }
        for (key, slot, _) in slots { engines[key] = slot.take(settings: self.settings) }
        var failure: (any Error)?
        var points = 0
        for run in runs {
            outputs += run.outputs
            // A partition that failed applied nothing; one that did is skipped when the batch is
            // repeated, so its points count now.
            points += run.points
            if let error = run.error { failure = error }
        }
        self.pointsCounter.increment(by: Int64(points))
        if let failure { throw failure }
        self.messagesCounter.increment(by: Int64(messages.count))
    }

    /// The partitions of a batch to read from the store before it is applied: one not held, or
    /// held at a position past its first message there (the group moved it away and back, and
    /// another member may have moved it on).
    private static func partitionsToClaim(_ messages: [KafkaMessage], _ engines: [PartitionKey: StreamEngine]) -> Set<PartitionKey> {
        var seen = Set<PartitionKey>()
        var claims = Set<PartitionKey>()
        for message in messages {
            let key = PartitionKey(topic: message.topic, partition: message.partition)
            guard seen.insert(key).inserted else { continue }
            if let held = engines[key]?.partitions[key], message.offset >= held.nextOffset { continue }
            claims.insert(key)
        }
        return claims
    }

    /// Whether a partition of the batch has no engine (dropped since the batch began: a save found it fenced).
    private static func anyUnheld(_ messages: [KafkaMessage], _ engines: [PartitionKey: StreamEngine]) -> Bool {
        messages.contains { engines[PartitionKey(topic: $0.topic, partition: $0.partition)] == nil }
    }

    /// One partition's messages on its engine: admitted as Ingestion would, enriched, applied,
    /// and the windows the new watermark closes.
    private func process(_ messages: [KafkaMessage], partition key: PartitionKey, slot: EngineSlot) async -> PartitionRun {
        var run = PartitionRun(key: key, outputs: [], points: 0)
        do {
            var admitted: [(message: KafkaMessage, admitted: TelemetryAdmission.Admitted?)] = []
            admitted.reserveCapacity(messages.count)
            var devices: [String: (UUID, UUID)] = [:]
            let nextOffset = slot.engine.withLock { $0.partitions[key]?.nextOffset }
            for message in messages {
                guard let nextOffset, message.offset >= nextOffset else {
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
            slot.engine.withLock { engine in
                for (message, accepted) in admitted {
                    guard let accepted, let profile = profiles[accepted.envelope.tenantID + "/" + accepted.envelope.deviceID] else {
                        engine.advance(key, past: message.offset)
                        continue
                    }
                    if engine.apply(accepted.envelope, points: accepted.points, partition: key, offset: message.offset, profile: profile, now: now, into: &run.outputs) {
                        run.points += accepted.points.count
                    }
                }
                engine.closeWindows(into: &run.outputs)
            }
        } catch {
            run.error = error
        }
        return run
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
        profile.tenantId.lowercasedString + "/" + profile.deviceId.lowercasedString
    }

    /// Drops the state of partitions the group no longer assigns to this member.
    private func dropRevoked(_ engines: inout [PartitionKey: StreamEngine]) async throws {
        guard let assigned = try? await self.consumer.assignedPartitions() else { return }
        self.assignedGauge.record(assigned.values.reduce(0) { $0 + $1.count })
        if let lag = try? await self.consumer.lag() { self.lagGauge.record(lag) }
        for key in Array(engines.keys) where !(assigned[key.topic]?.contains(key.partition) ?? false) {
            engines[key] = nil
        }
    }

    /// The ML inference usage of one save, one record per tenant.
    private func usageRecords(_ change: PartitionChanges) -> [StreamOutput] {
        let now = Date()
        return change.inferenceCalls.sorted { $0.key.uuidString < $1.key.uuidString }.map { tenant, calls in
            .usage(UsageRecord(
                eventId: "stream/\(self.store.group)/\(change.partition.topic)/\(change.partition.partition)/\(change.previousOffset)/\(change.previousWatermark)/\(tenant.lowercasedString)",
                tenantId: tenant, time: now, resource: .mlInference, quantity: Double(calls), metadata: ["source": "stream-processing"],
                producer: self.settings.producer))
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
                records.append(KafkaRecord(topic: self.topics.telemetryWindows, key: Array(window.deviceId.lowercasedString.utf8),
                                           value: Array(try encoder.encode(window)), headers: [("tenant", Array(window.tenantId.lowercasedString.utf8))]))
            case .late(let point):
                records.append(KafkaRecord(topic: self.topics.telemetryLate, key: Array(point.deviceId.lowercasedString.utf8),
                                           value: Array(try encoder.encode(point)), headers: [("tenant", Array(point.tenantId.lowercasedString.utf8))]))
            case .alert(let event):
                self.alertsCounter.increment()
                records.append(KafkaRecord(topic: self.topics.alertsTriggered, key: Array(event.partitionKey.utf8),
                                           value: Array(try encoder.encode(event)), headers: [("tenant", Array(event.tenantId.lowercasedString.utf8))]))
            case .inference(let result):
                records.append(KafkaRecord(topic: self.topics.telemetryInferences, key: Array(result.deviceId.lowercasedString.utf8),
                                           value: Array(try encoder.encode(result)), headers: [("tenant", Array(result.tenantId.lowercasedString.utf8))]))
            case .usage(let record):
                records.append(KafkaRecord(topic: self.topics.meteringEvents, key: Array(record.tenantId.lowercasedString.utf8),
                                           value: Array(try encoder.encode(record)), headers: [("tenant", Array(record.tenantId.lowercasedString.utf8))]))
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
