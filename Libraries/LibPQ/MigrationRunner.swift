import ClientRuntime
import Logging

/// One versioned schema change of a service.
public struct Migration: Sendable {
    /// Strictly increasing version number within a scope.
    public let version: Int
    /// Short description, recorded with the version.
    public let name: String
    /// The SQL script (may contain several statements).
    public let sql: String

    /// Creates a migration.
    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }
}

/// Applies a service's pending migrations exactly once, even when several replicas start at once:
/// every runner (of every service sharing the database) takes the same advisory lock, and each
/// migration commits in one transaction with
/// its bookkeeping row.
public struct MigrationRunner: Sendable {
    /// Whose migrations these are (the service name); versions are counted per scope.
    public let scope: String
    /// The migrations, any order; versions must be unique.
    public let migrations: [Migration]

    /// Creates a runner.
    public init(scope: String, migrations: [Migration]) {
        self.scope = scope
        self.migrations = migrations.sorted { $0.version < $1.version }
    }

    /// Applies what is pending and returns the versions applied now.
    /// - Throws: ``ClientError`` for duplicate versions or a failing migration (which is rolled back).
    @discardableResult
    public func run(on client: PostgresClient, logger: Logger) async throws -> [Int] {
        let versions = self.migrations.map(\.version)
        guard Set(versions).count == versions.count else {
            throw ClientError(.invalidRequest, client: "postgres", "duplicate migration versions in scope \(self.scope)")
        }
        return try await client.withSession { session in
            try await session.query("SELECT pg_advisory_lock(hashtextextended($1, 0))", ["sensormine.migrations"])
            do {
                let applied = try await self.applyPending(session, logger: logger)
                try await session.query("SELECT pg_advisory_unlock(hashtextextended($1, 0))", ["sensormine.migrations"])
                return applied
            } catch {
                _ = try? await session.query("SELECT pg_advisory_unlock(hashtextextended($1, 0))", ["sensormine.migrations"])
                throw error
            }
        }
    }

    private func applyPending(_ session: PostgresSession, logger: Logger) async throws -> [Int] {
        try await session.executeScript(
            """
            CREATE TABLE IF NOT EXISTS sensormine_migrations (
                scope text NOT NULL,
                version integer NOT NULL,
                name text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (scope, version)
            )
            """
        )
        let done = Set(
            try await session.query("SELECT version FROM sensormine_migrations WHERE scope = $1", [self.scope]).rows
                .compactMap { $0.first.flatMap { $0 }.flatMap { Int($0) } }
        )
        var applied: [Int] = []
        for migration in self.migrations where !done.contains(migration.version) {
            try await session.execute("BEGIN")
            do {
                try await session.executeScript(migration.sql)
                try await session.execute(
                    "INSERT INTO sensormine_migrations (scope, version, name) VALUES ($1, $2, $3)",
                    [self.scope, migration.version, migration.name]
                )
                try await session.execute("COMMIT")
            } catch {
                _ = try? await session.execute("ROLLBACK")
                logger.error("migration failed", metadata: ["scope": "\(self.scope)", "version": "\(migration.version)", "error": "\(error)"])
                throw error
            }
            logger.info("migration applied", metadata: ["scope": "\(self.scope)", "version": "\(migration.version)", "name": "\(migration.name)"])
            applied.append(migration.version)
        }
        return applied
    }
}
