import ClientRuntime
import Curl
import Foundation
import Hiredis
import LibPQ
import Logging
import Mosquitto
import RdKafka
import SensormineCore

/// One-line wiring of each client into a service: the client is created, its readiness check
/// registered, and its lifecycle joined to the application's (started before the server, closed
/// after it).
extension ServiceApplicationBuilder {
    /// Adds a PostgreSQL pool; `migrations` are applied under the shared advisory lock before the
    /// server starts.
    public mutating func addPostgres(_ configuration: PostgresClient.Configuration, migrations: MigrationRunner? = nil) -> PostgresClient {
        let client = PostgresClient(configuration: configuration)
        let logger = self.observability.logger
        self.readinessChecks.append(.postgres(client))
        self.services.append(ClosingService(configuration.name) { await client.shutdown() })
        if let migrations {
            self.beforeServerStarts.append { try await migrations.run(on: client, logger: logger) }
        }
        return client
    }

    /// Adds a Redis pool.
    public mutating func addRedis(_ configuration: RedisClient.Configuration) -> RedisClient {
        let client = RedisClient(configuration: configuration)
        self.readinessChecks.append(.redis(client))
        self.services.append(ClosingService("redis") { await client.shutdown() })
        return client
    }

    /// Adds an idempotent Kafka producer (its delivery-report loop runs as a service).
    /// - Throws: ``ClientError`` for invalid settings or a librdkafka older than 2.2.
    public mutating func addKafkaProducer(_ settings: KafkaSettings) throws -> KafkaProducer {
        let producer = try KafkaProducer(configuration: settings.kafka, logger: self.observability.logger)
        self.readinessChecks.append(.kafka(producer))
        self.services.append(producer)
        return producer
    }

    /// Adds an MQTT client kept connected by an ``MQTTConnectionService``.
    /// - Throws: ``ClientError`` for settings libmosquitto refuses.
    public mutating func addMQTT(_ configuration: MQTTClient.Configuration) throws -> MQTTClient {
        let client = try MQTTClient(configuration: configuration, logger: self.observability.logger)
        self.readinessChecks.append(.mqtt(client))
        self.services.append(MQTTConnectionService(client: client, logger: self.observability.logger))
        return client
    }

    /// Adds an outbound HTTP client and, for each upstream, a readiness check on its /health.
    public mutating func addHTTPClient(upstreams: [UpstreamService] = [], configuration: HTTPClient.Configuration = .init()) -> HTTPClient {
        let client = HTTPClient(configuration: configuration)
        for upstream in upstreams { self.readinessChecks.append(.upstream(upstream, client: client)) }
        self.services.append(ClosingService("http-client") { await client.shutdown() })
        return client
    }
}

/// A service that owns tables: its `migrate` subcommand applies ``migrations`` to the database
/// ``migrationDatabase(_:)`` names, and its builder applies them before the server starts.
public protocol MigratingService: SensormineService {
    /// The service's versioned migrations.
    static var migrations: MigrationRunner { get }
    /// The database the migrations belong to.
    static func migrationDatabase(_ configuration: Configuration) -> PostgresClient.Configuration
    /// The Kafka topics the service produces, which its `migrate` creates where missing (none
    /// by default).
    static func ownedTopics(_ configuration: Configuration) -> (settings: KafkaSettings, topics: [String])?
}

extension MigratingService {
    public static func ownedTopics(_ configuration: Configuration) -> (settings: KafkaSettings, topics: [String])? { nil }

    public static func migrate(_ configuration: Configuration, logger: Logger) async throws {
        try await MigrationCommand.run(Self.migrations, database: Self.migrationDatabase(configuration), logger: logger)
        if let owned = Self.ownedTopics(configuration) {
            try await owned.settings.createTopics(owned.topics, logger: logger)
        }
    }
}

/// The `migrate` subcommand's work for a service with tables.
public enum MigrationCommand {
    /// Connects, applies pending migrations, and closes.
    /// - Throws: ``ClientError`` when the database is unreachable or a migration fails.
    public static func run(_ runner: MigrationRunner, database: PostgresClient.Configuration, logger: Logger) async throws {
        let client = PostgresClient(configuration: database)
        do {
            let applied = try await runner.run(on: client, logger: logger)
            logger.info("migrations done", metadata: ["applied": "\(applied)"])
            await client.shutdown()
        } catch {
            await client.shutdown()
            throw error
        }
    }
}
