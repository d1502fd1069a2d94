import ClientRuntime
import Foundation
import Logging
import Metrics
import RdKafka
import SensormineCore
import SensormineJSON
import SensormineTelemetry

/// Wraps device messages in envelopes and hands them on: to Kafka, confirmed, or, while Kafka
/// is away, to the fsync'd spool. Nothing is acknowledged before one of them holds it.
struct TelemetryForwarder: Sendable {
    /// Largest batch one HTTP request may carry.
    static let maximumBatch = 1000

    let producer: KafkaProducer
    let topic: String
    /// Where refused telemetry goes, with its reason.
    let deadLetterTopic: String
    let spool: Spool
    let activity: ActivityReporter?
    let logger: Logger
    private let forwarded = Counter(label: "sensormine_edge_messages_forwarded_total")
    private let failed = Counter(label: "sensormine_edge_forward_failures_total")
    private let deadLettered = Counter(label: "sensormine_edge_dead_letters_total")

    init(producer: KafkaProducer, topic: String, deadLetterTopic: String, spool: Spool, activity: ActivityReporter?, logger: Logger) {
        self.producer = producer
        self.topic = topic
        self.deadLetterTopic = deadLetterTopic
        self.spool = spool
        self.activity = activity
        self.logger = logger
    }

    /// Straight to Kafka while the spool is empty; into the spool, behind what waits there, when
    /// it is not or when Kafka fails (`message.timeout.ms` bounds the wait).
    /// - Throws: ``Spool/Full`` (or a disk error) when neither can take them.
    func deliver(_ envelopes: [TelemetryEnvelope]) async throws {
        var forwarded = false
        if self.spool.isEmpty {
            do {
                try await self.forward(envelopes)
                forwarded = true
            } catch {
                self.logger.warning("Kafka did not take telemetry; spooling", metadata: ["error": "\(error)", "messages": "\(envelopes.count)"])
            }
        }
        if !forwarded { try await self.spool.append(envelopes) }
        if let activity = self.activity, let last = envelopes.last {
            activity.record(tenant: last.tenantID, device: last.deviceID, time: last.receivedAt)
        }
    }

    /// How a payload was understood.
    enum Parsed {
        /// One JSON object or an array of them, one envelope each.
        case messages([TelemetryEnvelope])
        /// Not JSON: forwarded as bytes so Ingestion dead-letters it with the reason.
        case notJSON(TelemetryEnvelope, reason: String)
    }

    /// Splits `payload` into envelopes for `device` of `tenant`; each message keeps the device's
    /// bytes verbatim (an array's elements as they stand in it).
    static func envelopes(_ payload: [UInt8], tenant: String, device: String, source: TelemetryEnvelope.Source, receivedAt: Int64) -> Parsed {
        let document: JSON
        let elements: [ArraySlice<UInt8>]?
        do {
            (document, elements) = try JSON.parseElements(payload)
        } catch {
            let envelope = TelemetryEnvelope(messageID: RandomIdentifiers.uuidString(), tenantID: tenant, deviceID: device, source: source,
                                             receivedAt: receivedAt, payload: payload, payloadIsJSON: false)
            return .notJSON(envelope, reason: error.description)
        }
        func envelope(_ bytes: [UInt8], _ value: JSON) -> TelemetryEnvelope {
            let messageID = value["messageId"]?.string.map { String($0.prefix(100)) } ?? RandomIdentifiers.uuidString()
            return TelemetryEnvelope(messageID: messageID, tenantID: tenant, deviceID: device, source: source,
                                     receivedAt: receivedAt, payload: bytes, payloadIsJSON: true)
        }
        if case .array(let values) = document, let elements {
            return .messages(zip(elements, values).map { envelope(Array($0), $1) })
        }
        return .messages([envelope(payload, document)])
    }

    /// Produces the envelopes (key = device id, so order holds per device) and waits for every
    /// acknowledgement.
    /// - Throws: the first delivery failure (the caller retries or refuses).
    func forward(_ envelopes: [TelemetryEnvelope]) async throws {
        let records = envelopes.map { envelope in
            KafkaRecord(topic: self.topic, key: Array(envelope.deviceID.utf8), value: envelope.encoded(),
                        headers: [("tenant", Array(envelope.tenantID.utf8)), ("message-id", Array(envelope.messageID.utf8))])
        }
        for result in try await self.producer.send(records) {
            if case .failure(let error) = result {
                self.failed.increment()
                throw error
            }
        }
        self.forwarded.increment(by: Int64(records.count))
    }

    /// Produces refused messages to the dead-letter topic as they came (the original bytes), with
    /// the reason (`dlq-reason`), its detail and the tenant and device, and waits for Kafka.
    /// - Throws: the first delivery failure (the caller retries; nothing is acknowledged before).
    func deadLetter(_ letters: [(tenant: String, device: String, payload: [UInt8], reason: String, detail: String)], source: TelemetryEnvelope.Source) async throws {
        guard !letters.isEmpty else { return }
        let records = letters.map { letter in
            KafkaRecord(topic: self.deadLetterTopic, key: Array(letter.device.utf8), value: letter.payload, headers: [
                ("tenant", Array(letter.tenant.utf8)), ("device", Array(letter.device.utf8)), ("dlq-reason", Array(letter.reason.utf8)),
                ("dlq-detail", Array(letter.detail.utf8)), ("dlq-source", Array("edge-gateway/\(source.rawValue)".utf8)),
            ])
        }
        for result in try await self.producer.send(records) {
            if case .failure(let error) = result { throw error }
        }
        self.deadLettered.increment(by: Int64(records.count))
    }

    /// Microseconds since 1970, now.
    static func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1_000_000) }
}
