import ClientRuntime
import Foundation
import LibPQ
import SensormineClients
import SensormineCore

/// Alerts's settings, read once at start-up; see `Alerts --help` for every key.
struct AlertsConfiguration: ServiceConfiguration {
    /// Listener and shutdown settings.
    var http: HTTPSettings
    /// Log level and format.
    var logging: LoggingSettings
    /// The sensormine_metadata database.
    var metadataDatabase: PostgresClient.Configuration
    /// Kafka brokers and topic names.
    var kafka: KafkaSettings
    /// The callers whose identity headers are trusted (the ApiGateway's token).
    var callers: TrustedCallers
    /// The `alerts` consumer group of `alerts.triggered`.
    var consumer: ConsumerGroupSettings
    /// When an alert that keeps toggling is held firing as flapping.
    var flapPolicy: FlapPolicy
    /// How the notification queue is worked (retries, maximum age).
    var dispatch: NotificationDispatcher.Settings
    /// Per-attempt deadline of a delivery.
    var deliveryTimeout: Duration
    /// Networks webhooks may reach although they are loopback, link-local or private.
    var webhookAllowedNetworks: [IPNetwork]
    /// The SMTP server e-mail channels send through, if any.
    var smtp: SMTPSettings?
    /// The SMS provider, if any.
    var sms: SMSSettings?

    init(reader: ConfigReader) throws {
        self.http = try HTTPSettings(reader: reader, defaultPort: AlertsService.descriptor.defaultPort)
        self.logging = try LoggingSettings(reader: reader)
        self.metadataDatabase = try PostgresClient.Configuration(reader: reader, role: .metadata)
        self.kafka = try KafkaSettings(reader: reader)
        self.callers = try TrustedCallers(reader: reader)
        self.consumer = try ConsumerGroupSettings(reader: reader, service: "ALERTS", defaultGroup: "alerts", defaultBatch: 500, maximumBatch: 5_000)
        self.flapPolicy = FlapPolicy(
            maximumOpenings: try reader.int("SENSORMINE_ALERTS_FLAP_MAX_OPENINGS", default: FlapPolicy.standard.maximumOpenings, range: 1...1_000),
            window: try reader.duration("SENSORMINE_ALERTS_FLAP_WINDOW", default: FlapPolicy.standard.window))
        var dispatch = NotificationDispatcher.Settings()
        dispatch.interval = try reader.duration("SENSORMINE_ALERTS_DISPATCH_INTERVAL", default: dispatch.interval)
        dispatch.retry = Backoff(base: try reader.duration("SENSORMINE_ALERTS_RETRY_BASE", default: dispatch.retry.base),
                                 maximum: try reader.duration("SENSORMINE_ALERTS_RETRY_MAX", default: dispatch.retry.maximum))
        dispatch.maximumAge = try reader.duration("SENSORMINE_ALERTS_NOTIFICATION_MAX_AGE", default: dispatch.maximumAge)
        self.dispatch = dispatch
        self.deliveryTimeout = try reader.duration("SENSORMINE_ALERTS_DELIVERY_TIMEOUT", default: .seconds(10))
        self.webhookAllowedNetworks = try reader.list("SENSORMINE_ALERTS_WEBHOOK_ALLOWED_NETWORKS", default: []).map { text in
            guard let network = IPNetwork(text) else {
                throw ConfigurationError(key: "SENSORMINE_ALERTS_WEBHOOK_ALLOWED_NETWORKS", problem: "expected CIDR networks such as 127.0.0.1/32, got '\(text.prefix(60))'")
            }
            return network
        }
        if reader.optionalString("SENSORMINE_ALERTS_SMTP_URL") != nil {
            self.smtp = SMTPSettings(
                url: try reader.url("SENSORMINE_ALERTS_SMTP_URL", schemes: ["smtp", "smtps"]),
                from: try reader.string("SENSORMINE_ALERTS_SMTP_FROM", default: "alerts@sensormine.local"),
                username: reader.optionalString("SENSORMINE_ALERTS_SMTP_USERNAME"), password: reader.optionalString("SENSORMINE_ALERTS_SMTP_PASSWORD"),
                requireTLS: try reader.bool("SENSORMINE_ALERTS_SMTP_REQUIRE_TLS", default: false))
        }
        if reader.optionalString("SENSORMINE_ALERTS_SMS_BASE_URL") != nil {
            self.sms = SMSSettings(
                baseURL: try reader.url("SENSORMINE_ALERTS_SMS_BASE_URL", schemes: ["http", "https"]),
                accountSID: try reader.string("SENSORMINE_ALERTS_SMS_ACCOUNT_SID"), authToken: try reader.secret("SENSORMINE_ALERTS_SMS_AUTH_TOKEN"),
                from: try reader.string("SENSORMINE_ALERTS_SMS_FROM"))
        }
    }
}
