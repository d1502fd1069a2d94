import Foundation
import LibPQ
import SensormineClients
import SensormineCore

/// Ingestion's settings, read once at start-up; see `Ingestion --help` for every key.
struct IngestionConfiguration: ServiceConfiguration {
    /// Listener and shutdown settings.
    var http: HTTPSettings
    /// Log level and format.
    var logging: LoggingSettings
    /// The sensormine_timeseries database.
    var timeseriesDatabase: PostgresClient.Configuration
    /// Kafka brokers and topic names.
    var kafka: KafkaSettings
    /// The SchemaRegistry service.
    var schemaRegistry: UpstreamService

    init(reader: ConfigReader) throws {
        self.http = try HTTPSettings(reader: reader, defaultPort: IngestionService.descriptor.defaultPort)
        self.logging = try LoggingSettings(reader: reader)
        self.timeseriesDatabase = try PostgresClient.Configuration(reader: reader, role: .timeseries)
        self.kafka = try KafkaSettings(reader: reader)
        self.schemaRegistry = try UpstreamService(reader: reader, key: "SENSORMINE_SCHEMA_REGISTRY_URL", name: "schema-registry")
    }
}
