import ClientRuntime
import Curl
import Hummingbird
import LibPQ
import Logging
import RdKafka
import SensormineClients
import SensormineCore

/// Alerts: alert rules (the source of truth StreamProcessing evaluates, published on
/// `alerts.rules`), and the alerts raised on `alerts.triggered` (one open instance per key,
/// acknowledged and resolved by API, kept as history), behind the identity the ApiGateway
/// asserts. Notifications arrive with the rest of issue #15.
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
        """
        Alert events (alerts.triggered):
          SENSORMINE_ALERTS_GROUP          Kafka consumer group (default alerts)
          SENSORMINE_ALERTS_BATCH          events per batch, applied in one transaction (default 500)
          SENSORMINE_ALERTS_START          where a new group starts: earliest (default) or latest
          SENSORMINE_ALERTS_INSTANCE_ID    static group membership id, e.g. the pod name (optional)
          SENSORMINE_ALERTS_MAX_POLL_INTERVAL  longest time on one batch before this member leaves the group (default 300s)
          SENSORMINE_ALERTS_BATCH_KIB   payload KiB per batch at most, whatever the message count (default 4096)
          SENSORMINE_ALERTS_PREFETCH_KIB  KiB of fetched messages queued ahead of the batches (librdkafka's queued.max.messages.kbytes; default 4096)
          SENSORMINE_ALERTS_FLAP_MAX_OPENINGS  openings of one alert within the window beyond which it is held firing as flapping (default 5)
          SENSORMINE_ALERTS_FLAP_WINDOW    the flapping window (default 600s)
        Notifications:
          SENSORMINE_ALERTS_DISPATCH_INTERVAL  how often an idle queue is looked at (default 500ms)
          SENSORMINE_ALERTS_RETRY_BASE     first retry delay of a failed delivery, doubling with jitter (default 2s)
          SENSORMINE_ALERTS_RETRY_MAX      longest retry delay (default 300s)
          SENSORMINE_ALERTS_NOTIFICATION_MAX_AGE  a notice not delivered by then is recorded as failed (default 3600s)
          SENSORMINE_ALERTS_DELIVERY_TIMEOUT  per-attempt deadline (default 10s)
          SENSORMINE_ALERTS_WEBHOOK_ALLOWED_NETWORKS  CIDRs webhooks may reach although loopback/link-local/private (default none)
          SENSORMINE_ALERTS_SMTP_URL       smtp://host:port (STARTTLS when offered) or smtps://; unset: e-mail channels fail
          SENSORMINE_ALERTS_SMTP_FROM      sender address (default alerts@sensormine.local)
          SENSORMINE_ALERTS_SMTP_USERNAME / _PASSWORD  SMTP login (optional, secret)
          SENSORMINE_ALERTS_SMTP_REQUIRE_TLS  refuse to send without STARTTLS (default false)
          SENSORMINE_ALERTS_SMS_BASE_URL   base of a Twilio-style Messages API; unset: SMS channels fail
          SENSORMINE_ALERTS_SMS_ACCOUNT_SID / _AUTH_TOKEN (secret) / _FROM  the provider account and sender number
        """,
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
        try builder.followDatabaseTopology(configuration.kafka, clients: [database])
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
        let alerts = AlertRepository(database: database, flapPolicy: configuration.flapPolicy)
        let consumer = try KafkaConsumer(configuration: configuration.consumer.consumerConfiguration(configuration.kafka, topics: [configuration.kafka.topics.alertsTriggered]),
                                         logger: observability.logger)
        let nudge = DispatchNudge()
        builder.services.append(AlertEventConsumer(consumer: consumer, repository: alerts, nudge: nudge, logger: observability.logger))

        // Notifications: webhooks and the SMS provider over one HTTP client (no retries of its own:
        // the queue retries with its backoff and logs each attempt), SMTP on a blocking thread.
        let http = builder.addHTTPClient(configuration: .init(timeout: configuration.deliveryTimeout, maximumRetries: 0, maximumConcurrentRequests: 32,
                                                              name: "alerts-notifications"))
        let blocking = BlockingExecutor(threads: 4)
        builder.services.append(ClosingService("notification-executor") { await blocking.shutdown() })
        let queue = NotificationQueue(database: database)
        let senders = NotificationSenders(http: http, addressGuard: AddressGuard(allowed: configuration.webhookAllowedNetworks), smtp: configuration.smtp,
                                          sms: configuration.sms, timeout: configuration.deliveryTimeout, blocking: blocking)
        builder.services.append(NotificationDispatcher(queue: queue, senders: senders, settings: configuration.dispatch, nudge: nudge,
                                                       logger: observability.logger))

        let ruleController = RuleController(repository: rules)
        let alertController = AlertController(repository: alerts, queue: queue)
        let settingsController = NotificationSettingsController(channels: ChannelStore(database: database), policies: PolicyStore(database: database),
                                                                silences: SilenceStore(database: database))
        return builder.build { router in
            let group = router.group("/api/v1/alerts").add(middleware: TrustedIdentityMiddleware(callers: configuration.callers))
            ruleController.addRoutes(to: group)
            alertController.addRoutes(to: group)
            settingsController.addRoutes(to: group)
        }
    }
}
