import ClientRuntime
import Foundation
import Hummingbird
import LibPQ
import RdKafka
import SensormineClients
import SensormineCore
import TelemetryIntake

/// Ingestion: `device.telemetry` → validation → TimescaleDB, rejects to the dead-letter topic.
enum IngestionService: MigratingService {
    static let descriptor = ServiceDescriptor(
        name: "Ingestion",
        summary: "Consumes device.telemetry, validates against the SchemaRegistry and stores time series; rejects go to the dead-letter topic.",
        defaultPort: 8084
    )

    static let configurationHelp = [
        ConfigurationHelp.timeseriesDatabase,
        ConfigurationHelp.kafka,
        ConfigurationHelp.upstream("SENSORMINE_SCHEMA_REGISTRY_URL", name: "schema-registry"),
        ConfigurationHelp.upstream("SENSORMINE_DEVICE_API_URL", name: "device-api"),
        ConfigurationHelp.gatewayToken,
        """
        Consumer:
          SENSORMINE_INGESTION_GROUP       Kafka consumer group (default ingestion)
          SENSORMINE_INGESTION_BATCH       messages per batch (default 2000)
          SENSORMINE_INGESTION_DEPTH       batches in work at once while reading a backlog (one at a time when keeping up); offsets still commit in order (default 3)
          SENSORMINE_INGESTION_SCHEMA_CACHE_SECONDS  how long a device's schema is cached (default 30)
          SENSORMINE_INGESTION_START       where a new group starts: earliest (default) or latest
          SENSORMINE_INGESTION_INSTANCE_ID static group membership id, e.g. the pod name (optional)
          SENSORMINE_INGESTION_MAX_POLL_INTERVAL  longest time on one batch before this member leaves the group; it rejoins on its next poll (default 300s)
          SENSORMINE_INGESTION_BATCH_KIB   payload KiB per batch at most, whatever the message count (default 4096)
          SENSORMINE_INGESTION_PREFETCH_KIB  KiB of fetched messages queued ahead of the batches (librdkafka's queued.max.messages.kbytes; default 4096)
          SENSORMINE_INGESTION_MAX_EVENT_AGE   how far before its receive time a point's event time may be (default 3650d)
          SENSORMINE_INGESTION_MAX_EVENT_LEAD  how far after its receive time a point's event time may be (default 1d)
          SENSORMINE_INGESTION_USAGE_INTERVAL  how often each ended minute's stored points and bytes go to metering.events (default 10s)
          SENSORMINE_INGESTION_ROLLUP_FOLD_INTERVAL  how often the partial hourly rollups each batch appends are folded into one row per device, metric and hour; reads see both (default 1s)
          SENSORMINE_INGESTION_SNAPSHOT_INTERVAL  how often to look for an ended UTC day whose snapshot (active devices, storage per tenant) is due; off to leave it to another deployment (default 10m)

        Retention (raw points per tenant plan, hourly rollups kept longer):
          SENSORMINE_INGESTION_RETENTION_DAYS         raw days for a tenant whose settings set no retentionDays (default 365)
          SENSORMINE_INGESTION_ROLLUP_RETENTION_DAYS  days of hourly rollups, at least the longest raw retention (default 1825)
          SENSORMINE_INGESTION_SHARED_MAX_RETENTION_DAYS  a tenant keeping raw points longer gets a table of its own (default: the default retention)
          SENSORMINE_INGESTION_RETENTION_INTERVAL     time between retention passes (default 1h)
        """,
    ].joined(separator: "\n")

    /// Ingestion's tables, versioned; applied before the server starts and by `Ingestion migrate`.
    static let migrations = MigrationRunner(scope: "Ingestion", migrations: IngestionMigrations.all)

    static func migrationDatabase(_ configuration: IngestionConfiguration) -> PostgresClient.Configuration {
        configuration.timeseriesDatabase
    }

    /// Raw telemetry (EdgeGateway, which has no `migrate`, produces it), dead letters and usage.
    static func ownedTopics(_ configuration: IngestionConfiguration) -> (settings: KafkaSettings, topics: [String])? {
        (configuration.kafka, [configuration.kafka.topics.telemetry, configuration.kafka.topics.telemetryDeadLetter, configuration.kafka.topics.meteringEvents])
    }

    static func buildApplication(_ configuration: IngestionConfiguration, observability: Observability) async throws -> ServiceApplication {
        var builder = ServiceApplicationBuilder(descriptor: descriptor, http: configuration.http, observability: observability)
        let database = builder.addPostgres(configuration.timeseriesDatabase, migrations: migrations)
        let telemetry = TelemetryStore(database: database)
        let producer = try builder.addKafkaProducer(configuration.kafka)
        try builder.followDatabaseTopology(configuration.kafka, clients: [database])
        let client = builder.addHTTPClient(upstreams: [configuration.schemaRegistry, configuration.deviceAPI])
        let consumer = try KafkaConsumer(configuration: configuration.consumer.consumerConfiguration(configuration.kafka, topics: [configuration.kafka.topics.telemetry]),
                                         logger: observability.logger)
        let directory = SchemaDirectory(reader: ServiceReader(client: client, serviceToken: configuration.serviceToken, subject: "service:ingestion"),
                                        deviceAPI: configuration.deviceAPI, schemaRegistry: configuration.schemaRegistry, lifetime: configuration.schemaCacheLifetime)
        builder.services.append(IngestionPipeline(
            consumer: consumer, producer: producer, store: telemetry,
            admission: TelemetryAdmission(directory: directory, eventTimes: configuration.eventTimes), deadLetterTopic: configuration.kafka.topics.telemetryDeadLetter,
            depth: configuration.pipelineDepth, sharedMaximumDays: configuration.retention.sharedMaximumDays, logger: observability.logger
        ))
        builder.services.append(RollupFolder(store: telemetry, interval: configuration.rollupFoldInterval, logger: observability.logger))
        builder.services.append(UsagePublisher(store: UsageStore(database: database), producer: producer, topic: configuration.kafka.topics.meteringEvents,
                                               interval: configuration.usageInterval, logger: observability.logger))
        if let interval = configuration.snapshotInterval {
            builder.services.append(UsageSnapshotter(store: SnapshotStore(database: database), producer: producer, topic: configuration.kafka.topics.meteringEvents,
                                                     interval: interval, logger: observability.logger))
        }
        builder.services.append(RetentionWorker(
            store: RetentionStore(database: database), policy: configuration.retention,
            tenantRetention: { try await directory.storageSettings(tenant: $0.uuidString.lowercased()).retentionDays }, logger: observability.logger
        ))
        builder.openAPIPaths = IngestionOpenAPI.paths
        builder.openAPISchemas = IngestionOpenAPI.schemas
        let deadLetters = DeadLetterController(repository: DeadLetterRepository(database: database), producer: producer,
                                               telemetryTopic: configuration.kafka.topics.telemetry)
        return builder.build { router in
            deadLetters.addRoutes(to: router.group("/api/v1/deadletters").add(middleware: TrustedIdentityMiddleware(callers: configuration.callers)))
        }
    }
}
