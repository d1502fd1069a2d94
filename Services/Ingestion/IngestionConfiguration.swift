import Foundation
import LibPQ
import SensormineClients
import SensormineCore
import TelemetryIntake

/// Ingestion's settings, read once at start-up; see `Ingestion --help` for every key.
struct IngestionConfiguration: ServiceConfiguration {
    /// Listener and shutdown settings.
    var http: HTTPSettings
    /// Log level and format.
    var logging: LoggingSettings
    /// The sensormine_timeseries database.
    var timeseriesDatabase: PostgresClient.Configuration
    /// Kafka brokers and topic names.
    var kafka: KafkaSettings
    /// The SchemaRegistry service.
    var schemaRegistry: UpstreamService
    /// DeviceAPI, for each device's type.
    var deviceAPI: UpstreamService
    /// The gateway's shared secret, presented to DeviceAPI and SchemaRegistry.
    var callers: TrustedCallers
    /// Ingestion's own token, presented to DeviceAPI and the SchemaRegistry.
    var serviceToken: String
    /// The `ingestion` consumer group of `device.telemetry`.
    var consumer: ConsumerGroupSettings
    /// Batches in work at once.
    var pipelineDepth: Int
    /// How long a device's schema is cached: a new schema version applies within this time.
    var schemaCacheLifetime: Duration
    /// Event times accepted, relative to each message's receive time.
    var eventTimes: EventTimeWindow
    /// How long raw points and rollups are kept.
    var retention: RetentionPolicy
    /// How often usage (points and bytes stored per tenant and minute) is published.
    var usageInterval: Duration
    /// How often pending partial rollups are folded into `telemetry_hourly`.
    var rollupFoldInterval: Duration
    /// How often the daily usage snapshot checks for a day that ended (nil: not taken).
    var snapshotInterval: Duration?

    init(reader: ConfigReader) throws {
        self.http = try HTTPSettings(reader: reader, defaultPort: IngestionService.descriptor.defaultPort)
        self.logging = try LoggingSettings(reader: reader)
        self.timeseriesDatabase = try PostgresClient.Configuration(reader: reader, role: .timeseries)
        // Ingestion writes and expires every tenant's rows; its dead-letter API scopes each
        // transaction to the caller's tenant (withTenant) on top of this.
        self.timeseriesDatabase.sessionSettings = PostgresClient.Configuration.allTenants
        self.kafka = try KafkaSettings(reader: reader)
        self.schemaRegistry = try UpstreamService(reader: reader, key: "SENSORMINE_SCHEMA_REGISTRY_URL", name: "schema-registry")
        self.deviceAPI = try UpstreamService(reader: reader, key: "SENSORMINE_DEVICE_API_URL", name: "device-api")
        self.callers = try TrustedCallers(reader: reader)
        self.serviceToken = try GatewaySettings.token(reader: reader, caller: .ingestion)
        self.consumer = try ConsumerGroupSettings(reader: reader, service: "INGESTION", defaultGroup: "ingestion", defaultBatch: 2000)
        self.pipelineDepth = try reader.int("SENSORMINE_INGESTION_DEPTH", default: 3, range: 1...16)
        self.schemaCacheLifetime = .seconds(try reader.int("SENSORMINE_INGESTION_SCHEMA_CACHE_SECONDS", default: 30, range: 1...3600))
        self.eventTimes = try EventTimeWindow(reader: reader)
        self.usageInterval = try reader.duration("SENSORMINE_INGESTION_USAGE_INTERVAL", default: .seconds(10))
        self.rollupFoldInterval = try reader.duration("SENSORMINE_INGESTION_ROLLUP_FOLD_INTERVAL", default: .seconds(1))
        self.snapshotInterval = try reader.durationOrOff("SENSORMINE_INGESTION_SNAPSHOT_INTERVAL", default: .seconds(600))
        let defaultDays = try reader.int("SENSORMINE_INGESTION_RETENTION_DAYS", default: 365, range: 1...36_500)
        self.retention = RetentionPolicy(
            defaultDays: defaultDays,
            rollupDays: try reader.int("SENSORMINE_INGESTION_ROLLUP_RETENTION_DAYS", default: 1825, range: 1...36_500),
            sharedMaximumDays: try reader.int("SENSORMINE_INGESTION_SHARED_MAX_RETENTION_DAYS", default: defaultDays, range: defaultDays...36_500),
            interval: try reader.duration("SENSORMINE_INGESTION_RETENTION_INTERVAL", default: .seconds(3600)))
    }
}
