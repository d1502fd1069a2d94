import ClientRuntime
import Foundation
import LibPQ
import Testing

@Suite("PostgreSQL client (libpq)")
struct PostgresTests {
    func client(_ url: String, statementTimeout: Duration = .seconds(30)) -> PostgresClient {
        PostgresClient(configuration: .init(url: url, name: "postgres.test", pool: .init(maximumConnections: 4), statementTimeout: statementTimeout, connectTimeout: .seconds(2)))
    }

    @Test("parameters and results round-trip through a real server")
    func roundTrip() async throws {
        let client = client(try TestStack.metadataURL)
        let table = TestStack.unique("it_roundtrip")
        try await client.query("CREATE TABLE \(table) (name text, count int, ratio double precision, ok boolean, at timestamptz, note text)")
        let at = Date(timeIntervalSince1970: 1_790_000_000.25)
        let inserted = try await client.withSession {
            try await $0.execute("INSERT INTO \(table) VALUES ($1, $2, $3, $4, $5, $6)", ["tab\there 'quoted' ünïcode", 42, 0.5, true, at, nil])
        }
        #expect(inserted == 1)
        let row = try #require(try await client.query("SELECT * FROM \(table)").first)
        #expect(row["name"] == "tab\there 'quoted' ünïcode")
        #expect(row.int("count") == 42)
        #expect(row.double("ratio") == 0.5)
        #expect(row.bool("ok") == true)
        #expect(row.date("at") == at)
        #expect(row["note"] == nil)
        try await client.query("DROP TABLE \(table)")
        await client.shutdown()
    }

    @Test("a transaction commits on success and rolls back on error")
    func transactions() async throws {
        let client = client(try TestStack.metadataURL)
        let table = TestStack.unique("it_tx")
        try await client.query("CREATE TABLE \(table) (id int PRIMARY KEY)")
        struct Abort: Error {}
        await #expect(throws: Abort.self) {
            try await client.withTransaction { session in
                try await session.execute("INSERT INTO \(table) VALUES (1)")
                throw Abort()
            }
        }
        try await client.withTransaction { try await $0.execute("INSERT INTO \(table) VALUES (2)") }
        let ids = try await client.query("SELECT id FROM \(table) ORDER BY id").rows.map { $0[0] }
        #expect(ids == ["2"])
        let duplicate = await #expect(throws: ClientError.self) { try await client.query("INSERT INTO \(table) VALUES (2)") }
        #expect(duplicate?.serverCode == "23505")
        #expect(duplicate?.code == .serverError)
        try await client.query("DROP TABLE \(table)")
        await client.shutdown()
    }

    @Test("queued statements go out with the next one in one pipeline, in order; a failure among them fails the transaction with its SQLSTATE")
    func pipelines() async throws {
        let client = client(try TestStack.metadataURL)
        let table = TestStack.unique("it_pipe")
        try await client.query("CREATE TABLE \(table) (id int PRIMARY KEY, note text)")
        // Queued writes, then a read that sees them: one round trip, statements in order.
        let seen = try await client.withTransaction { session in
            try session.enqueue("INSERT INTO \(table) VALUES (1, $1)", ["one"])
            try session.enqueue("UPDATE \(table) SET note = note || '+' WHERE id = 1")
            return try await session.query("SELECT note FROM \(table) WHERE id = 1").first?["note"]
        }
        #expect(seen == "one+")
        // Several reads at once, each with its own rows.
        let results = try await client.withSession { session in
            try await session.pipeline([("SELECT $1::int + 1 AS n", [41]), ("SELECT count(*) AS n FROM \(table)", []), ("SELECT 'x' AS n WHERE false", [])])
        }
        #expect(results.map { $0.first?["n"] } == ["42", "1", nil])
        // A queued write that fails (a duplicate key) fails the transaction: the writes queued
        // before it are rolled back, the statements after it are not run.
        let duplicate = await #expect(throws: ClientError.self) {
            try await client.withTransaction { session in
                try session.enqueue("INSERT INTO \(table) VALUES (2, 'two')")
                try session.enqueue("INSERT INTO \(table) VALUES (1, 'again')")
                try session.enqueue("INSERT INTO \(table) VALUES (3, 'three')")
            }
        }
        #expect(duplicate?.serverCode == "23505")
        let ids = try await client.query("SELECT id FROM \(table) ORDER BY id").rows.map { $0[0] }
        #expect(ids == ["1"])
        // Queued outside a transaction and never followed: still sent when the session ends.
        try await client.withSession { session in try session.enqueue("INSERT INTO \(table) VALUES (4, 'late')") }
        #expect(try await client.query("SELECT note FROM \(table) WHERE id = 4").first?["note"] == "late")
        // A NUL is refused when queued, before anything is sent.
        let nul = await #expect(throws: ClientError.self) {
            try await client.withSession { session in try session.enqueue("INSERT INTO \(table) VALUES (5, $1)", ["a\u{0}b"]) }
        }
        #expect(nul?.code == .invalidRequest)
        // A body that fails before its first statement leaves nothing open: the pool's connections stay usable.
        struct Early: Error {}
        for _ in 0..<8 {
            await #expect(throws: Early.self) { try await client.withTransaction { _ in throw Early() } }
        }
        #expect(try await client.query("SELECT count(*) AS n FROM \(table)").first?["n"] == "2")
        try await client.query("DROP TABLE \(table)")
        await client.shutdown()
    }

    @Test("a pipeline whose early answers are large while later statements are still being sent does not deadlock")
    func largePipeline() async throws {
        let client = client(try TestStack.metadataURL)
        // About 8 MB of answer to the first statement and 8 MB of parameter in the second: more
        // than both sockets' buffers, so each side must read while it writes.
        let big = String(repeating: "p", count: 8 << 20)
        let results = try await client.withSession { session in
            try await session.pipeline([("SELECT repeat('a', 1024) AS chunk FROM generate_series(1, 8192)", []), ("SELECT length($1) AS n", [big])])
        }
        #expect(results.first?.rows.count == 8192)
        #expect(results.last?.first?["n"] == String(8 << 20))
        await client.shutdown()
    }

    @Test("COPY FROM STDIN loads rows with escaped text and bytea exactly")
    func copy() async throws {
        let client = client(try TestStack.timeseriesURL)
        let table = TestStack.unique("it_copy")
        try await client.query("CREATE TABLE \(table) (id bigint, label text, value double precision, blob bytea)")
        var rows = PostgresCopyBuffer()
        for index in 0..<5_000 {
            rows.append(index)
            if index % 100 == 0 { rows.appendNull() } else { rows.append("line\(index)\twith\\back\nslash") }
            rows.append(Double(index) / 4)
            // Every byte value, the ones COPY text treats specially among them, shifted per row.
            rows.append(bytea: (0..<256).map { UInt8(truncatingIfNeeded: $0 + index) })
            rows.endRow()
        }
        let copied = try await client.copy(into: table, columns: ["id", "label", "value", "blob"], rows: rows)
        #expect(copied == 5_000)
        let summary = try await client.query("SELECT count(*) AS n, count(label) AS labelled, sum(value) AS total FROM \(table)")
        #expect(summary.first?.int("n") == 5_000)
        #expect(summary.first?.int("labelled") == 4_950)
        #expect(summary.first?.double("total") == (0..<5_000).reduce(0.0) { $0 + Double($1) / 4 })
        let sample = try await client.query("SELECT label, blob FROM \(table) WHERE id = 7")
        #expect(sample.first?["label"] == "line7\twith\\back\nslash")
        #expect(sample.first?["blob"].flatMap(PostgresBytea.bytes(fromText:)) == (0..<256).map { UInt8(truncatingIfNeeded: $0 + 7) })
        #expect(try await client.query("SELECT count(*) AS n FROM \(table) WHERE octet_length(blob) = 256").first?.int("n") == 5_000)
        await #expect(throws: ClientError.self) { _ = try await client.copy(into: "bad name; drop", columns: ["id"], rows: rows) }
        try await client.query("DROP TABLE \(table)")
        await client.shutdown()
    }

    @Test("COPY text: plain text copied as it is, the four special characters escaped, integers of any sign and size, bytea as escaped hex")
    func copyEncoding() {
        var rows = PostgresCopyBuffer()
        rows.append("0d5c7a4e-plain metric.name é")
        rows.append("tab\tnew\nret\rback\\")
        rows.append(String(decoding: [0x61, 0x5C], as: UTF8.self))
        rows.endRow()
        for value in [0, 7, -7, 10, -1_000_000, Int.max, Int.min] { rows.append(value) }
        rows.endRow()
        rows.append(bytea: [0x00, 0x5C, 0x09, 0xFF])
        rows.append(bytea: [])
        rows.endRow()
        #expect(String(decoding: rows.bytes, as: UTF8.self) == "0d5c7a4e-plain metric.name é\ttab\\tnew\\nret\\rback\\\\\ta\\\\\n"
                + "0\t7\t-7\t10\t-1000000\t9223372036854775807\t-9223372036854775808\n"
                + "\\\\x005c09ff\t\\\\x\n")
        #expect(rows.rowCount == 3)
    }

    @Test("the statement timeout cancels a long query with SQLSTATE 57014")
    func statementTimeout() async throws {
        let client = client(try TestStack.metadataURL, statementTimeout: .milliseconds(200))
        let error = await #expect(throws: ClientError.self) { try await client.query("SELECT pg_sleep(3)") }
        #expect(error?.serverCode == "57014")
        #expect(try await client.query("SELECT 1 AS one").first?.int("one") == 1)
        await client.shutdown()
    }

    @Test("a shutdown waits for a statement in flight only for its grace, then aborts it")
    func shutdownAbortsAfterGrace() async throws {
        let client = client(try TestStack.metadataURL)
        let running = Task { try await client.query("SELECT pg_sleep(30)") }
        try await Task.sleep(for: .milliseconds(300))
        await client.shutdown(grace: .milliseconds(200))
        // Had the shutdown waited for it, the statement would have succeeded.
        let outcome = await running.result
        #expect(throws: ClientError.self) { try outcome.get() }
    }

    @Test("the time-series database runs TimescaleDB")
    func timescale() async throws {
        let client = client(try TestStack.timeseriesURL)
        let version = try await client.query("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").first?["extversion"]
        #expect(version?.hasPrefix("2.") == true)
        await client.shutdown()
    }

    @Test("migrations apply once under concurrent runners, and a failing one rolls back")
    func migrations() async throws {
        let client = client(try TestStack.metadataURL)
        let scope = TestStack.unique("it_scope")
        let table = TestStack.unique("it_migrated")
        let migrations = [
            Migration(version: 1, name: "create", sql: "CREATE TABLE \(table) (id int); INSERT INTO \(table) VALUES (1);"),
            Migration(version: 2, name: "add column", sql: "ALTER TABLE \(table) ADD COLUMN note text;"),
        ]
        let runner = MigrationRunner(scope: scope, migrations: migrations)
        let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
            for _ in 0..<4 { group.addTask { try await runner.run(on: client, logger: TestStack.logger) } }
            return try await group.reduce(into: [Int]()) { $0 += $1 }
        }
        #expect(applied.sorted() == [1, 2])
        #expect(try await client.query("SELECT count(*) AS n FROM \(table)").first?.int("n") == 1)
        #expect(try await runner.run(on: client, logger: TestStack.logger).isEmpty)

        let failing = MigrationRunner(scope: scope, migrations: migrations + [
            Migration(version: 3, name: "broken", sql: "CREATE TABLE \(table)_x (id int); SELECT no_such_function();"),
        ])
        await #expect(throws: ClientError.self) { try await failing.run(on: client, logger: TestStack.logger) }
        let recorded = try await client.query("SELECT version FROM sensormine_migrations WHERE scope = $1 ORDER BY version", [scope]).rows.map { $0[0] }
        #expect(recorded == ["1", "2"])
        #expect(try await client.query("SELECT to_regclass($1) AS t", ["\(table)_x"]).first?["t"] == nil)
        try await client.query("DROP TABLE \(table)")
        try await client.query("DELETE FROM sensormine_migrations WHERE scope = $1", [scope])
        await client.shutdown()
    }

    @Test("an unreachable server gives a clear error")
    func unreachable() async throws {
        let client = client("postgresql://sensormine@127.0.0.1:1/none")
        let error = await #expect(throws: ClientError.self) { try await client.ping() }
        #expect(error?.code == .unreachable)
        #expect(error?.description.contains("127.0.0.1") == true)
        await client.shutdown()
    }

    @Test("the pool recovers by itself after the server restarts")
    func survivesRestart() async throws {
        let port = ScratchPort.postgres
        try await TestStack.scratch("start", "postgres", port: port)
        let client = client("postgresql://postgres@127.0.0.1:\(port)/postgres")
        #expect(try await client.query("SELECT 1 AS one").first?.int("one") == 1)
        try await TestStack.scratch("stop", "postgres", port: port)
        let down = await #expect(throws: ClientError.self) { try await client.ping() }
        #expect(down?.code == .unreachable)
        try await TestStack.scratch("start", "postgres", port: port)
        // The first query after the restart must succeed: stale pooled connections are detected
        // and replaced before use.
        #expect(try await client.query("SELECT 2 AS two").first?.int("two") == 2)
        await client.shutdown()
        try await TestStack.scratch("stop", "postgres", port: port)
    }
}

extension PostgresTests {
    @Test("a connection returned inside a transaction, or after a task was cancelled in one, is never handed out again")
    func neverLeasedInsideATransaction() async throws {
        let client = PostgresClient(configuration: .init(url: try TestStack.metadataURL, name: "postgres.test", pool: .init(maximumConnections: 1)))
        let table = TestStack.unique("it_leak")
        try await client.query("CREATE TABLE \(table) (id int)")
        // BEGIN without COMMIT on the pool's only connection: were it reused, the next statement
        // would run in that transaction and see its uncommitted row.
        try await client.withSession { session in
            try await session.execute("BEGIN")
            try await session.execute("INSERT INTO \(table) VALUES (1)")
        }
        #expect(try await client.query("SELECT count(*) AS n FROM \(table)").first?.int("n") == 0)
        #expect(try await client.query("SELECT txid_current_if_assigned() IS NULL AS fresh").first?.bool("fresh") == true)

        // A task cancelled while it waits inside a transaction.
        let task = Task {
            try await client.withSession { session in
                try await session.execute("BEGIN")
                try await session.execute("INSERT INTO \(table) VALUES (2)")
                try await Task.sleep(for: .seconds(30))
            }
        }
        try await Task.sleep(for: .milliseconds(300))
        task.cancel()
        _ = await task.result
        #expect(try await client.query("SELECT count(*) AS n FROM \(table)").first?.int("n") == 0)
        try await client.query("DROP TABLE \(table)")
        await client.shutdown()
    }

    @Test("a text parameter with U+0000 is refused as a data error, never cut short")
    func nulParameter() async throws {
        let client = client(try TestStack.metadataURL)
        let refused = await #expect(throws: ClientError.self) { try await client.query("SELECT $1::text AS t", ["before\u{0}after"]) }
        #expect(refused?.serverCode == SQLState.characterNotInRepertoire)
        #expect(refused.map { SQLState.isDataRefusal($0) } == true)
        // What the server refuses in COPY is a data refusal too; a lost server is not.
        #expect(SQLState.isDataRefusal(ClientError(.unreachable, client: "postgres", "gone")) == false)
        await client.shutdown()
    }
}
