import Hummingbird
import LibPQ
import SensormineClients
import SensormineCore

/// Alerts: how it is configured and built. Domain routes arrive with later issues; for now it
/// serves the standard operational endpoints and checks its real dependencies.
enum AlertsService: MigratingService {
    static let descriptor = ServiceDescriptor(
        name: "Alerts",
        summary: "Alert rules, alert instances and notifications (webhook, e-mail) from alerts.triggered.",
        defaultPort: 8087
    )

    static let configurationHelp = [
        ConfigurationHelp.metadataDatabase,
        ConfigurationHelp.kafka,
    ].joined(separator: "\n")

    /// Alerts's tables, versioned; applied before the server starts and by `Alerts migrate`.
    static let migrations = MigrationRunner(scope: "Alerts", migrations: [])

    static func migrationDatabase(_ configuration: AlertsConfiguration) -> PostgresClient.Configuration {
        configuration.metadataDatabase
    }

    static func buildApplication(_ configuration: AlertsConfiguration, observability: Observability) async throws -> ServiceApplication {
        var builder = ServiceApplicationBuilder(descriptor: descriptor, http: configuration.http, observability: observability)
        _ = builder.addPostgres(configuration.metadataDatabase, migrations: migrations)
        _ = try builder.addKafkaProducer(configuration.kafka)
        return builder.build()
    }
}
