import Hummingbird
import LibPQ
import Logging
import SensormineClients
import SensormineCore

/// Alerts: how it is configured and built. Domain routes arrive with later issues; for now it
/// serves the standard operational endpoints and checks its real dependencies.
enum AlertsService: SensormineService {
    static let descriptor = ServiceDescriptor(
        name: "Alerts",
        summary: "Alert rules, alert instances and notifications (webhook, e-mail) from alerts.triggered.",
        defaultPort: 8087
    )

    static let configurationHelp = """
          SENSORMINE_METADATA_DB_URL    postgresql:// URL of sensormine_metadata (required, secret)
          SENSORMINE_METADATA_DB_POOL_SIZE / _STATEMENT_TIMEOUT / _CONNECT_TIMEOUT (10 / 30s / 5s)
          SENSORMINE_KAFKA_BROKERS      host:port[,host:port] (required)
          SENSORMINE_KAFKA_TOPIC_PREFIX environment prefix of topic names (optional)
        """

    /// Alerts's tables, versioned; applied before the server starts and by `Alerts migrate`.
    static let migrations = MigrationRunner(scope: "Alerts", migrations: [])

    static func migrate(_ configuration: AlertsConfiguration, logger: Logger) async throws {
        try await MigrationCommand.run(migrations, database: configuration.metadataDatabase, logger: logger)
    }

    static func configuration(from reader: ConfigReader) throws -> AlertsConfiguration {
        try AlertsConfiguration(reader: reader)
    }

    static func buildApplication(_ configuration: AlertsConfiguration, observability: Observability) async throws -> ServiceApplication {
        var builder = ServiceApplicationBuilder(descriptor: descriptor, http: configuration.http, observability: observability)
        _ = builder.addPostgres(configuration.metadataDatabase, migrations: migrations)
        _ = try builder.addKafkaProducer(configuration.kafka)
        return builder.build()
    }
}
