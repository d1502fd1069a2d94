import Hummingbird
import LibPQ
import SensormineClients
import SensormineCore

/// Billing: how it is configured and built. Domain routes arrive with later issues; for now it
/// serves the standard operational endpoints and checks its real dependencies.
enum BillingService: MigratingService {
    static let descriptor = ServiceDescriptor(
        name: "Billing",
        summary: "Plans, subscriptions, usage metering, quotas and invoices from metering.events.",
        defaultPort: 8088
    )

    static let configurationHelp = [
        ConfigurationHelp.metadataDatabase,
        ConfigurationHelp.kafka,
        ConfigurationHelp.redis,
    ].joined(separator: "\n")

    /// Billing's tables, versioned; applied before the server starts and by `Billing migrate`.
    static let migrations = MigrationRunner(scope: "Billing", migrations: [])

    static func migrationDatabase(_ configuration: BillingConfiguration) -> PostgresClient.Configuration {
        configuration.metadataDatabase
    }

    static func buildApplication(_ configuration: BillingConfiguration, observability: Observability) async throws -> ServiceApplication {
        var builder = ServiceApplicationBuilder(descriptor: descriptor, http: configuration.http, observability: observability)
        _ = builder.addPostgres(configuration.metadataDatabase, migrations: migrations)
        _ = builder.addRedis(configuration.redis)
        _ = try builder.addKafkaProducer(configuration.kafka)
        return builder.build()
    }
}
