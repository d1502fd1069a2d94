import Hummingbird
import LibPQ
import Logging
import SensormineClients
import SensormineCore

/// Billing: how it is configured and built. Domain routes arrive with later issues; for now it
/// serves the standard operational endpoints and checks its real dependencies.
enum BillingService: SensormineService {
    static let descriptor = ServiceDescriptor(
        name: "Billing",
        summary: "Plans, subscriptions, usage metering, quotas and invoices from metering.events.",
        defaultPort: 8088
    )

    static let configurationHelp = """
          SENSORMINE_METADATA_DB_URL    postgresql:// URL of sensormine_metadata (required, secret)
          SENSORMINE_METADATA_DB_POOL_SIZE / _STATEMENT_TIMEOUT / _CONNECT_TIMEOUT (10 / 30s / 5s)
          SENSORMINE_KAFKA_BROKERS      host:port[,host:port] (required)
          SENSORMINE_KAFKA_TOPIC_PREFIX environment prefix of topic names (optional)
          SENSORMINE_REDIS_URL          redis://[:password@]host:port[/db] (required, secret)
          SENSORMINE_REDIS_POOL_SIZE    connections (default 16)
        """

    /// Billing's tables, versioned; applied before the server starts and by `Billing migrate`.
    static let migrations = MigrationRunner(scope: "Billing", migrations: [])

    static func migrate(_ configuration: BillingConfiguration, logger: Logger) async throws {
        try await MigrationCommand.run(migrations, database: configuration.metadataDatabase, logger: logger)
    }

    static func configuration(from reader: ConfigReader) throws -> BillingConfiguration {
        try BillingConfiguration(reader: reader)
    }

    static func buildApplication(_ configuration: BillingConfiguration, observability: Observability) async throws -> ServiceApplication {
        var builder = ServiceApplicationBuilder(descriptor: descriptor, http: configuration.http, observability: observability)
        _ = builder.addPostgres(configuration.metadataDatabase, migrations: migrations)
        _ = builder.addRedis(configuration.redis)
        _ = try builder.addKafkaProducer(configuration.kafka)
        return builder.build()
    }
}
