import Foundation
import Hiredis
import LibPQ
import Mosquitto
import SensormineAuth
import SensormineClients
import SensormineCore

/// DeviceAPI's settings, read once at start-up; see `DeviceAPI --help` for every key.
struct DeviceAPIConfiguration: ServiceConfiguration {
    /// Listener and shutdown settings.
    var http: HTTPSettings
    /// Log level and format.
    var logging: LoggingSettings
    /// Shared secret proving a request came through the ApiGateway.
    var callers: TrustedCallers
    /// Access-token signing.
    var tokens: TokenSettings
    /// How long a refresh token lives.
    var refreshTokenLifetime: Duration
    /// The first platform-admin's e-mail.
    var bootstrapAdminEmail: String
    /// Its password; generated and logged once when nil.
    var bootstrapAdminPassword: String?
    /// Where a generated bootstrap password is written (mode 0600), instead of the terminal.
    var bootstrapAdminPasswordFile: String?
    /// The sensormine_metadata database.
    var metadataDatabase: PostgresClient.Configuration
    /// Kafka brokers and topic names.
    var kafka: KafkaSettings
    /// The MQTT broker's dynamic-security admin, for device accounts.
    var brokerAdmin: MQTTClient.Configuration
    /// Redis, where the gateway's API-key index lives.
    var redis: RedisClient.Configuration

    /// How long a device may stay silent before it counts as offline.
    var offlineAfter: Duration

    init(reader: ConfigReader) throws {
        self.http = try HTTPSettings(reader: reader, defaultPort: DeviceAPIService.descriptor.defaultPort)
        self.logging = try LoggingSettings(reader: reader)
        self.callers = try TrustedCallers(reader: reader)
        self.tokens = try TokenSettings(reader: reader)
        self.refreshTokenLifetime = try reader.duration("SENSORMINE_REFRESH_TOKEN_TTL", default: .seconds(30 * 24 * 3600))
        self.bootstrapAdminEmail = try reader.string("SENSORMINE_BOOTSTRAP_ADMIN_EMAIL", default: "admin@sensormine.local")
        self.bootstrapAdminPassword = reader.optionalString("SENSORMINE_BOOTSTRAP_ADMIN_PASSWORD")
        self.bootstrapAdminPasswordFile = reader.optionalString("SENSORMINE_BOOTSTRAP_ADMIN_PASSWORD_FILE")
        self.metadataDatabase = try PostgresClient.Configuration(reader: reader, role: .metadata)
        self.offlineAfter = try reader.duration("SENSORMINE_DEVICE_OFFLINE_AFTER", default: .seconds(300))
        self.kafka = try KafkaSettings(reader: reader)
        self.redis = try RedisClient.Configuration(reader: reader)
        self.brokerAdmin = try MQTTClient.Configuration(reader: reader, clientID: "deviceapi-\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString.prefix(8).lowercased())", account: "ADMIN")
    }
}
