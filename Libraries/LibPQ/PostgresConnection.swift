import CLibPQ
#if canImport(Glibc)
import Glibc
#endif
import ClientRuntime
import NIOConcurrencyHelpers

/// One libpq connection (`PGconn`). Blocking; used only through ``PostgresClient``'s executor.
// @unchecked Sendable: libpq connections are not thread-safe, but a connection is only ever
// reachable by the single task that leased it from the pool, and that task runs each libpq call
// to completion (awaiting it on the executor) before issuing the next, so calls never overlap.
// The one call from elsewhere, ``abort()``, touches no libpq state: it shuts the socket down
// under `lifecycle`'s lock, which ``close()`` takes before the descriptor is released.
final class PostgresConnection: PooledConnection, @unchecked Sendable {
    private let handle: OpaquePointer
    /// The server this connection reached (`host:port`; with a multi-host URL, the one chosen).
    let address: String
    private let socket: Int32
    private let lifecycle = NIOLockedValueBox((closed: false, aborted: false))

    /// Opens a connection (blocking). `url` is a libpq connection URI or key/value string; with
    /// several hosts, `preferredAddress` (`host:port`, one of them) is tried first.
    init(url: String, connectTimeout: Duration, applicationName: String, preferredAddress: String? = nil) throws {
        let seconds = String(max(1, connectTimeout.components.seconds))
        // Both arrays are NULL-terminated, as PQconnectdbParams requires. Keywords after dbname
        // override what the expanded URL says.
        var keywords: [String?] = ["dbname", "connect_timeout", "application_name"]
        var values: [String?] = [url, seconds, applicationName]
        if let preferredAddress, let order = Self.hosts(of: url, preferring: preferredAddress) {
            keywords += ["host", "port"]
            values += [order.hosts, order.ports]
        }
        keywords.append(nil)
        values.append(nil)
        let connection: OpaquePointer? = withCStringArray(keywords) { keywordPointers in
            withCStringArray(values) { valuePointers in
                PQconnectdbParams(keywordPointers, valuePointers, 1)
            }
        }
        guard let connection else {
            throw ClientError(.unreachable, client: "postgres", "libpq could not allocate a connection")
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = Self.trimmed(PQerrorMessage(connection))
            PQfinish(connection)
            throw ClientError(.unreachable, client: "postgres", message)
        }
        self.handle = connection
        self.socket = PQsocket(connection)
        let host = PQhost(connection).map { String(cString: $0) } ?? ""
        let port = PQport(connection).map { String(cString: $0) } ?? ""
        self.address = "\(host):\(port)"
    }

    /// libpq's complaint about a connection string, or nil when it parses.
    static func parseProblem(_ url: String) -> String? {
        var failure: UnsafeMutablePointer<CChar>?
        if let options = PQconninfoParse(url, &failure) {
            PQconninfoFree(options)
            return nil
        }
        defer { if let failure { PQfreemem(failure) } }
        return failure.map { Self.trimmed($0) } ?? "not a connection string"
    }

    /// The URL's hosts and ports as libpq lists, `preferred` moved first; nil when the URL
    /// names one host or not that one.
    static func hosts(of url: String, preferring preferred: String) -> (hosts: String, ports: String)? {
        var failure: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(url, &failure) else {
            if let failure { PQfreemem(failure) }
            return nil
        }
        defer { PQconninfoFree(options) }
        var hostList = "", portList = ""
        var option = options
        while let keyword = option.pointee.keyword {
            let name = String(cString: keyword)
            if name == "host", let value = option.pointee.val { hostList = String(cString: value) }
            if name == "port", let value = option.pointee.val { portList = String(cString: value) }
            option += 1
        }
        let hosts = hostList.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard hosts.count > 1 else { return nil }
        var ports = portList.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        // One port (or none) applies to every host.
        if ports.count <= 1 { ports = Array(repeating: ports.first.flatMap { $0.isEmpty ? nil : $0 } ?? "5432", count: hosts.count) }
        guard ports.count == hosts.count else { return nil }
        let pairs = zip(hosts, ports).map { (host: $0, port: $1.isEmpty ? "5432" : $1) }
        guard let index = pairs.firstIndex(where: { "\($0.host):\($0.port)" == preferred }) else { return nil }
        let ordered = [pairs[index]] + pairs.enumerated().filter { $0.offset != index }.map(\.element)
        return (ordered.map(\.host).joined(separator: ","), ordered.map(\.port).joined(separator: ","))
    }

    /// True when the connection must not be handed out again: the server closed it, or it is
    /// not idle (a transaction left open or failed, e.g. by a task cancelled between BEGIN and
    /// COMMIT), since the next user's statements would run inside that transaction.
    var isBroken: Bool {
        if self.lifecycle.withLockedValue({ $0.aborted }) { return true }
        guard PQtransactionStatus(self.handle) == PQTRANS_IDLE, PQpipelineStatus(self.handle) == PQ_PIPELINE_OFF else { return true }
        // Reading pending input is non-blocking; it notices a server that closed the socket.
        PQconsumeInput(self.handle)
        return PQstatus(self.handle) != CONNECTION_OK
    }

    func close() {
        self.lifecycle.withLockedValue { $0.closed = true }
        PQfinish(self.handle)
    }

    /// Ends the connection from any thread, at once: the statement in flight fails (a server
    /// that is stopped, not dead, would otherwise hold it until TCP gives up) and the pool
    /// discards the connection when it comes back. The server rolls back what was not committed.
    func abort() {
        self.lifecycle.withLockedValue { state in
            guard !state.closed, !state.aborted else { return }
            state.aborted = true
            if self.socket >= 0 { _ = Glibc.shutdown(self.socket, Int32(SHUT_RDWR)) }
        }
    }

    /// Runs one statement with text parameters (blocking).
    func execute(_ sql: String, _ parameters: [String?]) throws -> PostgresRows {
        let result = withCStringArray(parameters) { pointers in
            PQexecParams(self.handle, sql, Int32(parameters.count), nil, pointers, nil, nil, 0)
        }
        return try self.consume(result)
    }

    /// Statements queued by ``PostgresSession/enqueue(_:_:)`` to go out with the next one awaited.
    /// Touched only by the task that leased the connection (see the type's Sendable note).
    var queued: [(sql: String, parameters: [String?])] = []

    /// True inside a transaction block (begun, or failed and not yet rolled back).
    var inTransaction: Bool { PQtransactionStatus(self.handle) != PQTRANS_IDLE }

    /// Runs `statements` in order in one round trip (libpq pipeline mode, one Sync) and returns
    /// each one's rows (blocking). After a failure the server skips the rest; the first failure
    /// is thrown. Outside a transaction block the statements form one implicit transaction.
    func executePipeline(_ statements: [(sql: String, parameters: [String?])]) throws -> [PostgresRows] {
        if statements.count == 1, let only = statements.first { return [try self.execute(only.sql, only.parameters)] }
        guard !statements.isEmpty else { return [] }
        guard PQenterPipelineMode(self.handle) == 1 else { throw self.failure("could not enter pipeline mode") }
        // Sent without blocking, reading while writing: a server that answers early statements
        // while later ones are still being sent must never wait on a client that waits on it.
        PQsetnonblocking(self.handle, 1)
        for statement in statements {
            let sent = withCStringArray(statement.parameters) { pointers in
                PQsendQueryParams(self.handle, statement.sql, Int32(statement.parameters.count), nil, pointers, nil, nil, 0)
            }
            // The connection is left in pipeline mode, so the pool discards it (isBroken).
            guard sent == 1 else { throw self.failure("could not send a statement") }
        }
        guard PQpipelineSync(self.handle) == 1 else { throw self.failure("could not send the pipeline's sync") }
        try self.flushReading()
        PQsetnonblocking(self.handle, 0)
        var results: [PostgresRows] = []
        results.reserveCapacity(statements.count)
        var firstError: (any Error)?
        for _ in statements {
            guard let result = PQgetResult(self.handle) else { throw self.failure("the pipeline ended early") }
            if PQresultStatus(result) == PGRES_PIPELINE_ABORTED {
                PQclear(result)
                results.append(PostgresRows(columns: [], rows: [], affectedRows: 0))
            } else {
                do {
                    results.append(try self.consume(result))
                } catch {
                    firstError = firstError ?? error
                    results.append(PostgresRows(columns: [], rows: [], affectedRows: 0))
                }
            }
            // Each statement's results end with a NULL.
            while let extra = PQgetResult(self.handle) { PQclear(extra) }
        }
        guard let sync = PQgetResult(self.handle) else { throw self.failure("the pipeline's sync was not answered") }
        let synced = PQresultStatus(sync) == PGRES_PIPELINE_SYNC
        PQclear(sync)
        guard synced, PQexitPipelineMode(self.handle) == 1 else { throw self.failure("the pipeline did not end cleanly") }
        if let firstError { throw firstError }
        return results
    }

    /// Sends what libpq buffered, reading the server's answers meanwhile (non-blocking mode).
    private func flushReading() throws {
        while true {
            let flushed = PQflush(self.handle)
            if flushed == 0 { return }
            guard flushed == 1 else { throw self.failure("could not send the pipeline") }
            var descriptor = pollfd(fd: self.socket, events: Int16(POLLIN | POLLOUT), revents: 0)
            guard poll(&descriptor, 1, -1) >= 0 || errno == EINTR else { throw self.failure("poll failed") }
            if descriptor.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0, PQconsumeInput(self.handle) != 1 {
                throw self.failure("the connection failed while sending")
            }
        }
    }

    private func failure(_ what: String) -> ClientError {
        ClientError(.unreachable, client: "postgres", "\(what): \(Self.trimmed(PQerrorMessage(self.handle)))")
    }

    /// Runs a script of one or more statements without parameters (blocking).
    func executeScript(_ sql: String) throws {
        _ = try self.consume(PQexec(self.handle, sql))
        // PQexec returns only the last result; drain nothing else is pending.
    }

    /// Streams `data` (COPY text format) into `COPY … FROM STDIN` (blocking). Returns rows copied.
    func copy(_ sql: String, data: [UInt8]) throws -> Int {
        let start = PQexec(self.handle, sql)
        guard PQresultStatus(start) == PGRES_COPY_IN else {
            _ = try self.consume(start)
            throw ClientError(.serverError, client: "postgres", "COPY did not enter COPY IN mode")
        }
        PQclear(start)
        let chunk = 1 << 20
        var failure: String?
        data.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            var offset = 0
            while offset < buffer.count {
                let length = min(chunk, buffer.count - offset)
                let sent = (base + offset).withMemoryRebound(to: CChar.self, capacity: length) {
                    PQputCopyData(self.handle, $0, Int32(length))
                }
                if sent != 1 {
                    failure = Self.trimmed(PQerrorMessage(self.handle))
                    return
                }
                offset += length
            }
        }
        if PQputCopyEnd(self.handle, failure) != 1 {
            failure = failure ?? Self.trimmed(PQerrorMessage(self.handle))
        }
        var copied = 0
        var serverError: (any Error)?
        while let result = PQgetResult(self.handle) {
            do {
                let rows = try self.consume(result)
                copied = rows.affectedRows
            } catch {
                serverError = serverError ?? error
            }
        }
        if let serverError { throw serverError }
        if let failure { throw ClientError(.unreachable, client: "postgres", failure) }
        return copied
    }

    private func consume(_ result: OpaquePointer?) throws -> PostgresRows {
        guard let result else {
            throw ClientError(.unreachable, client: "postgres", Self.trimmed(PQerrorMessage(self.handle)))
        }
        defer { PQclear(result) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return PostgresRows(columns: [], rows: [], affectedRows: Self.affectedRows(result))
        case PGRES_TUPLES_OK, PGRES_SINGLE_TUPLE:
            let columnCount = Int(PQnfields(result))
            let rowCount = Int(PQntuples(result))
            var columns: [String] = []
            columns.reserveCapacity(columnCount)
            for column in 0..<columnCount { columns.append(String(cString: PQfname(result, Int32(column)))) }
            var rows: [[String?]] = []
            rows.reserveCapacity(rowCount)
            for row in 0..<rowCount {
                var values: [String?] = []
                values.reserveCapacity(columnCount)
                for column in 0..<columnCount {
                    if PQgetisnull(result, Int32(row), Int32(column)) == 1 {
                        values.append(nil)
                    } else {
                        values.append(String(cString: PQgetvalue(result, Int32(row), Int32(column))))
                    }
                }
                rows.append(values)
            }
            return PostgresRows(columns: columns, rows: rows, affectedRows: rowCount)
        default:
            let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            let primary = PQresultErrorField(result, Int32(UInt8(ascii: "M"))).map { String(cString: $0) }
            if PQstatus(self.handle) != CONNECTION_OK {
                throw ClientError(.unreachable, client: "postgres", primary ?? Self.trimmed(PQerrorMessage(self.handle)), serverCode: state)
            }
            throw ClientError(.serverError, client: "postgres", primary ?? "statement failed", serverCode: state)
        }
    }

    private static func affectedRows(_ result: OpaquePointer) -> Int {
        guard let text = PQcmdTuples(result) else { return 0 }
        return Int(String(cString: text)) ?? 0
    }

    private static func trimmed(_ message: UnsafePointer<CChar>?) -> String {
        guard let message else { return "unknown libpq error" }
        let text = String(cString: message)
        let cleaned = text.split(whereSeparator: \.isNewline).joined(separator: " ")
        return cleaned.isEmpty ? "unknown libpq error" : cleaned
    }
}

/// Calls `body` with a C array of C strings (NULL entries for nil) valid for the call.
func withCStringArray<Result>(_ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> Result) -> Result {
    var storage: [UnsafeMutablePointer<CChar>?] = strings.map { $0.flatMap { strdup($0) } }
    defer { for pointer in storage { free(pointer) } }
    return storage.withUnsafeMutableBufferPointer { buffer in
        buffer.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: max(buffer.count, 1)) { body($0) }
    }
}
