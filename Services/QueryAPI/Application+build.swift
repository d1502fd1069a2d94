import Hummingbird
import LibPQ
import RdKafka
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
        ConfigurationHelp.kafka,
        """
        Metering:
          SENSORMINE_QUERY_USAGE_INTERVAL  how often each tenant's bytes sent (data egress) go to metering.events
                                           (default 5s; off: not metered)
        """,
    ].joined(separator: "\n")

    /// QueryAPI's tables, versioned; applied before the server starts and by `QueryAPI migrate`.
    static let migrations = MigrationRunner(scope: "QueryAPI", migrations: [])

    static func migrationDatabase(_ configuration: QueryAPIConfiguration) -> PostgresClient.Configuration {
        configuration.timeseriesDatabase
    }

    static func buildApplication(_ configuration: QueryAPIConfiguration, observability: Observability) async throws -> ServiceApplication {
        var builder = ServiceApplicationBuilder(descriptor: descriptor, http: configuration.http, observability: observability)
        let database = builder.addPostgres(configuration.timeseriesDatabase, migrations: migrations)
        try builder.followDatabaseTopology(configuration.kafka, clients: [database])
        builder.openAPIPaths = QueryAPIOpenAPI.paths
        let telemetry = TelemetryController(queries: TelemetryQueries(database: database))
        var meter: UsageMeter?
        if let interval = configuration.usageInterval {
            // As at the gateway: a Kafka outage delays usage records, never queries.
            let producer = try KafkaProducer(configuration: configuration.kafka.kafka, logger: observability.logger)
            builder.services.append(producer)
            let usage = UsageMeter(producer: producer, topic: configuration.kafka.topics.meteringEvents, interval: interval, producerName: "query-api",
                                   logger: observability.logger)
            builder.services.append(usage)
            meter = usage
        }
        return builder.build { router in
            let group = router.group("/api/v1/telemetry").add(middleware: TrustedIdentityMiddleware(callers: configuration.callers))
            if let meter { group.add(middleware: EgressMeterMiddleware(meter: meter)) }
            telemetry.addRoutes(to: group)
        }
    }
}
