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
    /// The table DeviceAPI's events wait in.
    public static let defaultTable = "outbox_events"

    /// The table, for a service's migrations.
    public static let migrationSQL = migrationSQL(table: defaultTable)

    /// An outbox table of the given name: each service that shares a database has its own.
    public static func migrationSQL(table: String) -> String {
        """
        CREATE TABLE \(table) (
            id bigserial PRIMARY KEY,
            topic text NOT NULL,
            key text,
            payload text, -- NULL: a tombstone
            tenant_id text,
            traceparent text,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        """
    }

    /// One event to publish.
    public struct Event: Sendable {
        /// Kafka topic.
        public var topic: String
        /// Record key (an entity id keeps one entity's events in order).
        public var key: String
        /// JSON payload; nil for a tombstone.
        public var payload: String?
        /// Tenant, sent as the `tenant` header.
        public var tenantID: String?

        /// Creates an event.
        public init(topic: String, key: String, payload: String?, tenantID: String?) {
            self.topic = topic
            self.key = key
            self.payload = payload
            self.tenantID = tenantID
        }
    }

    /// Adds `events` to the outbox `table` inside the caller's transaction.
    /// - Throws: ``ClientError`` from PostgreSQL.
    public static func enqueue(_ events: [Event], in session: PostgresSession, table: String = defaultTable) async throws {
        let traceparent = OutboundContext.current?.traceparent
        for event in events {
            try await session.execute(
                "INSERT INTO \(table) (topic, key, payload, tenant_id, traceparent) VALUES ($1, $2, $3, $4, $5)",
                [event.topic, event.key, event.payload, event.tenantID, traceparent]
            )
        }
    }
}

/// Drains an outbox table in id order, one relay at a time across replicas (a transaction
/// advisory lock), deleting rows only once `deliver` has applied them: at-least-once, in order.
/// ``OutboxRelay/kafka(database:producer:batchSize:idleInterval:logger:)`` moves events to Kafka;
/// a service may drain its own outbox of changes to other systems the same way.
public struct OutboxRelay: Service, CustomStringConvertible {
    public let description: String
    private let database: PostgresClient
    private let table: String
    private let columns: String
    private let deliver: @Sendable ([PostgresRow]) async throws -> Void
    private let batchSize: Int
    private let idleInterval: Duration
    private let logger: Logger
    private let relayed: Counter
    private let failures: Counter

    /// Creates a relay over `table` (with a `bigint id` key), reading `columns` for `deliver`
    /// and polling every `idleInterval` while the table is empty.
    public init(name: String, database: PostgresClient, table: String, columns: String, batchSize: Int = 500,
                idleInterval: Duration = .milliseconds(100), logger: Logger,
                deliver: @escaping @Sendable ([PostgresRow]) async throws -> Void) {
        self.description = name
        self.database = database
        self.table = table
        self.columns = columns
        self.deliver = deliver
        self.batchSize = batchSize
        self.idleInterval = idleInterval
        self.logger = logger
        self.relayed = Counter(label: "sensormine_outbox_relayed_total", dimensions: [("outbox", table)])
        self.failures = Counter(label: "sensormine_outbox_failures_total", dimensions: [("outbox", table)])
    }

    /// The relay of an event outbox (`outbox_events` unless named) to Kafka. A payload that is
    /// SQL NULL is sent as a tombstone (a record without a value: a compacted topic forgets the key).
    public static func kafka(database: PostgresClient, producer: KafkaProducer, table: String = EventOutbox.defaultTable, batchSize: Int = 500,
                             idleInterval: Duration = .milliseconds(100), logger: Logger) -> OutboxRelay {
        OutboxRelay(name: "OutboxRelay(\(table))", database: database, table: table, columns: "id, topic, key, payload, tenant_id, traceparent",
                    batchSize: batchSize, idleInterval: idleInterval, logger: logger) { rows in
            let records = rows.map { row in
                var headers: [(name: String, value: [UInt8])] = []
                if let tenant = row["tenant_id"] { headers.append(("tenant", Array(tenant.utf8))) }
                if let traceparent = row["traceparent"] { headers.append(("traceparent", Array(traceparent.utf8))) }
                guard let payload = row["payload"] else {
                    return KafkaRecord.tombstone(topic: row["topic"] ?? "", key: Array((row["key"] ?? "").utf8), headers: headers)
                }
                return KafkaRecord(topic: row["topic"] ?? "", key: row["key"].map { Array($0.utf8) }, value: Array(payload.utf8), headers: headers)
            }
            for result in try await producer.send(records) {
                if case .failure(let error) = result { throw error }
            }
        }
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
                    self.logger.debug("outbox table not created yet; waiting for migrations", metadata: ["outbox": "\(self.table)"])
                } else {
                    self.failures.increment()
                    self.logger.warning("outbox relay failed; retrying", metadata: ["outbox": "\(self.table)", LogKey.error: "\(error)"])
                }
                failedAttempts += 1
                let pause = backoff.delay(attempt: failedAttempts)
                _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) }
            }
        }
    }

    /// Relays one batch; returns how many rows went out. With `waitForLock` it waits for a relay
    /// working elsewhere instead of leaving the batch to it, so what the caller committed before
    /// has been applied when it returns.
    /// - Throws: ``ClientError`` from PostgreSQL or from `deliver`; the batch stays in the outbox.
    @discardableResult
    public func relayOnce(waitForLock: Bool = false) async throws -> Int {
        try await self.database.withTransaction { session in
            // The event outbox keeps the lock name earlier releases used, so old and new
            // replicas never relay at once during a rolling upgrade.
            let lockName = self.table == "outbox_events" ? "sensormine.outbox" : "sensormine.\(self.table)"
            if waitForLock {
                _ = try await session.query("SELECT pg_advisory_xact_lock(hashtext($1))", [lockName])
            } else {
                let locked = try await session.query("SELECT pg_try_advisory_xact_lock(hashtext($1)) AS locked", [lockName])
                guard locked.first?.bool("locked") == true else { return 0 }
            }
            let rows = try await session.query("SELECT \(self.columns) FROM \(self.table) ORDER BY id LIMIT $1", [self.batchSize]).all
            guard !rows.isEmpty else { return 0 }
            try await self.deliver(rows)
            // Exactly the ids read: a row committed meanwhile with a lower id goes in the next batch.
            let ids = rows.compactMap { $0["id"] }.joined(separator: ",")
            try await session.execute("DELETE FROM \(self.table) WHERE id = ANY ($1::bigint[])", ["{\(ids)}"])
            self.relayed.increment(by: Int64(rows.count))
            return rows.count
        }
    }
}
