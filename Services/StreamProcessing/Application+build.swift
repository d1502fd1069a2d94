import Hummingbird
import LibPQ
import Logging
import SensormineClients
import SensormineCore

/// StreamProcessing: how it is configured and built. Domain routes arrive with later issues; for now it
/// serves the standard operational endpoints and checks its real dependencies.
enum StreamProcessingService: SensormineService {
    static let descriptor = ServiceDescriptor(
        name: "StreamProcessing",
        summary: "Rollups and rule evaluation over device.telemetry; emits alerts.triggered and metering.events.",
        defaultPort: 8086
    )

    static let configurationHelp = """
          SENSORMINE_TIMESERIES_DB_URL  postgresql:// URL of sensormine_timeseries (required, secret)
          SENSORMINE_TIMESERIES_DB_POOL_SIZE / _STATEMENT_TIMEOUT / _CONNECT_TIMEOUT (10 / 30s / 5s)
          SENSORMINE_KAFKA_BROKERS      host:port[,host:port] (required)
          SENSORMINE_KAFKA_TOPIC_PREFIX environment prefix of topic names (optional)
        """

    /// StreamProcessing's tables, versioned; applied before the server starts and by `StreamProcessing migrate`.
    static let migrations = MigrationRunner(scope: "StreamProcessing", migrations: [])

    static func migrate(_ configuration: StreamProcessingConfiguration, logger: Logger) async throws {
        try await MigrationCommand.run(migrations, database: configuration.timeseriesDatabase, logger: logger)
    }

    static func configuration(from reader: ConfigReader) throws -> StreamProcessingConfiguration {
        try StreamProcessingConfiguration(reader: reader)
    }

    static func buildApplication(_ configuration: StreamProcessingConfiguration, observability: Observability) async throws -> ServiceApplication {
        var builder = ServiceApplicationBuilder(descriptor: descriptor, http: configuration.http, observability: observability)
        _ = builder.addPostgres(configuration.timeseriesDatabase, migrations: migrations)
        _ = try builder.addKafkaProducer(configuration.kafka)
        return builder.build()
    }
}
