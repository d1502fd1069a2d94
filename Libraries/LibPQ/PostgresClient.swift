import ClientRuntime
import Logging
import NIOConcurrencyHelpers

/// A pooled PostgreSQL client over libpq.
///
/// Every blocking libpq call runs on the client's own ``BlockingExecutor``, one thread per pooled
/// connection, so queries never block Swift's cooperative threads.
public final class PostgresClient: Sendable {
    /// Connection and pool settings.
    public struct Configuration: Sendable {
        /// libpq connection URI, e.g. `postgresql://user:password@127.0.0.1:5432/db`. Secret.
        public var url: String
        /// Name used for the pool metrics dimension and `application_name`.
        public var name: String
        /// Pool bounds and lease timeout.
        public var pool: ConnectionPoolConfiguration
        /// Server-side `statement_timeout` set on every connection.
        public var statementTimeout: Duration
        /// Time allowed to establish a connection.
        public var connectTimeout: Duration
        /// Settings (`set_config` name → value) every connection starts its session with.
        public var sessionSettings: [String: String]

        /// Creates settings.
        public init(
            url: String,
            name: String = "postgres",
            pool: ConnectionPoolConfiguration = .init(),
            statementTimeout: Duration = .seconds(30),
            connectTimeout: Duration = .seconds(5),
            sessionSettings: [String: String] = [:]
        ) {
            self.sessionSettings = sessionSettings
            self.url = url
            self.name = name
            self.pool = pool
            self.statementTimeout = statementTimeout
            self.connectTimeout = connectTimeout
        }
    }

    /// The client's settings.
    public let configuration: Configuration
    private let pool: ConnectionPool<PostgresConnection>
    private let executor: BlockingExecutor
    /// The host (`host:port`) of a multi-host URL to try first: the primary a topology change named.
    private let preferred: NIOLockedValueBox<String?>

    /// Creates a client; no connection is opened until the first query.
    public init(configuration: Configuration) {
        self.configuration = configuration
        let executor = BlockingExecutor(threads: configuration.pool.maximumConnections)
        self.executor = executor
        let preferred = NIOLockedValueBox<String?>(nil)
        self.preferred = preferred
        let timeoutMilliseconds = configuration.statementTimeout.milliseconds
        self.pool = ConnectionPool(name: configuration.name, configuration: configuration.pool) {
            try await executor.run {
                let connection = try PostgresConnection(
                    url: configuration.url,
                    connectTimeout: configuration.connectTimeout,
                    applicationName: "sensormine-\(configuration.name)",
                    preferredAddress: preferred.withLockedValue { $0 }
                )
                do {
                    // NOTICEs ("already exists, skipping") would go to stderr unstructured: keep warnings and up.
                    _ = try connection.execute(
                        "SELECT set_config('statement_timeout', $1, false), set_config('client_min_messages', 'warning', false)",
                        [String(timeoutMilliseconds)]
                    )
                    for (name, value) in configuration.sessionSettings.sorted(by: { $0.key < $1.key }) {
                        _ = try connection.execute("SELECT set_config($1, $2, false)", [name, value])
                    }
                } catch {
                    connection.close()
                    throw error
                }
                return connection
            }
        }
    }

    /// Runs one statement and returns its rows.
    /// - Throws: ``ClientError`` (`unreachable`, `serverError` with the SQLSTATE, `timeout`).
    public func query(_ sql: String, _ parameters: [(any PostgresBindable)?] = []) async throws -> PostgresRows {
        try await self.withSession { try await $0.query(sql, parameters) }
    }

    /// Leases one connection for several statements (for session state such as advisory locks).
    /// - Throws: what `body` throws or ``ClientError`` when no connection can be had.
    public func withSession<Result>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresSession) async throws -> Result
    ) async throws -> Result {
        try await self.pool.withConnection { connection in
            let session = PostgresSession(connection: connection, executor: self.executor)
            do {
                let result = try await body(session)
                // What was queued and never followed still runs: an enqueue is never lost.
                try await session.flush()
                return result
            } catch {
                connection.queued.removeAll()
                throw error
            }
        }
    }

    /// Runs `body` inside BEGIN … COMMIT; any thrown error rolls back. BEGIN goes out with the
    /// body's first statement, and statements the body enqueued last go out with COMMIT, so a
    /// short transaction costs as few round trips as it has statements whose results it reads.
    /// - Throws: what `body` throws, or the COMMIT's error.
    public func withTransaction<Result>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: (PostgresSession) async throws -> Result
    ) async throws -> Result {
        try await self.withSession { session in
            try session.enqueue("BEGIN")
            do {
                let result = try await body(session)
                try await session.execute("COMMIT")
                return result
            } catch {
                session.connection.queued.removeAll()
                // Nothing to roll back when BEGIN never went out (the body failed before any statement).
                if session.connection.inTransaction { _ = try? await session.execute("ROLLBACK") }
                throw error
            }
        }
    }

    /// Bulk-loads `rows` with `COPY table (columns) FROM STDIN`; returns the rows copied.
    /// - Throws: ``ClientError`` with `invalidRequest` for a malformed table or column name.
    public func copy(into table: String, columns: [String], rows: PostgresCopyBuffer) async throws -> Int {
        try await self.withSession { try await $0.copy(into: table, columns: columns, rows: rows) }
    }

    /// Answers when the server accepts a trivial query; used by readiness checks.
    /// - Throws: ``ClientError`` when it does not.
    public func ping() async throws {
        _ = try await self.query("SELECT 1")
    }

    /// Ends every connection to `address` (`host:port`, as a topology change names the old
    /// primary), cancelling what runs there; the next statements connect again, through a
    /// multi-host URL to whichever host now accepts writes. Returns how many were ended.
    @discardableResult
    public func dropConnections(to address: String) -> Int {
        self.pool.abortConnections { $0.address == address }
    }

    /// Makes new connections try `address` (`host:port`, one of a multi-host URL's hosts) first,
    /// so none waits out the connect timeout on a stopped former primary listed before it.
    public func prefer(address: String) {
        self.preferred.withLockedValue { $0 = address }
    }

    /// Why libpq cannot read `url` as a connection string, or nil when it can (a
    /// `postgresql://` URL may name several `host:port`s, comma-separated).
    public static func connectionStringProblem(_ url: String) -> String? {
        PostgresConnection.parseProblem(url)
    }

    /// Closes idle connections and stops the executor's threads once the statements in flight
    /// end; those still running after `grace` are aborted (their sockets shut down), since a
    /// statement on a hung server (stopped, not dead) would otherwise hold the shutdown forever.
    public func shutdown(grace: Duration = .seconds(5)) async {
        self.pool.shutdown()
        let pool = self.pool
        let watchdog = Task {
            try await Task.sleep(for: grace)
            pool.abortConnections { _ in true }
        }
        await self.executor.shutdown()
        watchdog.cancel()
    }
}

/// One leased connection: statements run in order on the same server session.
public struct PostgresSession: Sendable {
    let connection: PostgresConnection
    let executor: BlockingExecutor

    /// Runs one statement and returns its rows.
    /// - Throws: ``ClientError``; `invalidRequest` with SQLSTATE 22021 for a text parameter
    ///   that contains U+0000.
    /// Statements queued before it (``enqueue(_:_:)``) go out with it, in one round trip.
    @discardableResult
    public func query(_ sql: String, _ parameters: [(any PostgresBindable)?] = []) async throws -> PostgresRows {
        let texts = try Self.texts(parameters)
        let connection = self.connection
        guard !connection.queued.isEmpty else {
            return try await self.executor.run { try connection.execute(sql, texts) }
        }
        let statements = connection.queued + [(sql, texts)]
        connection.queued.removeAll()
        return try await self.executor.run { try connection.executePipeline(statements) }.last ?? PostgresRows(columns: [], rows: [], affectedRows: 0)
    }

    /// Queues a statement whose result is not read (a write, a setting): it goes out with the
    /// next statement awaited on this session, or at the end of the session or transaction, and
    /// a failure surfaces there, failing the transaction.
    /// - Throws: ``ClientError`` `invalidRequest` for a parameter that contains U+0000.
    public func enqueue(_ sql: String, _ parameters: [(any PostgresBindable)?] = []) throws {
        self.connection.queued.append((sql, try Self.texts(parameters)))
    }

    /// Runs `statements` in one round trip, after whatever was queued, and returns their rows in
    /// order. The first failure is thrown; the server skips the statements after it.
    /// - Throws: ``ClientError``.
    public func pipeline(_ statements: [(sql: String, parameters: [(any PostgresBindable)?])]) async throws -> [PostgresRows] {
        let queued = self.connection.queued
        let all = queued + (try statements.map { ($0.sql, try Self.texts($0.parameters)) })
        self.connection.queued.removeAll()
        let connection = self.connection
        return Array(try await self.executor.run { try connection.executePipeline(all) }.dropFirst(queued.count))
    }

    /// Sends what was queued, if anything.
    func flush() async throws {
        guard !self.connection.queued.isEmpty else { return }
        _ = try await self.pipeline([])
    }

    /// Parameters as libpq takes them.
    private static func texts(_ parameters: [(any PostgresBindable)?]) throws -> [String?] {
        let texts = parameters.map { $0?.postgresText }
        // libpq takes parameters as C strings, so a NUL would silently cut the value short;
        // PostgreSQL text cannot hold one anyway, so refuse it as the server refuses one in COPY.
        if let position = texts.firstIndex(where: { $0?.utf8.contains(0) == true }) {
            throw ClientError(.invalidRequest, client: "postgres", "parameter $\(position + 1) contains a NUL character, which PostgreSQL text cannot hold",
                              serverCode: SQLState.characterNotInRepertoire)
        }
        return texts
    }

    /// Runs a statement and returns the number of rows it affected.
    /// - Throws: ``ClientError``.
    @discardableResult
    public func execute(_ sql: String, _ parameters: [(any PostgresBindable)?] = []) async throws -> Int {
        try await self.query(sql, parameters).affectedRows
    }

    /// Runs a multi-statement script (no parameters), e.g. a migration.
    /// - Throws: ``ClientError``.
    public func executeScript(_ sql: String) async throws {
        try await self.flush()
        let connection = self.connection
        try await self.executor.run { try connection.executeScript(sql) }
    }

    /// Bulk-loads rows with COPY FROM STDIN; returns the rows copied.
    /// - Throws: ``ClientError``.
    public func copy(into table: String, columns: [String], rows: PostgresCopyBuffer) async throws -> Int {
        let statement = "COPY \(try PostgresIdentifier.qualified(table)) (\(try columns.map(PostgresIdentifier.quoted).joined(separator: ", "))) FROM STDIN"
        let bytes = rows.bytes
        // COPY cannot run in a pipeline: what was queued goes first.
        try await self.flush()
        let connection = self.connection
        return try await self.executor.run { try connection.copy(statement, data: bytes) }
    }
}

/// Quoting of identifiers that are spliced into SQL (table and column names).
public enum PostgresIdentifier {
    /// `name` in double quotes, rejecting anything but letters, digits and underscores.
    /// - Throws: ``ClientError`` `invalidRequest`.
    public static func quoted(_ name: String) throws -> String {
        guard let first = name.unicodeScalars.first, first == "_" || first.properties.isAlphabetic,
            name.unicodeScalars.allSatisfy({ $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) })
        else {
            throw ClientError(.invalidRequest, client: "postgres", "invalid identifier '\(name.prefix(64))'")
        }
        return "\"\(name)\""
    }

    /// A possibly schema-qualified name (`schema.table`), each part quoted.
    /// - Throws: ``ClientError`` `invalidRequest`.
    public static func qualified(_ name: String) throws -> String {
        try name.split(separator: ".", omittingEmptySubsequences: false).map { try quoted(String($0)) }.joined(separator: ".")
    }
}
