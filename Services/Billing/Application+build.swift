import Hummingbird
import LibPQ
import RdKafka
import SensormineClients
import SensormineCore

/// Billing: usage records from metering.events, stored once each, and usage per tenant against
/// the plan catalogue. Quotas, invoices and Stripe arrive with the rest of issue #17.
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
        """
        Identity:
          SENSORMINE_GATEWAY_TOKEN or _SHA256  the gateway's token, whose identity headers Billing trusts (required)

        Consumer:
          SENSORMINE_BILLING_GROUP         Kafka consumer group of metering.events (default billing)
          SENSORMINE_BILLING_BATCH         usage records per batch (default 5000)
          SENSORMINE_BILLING_START         where a new group starts: earliest (default) or latest
          SENSORMINE_BILLING_INSTANCE_ID   static group membership id, e.g. the pod name (optional)
          SENSORMINE_BILLING_MAX_POLL_INTERVAL  longest time on one batch before this member leaves the group (default 300s)
        """,
    ].joined(separator: "\n")

    /// Billing's tables, versioned; applied before the server starts and by `Billing migrate`.
    static let migrations = MigrationRunner(scope: "Billing", migrations: BillingMigrations.all)

    static func migrationDatabase(_ configuration: BillingConfiguration) -> PostgresClient.Configuration {
        configuration.metadataDatabase
    }

    /// The usage topic Billing consumes (its producers create it too).
    static func ownedTopics(_ configuration: BillingConfiguration) -> (settings: KafkaSettings, topics: [String])? {
        (configuration.kafka, [configuration.kafka.topics.meteringEvents])
    }

    static func buildApplication(_ configuration: BillingConfiguration, observability: Observability) async throws -> ServiceApplication {
        var builder = ServiceApplicationBuilder(descriptor: descriptor, http: configuration.http, observability: observability)
        let database = builder.addPostgres(configuration.metadataDatabase, migrations: migrations)
        _ = builder.addRedis(configuration.redis)
        _ = try builder.addKafkaProducer(configuration.kafka)
        builder.openAPIPaths = BillingOpenAPI.paths
        builder.openAPISchemas = BillingOpenAPI.schemas
        let usage = UsageStore(database: database)
        let consumer = try KafkaConsumer(configuration: configuration.consumer.consumerConfiguration(configuration.kafka, topics: [configuration.kafka.topics.meteringEvents]),
                                         logger: observability.logger)
        builder.services.append(UsageConsumer(consumer: consumer, store: usage, logger: observability.logger))
        let controller = BillingController(usage: usage, plans: PlanStore(database: database))
        return builder.build { router in
            controller.addRoutes(to: router.group("/api/v1/billing").add(middleware: TrustedIdentityMiddleware(callers: configuration.callers)))
        }
    }
}
