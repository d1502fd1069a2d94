import Foundation
import LibPQ
import SensormineClients
import SensormineCore

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
    /// Kafka consumer group.
    var consumerGroup: String
    /// Messages per batch.
    var batchSize: Int
    /// Batches in work at once.
    var pipelineDepth: Int
    /// Whether a new consumer group starts at the newest message instead of the oldest.
    var startAtLatest: Bool
    /// Static group membership id (e.g. the pod name), if set.
    var instanceID: String?
    /// How long a device's schema is cached: a new schema version applies within this time.
    var schemaCacheLifetime: Duration
    /// Event times accepted, relative to each message's receive time.
    var eventTimes: EventTimeWindow
    /// librdkafka's `max.poll.interval.ms`: a member stuck longer than this on one batch (a
    /// database outage) leaves the group and rejoins once it polls again.
    var maximumPollInterval: Duration
    /// How long raw points and rollups are kept.
    var retention: RetentionPolicy

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
        self.consumerGroup = reader.optionalString("SENSORMINE_INGESTION_GROUP") ?? "ingestion"
        self.batchSize = try reader.int("SENSORMINE_INGESTION_BATCH", default: 2000, range: 1...20_000)
        self.pipelineDepth = try reader.int("SENSORMINE_INGESTION_DEPTH", default: 3, range: 1...16)
        let start = reader.optionalString("SENSORMINE_INGESTION_START") ?? "earliest"
        guard start == "earliest" || start == "latest" else {
            throw ConfigurationError(key: "SENSORMINE_INGESTION_START", problem: "must be earliest or latest, got '\(start.prefix(20))'")
        }
        self.startAtLatest = start == "latest"
        self.instanceID = reader.optionalString("SENSORMINE_INGESTION_INSTANCE_ID")
        self.schemaCacheLifetime = .seconds(try reader.int("SENSORMINE_INGESTION_SCHEMA_CACHE_SECONDS", default: 30, range: 1...3600))
        self.eventTimes = EventTimeWindow(
            past: try reader.duration("SENSORMINE_INGESTION_MAX_EVENT_AGE", default: EventTimeWindow.standard.past),
            future: try reader.duration("SENSORMINE_INGESTION_MAX_EVENT_LEAD", default: EventTimeWindow.standard.future))
        self.maximumPollInterval = try reader.duration("SENSORMINE_INGESTION_MAX_POLL_INTERVAL", default: .seconds(300))
        guard self.maximumPollInterval >= .seconds(7) else {
            throw ConfigurationError(key: "SENSORMINE_INGESTION_MAX_POLL_INTERVAL", problem: "must be at least 7s (longer than the 6s session timeout)")
        }
        let defaultDays = try reader.int("SENSORMINE_INGESTION_RETENTION_DAYS", default: 365, range: 1...36_500)
        self.retention = RetentionPolicy(
            defaultDays: defaultDays,
            rollupDays: try reader.int("SENSORMINE_INGESTION_ROLLUP_RETENTION_DAYS", default: 1825, range: 1...36_500),
            sharedMaximumDays: try reader.int("SENSORMINE_INGESTION_SHARED_MAX_RETENTION_DAYS", default: defaultDays, range: defaultDays...36_500),
            interval: try reader.duration("SENSORMINE_INGESTION_RETENTION_INTERVAL", default: .seconds(3600)))
    }
}
