import Hummingbird
import LibPQ
import SensormineClients
import SensormineCore

/// QueryAPI: the read side of the time series (raw points, latest values, aggregates).
enum QueryAPIService: MigratingService {
    static let descriptor = ServiceDescriptor(
        name: "QueryAPI",
        summary: "Read side of the time series: latest values, aggregates and exports.",
        defaultPort: 8083
    )

    static let configurationHelp = [
        ConfigurationHelp.timeseriesDatabase,
        ConfigurationHelp.gatewayToken,
    ].joined(separator: "\n")

    /// QueryAPI's tables, versioned; applied before the server starts and by `QueryAPI migrate`.
    static let migrations = MigrationRunner(scope: "QueryAPI", migrations: [])

    static func migrationDatabase(_ configuration: QueryAPIConfiguration) -> PostgresClient.Configuration {
        configuration.timeseriesDatabase
    }

    static func buildApplication(_ configuration: QueryAPIConfiguration, observability: Observability) async throws -> ServiceApplication {
        var builder = ServiceApplicationBuilder(descriptor: descriptor, http: configuration.http, observability: observability)
        let database = builder.addPostgres(configuration.timeseriesDatabase, migrations: migrations)
        builder.openAPIPaths = QueryAPIOpenAPI.paths
        let telemetry = TelemetryController(queries: TelemetryQueries(database: database))
        return builder.build { router in
            telemetry.addRoutes(to: router.group("/api/v1/telemetry").add(middleware: TrustedIdentityMiddleware(callers: configuration.callers)))
        }
    }
}
