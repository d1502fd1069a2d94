import Foundation
import Hiredis
import LibPQ
import SensormineClients
import SensormineCore

/// Billing's settings, read once at start-up; see `Billing --help` for every key.
struct BillingConfiguration: ServiceConfiguration {
    /// Listener and shutdown settings.
    var http: HTTPSettings
    /// Log level and format.
    var logging: LoggingSettings
    /// The sensormine_metadata database.
    var metadataDatabase: PostgresClient.Configuration
    /// Redis.
    var redis: RedisClient.Configuration
    /// Kafka brokers and topic names.
    var kafka: KafkaSettings
    /// The `billing` consumer group of `metering.events`.
    var consumer: ConsumerGroupSettings
    /// The callers whose identity headers are trusted (the ApiGateway's token).
    var callers: TrustedCallers
    /// DeviceAPI, where each organisation's plan is set in its tenant settings.
    var deviceAPI: UpstreamService
    /// Billing's own token toward DeviceAPI.
    var serviceToken: String
    /// How often every organisation's quota state is computed again.
    var quotaInterval: Duration
    /// How often the previous month's invoices are looked for (nil: never, invoices only on request).
    var invoiceInterval: Duration?
    /// How long after a month's end its usage is taken as complete.
    var invoiceDelay: Duration
    /// Stripe's webhook signing secret (nil: webhooks refused as not configured).
    var stripeWebhookSecret: String?
    /// How old a webhook's signature may be.
    var stripeWebhookTolerance: Duration
    /// How long an organisation keeps its plan after a failed payment or a cancellation.
    var grace: Duration
    /// Stripe's API (nil: changes are not brought to Stripe).
    var stripe: StripeClient.Settings?
    /// Whether usage is also reported to Stripe as Billing Meter events.
    var stripeMeterEvents: Bool

    init(reader: ConfigReader) throws {
        self.http = try HTTPSettings(reader: reader, defaultPort: BillingService.descriptor.defaultPort)
        self.logging = try LoggingSettings(reader: reader)
        self.metadataDatabase = try PostgresClient.Configuration(reader: reader, role: .metadata)
        self.redis = try RedisClient.Configuration(reader: reader)
        self.kafka = try KafkaSettings(reader: reader)
        self.consumer = try ConsumerGroupSettings(reader: reader, service: "BILLING", defaultGroup: "billing", defaultBatch: 5000)
        self.callers = try TrustedCallers(reader: reader)
        self.deviceAPI = try UpstreamService(reader: reader, key: "SENSORMINE_DEVICE_API_URL", name: "device-api")
        self.serviceToken = try GatewaySettings.token(reader: reader, caller: .billing)
        self.quotaInterval = try reader.duration("SENSORMINE_BILLING_QUOTA_INTERVAL", default: .seconds(30))
        self.invoiceInterval = try reader.durationOrOff("SENSORMINE_BILLING_INVOICE_INTERVAL", default: .seconds(3600))
        self.invoiceDelay = try reader.duration("SENSORMINE_BILLING_INVOICE_DELAY", default: .seconds(3600))
        self.stripeWebhookSecret = reader.optionalString("SENSORMINE_BILLING_STRIPE_WEBHOOK_SECRET")
        self.stripeWebhookTolerance = try reader.duration("SENSORMINE_BILLING_STRIPE_WEBHOOK_TOLERANCE", default: .seconds(300))
        self.grace = try reader.duration("SENSORMINE_BILLING_GRACE", default: .seconds(7 * 86_400))
        if reader.optionalString("SENSORMINE_BILLING_STRIPE_URL") != nil {
            self.stripe = StripeClient.Settings(baseURL: try UpstreamService(reader: reader, key: "SENSORMINE_BILLING_STRIPE_URL", name: "stripe").baseURL,
                                                secretKey: try reader.secret("SENSORMINE_BILLING_STRIPE_SECRET_KEY"))
        }
        self.stripeMeterEvents = try reader.bool("SENSORMINE_BILLING_STRIPE_METER_EVENTS", default: false)
        if self.stripeMeterEvents, self.stripe == nil {
            throw ConfigurationError(key: "SENSORMINE_BILLING_STRIPE_METER_EVENTS", problem: "meter events need SENSORMINE_BILLING_STRIPE_URL and _SECRET_KEY")
        }
    }
}
