import ClientRuntime
import Curl
import Foundation
import Hiredis
import LibPQ
import Logging
import Mosquitto
import RdKafka
import SensormineCore

/// The two databases of ARCHITECTURE.md, each read from its own `SENSORMINE_<DB>_*` keys.
public enum DatabaseRole: String, Sendable {
    /// `sensormine_metadata`: tenants, devices, schemas, rules, billing.
    case metadata = "METADATA_DB"
    /// `sensormine_timeseries`: telemetry, rollups, events.
    case timeseries = "TIMESERIES_DB"

    var poolName: String { self == .metadata ? "postgres.metadata" : "postgres.timeseries" }
}

extension PostgresClient.Configuration {
    /// Reads `SENSORMINE_<ROLE>_URL` (required, secret; several hosts for a primary and its
    /// standbys, with `target_session_attrs=read-write`), `_POOL_SIZE` (default 10),
    /// `_STATEMENT_TIMEOUT` (default 30s) and `_CONNECT_TIMEOUT` (default 5s).
    /// - Throws: ``ConfigurationError``.
    public init(reader: ConfigReader, role: DatabaseRole) throws {
        let prefix = "SENSORMINE_\(role.rawValue)"
        let url = try reader.string("\(prefix)_URL")
        // Not URLComponents: a multi-host URL (`host1:port1,host2:port2`) is what libpq reads.
        guard url.hasPrefix("postgresql://") || url.hasPrefix("postgres://") else {
            throw ConfigurationError(key: "\(prefix)_URL", problem: "expected a postgresql:// URL")
        }
        if let problem = PostgresClient.connectionStringProblem(url) {
            throw ConfigurationError(key: "\(prefix)_URL", problem: "libpq cannot read it: \(problem)")
        }
        self.init(
            url: url,
            name: role.poolName,
            pool: ConnectionPoolConfiguration(maximumConnections: try reader.int("\(prefix)_POOL_SIZE", default: 10, range: 1...200)),
            statementTimeout: try reader.duration("\(prefix)_STATEMENT_TIMEOUT", default: .seconds(30)),
            connectTimeout: try reader.duration("\(prefix)_CONNECT_TIMEOUT", default: .seconds(5))
        )
    }
}

extension RedisClient.Configuration {
    /// Reads `SENSORMINE_REDIS_URL` (required, `redis://[:password@]host:port[/db]`, or
    /// `redis-sentinel://host:port[,host:port…]/master[/db]` to follow the Sentinels' master) and
    /// `SENSORMINE_REDIS_POOL_SIZE` (default 16).
    /// - Throws: ``ConfigurationError``.
    public init(reader: ConfigReader) throws {
        let url = try reader.string("SENSORMINE_REDIS_URL")
        let size = try reader.int("SENSORMINE_REDIS_POOL_SIZE", default: 16, range: 1...500)
        do {
            try self.init(url: url, pool: ConnectionPoolConfiguration(maximumConnections: size, leaseTimeout: .seconds(2)))
        } catch {
            throw ConfigurationError(key: "SENSORMINE_REDIS_URL", problem: "\(error)")
        }
    }
}

/// Kafka settings: brokers and the optional environment prefix of topic names.
public struct KafkaSettings: Sendable {
    /// librdkafka settings.
    public var kafka: KafkaConfiguration
    /// Topic names, with the environment prefix applied.
    public var topics: TopicNames
    /// Replicas of each topic a service creates (`migrate`).
    public var topicReplicationFactor: Int

    /// Reads `SENSORMINE_KAFKA_BROKERS` (required, host:port list) and
    /// `SENSORMINE_KAFKA_TOPIC_PREFIX` (optional environment prefix, e.g. `prod`).
    /// - Throws: ``ConfigurationError``.
    public init(reader: ConfigReader) throws {
        let brokers = try reader.list("SENSORMINE_KAFKA_BROKERS")
        for broker in brokers {
            let parts = broker.split(separator: ":")
            guard parts.count == 2, !parts[0].isEmpty, let port = Int(parts[1]), (1...65535).contains(port) else {
                throw ConfigurationError(key: "SENSORMINE_KAFKA_BROKERS", problem: "expected host:port[,host:port…], got '\(broker.prefix(64))'")
            }
        }
        guard !brokers.isEmpty else { throw ConfigurationError(key: "SENSORMINE_KAFKA_BROKERS", problem: "lists no broker") }
        self.kafka = KafkaConfiguration(bootstrapServers: brokers.joined(separator: ","))
        self.topics = TopicNames(prefix: reader.optionalString("SENSORMINE_KAFKA_TOPIC_PREFIX"))
        self.topicReplicationFactor = try reader.int("SENSORMINE_KAFKA_TOPIC_REPLICATION", default: 1, range: 1...16)
    }

    /// Creates `topics` where they are missing, each with its partitions and cleanup policy
    /// (``TopicNames/partitions(of:)``, ``TopicNames/isCompacted(_:)``): the `migrate` of the
    /// service that produces them does, so a cluster gets them from the chart's migration Job.
    /// - Throws: ``ClientError`` when the broker refuses or does not answer.
    public func createTopics(_ topics: [String], logger: Logger) async throws {
        let admin = try KafkaAdmin(configuration: self.kafka, logger: logger)
        do {
            for topic in topics {
                try await admin.createTopics([topic], partitions: self.topics.partitions(of: topic), replicationFactor: self.topicReplicationFactor,
                                             configs: self.topics.isCompacted(topic) ? ["cleanup.policy": "compact"] : [:])
            }
            await admin.shutdown()
        } catch {
            await admin.shutdown()
            throw error
        }
        logger.info("topics ready", metadata: ["topics": "\(topics)"])
    }
}

/// A service's membership of a Kafka consumer group, read from `SENSORMINE_<SERVICE>_GROUP`,
/// `_BATCH`, `_BATCH_KIB`, `_PREFETCH_KIB`, `_START` (earliest or latest), `_INSTANCE_ID` (static
/// membership, e.g. the pod name) and `_MAX_POLL_INTERVAL`.
public struct ConsumerGroupSettings: Sendable {
    /// Kafka consumer group.
    public var group: String
    /// Messages per batch.
    public var batchSize: Int
    /// Whether a new consumer group starts at the newest message instead of the oldest.
    public var startAtLatest: Bool
    /// Static group membership id, if set: a restarted member takes its partitions back at once.
    public var instanceID: String?
    /// librdkafka's `max.poll.interval.ms`: a member stuck longer than this on one batch (a
    /// database outage) leaves the group and rejoins once it polls again.
    public var maximumPollInterval: Duration
    /// librdkafka's `queued.max.messages.kbytes`: fetched messages waiting to be polled, at most
    /// (its default, 64 MiB, made the prefetch queue most of a consumer's memory under a backlog).
    public var prefetchKilobytes: Int
    /// Payload bytes per batch at most (about one message more): with the prefetch and the
    /// batches in work, what bounds a consumer's memory.
    public var batchKilobytes: Int

    /// Reads the keys of `service` (e.g. `INGESTION`).
    /// - Throws: ``ConfigurationError``.
    public init(reader: ConfigReader, service: String, defaultGroup: String, defaultBatch: Int, maximumBatch: Int = 20_000,
                defaultPrefetchKilobytes: Int = 4096, defaultBatchKilobytes: Int = 4096) throws {
        let prefix = "SENSORMINE_\(service)"
        self.group = reader.optionalString("\(prefix)_GROUP") ?? defaultGroup
        self.batchSize = try reader.int("\(prefix)_BATCH", default: defaultBatch, range: 1...maximumBatch)
        let start = reader.optionalString("\(prefix)_START") ?? "earliest"
        guard start == "earliest" || start == "latest" else {
            throw ConfigurationError(key: "\(prefix)_START", problem: "must be earliest or latest, got '\(start.prefix(20))'")
        }
        self.startAtLatest = start == "latest"
        self.instanceID = reader.optionalString("\(prefix)_INSTANCE_ID")
        self.maximumPollInterval = try reader.duration("\(prefix)_MAX_POLL_INTERVAL", default: .seconds(300))
        guard self.maximumPollInterval >= .seconds(7) else {
            throw ConfigurationError(key: "\(prefix)_MAX_POLL_INTERVAL", problem: "must be at least 7s (longer than the 6s session timeout)")
        }
        self.prefetchKilobytes = try reader.int("\(prefix)_PREFETCH_KIB", default: defaultPrefetchKilobytes, range: 256...2_097_151)
        self.batchKilobytes = try reader.int("\(prefix)_BATCH_KIB", default: defaultBatchKilobytes, range: 64...1_048_576)
    }

    /// The consumer of `topics` these settings describe.
    public func consumerConfiguration(_ kafka: KafkaSettings, topics: [String]) -> KafkaConsumer.Configuration {
        var properties = kafka.kafka
        properties.properties["max.poll.interval.ms"] = String(self.maximumPollInterval.milliseconds)
        properties.properties["queued.max.messages.kbytes"] = String(self.prefetchKilobytes)
        return KafkaConsumer.Configuration(kafka: properties, groupID: self.group, topics: topics, batchSize: self.batchSize,
                                           maximumBatchBytes: self.batchKilobytes * 1024,
                                           startAtLatest: self.startAtLatest, instanceID: self.instanceID)
    }
}

/// The topic names of ARCHITECTURE.md, with an optional `{env}.` prefix.
public struct TopicNames: Sendable, Equatable {
    /// Environment prefix, without the dot.
    public let prefix: String?

    /// Creates names for an environment.
    public init(prefix: String?) { self.prefix = prefix }

    private func name(_ base: String) -> String { self.prefix.map { "\($0).\(base)" } ?? base }

    /// Raw telemetry, key = device id.
    public var telemetry: String { self.name("device.telemetry") }
    /// Rejected telemetry with reasons.
    public var telemetryDeadLetter: String { self.name("device.telemetry.dlq") }
    /// Device lifecycle events.
    public var deviceEvents: String { self.name("device.events") }
    /// Asset hierarchy changes.
    public var assetUpdates: String { self.name("asset.updates") }
    /// Alert rules, compacted, key = rule id (a tombstone when a rule is deleted).
    public var alertRules: String { self.name("alerts.rules") }
    /// Raised alerts.
    public var alertsTriggered: String { self.name("alerts.triggered") }
    /// Usage events for billing.
    public var meteringEvents: String { self.name("metering.events") }
    /// Each organisation's plan and quota state, compacted, key = organisation id (Billing writes).
    public var billingQuotas: String { self.name("billing.quotas") }
    /// Closed windows and anomaly scores (StreamProcessing).
    public var telemetryWindows: String { self.name("telemetry.windows") }
    /// Points later than the allowed lateness (StreamProcessing).
    public var telemetryLate: String { self.name("telemetry.late") }
    /// Model results on closed windows (StreamProcessing).
    public var telemetryInferences: String { self.name("telemetry.inferences") }
    /// Which database node is the primary, key = cluster (the FailoverOrchestrator's leader writes).
    public var platformTopology: String { self.name("platform.topology") }
    /// Partitions a topic is created with: telemetry and its windows 6 (their throughput), the
    /// topology 1 (its changes in one order), the rest 3.
    public func partitions(of topic: String) -> Int {
        if topic == self.platformTopology { return 1 }
        return topic == self.telemetry || topic == self.telemetryWindows ? 6 : 3
    }
    /// Whether a topic holds state by key (compacted: the latest value per key is kept).
    public func isCompacted(_ topic: String) -> Bool { topic == self.alertRules || topic == self.billingQuotas || topic == self.platformTopology }
    /// Every topic above.
    public var all: [String] { [self.telemetry, self.telemetryDeadLetter, self.deviceEvents, self.assetUpdates, self.alertRules, self.alertsTriggered, self.meteringEvents, self.billingQuotas,
                             self.telemetryWindows, self.telemetryLate, self.telemetryInferences, self.platformTopology] }
}

extension MQTTClient.Configuration {
    /// Reads `SENSORMINE_MQTT_HOST` (required), `SENSORMINE_MQTT_PORT` (default 1883),
    /// `SENSORMINE_MQTT_USERNAME` and `SENSORMINE_MQTT_PASSWORD` (secret); with `account`
    /// "ADMIN", the dynamic-security admin's `SENSORMINE_MQTT_ADMIN_USERNAME` and
    /// `SENSORMINE_MQTT_ADMIN_PASSWORD`, both required.
    /// - Throws: ``ConfigurationError``.
    public init(reader: ConfigReader, clientID: String, account: String? = nil) throws {
        let prefix = account.map { "SENSORMINE_MQTT_\($0)" } ?? "SENSORMINE_MQTT"
        self.init(
            host: try reader.string("SENSORMINE_MQTT_HOST"),
            port: try reader.port("SENSORMINE_MQTT_PORT", default: 1883),
            clientID: clientID,
            username: account == nil ? reader.optionalString("\(prefix)_USERNAME") : try reader.string("\(prefix)_USERNAME"),
            password: account == nil ? reader.optionalString("\(prefix)_PASSWORD") : try reader.secret("\(prefix)_PASSWORD")
        )
    }
}

/// The base URL of another Sensormine service, read from `SENSORMINE_<NAME>_URL`.
public struct UpstreamService: Sendable, Equatable {
    /// Name used in readiness answers, e.g. "schema-registry".
    public let name: String
    /// Base URL without trailing slash.
    public let baseURL: String

    /// Reads `key` (an http/https URL).
    /// - Throws: ``ConfigurationError``.
    public init(reader: ConfigReader, key: String, name: String, default defaultURL: String? = nil) throws {
        self.name = name
        var url = try reader.url(key, default: defaultURL, schemes: ["http", "https"])
        while url.hasSuffix("/") { url.removeLast() }
        self.baseURL = url
    }
}
