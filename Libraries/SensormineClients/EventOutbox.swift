import ClientRuntime
import Foundation
import LibPQ
import Logging
import Metrics
import RdKafka
import SensormineCore
import ServiceLifecycle

/// The transactional outbox: a service writes the events of a change into `outbox_events` in the
/// same transaction as the change, and ``OutboxRelay`` hands them to Kafka afterwards. A change
/// is therefore never committed without its event, nor an event sent for a rolled-back change.
public enum EventOutbox {
    /// The table, for a service's migrations.
    public static let migrationSQL = """
        CREATE TABLE outbox_events (
            id bigserial PRIMARY KEY,
            topic text NOT NULL,
            key text,
            payload text NOT NULL,
            tenant_id text,
            traceparent text,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        """

    /// One event to publish.
    public struct Event: Sendable {
        /// Kafka topic.
        public var topic: String
        /// Record key (an entity id keeps one entity's events in order).
        public var key: String
        /// JSON payload.
        public var payload: String
        /// Tenant, sent as the `tenant` header.
        public var tenantID: String?

        /// Creates an event.
        public init(topic: String, key: String, payload: String, tenantID: String?) {
            self.topic = topic
            self.key = key
            self.payload = payload
            self.tenantID = tenantID
        }
    }

    /// Adds `events` to the outbox inside the caller's transaction.
    /// - Throws: ``ClientError`` from PostgreSQL.
    public static func enqueue(_ events: [Event], in session: PostgresSession) async throws {
        let traceparent = OutboundContext.current?.traceparent
        for event in events {
            try await session.execute(
                "INSERT INTO outbox_events (topic, key, payload, tenant_id, traceparent) VALUES ($1, $2, $3, $4, $5)",
                [event.topic, event.key, event.payload, event.tenantID, traceparent]
            )
        }
    }
}

/// Moves outbox rows to Kafka in id order, one relay at a time across replicas (a transaction
/// advisory lock), deleting them only once Kafka has acknowledged them: at-least-once, in order
/// per key.
public struct OutboxRelay: Service, CustomStringConvertible {
    public var description: String { "OutboxRelay" }
    private let database: PostgresClient
    private let producer: KafkaProducer
    private let batchSize: Int
    private let idleInterval: Duration
    private let logger: Logger
    private let relayed = Counter(label: "sensormine_outbox_relayed_total")
    private let failures = Counter(label: "sensormine_outbox_failures_total")

    /// Creates a relay polling every `idleInterval` while the outbox is empty.
    public init(database: PostgresClient, producer: KafkaProducer, batchSize: Int = 500,
                idleInterval: Duration = .milliseconds(100), logger: Logger) {
        self.database = database
        self.producer = producer
        self.batchSize = batchSize
        self.idleInterval = idleInterval
        self.logger = logger
    }

    public func run() async throws {
        let backoff = Backoff(base: .milliseconds(200), maximum: .seconds(5))
        var failedAttempts = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let moved = try await self.relayOnce()
                failedAttempts = 0
                if moved < self.batchSize { _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.idleInterval) } }
            } catch is CancellationError {
                return
            } catch {
                // Until the service's migrations have run (they start with it), the table is missing.
                if (error as? ClientError)?.serverCode == SQLState.undefinedTable {
                    self.logger.debug("outbox table not created yet; waiting for migrations")
                } else {
                    self.failures.increment()
                    self.logger.warning("outbox relay failed; retrying", metadata: [LogKey.error: "\(error)"])
                }
                failedAttempts += 1
                let pause = backoff.delay(attempt: failedAttempts)
                _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) }
            }
        }
    }

    /// Relays one batch; returns how many events went out.
    /// - Throws: ``ClientError`` from PostgreSQL or Kafka; the batch stays in the outbox.
    @discardableResult
    public func relayOnce() async throws -> Int {
        try await self.database.withTransaction { session in
            let locked = try await session.query("SELECT pg_try_advisory_xact_lock(hashtext('sensormine.outbox'))")
            guard locked.first?.bool("pg_try_advisory_xact_lock") == true else { return 0 }
            let rows = try await session.query(
                "SELECT id, topic, key, payload, tenant_id, traceparent FROM outbox_events ORDER BY id LIMIT $1", [self.batchSize]
            ).all
            guard !rows.isEmpty else { return 0 }
            let records = rows.map { row in
                var headers: [(name: String, value: [UInt8])] = []
                if let tenant = row["tenant_id"] { headers.append(("tenant", Array(tenant.utf8))) }
                if let traceparent = row["traceparent"] { headers.append(("traceparent", Array(traceparent.utf8))) }
                return KafkaRecord(topic: row["topic"] ?? "", key: row["key"].map { Array($0.utf8) },
                                   value: Array((row["payload"] ?? "").utf8), headers: headers)
            }
            for result in try await self.producer.send(records) {
                if case .failure(let error) = result { throw error }
            }
            // Exactly the ids read: a row committed meanwhile with a lower id goes in the next batch.
            let ids = rows.compactMap { $0["id"] }.joined(separator: ",")
            try await session.execute("DELETE FROM outbox_events WHERE id = ANY ($1::bigint[])", ["{\(ids)}"])
            self.relayed.increment(by: Int64(rows.count))
            return rows.count
        }
    }
}
