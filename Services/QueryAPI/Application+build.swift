import Hummingbird
import LibPQ
import SensormineClients
import SensormineCore

/// QueryAPI: how it is configured and built. Domain routes arrive with later issues; for now it
/// serves the standard operational endpoints and checks its real dependencies.
enum QueryAPIService: MigratingService {
    static let descriptor = ServiceDescriptor(
        name: "QueryAPI",
        summary: "Read side of the time series: latest values, aggregates and exports.",
        defaultPort: 8083
    )

    static let configurationHelp = [
        ConfigurationHelp.timeseriesDatabase,
    ].joined(separator: "\n")

    /// QueryAPI's tables, versioned; applied before the server starts and by `QueryAPI migrate`.
    static let migrations = MigrationRunner(scope: "QueryAPI", migrations: [])

    static func migrationDatabase(_ configuration: QueryAPIConfiguration) -> PostgresClient.Configuration {
        configuration.timeseriesDatabase
    }

    static func buildApplication(_ configuration: QueryAPIConfiguration, observability: Observability) async throws -> ServiceApplication {
        var builder = ServiceApplicationBuilder(descriptor: descriptor, http: configuration.http, observability: observability)
        _ = builder.addPostgres(configuration.timeseriesDatabase, migrations: migrations)
        return builder.build()
    }
}
