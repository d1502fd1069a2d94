import Foundation
import Mosquitto
import SensormineClients
import SensormineCore

/// EdgeGateway's settings, read once at start-up; see `EdgeGateway --help` for every key.
struct EdgeGatewayConfiguration: ServiceConfiguration {
    /// Listener and shutdown settings.
    var http: HTTPSettings
    /// Log level and format.
    var logging: LoggingSettings
    /// Kafka brokers and topic names.
    var kafka: KafkaSettings
    /// The MQTT broker.
    var mqtt: MQTTClient.Configuration
    /// Largest HTTP ingest body.
    var maximumBodyBytes: Int
    /// The ApiGateway's shared secret: ingest requests must carry it.
    var gatewayToken: String
    /// Where the store-and-forward spool lives.
    var spoolDirectory: String
    /// The spool's bound in bytes.
    var spoolMaximumBytes: Int
    /// How long Kafka may take to confirm before telemetry is spooled instead.
    var kafkaTimeout: Duration
    /// DeviceAPI, for last-seen reports (none when unset).
    var deviceAPI: UpstreamService?
    /// How often last-seen reports go out.
    var activityInterval: Duration

    init(reader: ConfigReader) throws {
        self.http = try HTTPSettings(reader: reader, defaultPort: EdgeGatewayService.descriptor.defaultPort)
        self.logging = try LoggingSettings(reader: reader)
        self.kafka = try KafkaSettings(reader: reader)
        self.gatewayToken = try GatewaySettings.token(reader: reader)
        self.spoolDirectory = reader.optionalString("SENSORMINE_EDGE_SPOOL_DIR") ?? "/var/lib/sensormine/edge-spool"
        self.spoolMaximumBytes = try reader.int("SENSORMINE_EDGE_SPOOL_MAX_BYTES", default: 1 << 30, range: (1 << 20)...(1 << 40))
        self.kafkaTimeout = try reader.duration("SENSORMINE_EDGE_KAFKA_TIMEOUT", default: .seconds(5))
        self.deviceAPI = reader.optionalString("SENSORMINE_DEVICE_API_URL") == nil
            ? nil : try UpstreamService(reader: reader, key: "SENSORMINE_DEVICE_API_URL", name: "device-api")
        self.activityInterval = try reader.duration("SENSORMINE_EDGE_ACTIVITY_INTERVAL", default: .seconds(5))
        self.maximumBodyBytes = try reader.int("SENSORMINE_EDGE_MAX_BODY_BYTES", default: 1 << 20, range: 1024...(64 << 20))
        self.mqtt = try MQTTClient.Configuration(reader: reader, clientID: "edgegateway-\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString.prefix(8).lowercased())")
    }
}
