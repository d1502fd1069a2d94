import Hummingbird
import LibPQ
import SensormineClients
import SensormineCore

/// SchemaRegistry: how it is configured and built. Domain routes arrive with later issues; for now it
/// serves the standard operational endpoints and checks its real dependencies.
enum SchemaRegistryService: MigratingService {
    static let descriptor = ServiceDescriptor(
        name: "SchemaRegistry",
        summary: "Telemetry schemas: subjects, versions, compatibility and validation.",
        defaultPort: 8082
    )

    static let configurationHelp = [
        ConfigurationHelp.metadataDatabase,
        ConfigurationHelp.redis,
    ].joined(separator: "\n")

    /// SchemaRegistry's tables, versioned; applied before the server starts and by `SchemaRegistry migrate`.
    static let migrations = MigrationRunner(scope: "SchemaRegistry", migrations: [])

    static func migrationDatabase(_ configuration: SchemaRegistryConfiguration) -> PostgresClient.Configuration {
        configuration.metadataDatabase
    }

    static func buildApplication(_ configuration: SchemaRegistryConfiguration, observability: Observability) async throws -> ServiceApplication {
        var builder = ServiceApplicationBuilder(descriptor: descriptor, http: configuration.http, observability: observability)
        _ = builder.addPostgres(configuration.metadataDatabase, migrations: migrations)
        _ = builder.addRedis(configuration.redis)
        return builder.build()
    }
}
