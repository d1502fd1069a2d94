import Hummingbird
import LibPQ
import Logging
import SensormineClients
import SensormineCore

/// SchemaRegistry: how it is configured and built. Domain routes arrive with later issues; for now it
/// serves the standard operational endpoints and checks its real dependencies.
enum SchemaRegistryService: SensormineService {
    static let descriptor = ServiceDescriptor(
        name: "SchemaRegistry",
        summary: "Telemetry schemas: subjects, versions, compatibility and validation.",
        defaultPort: 8082
    )

    static let configurationHelp = """
          SENSORMINE_METADATA_DB_URL    postgresql:// URL of sensormine_metadata (required, secret)
          SENSORMINE_METADATA_DB_POOL_SIZE / _STATEMENT_TIMEOUT / _CONNECT_TIMEOUT (10 / 30s / 5s)
          SENSORMINE_REDIS_URL          redis://[:password@]host:port[/db] (required, secret)
          SENSORMINE_REDIS_POOL_SIZE    connections (default 16)
        """

    /// SchemaRegistry's tables, versioned; applied before the server starts and by `SchemaRegistry migrate`.
    static let migrations = MigrationRunner(scope: "SchemaRegistry", migrations: [])

    static func migrate(_ configuration: SchemaRegistryConfiguration, logger: Logger) async throws {
        try await MigrationCommand.run(migrations, database: configuration.metadataDatabase, logger: logger)
    }

    static func configuration(from reader: ConfigReader) throws -> SchemaRegistryConfiguration {
        try SchemaRegistryConfiguration(reader: reader)
    }

    static func buildApplication(_ configuration: SchemaRegistryConfiguration, observability: Observability) async throws -> ServiceApplication {
        var builder = ServiceApplicationBuilder(descriptor: descriptor, http: configuration.http, observability: observability)
        _ = builder.addPostgres(configuration.metadataDatabase, migrations: migrations)
        _ = builder.addRedis(configuration.redis)
        return builder.build()
    }
}
