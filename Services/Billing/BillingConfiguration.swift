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

    init(reader: ConfigReader) throws {
        self.http = try HTTPSettings(reader: reader, defaultPort: BillingService.descriptor.defaultPort)
        self.logging = try LoggingSettings(reader: reader)
        self.metadataDatabase = try PostgresClient.Configuration(reader: reader, role: .metadata)
        self.redis = try RedisClient.Configuration(reader: reader)
        self.kafka = try KafkaSettings(reader: reader)
        self.consumer = try ConsumerGroupSettings(reader: reader, service: "BILLING", defaultGroup: "billing", defaultBatch: 5000)
        self.callers = try TrustedCallers(reader: reader)
    }
}
