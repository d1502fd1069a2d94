import Foundation
import LibPQ
import SensormineClients
import SensormineCore

/// QueryAPI's settings, read once at start-up; see `QueryAPI --help` for every key.
struct QueryAPIConfiguration: ServiceConfiguration {
    /// Listener and shutdown settings.
    var http: HTTPSettings
    /// Log level and format.
    var logging: LoggingSettings
    /// The sensormine_timeseries database.
    var timeseriesDatabase: PostgresClient.Configuration
    /// The gateway's shared secret: every request must carry it.
    var callers: TrustedCallers
    /// Kafka, for the egress usage records.
    var kafka: KafkaSettings
    /// How often each tenant's bytes sent go to metering.events (nil: not metered).
    var usageInterval: Duration?

    init(reader: ConfigReader) throws {
        self.http = try HTTPSettings(reader: reader, defaultPort: QueryAPIService.descriptor.defaultPort)
        self.logging = try LoggingSettings(reader: reader)
        self.timeseriesDatabase = try PostgresClient.Configuration(reader: reader, role: .timeseries)
        self.callers = try TrustedCallers(reader: reader)
        self.kafka = try KafkaSettings(reader: reader)
        self.usageInterval = try reader.durationOrOff("SENSORMINE_QUERY_USAGE_INTERVAL", default: .seconds(5))
    }
}
