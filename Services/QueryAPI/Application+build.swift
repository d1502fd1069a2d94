import Hummingbird
import LibPQ
import Logging
import SensormineClients
import SensormineCore

/// QueryAPI: how it is configured and built. Domain routes arrive with later issues; for now it
/// serves the standard operational endpoints and checks its real dependencies.
enum QueryAPIService: SensormineService {
    static let descriptor = ServiceDescriptor(
        name: "QueryAPI",
        summary: "Read side of the time series: latest values, aggregates and exports.",
        defaultPort: 8083
    )

    static let configurationHelp = """
          SENSORMINE_TIMESERIES_DB_URL  postgresql:// URL of sensormine_timeseries (required, secret)
          SENSORMINE_TIMESERIES_DB_POOL_SIZE / _STATEMENT_TIMEOUT / _CONNECT_TIMEOUT (10 / 30s / 5s)
        """

    /// QueryAPI's tables, versioned; applied before the server starts and by `QueryAPI migrate`.
    static let migrations = MigrationRunner(scope: "QueryAPI", migrations: [])

    static func migrate(_ configuration: QueryAPIConfiguration, logger: Logger) async throws {
        try await MigrationCommand.run(migrations, database: configuration.timeseriesDatabase, logger: logger)
    }

    static func configuration(from reader: ConfigReader) throws -> QueryAPIConfiguration {
        try QueryAPIConfiguration(reader: reader)
    }

    static func buildApplication(_ configuration: QueryAPIConfiguration, observability: Observability) async throws -> ServiceApplication {
        var builder = ServiceApplicationBuilder(descriptor: descriptor, http: configuration.http, observability: observability)
        _ = builder.addPostgres(configuration.timeseriesDatabase, migrations: migrations)
        return builder.build()
    }
}
