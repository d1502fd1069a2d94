import Hummingbird
import LibPQ
import RdKafka
import SensormineClients
import SensormineCore

/// Billing: usage records from metering.events, stored once each; usage per tenant against the
/// plan catalogue; organisations' subscriptions, and their quota states as the only writer of
/// them (Redis, billing.quotas, quota alerts). Invoices and Stripe arrive with the rest of #17.
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
          SENSORMINE_BILLING_TOKEN         Billing's own token toward DeviceAPI (required)
          SENSORMINE_DEVICE_API_URL        DeviceAPI, where organisations' plans are set (required)

        Quotas:
          SENSORMINE_BILLING_QUOTA_INTERVAL  how often every organisation's quota state is computed again (default 30s;
                                             the organisations in each stored batch of usage at once)

        Invoices:
          SENSORMINE_BILLING_INVOICE_INTERVAL  how often last month's invoices are looked for and finalised (default 1h; off)
          SENSORMINE_BILLING_INVOICE_DELAY     how long after a month's end its usage is taken as complete (default 1h)

        Stripe:
          SENSORMINE_BILLING_STRIPE_URL                Stripe's API, https://api.stripe.com (or a local fake); without it nothing is
                                                       brought to Stripe
          SENSORMINE_BILLING_STRIPE_SECRET_KEY         the account's secret key, sk_… (secret; required with the URL)
          SENSORMINE_BILLING_STRIPE_METER_EVENTS       also report usage as Billing Meter events, event name sensormine_<resource>
                                                       (default false; for accounts that bill usage in Stripe)
          SENSORMINE_BILLING_STRIPE_WEBHOOK_SECRET     the webhook endpoint's signing secret, whsec_… (secret; without it the
                                                       webhook route answers 404)
          SENSORMINE_BILLING_STRIPE_WEBHOOK_TOLERANCE  how old a signature may be (default 5m)
          SENSORMINE_BILLING_GRACE                     how long a plan holds after a failed payment or a cancellation before
                                                       Free's limits apply (default 7d)

        Consumer:
          SENSORMINE_BILLING_GROUP         Kafka consumer group of metering.events (default billing)
          SENSORMINE_BILLING_BATCH         usage records per batch (default 5000)
          SENSORMINE_BILLING_START         where a new group starts: earliest (default) or latest
          SENSORMINE_BILLING_INSTANCE_ID   static group membership id, e.g. the pod name (optional)
          SENSORMINE_BILLING_MAX_POLL_INTERVAL  longest time on one batch before this member leaves the group (default 300s)
          SENSORMINE_BILLING_BATCH_KIB   payload KiB per batch at most, whatever the message count (default 4096)
          SENSORMINE_BILLING_PREFETCH_KIB  KiB of fetched messages queued ahead of the batches (librdkafka's queued.max.messages.kbytes; default 4096)
        """,
    ].joined(separator: "\n")

    /// Billing's tables, versioned; applied before the server starts and by `Billing migrate`.
    static let migrations = MigrationRunner(scope: "Billing", migrations: BillingMigrations.all)

    static func migrationDatabase(_ configuration: BillingConfiguration) -> PostgresClient.Configuration {
        configuration.metadataDatabase
    }

    /// The usage topic Billing consumes (its producers create it too) and the quota states it writes.
    static func ownedTopics(_ configuration: BillingConfiguration) -> (settings: KafkaSettings, topics: [String])? {
        (configuration.kafka, [configuration.kafka.topics.meteringEvents, configuration.kafka.topics.billingQuotas])
    }

    static func buildApplication(_ configuration: BillingConfiguration, observability: Observability) async throws -> ServiceApplication {
        var builder = ServiceApplicationBuilder(descriptor: descriptor, http: configuration.http, observability: observability)
        let database = builder.addPostgres(configuration.metadataDatabase, migrations: migrations)
        let redis = builder.addRedis(configuration.redis)
        let producer = try builder.addKafkaProducer(configuration.kafka)
        try builder.followDatabaseTopology(configuration.kafka, clients: [database])
        // DeviceAPI is not a readiness check: plans reach it through the outbox, retried while it is away.
        let client = builder.addHTTPClient()
        builder.openAPIPaths = BillingOpenAPI.paths
        builder.openAPISchemas = BillingOpenAPI.schemas
        let logger = observability.logger
        let usage = UsageStore(database: database, meterEvents: configuration.stripeMeterEvents)
        let plans = PlanStore(database: database)
        let subscriptions = SubscriptionStore(database: database, stripe: configuration.stripe != nil)
        let stripeEvents = StripeEventStore(database: database, topics: configuration.kafka.topics, grace: configuration.grace)
        let keeper = QuotaKeeper(subscriptions: subscriptions, quotas: QuotaStore(database: database, topics: configuration.kafka.topics), plans: plans,
                                 stripeEvents: stripeEvents, redis: redis, interval: configuration.quotaInterval, logger: logger)
        builder.services.append(keeper)
        builder.services.append(OutboxRelay.kafka(database: database, producer: producer, table: QuotaStore.outbox, logger: logger))
        builder.services.append(TenantPlanSync.relay(database: database, client: client, deviceAPI: configuration.deviceAPI, token: configuration.serviceToken,
                                                     logger: logger))
        let consumer = try KafkaConsumer(configuration: configuration.consumer.consumerConfiguration(configuration.kafka, topics: [configuration.kafka.topics.meteringEvents]),
                                         logger: logger)
        builder.services.append(UsageConsumer(consumer: consumer, store: usage, quotas: keeper, logger: logger))
        let invoices = InvoiceStore(database: database, plans: plans, stripe: configuration.stripe != nil)
        if let stripe = configuration.stripe {
            let sync = StripeSync(database: database, stripe: StripeClient(client: client, settings: stripe), plans: plans, logger: logger)
            builder.services.append(sync.relay())
            if configuration.stripeMeterEvents { builder.services.append(sync.meterRelay()) }
        }
        if let interval = configuration.invoiceInterval {
            builder.services.append(InvoiceRunner(invoices: invoices, interval: interval, delay: configuration.invoiceDelay, logger: logger))
        }
        let controller = BillingController(usage: usage, plans: plans, subscriptions: subscriptions, quotas: keeper)
        let invoiceController = InvoiceController(invoices: invoices, subscriptions: subscriptions)
        let webhooks = StripeWebhookController(events: stripeEvents, quotas: keeper, secret: configuration.stripeWebhookSecret,
                                               tolerance: Double(configuration.stripeWebhookTolerance.components.seconds))
        return builder.build { router in
            // Stripe's webhooks come through the gateway without a user: the signature is their proof.
            webhooks.addRoutes(to: router.group("/api/v1/billing/stripe").add(middleware: TrustedIdentityMiddleware(callers: configuration.callers, identityRequired: false)))
            let group = router.group("/api/v1/billing").add(middleware: TrustedIdentityMiddleware(callers: configuration.callers))
            controller.addRoutes(to: group)
            invoiceController.addRoutes(to: group)
        }
    }
}
