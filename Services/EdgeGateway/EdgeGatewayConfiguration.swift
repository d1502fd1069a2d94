import Foundation
import Mosquitto
import SensormineClients
import SensormineCore
import SensormineTelemetry

/// EdgeGateway's settings, read once at start-up; see `EdgeGateway --help` for every key.
struct EdgeGatewayConfiguration: ServiceConfiguration {
    /// Listener and shutdown settings.
    var http: HTTPSettings
    /// Log level and format.
    var logging: LoggingSettings
    /// Kafka brokers and topic names.
    var kafka: KafkaSettings
    /// The MQTT intake: broker, connections, sessions and share group.
    var mqtt: MQTTIntake.Settings
    /// Largest HTTP ingest body.
    var maximumBodyBytes: Int
    /// The ApiGateway's shared secret: ingest requests must carry it.
    var callers: TrustedCallers
    /// EdgeGateway's own token, presented to DeviceAPI with activity reports.
    var serviceToken: String?
    /// Where the store-and-forward spool lives.
    var spoolDirectory: String
    /// The spool's bound in bytes.
    var spoolMaximumBytes: Int
    /// How long Kafka may take to confirm before telemetry is spooled instead.
    var kafkaTimeout: Duration
    /// How long the producer gathers records into one request (`linger.ms`).
    var kafkaLinger: Duration
    /// DeviceAPI, for last-seen reports (none when unset).
    var deviceAPI: UpstreamService?
    /// How often last-seen reports go out.
    var activityInterval: Duration
    /// Whether Billing's quota states (billing.quotas) refuse telemetry past the quota.
    var quotas: Bool

    init(reader: ConfigReader) throws {
        self.http = try HTTPSettings(reader: reader, defaultPort: EdgeGatewayService.descriptor.defaultPort)
        self.logging = try LoggingSettings(reader: reader)
        self.kafka = try KafkaSettings(reader: reader)
        self.callers = try TrustedCallers(reader: reader)
        self.spoolDirectory = reader.optionalString("SENSORMINE_EDGE_SPOOL_DIR") ?? "/var/lib/sensormine/edge-spool"
        self.spoolMaximumBytes = try reader.int("SENSORMINE_EDGE_SPOOL_MAX_BYTES", default: 1 << 30, range: (1 << 20)...(1 << 40))
        self.kafkaTimeout = try reader.duration("SENSORMINE_EDGE_KAFKA_TIMEOUT", default: .seconds(5))
        self.kafkaLinger = try reader.duration("SENSORMINE_EDGE_KAFKA_LINGER", default: TelemetryProducerSettings.defaultLinger)
        guard self.kafkaLinger <= .seconds(1) else {
            throw ConfigurationError(key: "SENSORMINE_EDGE_KAFKA_LINGER", problem: "must be at most 1s: every message waits up to this long before it is sent")
        }
        self.deviceAPI = reader.optionalString("SENSORMINE_DEVICE_API_URL") == nil
            ? nil : try UpstreamService(reader: reader, key: "SENSORMINE_DEVICE_API_URL", name: "device-api")
        self.serviceToken = self.deviceAPI == nil ? nil : try GatewaySettings.token(reader: reader, caller: .edgeGateway)
        self.activityInterval = try reader.duration("SENSORMINE_EDGE_ACTIVITY_INTERVAL", default: .seconds(5))
        self.quotas = try reader.bool("SENSORMINE_EDGE_QUOTAS", default: true)
        self.maximumBodyBytes = try reader.int("SENSORMINE_EDGE_MAX_BODY_BYTES", default: 1 << 20, range: 1024...(64 << 20))
        // A stable client id (the StatefulSet's pod name, the Compose service's hostname) lets a
        // restarted EdgeGateway resume the sessions the broker queued for while it was away.
        let clientID = reader.optionalString("SENSORMINE_EDGE_MQTT_CLIENT_ID") ?? "edgegateway-\(ProcessInfo.processInfo.hostName)"
        let broker = try MQTTClient.Configuration(reader: reader, clientID: clientID)
        let sessionExpiry = try reader.duration("SENSORMINE_EDGE_MQTT_SESSION_EXPIRY", default: .seconds(3600))
        guard sessionExpiry >= .seconds(1), sessionExpiry <= .seconds(7 * 86400) else {
            throw ConfigurationError(key: "SENSORMINE_EDGE_MQTT_SESSION_EXPIRY", problem: "must be between 1s and 7d")
        }
        let shareGroup = reader.optionalString("SENSORMINE_EDGE_MQTT_SHARE_GROUP") ?? "edge"
        guard !shareGroup.isEmpty, shareGroup.count <= 64, shareGroup.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") }) else {
            throw ConfigurationError(key: "SENSORMINE_EDGE_MQTT_SHARE_GROUP", problem: "must be 1–64 letters, digits, '-', '_' or '.'")
        }
        self.mqtt = MQTTIntake.Settings(
            host: broker.host, port: broker.port, username: broker.username, password: broker.password, clientID: clientID,
            connections: try reader.int("SENSORMINE_EDGE_MQTT_CONNECTIONS", default: 2, range: 1...64),
            sessionExpiry: sessionExpiry,
            receiveMaximum: try reader.int("SENSORMINE_EDGE_MQTT_RECEIVE_MAXIMUM", default: 1000, range: 1...65535),
            batchesInFlight: try reader.int("SENSORMINE_EDGE_MQTT_BATCHES_IN_FLIGHT", default: 4, range: 1...64),
            shareGroup: shareGroup
        )
    }
}
