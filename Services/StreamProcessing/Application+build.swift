import Foundation
import Hummingbird
import LibPQ
import Logging
import ONNXRuntime
import RdKafka
import SensormineClients
import SensormineCore
import TelemetryIntake

/// StreamProcessing: windows, anomaly scores and rule evaluation over `device.telemetry`.
enum StreamProcessingService: MigratingService {
    static let descriptor = ServiceDescriptor(
        name: "StreamProcessing",
        summary: "Windows, anomaly scores, alert rules and tenants' ONNX models over device.telemetry; emits telemetry.windows, telemetry.late, telemetry.inferences and alerts.triggered.",
        defaultPort: 8086
    )

    static let configurationHelp = [
        ConfigurationHelp.timeseriesDatabase,
        ConfigurationHelp.kafka,
        ConfigurationHelp.upstream("SENSORMINE_SCHEMA_REGISTRY_URL", name: "schema-registry"),
        ConfigurationHelp.upstream("SENSORMINE_DEVICE_API_URL", name: "device-api"),
        """
        Identity:
          SENSORMINE_STREAM_TOKEN          StreamProcessing's token towards DeviceAPI and the SchemaRegistry (required, secret)
          SENSORMINE_GATEWAY_TOKEN or _SHA256  the gateway's token, whose identity headers the model registry trusts (required)

        Consumer:
          SENSORMINE_STREAM_GROUP          Kafka consumer group (default stream)
          SENSORMINE_STREAM_BATCH          messages per batch (default 5000)
          SENSORMINE_STREAM_START          where a new group starts: earliest (default) or latest
          SENSORMINE_STREAM_INSTANCE_ID    static group membership id, e.g. the pod name (optional)
          SENSORMINE_STREAM_SAVE_INTERVAL  least time between two saves of state and positions; a crash repeats what came after the last (default 2s)
          SENSORMINE_STREAM_MAX_POLL_INTERVAL  longest time on one batch before this member leaves the group (default 300s)
          SENSORMINE_STREAM_BATCH_KIB   payload KiB per batch at most, whatever the message count (default 4096)
          SENSORMINE_STREAM_PREFETCH_KIB  KiB of fetched messages queued ahead of the batches (librdkafka's queued.max.messages.kbytes; default 4096)
          SENSORMINE_INGESTION_MAX_EVENT_AGE / _LEAD  event times accepted, as Ingestion reads them (defaults 3650d / 1d)

        Windows and detection:
          SENSORMINE_STREAM_WINDOWS        window shapes published per metric: sizes (tumbling) or size/hop (default 1m,5m,1h)
          SENSORMINE_STREAM_ALLOWED_LATENESS  how far behind its partition's watermark a point still counts (default 30s)
          SENSORMINE_STREAM_IDLE_TIMEOUT   after this long without messages a partition's watermark follows the clock (default 30s)
          SENSORMINE_STREAM_ANOMALY_MEMORY points the moving mean and variance mostly reflect (default 40)
          SENSORMINE_STREAM_ANOMALY_WARMUP points before a metric is scored (default 30)
          SENSORMINE_STREAM_SEASONAL_WARMUP_DAYS  days an hour of the day must be seen before the seasonal baseline scores it (default 3)
          SENSORMINE_STREAM_SCHEMA_CACHE_SECONDS   how long a device's schema is cached (default 30)
          SENSORMINE_STREAM_PROFILE_CACHE_SECONDS  how long a device profile is cached; device.events refreshes it sooner (default 300)
          SENSORMINE_STREAM_RULES_WAIT     longest wait at start for alerts.rules to be read (default 30s)

        Models (ONNX inference on closed windows):
          SENSORMINE_STREAM_ONNXRUNTIME    the ONNX Runtime library to load, a path or a name dlopen finds (default libonnxruntime.so.1; none: inference off)
          SENSORMINE_STREAM_MODEL_MAX_BYTES  largest model file (default 1048576, at most 1500000)
          SENSORMINE_STREAM_MODELS_PER_TENANT  models a tenant may register (default 20)
          SENSORMINE_STREAM_MODEL_TIMEOUT  longest single run; a longer one is stopped (default 100ms)
          SENSORMINE_STREAM_MODEL_BUDGET   inference time per tenant per minute; past it windows go unscored (default 5s)
          SENSORMINE_STREAM_MODEL_REFRESH  how often each member looks for new or changed models (default 5s)
        """,
    ].joined(separator: "\n")

    /// StreamProcessing's tables, versioned; applied before the server starts and by `StreamProcessing migrate`.
    static let migrations = MigrationRunner(scope: "StreamProcessing", migrations: StreamProcessingMigrations.all)

    static func migrationDatabase(_ configuration: StreamProcessingConfiguration) -> PostgresClient.Configuration {
        configuration.timeseriesDatabase
    }

    /// The topics only StreamProcessing writes, and the usage topic it shares with Ingestion.
    static func ownedTopics(_ configuration: StreamProcessingConfiguration) -> (settings: KafkaSettings, topics: [String])? {
        let topics = configuration.kafka.topics
        return (configuration.kafka, [topics.telemetryWindows, topics.telemetryLate, topics.telemetryInferences, topics.alertsTriggered, topics.meteringEvents])
    }

    static func buildApplication(_ configuration: StreamProcessingConfiguration, observability: Observability) async throws -> ServiceApplication {
        var builder = ServiceApplicationBuilder(descriptor: descriptor, http: configuration.http, observability: observability)
        let database = builder.addPostgres(configuration.timeseriesDatabase, migrations: migrations)
        let producer = try builder.addKafkaProducer(configuration.kafka)
        try builder.followDatabaseTopology(configuration.kafka, clients: [database])
        let client = builder.addHTTPClient(upstreams: [configuration.schemaRegistry, configuration.deviceAPI])
        let reader = ServiceReader(client: client, serviceToken: configuration.serviceToken, subject: "service:stream-processing")
        let directory = SchemaDirectory(reader: reader, deviceAPI: configuration.deviceAPI, schemaRegistry: configuration.schemaRegistry,
                                        lifetime: configuration.schemaCacheLifetime)
        let profiles = DeviceProfiles(directory: directory, reader: reader, deviceAPI: configuration.deviceAPI, lifetime: configuration.profileCacheLifetime)
        let topics = configuration.kafka.topics
        builder.openAPIPaths = StreamProcessingOpenAPI.paths
        builder.openAPISchemas = StreamProcessingOpenAPI.schemas
        let runtime = try Self.loadRuntime(configuration, logger: observability.logger)
        let modelStore = ModelStore(database: database)
        let models = ModelFeed(store: modelStore, runtime: runtime, interval: configuration.modelRefresh, logger: observability.logger)
        builder.services.append(models)
        // Every member reads all rules and all directory changes: groups of its own, never committed.
        let member = UUID().uuidString.lowercased()
        let rules = try RuleFeed(kafka: configuration.kafka.kafka, groupPrefix: "\(configuration.consumer.group)-rules", topic: topics.alertRules,
                                 logger: observability.logger)
        let directoryFeed = DirectoryFeed(consumer: try KafkaConsumer(configuration: KafkaConsumer.Configuration(
            kafka: configuration.kafka.kafka, groupID: "\(configuration.consumer.group)-directory-\(member)", topics: [topics.deviceEvents, topics.assetUpdates],
            batchSize: 1000, startAtLatest: true), logger: observability.logger), profiles: profiles, topics: (topics.deviceEvents, topics.assetUpdates),
            logger: observability.logger)
        let consumer = try KafkaConsumer(configuration: configuration.consumer.consumerConfiguration(configuration.kafka, topics: [topics.telemetry]),
                                         logger: observability.logger)
        builder.services.append(rules)
        builder.services.append(directoryFeed)
        builder.services.append(StreamPipeline(
            consumer: consumer, producer: producer, admission: TelemetryAdmission(directory: directory, eventTimes: configuration.eventTimes),
            profiles: profiles, rules: rules, models: models, store: StreamStateStore(database: database, group: configuration.consumer.group), topics: topics,
            settings: configuration.stream, rulesWait: configuration.rulesWait, saveInterval: configuration.saveInterval, logger: observability.logger))
        let controller = ModelController(store: modelStore, runtime: runtime, shapes: configuration.stream.windowShapes, limits: configuration.stream.models)
        return builder.build { router in
            controller.addRoutes(to: router.group("/api/v1/models").add(middleware: TrustedIdentityMiddleware(callers: configuration.callers)))
        }
    }

    /// Loads ONNX Runtime; a library that is missing or older than the header's API stops the
    /// start, unless inference is turned off.
    private static func loadRuntime(_ configuration: StreamProcessingConfiguration, logger: Logger) throws -> ONNXRuntime? {
        guard let library = configuration.onnxRuntimeLibrary else {
            logger.notice("model inference is off (SENSORMINE_STREAM_ONNXRUNTIME=none)")
            return nil
        }
        do {
            let runtime = try ONNXRuntime.load(path: library)
            logger.info("ONNX Runtime loaded", metadata: ["version": "\(runtime.version)", "api": "\(runtime.apiVersion)"])
            return runtime
        } catch {
            throw ConfigurationError(key: "SENSORMINE_STREAM_ONNXRUNTIME", problem: "\(error) (set it to the library's path, or to none to run without models)")
        }
    }
}
