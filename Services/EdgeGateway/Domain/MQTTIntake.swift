import ClientRuntime
import Foundation
import Logging
import Metrics
import MQTTWire
import NIOConcurrencyHelpers
import SensormineCore
import ServiceLifecycle
import SensormineTelemetry

/// Takes telemetry from the broker through a shared subscription, at least once: a message is
/// acknowledged to the broker only after Kafka or the fsync'd spool holds it.
///
/// Each of its connections (``AcknowledgingSubscriber``) has a persistent session under a stable
/// client id, so while EdgeGateway restarts the broker queues what devices publish and hands it
/// over when the same connection returns; replicas (and connections) in the share group split
/// the devices' messages. A connection keeps up to its receive window of messages in flight and
/// hands whatever has arrived to Kafka as one batch, acknowledging the batch once Kafka (or the
/// spool) confirms it; a few batches are on their way at once, so a message arriving while one
/// waits for Kafka's acknowledgement does not wait behind it. Memory is bounded by the windows, not by load: the broker queues the rest.
///
/// The topic names the tenant and the device (`tenants/{tenant}/devices/{device}/telemetry`);
/// the broker's ACL lets a device publish only under its own, so the topic is the authentication.
struct MQTTIntake: Sendable {
    /// The telemetry topics of every device.
    static let topics = "tenants/+/devices/+/telemetry"

    /// The settings of the intake's connections.
    struct Settings: Sendable {
        var host: String
        var port: Int
        var username: String?
        var password: String?
        /// The stem of the connections' client ids: `{stem}-{n}`.
        var clientID: String
        /// How many connections share the subscription.
        var connections: Int
        /// How long the broker keeps a session (and queues for it) after its connection ends.
        var sessionExpiry: Duration
        /// How many unacknowledged messages the broker may send each connection.
        var receiveMaximum: Int
        /// How many batches each connection hands to Kafka at once.
        var batchesInFlight: Int
        /// The share group's name; every replica uses the same.
        var shareGroup: String
        /// The subscription filter.
        var filter: String { "$share/\(self.shareGroup)/\(MQTTIntake.topics)" }

        /// The `index`th connection's settings.
        func connection(_ index: Int) -> AcknowledgingSubscriber.Configuration {
            AcknowledgingSubscriber.Configuration(
                host: self.host, port: self.port, clientID: "\(self.clientID)-\(index)", username: self.username, password: self.password,
                sessionExpiry: self.sessionExpiry, receiveMaximum: self.receiveMaximum, filter: self.filter,
                maximumBatch: min(self.receiveMaximum, TelemetryForwarder.maximumBatch), batchesInFlight: self.batchesInFlight)
        }
    }

    /// One subscriber per connection; each is a service of the application.
    let subscribers: [AcknowledgingSubscriber]

    init(settings: Settings, forwarder: TelemetryForwarder, quotas: QuotaBook?, logger: Logger) {
        let handoff = DurableHandoff(forwarder: forwarder, quotas: quotas, logger: logger)
        self.subscribers = (0..<settings.connections).map { index in
            AcknowledgingSubscriber(configuration: settings.connection(index), logger: logger) { await handoff.take($0) }
        }
    }

    /// Whether every connection holds a granted subscription.
    var isSubscribed: Bool { self.subscribers.allSatisfy(\.isSubscribed) }

    /// Tenant and device of `tenants/{tenant}/devices/{device}/telemetry`, both UUIDs (lower-cased).
    /// Read as bytes: every message's topic passes here, and splitting it as a String cost the
    /// intake about a tenth of its time.
    static func identity(topic: String) -> (tenant: String, device: String)? {
        let bytes = topic.utf8
        // tenants/ + 36 + /devices/ + 36 + /telemetry
        guard bytes.count == 99, bytes.starts(with: "tenants/".utf8), bytes.dropFirst(44).starts(with: "/devices/".utf8),
              bytes.dropFirst(89).elementsEqual("/telemetry".utf8),
              let tenant = UUIDText.lowercased(bytes: bytes.dropFirst(8).prefix(36)),
              let device = UUIDText.lowercased(bytes: bytes.dropFirst(53).prefix(36))
        else { return nil }
        return (tenant, device)
    }
}

/// Makes a batch of MQTT messages durable (Kafka or the spool) before its connection
/// acknowledges them.
struct DurableHandoff: Sendable {
    let forwarder: TelemetryForwarder
    /// Billing's quota states: telemetry of an organisation past its quota is dead-lettered.
    let quotas: QuotaBook?
    let logger: Logger
    private let rejected = Counter(label: "sensormine_edge_mqtt_rejected_total")

    init(forwarder: TelemetryForwarder, quotas: QuotaBook?, logger: Logger) {
        self.forwarder = forwarder
        self.quotas = quotas
        self.logger = logger
    }

    /// Forwards or spools the batch, retrying while neither can take it; answers whether it may
    /// be acknowledged (false only when the retries end because the task was cancelled or the
    /// service is stopping: the broker then redelivers). A message on a topic that is not a
    /// device's is acknowledged and dropped: no retry would make it valid.
    func take(_ batch: [MQTTPacket.Publish]) async -> Bool {
        let receivedAt = TelemetryForwarder.now()
        var envelopes: [TelemetryEnvelope] = []
        var refused: [(tenant: String, device: String, payload: [UInt8], detail: String)] = []
        envelopes.reserveCapacity(batch.count)
        for message in batch {
            guard let (tenant, device) = MQTTIntake.identity(topic: message.topic) else {
                self.rejected.increment()
                self.logger.warning("telemetry on an unexpected topic ignored", metadata: ["topic": "\(message.topic.prefix(200))"])
                continue
            }
            if let state = self.quotas?.refusal(tenant: tenant) {
                refused.append((tenant, device, message.payload, QuotaBook.detail(state)))
                continue
            }
            // Stamped when read off the connection: the wait for a free batch slot is the edge's time.
            let readAt = message.receivedAt > 0 ? message.receivedAt : receivedAt
            switch TelemetryForwarder.envelopes(message.payload, tenant: tenant, device: device, source: .mqtt, receivedAt: readAt) {
            case .messages(let parsed): envelopes += parsed
            case .notJSON(let envelope, _): envelopes.append(envelope)
            }
        }
        guard !envelopes.isEmpty || !refused.isEmpty else { return true }
        var deadLettered = refused.isEmpty
        var delivered = envelopes.isEmpty
        let done: Void? = try? await Backoff(base: .milliseconds(100), maximum: .seconds(2)).retryingUntilSuccess({
            if !deadLettered {
                try await self.forwarder.deadLetter(refused.map { ($0.tenant, $0.device, $0.payload, "quota-exceeded", $0.detail) }, source: .mqtt)
                deadLettered = true
            }
            if !delivered {
                try await self.forwarder.deliver(envelopes)
                delivered = true
            }
        }, failed: { attempt, error in
            if attempt % 20 == 0 { self.logger.error("telemetry can be neither forwarded nor spooled; retrying", metadata: ["error": "\(error)", "messages": "\(envelopes.count)"]) }
        }, giveUp: { Task.isCancelled || Task.isShuttingDownGracefully })
        return done != nil
    }
}
