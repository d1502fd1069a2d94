import Hummingbird
import LibPQ
import Logging
import SensormineClients
import SensormineCore

/// Alerts: alert rules (the source of truth StreamProcessing evaluates, published on
/// `alerts.rules`), behind the identity the ApiGateway asserts. Alert instances and
/// notifications arrive with the rest of issue #15.
enum AlertsService: MigratingService {
    static let descriptor = ServiceDescriptor(
        name: "Alerts",
        summary: "Alert rules, alert instances and notifications (webhook, e-mail) from alerts.triggered.",
        defaultPort: 8087
    )

    static let configurationHelp = [
        ConfigurationHelp.gatewayToken,
        ConfigurationHelp.metadataDatabase,
        ConfigurationHelp.kafka,
    ].joined(separator: "\n")

    /// Alerts's tables, versioned; applied before the server starts and by `Alerts migrate`.
    static let migrations = AlertsMigrations.runner

    static func migrationDatabase(_ configuration: AlertsConfiguration) -> PostgresClient.Configuration {
        configuration.metadataDatabase
    }

    /// Rules, compacted (Alerts writes them); alert events (StreamProcessing and other services
    /// write them, Alerts consumes them and creates the topic it depends on).
    static func ownedTopics(_ configuration: AlertsConfiguration) -> (settings: KafkaSettings, topics: [String])? {
        (configuration.kafka, [configuration.kafka.topics.alertRules, configuration.kafka.topics.alertsTriggered])
    }

    static func buildApplication(_ configuration: AlertsConfiguration, observability: Observability) async throws -> ServiceApplication {
        var builder = ServiceApplicationBuilder(descriptor: descriptor, http: configuration.http, observability: observability)
        let database = builder.addPostgres(configuration.metadataDatabase, migrations: migrations)
        let producer = try builder.addKafkaProducer(configuration.kafka)
        builder.openAPIPaths = AlertsOpenAPI.paths
        builder.openAPISchemas = AlertsOpenAPI.schemas
        let rules = RuleRepository(database: database, topics: configuration.kafka.topics)
        // After the migrations (added first) and before serving: every rule goes out again, since
        // the local broker keeps no topic across restarts and compacts nothing (ADR 19).
        let logger = observability.logger
        builder.beforeServerStarts.append {
            let count = try await rules.republishAll()
            logger.info("alert rules republished", metadata: ["rules": "\(count)"])
        }
        builder.services.append(OutboxRelay.kafka(database: database, producer: producer, table: RuleRepository.outboxTable, logger: observability.logger))
        let controller = RuleController(repository: rules)
        return builder.build { router in
            controller.addRoutes(to: router.group("/api/v1/alerts").add(middleware: TrustedIdentityMiddleware(callers: configuration.callers)))
        }
    }
}
