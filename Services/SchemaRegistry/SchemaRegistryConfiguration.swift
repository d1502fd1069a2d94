import Foundation
import Hiredis
import LibPQ
import SensormineClients
import SensormineCore

/// SchemaRegistry's settings, read once at start-up; see `SchemaRegistry --help` for every key.
struct SchemaRegistryConfiguration: ServiceConfiguration {
    /// Listener and shutdown settings.
    var http: HTTPSettings
    /// Log level and format.
    var logging: LoggingSettings
    /// The sensormine_metadata database.
    var metadataDatabase: PostgresClient.Configuration
    /// Redis.
    var redis: RedisClient.Configuration
    /// Kafka, for the database topology the FailoverOrchestrator announces.
    var kafka: KafkaSettings
    /// Shared secret proving a request came through the ApiGateway.
    var callers: TrustedCallers
    /// Compatibility mode of subjects created without one.
    var defaultCompatibility: CompatibilityMode
    /// Whether `format` asserts in every schema (otherwise only under the format-assertion vocabulary).
    var assertFormats: Bool
    /// The optional AI provider that refines inferred schemas.
    var aiProvider: AIProviderSettings?

    init(reader: ConfigReader) throws {
        self.http = try HTTPSettings(reader: reader, defaultPort: SchemaRegistryService.descriptor.defaultPort)
        self.logging = try LoggingSettings(reader: reader)
        self.metadataDatabase = try PostgresClient.Configuration(reader: reader, role: .metadata)
        self.redis = try RedisClient.Configuration(reader: reader)
        self.kafka = try KafkaSettings(reader: reader)
        self.callers = try TrustedCallers(reader: reader)
        let mode = try reader.string("SENSORMINE_SCHEMA_DEFAULT_COMPATIBILITY", default: "BACKWARD")
        guard let compatibility = CompatibilityMode(rawValue: mode.uppercased()) else {
            throw ConfigurationError(key: "SENSORMINE_SCHEMA_DEFAULT_COMPATIBILITY", problem: "must be one of \(CompatibilityMode.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self.defaultCompatibility = compatibility
        self.assertFormats = try reader.bool("SENSORMINE_SCHEMA_ASSERT_FORMATS", default: false)
        self.aiProvider = try AIProviderSettings.read(reader)
    }
}
