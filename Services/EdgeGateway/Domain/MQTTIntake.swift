import ClientRuntime
import Foundation
import Logging
import Metrics
import Mosquitto
import NIOConcurrencyHelpers
import ServiceLifecycle
import SensormineTelemetry

/// Takes telemetry from the broker through the shared subscription, so EdgeGateway replicas split
/// the devices' messages between them, and forwards each message to Kafka.
///
/// The topic names the tenant and the device (`tenants/{tenant}/devices/{device}/telemetry`);
/// the broker's ACL lets a device publish only under its own, so the topic is the authentication.
struct MQTTIntake: Service {
    static let filter = "$share/edge/tenants/+/devices/+/telemetry"
    /// Messages forwarded at once; beyond it intake waits (and the broker queues).
    static let maximumInFlight = 2000

    let client: MQTTClient
    let forwarder: TelemetryForwarder
    let logger: Logger
    private let subscribed = NIOLockedValueBox(false)
    private let received = Counter(label: "sensormine_edge_mqtt_messages_total")
    private let rejected = Counter(label: "sensormine_edge_mqtt_rejected_total")

    init(client: MQTTClient, forwarder: TelemetryForwarder, logger: Logger) {
        self.client = client
        self.forwarder = forwarder
        self.logger = logger
    }

    /// Whether the broker has acknowledged the shared subscription (it is renewed on every
    /// reconnect, which the connection's own readiness check covers).
    var isSubscribed: Bool { self.subscribed.withLockedValue { $0 } }

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            var attempt = 0
            while true {
                do {
                    try await self.client.subscribe(Self.filter, qos: 1)
                    self.subscribed.withLockedValue { $0 = true }
                    break
                } catch {
                    if attempt % 10 == 0 { self.logger.warning("telemetry subscription not yet possible; retrying", metadata: ["error": "\(error)"]) }
                    try await Task.sleep(for: .milliseconds(500))
                    attempt += 1
                }
            }
            self.logger.info("subscribed to device telemetry", metadata: ["filter": "\(Self.filter)"])
        }
        await withDiscardingTaskGroup { group in
            var inFlight = 0
            let finished = AsyncStream<Void>.makeStream()
            var completions = finished.stream.makeAsyncIterator()
            for await message in self.client.messages.cancelOnGracefulShutdown() {
                self.received.increment()
                if inFlight >= Self.maximumInFlight {
                    _ = await completions.next()
                    inFlight -= 1
                }
                inFlight += 1
                group.addTask {
                    await self.handle(message)
                    finished.continuation.yield()
                }
            }
        }
    }

    /// Hands one message on; while neither Kafka nor the spool can take it, waits and retries,
    /// because the broker has already acknowledged it to the device (intake stalls meanwhile:
    /// at most `maximumInFlight` messages wait).
    private func handle(_ message: MQTTMessage) async {
        guard let (tenant, device) = Self.identity(topic: message.topic) else {
            self.rejected.increment()
            self.logger.warning("telemetry on an unexpected topic ignored", metadata: ["topic": "\(message.topic.prefix(200))"])
            return
        }
        let envelopes: [TelemetryEnvelope]
        switch TelemetryForwarder.envelopes(message.payload, tenant: tenant, device: device, source: .mqtt, receivedAt: TelemetryForwarder.now()) {
        case .messages(let parsed): envelopes = parsed
        case .notJSON(let envelope, _): envelopes = [envelope]
        }
        // Only cancellation (shutdown) ends the retries; the message then stays unforwarded,
        // which the broker's acknowledgement already made unavoidable.
        _ = try? await Backoff(base: .milliseconds(100), maximum: .seconds(5)).retryingUntilSuccess({
            try await self.forwarder.deliver(envelopes)
        }, failed: { attempt, error in
            if attempt % 20 == 0 { self.logger.error("telemetry can be neither forwarded nor spooled; retrying", metadata: ["error": "\(error)", "device": "\(device)"]) }
        })
    }

    /// Tenant and device of `tenants/{tenant}/devices/{device}/telemetry`, both UUIDs (lower-cased).
    static func identity(topic: String) -> (tenant: String, device: String)? {
        let parts = topic.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "tenants", parts[2] == "devices", parts[4] == "telemetry",
              let tenant = UUID(uuidString: String(parts[1])), let device = UUID(uuidString: String(parts[3])) else { return nil }
        return (tenant.uuidString.lowercased(), device.uuidString.lowercased())
    }
}
