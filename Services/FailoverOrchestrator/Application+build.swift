import Hummingbird
import LibPQ
import SensormineClients
import SensormineCore

/// FailoverOrchestrator: how it is configured and built. Domain routes arrive with later issues; for now it
/// serves the standard operational endpoints and checks its real dependencies.
enum FailoverOrchestratorService: MigratingService {
    static let descriptor = ServiceDescriptor(
        name: "FailoverOrchestrator",
        summary: "Watches the PostgreSQL primary/replica and Redis, and promotes and re-points on failure.",
        defaultPort: 8089
    )

    static let configurationHelp = [
        ConfigurationHelp.metadataDatabase,
        ConfigurationHelp.redis,
    ].joined(separator: "\n")

    /// FailoverOrchestrator's tables, versioned; applied before the server starts and by `FailoverOrchestrator migrate`.
    static let migrations = MigrationRunner(scope: "FailoverOrchestrator", migrations: [])

    static func migrationDatabase(_ configuration: FailoverOrchestratorConfiguration) -> PostgresClient.Configuration {
        configuration.metadataDatabase
    }

    static func buildApplication(_ configuration: FailoverOrchestratorConfiguration, observability: Observability) async throws -> ServiceApplication {
        var builder = ServiceApplicationBuilder(descriptor: descriptor, http: configuration.http, observability: observability)
        _ = builder.addPostgres(configuration.metadataDatabase, migrations: migrations)
        _ = builder.addRedis(configuration.redis)
        return builder.build()
    }
}
