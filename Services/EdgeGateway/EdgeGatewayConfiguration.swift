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

    init(reader: ConfigReader) throws {
        self.http = try HTTPSettings(reader: reader, defaultPort: EdgeGatewayService.descriptor.defaultPort)
        self.logging = try LoggingSettings(reader: reader)
        self.kafka = try KafkaSettings(reader: reader)
        self.mqtt = try MQTTClient.Configuration(reader: reader, clientID: "edgegateway-\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString.prefix(8).lowercased())")
    }
}
