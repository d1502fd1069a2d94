import ClientRuntime
import Foundation
import LibPQ
import SensormineContracts

/// One PostgreSQL server of a cluster, as configured.
struct PostgresNode: Sendable, Equatable {
    var name: String
    var region: String
    /// A single-host libpq URL with a superuser (promotion and fencing need one). Secret.
    var url: String
    /// `host:port`, what pools know the node by.
    var address: String
}

/// A write-ahead-log position, ordered (`X/Y` in PostgreSQL's text form).
struct LogSequenceNumber: Comparable, Sendable, Codable, CustomStringConvertible {
    var value: UInt64

    init(value: UInt64) { self.value = value }

    init?(_ text: String?) {
        guard let text, let slash = text.firstIndex(of: "/"),
              let high = UInt64(text[..<slash], radix: 16), let low = UInt64(text[text.index(after: slash)...], radix: 16),
              high <= UInt64(UInt32.max), low <= UInt64(UInt32.max) else { return nil }
        self.value = high << 32 | low
    }

    var description: String { String(self.value >> 32, radix: 16, uppercase: true) + "/" + String(self.value & 0xFFFF_FFFF, radix: 16, uppercase: true) }

    static func < (lhs: Self, rhs: Self) -> Bool { lhs.value < rhs.value }

    init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let parsed = Self(text) else { throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an LSN: \(text)")) }
        self = parsed
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(self.description)
    }

    /// Bytes from `self` up to `later` (0 when `later` is not later).
    func distance(to later: Self) -> UInt64 { later.value > self.value ? later.value - self.value : 0 }
}

/// One standby as its primary sees it (`pg_stat_replication`).
struct StandbyView: Codable, Sendable, Equatable {
    var name: String
    var state: String
    /// `sync`, `potential`, `quorum` or `async`.
    var syncState: String
    var lagBytes: Int64?
    var lagSeconds: Double?
}

/// What one probe of a node found.
struct NodeProbe: Sendable {
    var inRecovery: Bool
    /// The primary's flushed position, or a standby's last received.
    var walPosition: LogSequenceNumber?
    var replayPosition: LogSequenceNumber?
    var timeline: Int?
    var synchronousStandbyNames: String
    var readOnly: Bool
    /// A standby's WAL receiver (`streaming`, …), nil when it has none.
    var receiverStatus: String?
    /// How long before the probe a streaming standby last received anything (WAL or keepalive)
    /// from its primary, on the standby's own clock.
    var heardFromPrimaryAgo: Duration?
    var standbys: [StandbyView]
}

/// Probes, promotes and fences PostgreSQL nodes, each through a small pool of its own.
final class PostgresNodes: Sendable {
    let nodes: [PostgresNode]
    private let clients: [String: PostgresClient]
    private let probeTimeout: Duration

    init(nodes: [PostgresNode], probeTimeout: Duration) {
        self.nodes = nodes
        self.probeTimeout = probeTimeout
        var clients: [String: PostgresClient] = [:]
        for node in nodes {
            // Two connections: a probe stuck on a stopped server must not hold the only one.
            clients[node.name] = PostgresClient(configuration: .init(
                url: node.url, name: "failover-\(node.name)", pool: .init(maximumConnections: 2, leaseTimeout: probeTimeout),
                statementTimeout: .seconds(10), connectTimeout: .seconds(2)))
        }
        self.clients = clients
    }

    private func client(_ node: PostgresNode) throws -> PostgresClient {
        guard let client = self.clients[node.name] else { throw ClientError(.invalidRequest, client: "postgres", "unknown node \(node.name)") }
        return client
    }

    /// One look at a node, answered within the probe timeout.
    func probe(_ node: PostgresNode) async throws -> NodeProbe {
        let client = try self.client(node)
        return try await withDeadline(self.probeTimeout, client: "postgres \(node.name)") {
            let rows = try await client.query("""
                SELECT pg_is_in_recovery() AS recovery,
                       (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_flush_lsn() END)::text AS wal,
                       pg_last_wal_replay_lsn()::text AS replay,
                       CASE WHEN pg_is_in_recovery() THEN (SELECT received_tli FROM pg_stat_wal_receiver)
                            ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END AS timeline,
                       current_setting('synchronous_standby_names') AS sync_names,
                       current_setting('default_transaction_read_only') AS read_only,
                       (SELECT status FROM pg_stat_wal_receiver) AS receiver,
                       (SELECT EXTRACT(EPOCH FROM clock_timestamp() - last_msg_receipt_time)::float8 FROM pg_stat_wal_receiver
                         WHERE status = 'streaming') AS heard,
                       COALESCE((SELECT json_agg(json_build_object('name', application_name, 'state', state, 'syncState', sync_state,
                                  'lagBytes', pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint,
                                  'lagSeconds', EXTRACT(EPOCH FROM replay_lag)::float8) ORDER BY application_name)
                                 FROM pg_stat_replication), '[]')::text AS standbys
                """)
            guard let row = rows.first else { throw ClientError(.serverError, client: "postgres", "the probe returned no row") }
            let standbys = (try? JSONDecoder().decode([StandbyView].self, from: Data((row["standbys"] ?? "[]").utf8))) ?? []
            return NodeProbe(
                inRecovery: row.bool("recovery") ?? true, walPosition: LogSequenceNumber(row["wal"]), replayPosition: LogSequenceNumber(row["replay"]),
                timeline: row.int("timeline"), synchronousStandbyNames: row["sync_names"] ?? "", readOnly: row["read_only"] == "on",
                receiverStatus: row["receiver"], heardFromPrimaryAgo: row.double("heard").map { .milliseconds(Int(max(0, $0) * 1000)) }, standbys: standbys)
        }
    }

    /// Promotes a standby and waits (up to `timeout`) until it accepts writes.
    func promote(_ node: PostgresNode, timeout: Duration) async throws {
        let client = try self.client(node)
        let seconds = max(1, Int(timeout.components.seconds))
        let rows = try await client.query("SELECT pg_promote(true, $1) AS promoted", [seconds])
        guard rows.first?.bool("promoted") == true else {
            throw ClientError(.timeout, client: "postgres", "\(node.name) was not promoted within \(timeout)")
        }
    }

    /// Makes a node unable to acknowledge a commit: new sessions are read-only (libpq's
    /// `target_session_attrs=read-write` passes it over), a commit that overrides that waits for
    /// a synchronous standby that does not exist, and every client session is ended. With `stop`
    /// (a former primary back after a failover) it is also shut down (fast: what is not
    /// committed rolls back), since PostgreSQL reports a commit whose synchronous wait is
    /// cancelled as done; it rejoins as a standby by pg_rewind.
    func fence(_ node: PostgresNode, stop: Bool, timeout: Duration) async throws {
        let client = try self.client(node)
        try await withDeadline(timeout, client: "postgres \(node.name)") {
            try await client.withSession { session in
                try await session.execute("ALTER SYSTEM SET default_transaction_read_only = on")
                try await session.execute("ALTER SYSTEM SET synchronous_standby_names = 'sensormine_fenced'")
                _ = try await session.query("SELECT pg_reload_conf()")
                _ = try await session.query("""
                    SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                    WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
                    """)
                guard stop else { return }
                // A backend's working directory is the data directory, where postmaster.pid names
                // the postmaster; SIGINT is a fast shutdown. Our own session ends with it.
                _ = try? await session.execute("COPY (SELECT 1) TO PROGRAM 'kill -INT $(head -n 1 postmaster.pid)'")
            }
        }
    }

    /// Replication from `node` (a primary): synchronous to the named standbys, or asynchronous.
    /// Also lifts the fence's read-only default, since a primary that sets this is serving.
    func setSynchronousStandbys(_ node: PostgresNode, names: [String]) async throws {
        let client = try self.client(node)
        let value = names.isEmpty ? "" : "FIRST 1 (" + names.joined(separator: ", ") + ")"
        try await withDeadline(self.probeTimeout * 4, client: "postgres \(node.name)") {
            try await client.withSession { session in
                try await session.execute("SELECT set_config('statement_timeout', '2s', false)")
                try await session.execute("ALTER SYSTEM SET synchronous_standby_names = " + Self.literal(value))
                try await session.execute("ALTER SYSTEM RESET default_transaction_read_only")
                _ = try await session.query("SELECT pg_reload_conf()")
            }
        }
    }

    func shutdown() async {
        for client in self.clients.values { await client.shutdown() }
    }

    private static func literal(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }
}
