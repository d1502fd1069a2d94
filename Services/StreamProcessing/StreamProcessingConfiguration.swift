import Foundation
import LibPQ
import SensormineClients
import SensormineCore

/// StreamProcessing's settings, read once at start-up; see `StreamProcessing --help` for every key.
struct StreamProcessingConfiguration: ServiceConfiguration {
    /// Listener and shutdown settings.
    var http: HTTPSettings
    /// Log level and format.
    var logging: LoggingSettings
    /// The sensormine_timeseries database.
    var timeseriesDatabase: PostgresClient.Configuration
    /// Kafka brokers and topic names.
    var kafka: KafkaSettings

    init(reader: ConfigReader) throws {
        self.http = try HTTPSettings(reader: reader, defaultPort: StreamProcessingService.descriptor.defaultPort)
        self.logging = try LoggingSettings(reader: reader)
        self.timeseriesDatabase = try PostgresClient.Configuration(reader: reader, role: .timeseries)
        self.kafka = try KafkaSettings(reader: reader)
    }
}
