import ClientRuntime
import Foundation
import JSONSchema
import LibPQ
import Logging
import Metrics
import RdKafka
import ServiceLifecycle
import SensormineTelemetry
import TelemetryIntake

/// Consumes `device.telemetry` in batches: validates each message against its device type's
/// schema, stores the valid points and the dead letters in one transaction, produces the dead
/// letters to `device.telemetry.dlq`, and only then commits the batch's offsets. A crash at any
/// point replays the batch, which storage absorbs (points are idempotent, dead letters unique
/// per offset).
///
/// Failures come in two kinds. A dependency that is down or slow (lost connection, timeout)
/// is retried with backoff until it answers. Data the database refuses (what the cheap checks
/// before it cannot foresee, such as an operator's CHECK constraint) fails the same way every time: the batch is split until each
/// refused message stands alone, that message is dead-lettered with the database's reason, and
/// the rest is stored, so one bad message never holds up a partition.
struct IngestionPipeline: Service {
    let consumer: KafkaConsumer
    let producer: KafkaProducer
    let store: TelemetryStore
    /// The decision over each message (schema, event time), shared with StreamProcessing.
    let admission: TelemetryAdmission
    let deadLetterTopic: String
    /// Batches in work at once.
    let depth: Int
    /// A tenant kept longer than this writes to a table of its own (``RetentionPolicy``).
    let sharedMaximumDays: Int
    let logger: Logger
    private let stored = Counter(label: "sensormine_ingestion_points_stored_total")
    private let duplicates = Counter(label: "sensormine_ingestion_points_duplicate_total")
    private let deadLettered = Counter(label: "sensormine_ingestion_dead_letters_total")
    private let retries = Counter(label: "sensormine_ingestion_batch_retries_total")
    private let refusals = Counter(label: "sensormine_ingestion_database_refusals_total")
    private let assigned = Gauge(label: "sensormine_ingestion_assigned_partitions")
    private let lag = Gauge(label: "sensormine_ingestion_consumer_lag")
    /// Where a reading's time goes before it is stored (ADR 10): received at the edge → handed
    /// to the producer (`edge`), → fetched by Ingestion (`kafka`: linger, broker, fetch wait),
    /// → stored in a committed transaction (`store`: validation, COPY, rollups, commit).
    private let edgeStage = Metrics.Timer(label: "sensormine_pipeline_stage_seconds", dimensions: [("stage", "edge")], preferredDisplayUnit: .seconds)
    private let kafkaStage = Metrics.Timer(label: "sensormine_pipeline_stage_seconds", dimensions: [("stage", "kafka")], preferredDisplayUnit: .seconds)
    private let storeStage = Metrics.Timer(label: "sensormine_pipeline_stage_seconds", dimensions: [("stage", "store")], preferredDisplayUnit: .seconds)

    init(consumer: KafkaConsumer, producer: KafkaProducer, store: TelemetryStore, admission: TelemetryAdmission, deadLetterTopic: String,
         depth: Int, sharedMaximumDays: Int = .max, logger: Logger) {
        self.depth = depth
        self.sharedMaximumDays = sharedMaximumDays
        self.consumer = consumer
        self.producer = producer
        self.store = store
        self.admission = admission
        self.deadLetterTopic = deadLetterTopic
        self.logger = logger
    }

    func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await self.reportAssignment() }
            try await self.consume()
            group.cancelAll()
        }
    }

    /// Publishes how many partitions this member holds (0 while the group rebalances) and how
    /// many of their messages it has not fetched yet, until cancelled.
    private func reportAssignment() async {
        while !Task.isCancelled {
            if let count = try? await self.consumer.assignedPartitionCount() { self.assigned.record(count) }
            if let behind = try? await self.consumer.lag() { self.lag.record(behind) }
            try? await Task.sleep(for: .milliseconds(500))
        }
    }

    /// Keeps up to `depth` batches in work at once (validation and the database round trips of
    /// one overlap those of the next), but commits their offsets strictly in the order they were
    /// fetched: a partition's offset never passes a message that is not stored yet.
    private func consume() async throws {
        try await withThrowingTaskGroup(of: Int.self) { group in
            var waiting: [(sequence: Int, batch: [KafkaMessage])] = []
            var finished: Set<Int> = []
            var sequence = 0
            // Every finished batch at the front goes in one commit: one broker round trip however
            // many small batches finished meanwhile.
            func commitFinishedPrefix() async throws {
                var done: [KafkaMessage] = []
                while let first = waiting.first, finished.remove(first.sequence) != nil {
                    done += first.batch
                    waiting.removeFirst()
                }
                if !done.isEmpty { try await self.consumer.commitRetrying(done, backoff: Self.backoff) }
            }
            for try await batch in self.consumer.batches.cancelOnGracefulShutdown() {
                let number = sequence
                sequence += 1
                waiting.append((number, batch))
                group.addTask {
                    try await self.processRetrying(batch)
                    return number
                }
                // Batches in work at once only pay under a backlog: kept up with, the stream
                // comes in small batches, and concurrent ones would only queue on the same
                // rollup rows (each waits for the other's commit). So a small batch is stored
                // before the next poll, which gathers what arrived meanwhile.
                let allowed = self.consumer.isBacklogBatch(batch) ? self.depth : 1
                while waiting.count >= allowed, let done = try await group.next() {
                    finished.insert(done)
                    try await commitFinishedPrefix()
                }
            }
            while let done = try await group.next() {
                finished.insert(done)
                try await commitFinishedPrefix()
            }
        }
        await self.consumer.close()
    }

    private static let backoff = Backoff(base: .milliseconds(200), maximum: .seconds(10))

    private func processRetrying(_ batch: [KafkaMessage]) async throws {
        let fetchedAt = Date()
        try await Self.backoff.retryingUntilSuccess({ try await self.store(batch[...], fetchedAt: fetchedAt) }, failed: { attempt, error in
            self.retries.increment()
            if attempt % 10 == 0 { self.logger.error("batch not stored; retrying", metadata: ["error": "\(error)", "messages": "\(batch.count)"]) }
        })
    }

    /// Stores `batch`; where the database refuses data in it, halves it until each refused
    /// message stands alone and dead-letters that message with the database's reason.
    /// - Throws: when a dependency is unavailable; the caller retries the whole batch (what
    ///   was stored already is absorbed as a repeat).
    func store(_ batch: ArraySlice<KafkaMessage>, fetchedAt: Date = Date()) async throws {
        do {
            try await self.process(batch, fetchedAt: fetchedAt)
        } catch where SQLState.isDataRefusal(error) {
            if batch.count == 1, let message = batch.first {
                self.refusals.increment()
                try await self.deadLetterRefused(message, error)
                return
            }
            let middle = batch.startIndex + batch.count / 2
            try await self.store(batch[..<middle], fetchedAt: fetchedAt)
            try await self.store(batch[middle...], fetchedAt: fetchedAt)
        }
    }

    /// Dead-letters one message whose points or dead letter the database refused, with the
    /// database's reason. Should the letter's own fields be refused too, it is stored with only
    /// the original bytes and the reason.
    private func deadLetterRefused(_ message: KafkaMessage, _ error: any Error) async throws {
        let refusal = (error as? ClientError).map { "the database refused it: \($0.message) (SQLSTATE \($0.serverCode ?? "?"))" } ?? "the database refused it"
        let envelope = try? TelemetryEnvelope.decode(message.value).envelope
        var letter = DeadLetter(tenantID: envelope?.tenantID ?? message.header("tenant"), deviceID: envelope?.deviceID, messageID: envelope?.messageID,
                                schemaSubject: nil, schemaVersion: nil, reason: refusal, topic: message.topic, partition: message.partition,
                                offset: message.offset, original: message.value, headers: message.headers)
        self.logger.warning("message refused by the database; dead-lettered", metadata: ["reason": "\(refusal)", "offset": "\(message.partition)/\(message.offset)"])
        do {
            _ = try await self.store.write([], deadLetters: [letter])
        } catch where SQLState.isDataRefusal(error) {
            letter.messageID = nil
            letter.headers = []
            letter.reason = "the database refused the message and its dead-letter fields; see the original bytes"
            _ = try await self.store.write([], deadLetters: [letter])
        }
        try await self.publish([letter])
        self.deadLettered.increment()
    }

    /// Produces dead letters to the dead-letter topic with their reason and source.
    private func publish(_ deadLetters: [DeadLetter]) async throws {
        guard !deadLetters.isEmpty else { return }
        let records = deadLetters.map { letter in
            var headers = letter.headers.filter { $0.name != "dlq-reason" && $0.name != "dlq-source" }
            headers.append(("dlq-reason", Array(letter.reason.utf8)))
            headers.append(("dlq-source", Array("\(letter.topic)/\(letter.partition)/\(letter.offset)".utf8)))
            return KafkaRecord(topic: self.deadLetterTopic, key: letter.deviceID.map { Array($0.utf8) }, value: letter.original, headers: headers)
        }
        for result in try await self.producer.send(records) {
            if case .failure(let error) = result { throw error }
        }
    }

    /// Validates and stores one batch.
    /// - Throws: when a dependency is unavailable or the database refuses the data.
    func process(_ batch: ArraySlice<KafkaMessage>, fetchedAt: Date = Date()) async throws {
        try await self.admission.warm(batch.compactMap { message in
            guard let key = message.key, let tenant = message.header("tenant") else { return nil }
            return (tenant, String(decoding: key, as: UTF8.self))
        })
        var points: [StoredPoint] = []
        points.reserveCapacity(batch.count * 8)
        var deadLetters: [DeadLetter] = []
        // Each stored message's edge reception (µs) and hand-over to the producer (ms).
        var stamps: [(receivedAt: Int64, producedAt: Int64)] = []
        stamps.reserveCapacity(batch.count)
        for message in batch {
            switch try await self.examine(message) {
            case .points(let accepted, let receivedAt):
                points.append(contentsOf: accepted)
                if let producedAt = message.timestamp { stamps.append((receivedAt, producedAt)) }
            case .dead(let letter): deadLetters.append(letter)
            }
        }
        // A batch holds few tenants; their placement is cached for the directory's lifetime.
        var tenants = Set<String>()
        for message in batch { if let tenant = message.header("tenant") { tenants.insert(tenant) } }
        var dedicated = Set<String>()
        for tenant in tenants where try await self.admission.directory.storageSettings(tenant: tenant).ownsTable(sharedMaximumDays: self.sharedMaximumDays) {
            dedicated.insert(tenant)
        }
        let inserted = try await self.store.write(points, deadLetters: deadLetters, dedicatedTenants: dedicated)
        try await self.publish(deadLetters)
        self.stored.increment(by: Int64(inserted))
        self.duplicates.increment(by: Int64(points.count - inserted))
        self.deadLettered.increment(by: Int64(deadLetters.count))
        self.recordStages(stamps, fetchedAt: fetchedAt, storedAt: Date())
    }

    private func recordStages(_ stamps: [(receivedAt: Int64, producedAt: Int64)], fetchedAt: Date, storedAt: Date) {
        let fetched = Int64(fetchedAt.timeIntervalSince1970 * 1_000_000)
        let stored = Int64(storedAt.timeIntervalSince1970 * 1_000_000)
        for stamp in stamps {
            // The clocks are different machines' in production: a negative interval is skew, not time.
            let produced = stamp.producedAt &* 1_000
            // CreateTime has whole milliseconds, receivedAt microseconds: within that millisecond is 0.
            let edge = produced &- stamp.receivedAt
            if stamp.receivedAt > 0, edge > -1_000 { self.edgeStage.recordNanoseconds(max(0, edge) &* 1_000) }
            if fetched >= produced { self.kafkaStage.recordNanoseconds((fetched - produced) &* 1_000) }
        }
        if !stamps.isEmpty, stored >= fetched { self.storeStage.recordNanoseconds((stored - fetched) &* 1_000) }
    }

    private enum Outcome {
        case points([StoredPoint], receivedAt: Int64)
        case dead(DeadLetter)
    }

    private func examine(_ message: KafkaMessage) async throws -> Outcome {
        func dead(_ reason: String, _ envelope: TelemetryEnvelope? = nil, subject: String? = nil, version: Int? = nil) -> Outcome {
            .dead(DeadLetter(tenantID: envelope?.tenantID ?? message.header("tenant"), deviceID: envelope?.deviceID, messageID: envelope?.messageID,
                             schemaSubject: subject, schemaVersion: version, reason: reason, topic: message.topic,
                             partition: message.partition, offset: message.offset, original: message.value, headers: message.headers))
        }
        switch try await self.admission.examine(message.value) {
        case .success(let admitted):
            let envelope = admitted.envelope
            return .points(admitted.points.map { StoredPoint(tenantID: envelope.tenantID, deviceID: envelope.deviceID, point: $0) },
                           receivedAt: envelope.receivedAt)
        case .failure(let refused):
            return dead(refused.reason, refused.envelope, subject: refused.subject, version: refused.version)
        }
    }
}
