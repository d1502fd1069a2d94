import Hummingbird
import LibPQ
import Logging
import SensormineClients
import SensormineCore

/// Ingestion: how it is configured and built. Domain routes arrive with later issues; for now it
/// serves the standard operational endpoints and checks its real dependencies.
enum IngestionService: SensormineService {
    static let descriptor = ServiceDescriptor(
        name: "Ingestion",
        summary: "Consumes device.telemetry, validates against the SchemaRegistry and stores time series; rejects go to the dead-letter topic.",
        defaultPort: 8084
    )

    static let configurationHelp = """
          SENSORMINE_TIMESERIES_DB_URL  postgresql:// URL of sensormine_timeseries (required, secret)
          SENSORMINE_TIMESERIES_DB_POOL_SIZE / _STATEMENT_TIMEOUT / _CONNECT_TIMEOUT (10 / 30s / 5s)
          SENSORMINE_KAFKA_BROKERS      host:port[,host:port] (required)
          SENSORMINE_KAFKA_TOPIC_PREFIX environment prefix of topic names (optional)
          SENSORMINE_SCHEMA_REGISTRY_URL base URL of the schema-registry (required)
        """

    /// Ingestion's tables, versioned; applied before the server starts and by `Ingestion migrate`.
    static let migrations = MigrationRunner(scope: "Ingestion", migrations: [])

    static func migrate(_ configuration: IngestionConfiguration, logger: Logger) async throws {
        try await MigrationCommand.run(migrations, database: configuration.timeseriesDatabase, logger: logger)
    }

    static func configuration(from reader: ConfigReader) throws -> IngestionConfiguration {
        try IngestionConfiguration(reader: reader)
    }

    static func buildApplication(_ configuration: IngestionConfiguration, observability: Observability) async throws -> ServiceApplication {
        var builder = ServiceApplicationBuilder(descriptor: descriptor, http: configuration.http, observability: observability)
        _ = builder.addPostgres(configuration.timeseriesDatabase, migrations: migrations)
        _ = try builder.addKafkaProducer(configuration.kafka)
        _ = builder.addHTTPClient(upstreams: [configuration.schemaRegistry])
        return builder.build()
    }
}
