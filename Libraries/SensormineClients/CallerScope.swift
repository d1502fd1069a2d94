import LibPQ
import SensormineCore

extension PostgresClient {
    /// Runs `body` in a transaction scoped to `caller` for row-level security: the policies of
    /// every service's tables read `sensormine.tenant` and `sensormine.platform_admin`, set here
    /// for this transaction only.
    /// - Throws: what PostgreSQL or `body` throws; the transaction is rolled back.
    public func withCaller<Result: Sendable>(_ caller: CallerIdentity, _ body: @Sendable (PostgresSession) async throws -> Result) async throws -> Result {
        try await self.withTransaction { session in
            try await session.query(
                "SELECT set_config('sensormine.tenant', $1, true), set_config('sensormine.platform_admin', $2, true)",
                [caller.tenantID, caller.isPlatformAdmin ? "on" : "off"]
            )
            return try await body(session)
        }
    }
}
