import Hummingbird
import LibPQ
import SensormineClients
import SensormineCore

/// Ingestion: how it is configured and built. Domain routes arrive with later issues; for now it
/// serves the standard operational endpoints and checks its real dependencies.
enum IngestionService: MigratingService {
    static let descriptor = ServiceDescriptor(
        name: "Ingestion",
        summary: "Consumes device.telemetry, validates against the SchemaRegistry and stores time series; rejects go to the dead-letter topic.",
        defaultPort: 8084
    )

    static let configurationHelp = [
        ConfigurationHelp.timeseriesDatabase,
        ConfigurationHelp.kafka,
        ConfigurationHelp.upstream("SENSORMINE_SCHEMA_REGISTRY_URL", name: "schema-registry"),
    ].joined(separator: "\n")

    /// Ingestion's tables, versioned; applied before the server starts and by `Ingestion migrate`.
    static let migrations = MigrationRunner(scope: "Ingestion", migrations: [])

    static func migrationDatabase(_ configuration: IngestionConfiguration) -> PostgresClient.Configuration {
        configuration.timeseriesDatabase
    }

    static func buildApplication(_ configuration: IngestionConfiguration, observability: Observability) async throws -> ServiceApplication {
        var builder = ServiceApplicationBuilder(descriptor: descriptor, http: configuration.http, observability: observability)
        _ = builder.addPostgres(configuration.timeseriesDatabase, migrations: migrations)
        _ = try builder.addKafkaProducer(configuration.kafka)
        _ = builder.addHTTPClient(upstreams: [configuration.schemaRegistry])
        return builder.build()
    }
}
