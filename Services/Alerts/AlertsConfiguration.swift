import Foundation
import LibPQ
import SensormineClients
import SensormineCore

/// Alerts's settings, read once at start-up; see `Alerts --help` for every key.
struct AlertsConfiguration: ServiceConfiguration {
    /// Listener and shutdown settings.
    var http: HTTPSettings
    /// Log level and format.
    var logging: LoggingSettings
    /// The sensormine_metadata database.
    var metadataDatabase: PostgresClient.Configuration
    /// Kafka brokers and topic names.
    var kafka: KafkaSettings
    /// The callers whose identity headers are trusted (the ApiGateway's token).
    var callers: TrustedCallers

    init(reader: ConfigReader) throws {
        self.http = try HTTPSettings(reader: reader, defaultPort: AlertsService.descriptor.defaultPort)
        self.logging = try LoggingSettings(reader: reader)
        self.metadataDatabase = try PostgresClient.Configuration(reader: reader, role: .metadata)
        self.kafka = try KafkaSettings(reader: reader)
        self.callers = try TrustedCallers(reader: reader)
    }
}
