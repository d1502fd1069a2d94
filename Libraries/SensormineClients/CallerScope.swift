import Foundation
import LibPQ
import SensormineCore

extension PostgresClient {
    /// Runs `body` in a transaction scoped to `caller` for row-level security: the policies of
    /// every service's tables read `sensormine.tenant` and `sensormine.platform_admin`, set here
    /// for this transaction only.
    /// - Throws: what PostgreSQL or `body` throws; the transaction is rolled back.
    public func withCaller<Result: Sendable>(_ caller: CallerIdentity, _ body: @Sendable (PostgresSession) async throws -> Result) async throws -> Result {
        try await self.withTransaction { session in
            try session.enqueue(
                "SELECT set_config('sensormine.tenant', $1, true), set_config('sensormine.platform_admin', $2, true)",
                [caller.tenantID, caller.isPlatformAdmin ? "on" : "off"]
            )
            return try await body(session)
        }
    }

    /// Runs `body` in a transaction that sees every tenant's rows: a service's own work across
    /// tenants (consumers, sweeps), never on a caller's behalf.
    /// - Throws: what PostgreSQL or `body` throws; the transaction is rolled back.
    public func withPlatformScope<Result: Sendable>(_ body: @Sendable (PostgresSession) async throws -> Result) async throws -> Result {
        try await self.withTransaction { session in
            try session.enqueue("SELECT set_config('sensormine.platform_admin', 'on', true)")
            return try await body(session)
        }
    }

    /// Runs `body` in a transaction that sees one tenant's rows of the time-series tables
    /// (their row-level security reads `sensormine.tenant`), whatever the session's default.
    /// - Throws: what PostgreSQL or `body` throws; the transaction is rolled back.
    public func withTenant<Result: Sendable>(_ tenant: UUID, _ body: @Sendable (PostgresSession) async throws -> Result) async throws -> Result {
        try await self.withTransaction { session in
            try session.enqueue("SELECT set_config('sensormine.tenant', $1, true)", [tenant])
            return try await body(session)
        }
    }
}

extension PostgresClient.Configuration {
    /// The session setting under which a connection sees every tenant's time-series rows:
    /// for the writers (Ingestion) only; readers scope each transaction with ``PostgresClient/withTenant(_:_:)``.
    public static let allTenants: [String: String] = ["sensormine.tenant": "*"]
}
