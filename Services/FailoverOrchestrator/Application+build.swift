import Hummingbird
import LibPQ
import Logging
import SensormineClients
import SensormineCore

/// FailoverOrchestrator: how it is configured and built. Domain routes arrive with later issues; for now it
/// serves the standard operational endpoints and checks its real dependencies.
enum FailoverOrchestratorService: SensormineService {
    static let descriptor = ServiceDescriptor(
        name: "FailoverOrchestrator",
        summary: "Watches the PostgreSQL primary/replica and Redis, and promotes and re-points on failure.",
        defaultPort: 8089
    )

    static let configurationHelp = """
          SENSORMINE_METADATA_DB_URL    postgresql:// URL of sensormine_metadata (required, secret)
          SENSORMINE_METADATA_DB_POOL_SIZE / _STATEMENT_TIMEOUT / _CONNECT_TIMEOUT (10 / 30s / 5s)
          SENSORMINE_REDIS_URL          redis://[:password@]host:port[/db] (required, secret)
          SENSORMINE_REDIS_POOL_SIZE    connections (default 16)
        """

    /// FailoverOrchestrator's tables, versioned; applied before the server starts and by `FailoverOrchestrator migrate`.
    static let migrations = MigrationRunner(scope: "FailoverOrchestrator", migrations: [])

    static func migrate(_ configuration: FailoverOrchestratorConfiguration, logger: Logger) async throws {
        try await MigrationCommand.run(migrations, database: configuration.metadataDatabase, logger: logger)
    }

    static func configuration(from reader: ConfigReader) throws -> FailoverOrchestratorConfiguration {
        try FailoverOrchestratorConfiguration(reader: reader)
    }

    static func buildApplication(_ configuration: FailoverOrchestratorConfiguration, observability: Observability) async throws -> ServiceApplication {
        var builder = ServiceApplicationBuilder(descriptor: descriptor, http: configuration.http, observability: observability)
        _ = builder.addPostgres(configuration.metadataDatabase, migrations: migrations)
        _ = builder.addRedis(configuration.redis)
        return builder.build()
    }
}
