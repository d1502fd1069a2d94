import ClientRuntime
import Foundation
import LibPQ
import SensormineCore

/// Users and refresh tokens in PostgreSQL, under the same row-level security as tenants.
struct UserRepository: Sendable {
    let tenants: TenantRepository
    private var database: PostgresClient { self.tenants.database }

    /// The identity sign-in runs with: the flow must find a user before anyone is known, so it
    /// uses platform scope, only for the statements below.
    static let signInScope = CallerIdentity(subject: "sign-in", tenantID: UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)), roles: [.platformAdmin])

    /// A user row with its password hash, for sign-in only.
    struct Credentials: Sendable {
        var user: User
        var passwordHash: String
    }

    func insert(tenantID: UUID, email: String, passwordHash: String, roles: [Role], caller: CallerIdentity) async throws -> User {
        try await self.tenants.withCaller(caller) { session in
            let tenant = try await session.query("SELECT 1 FROM tenants WHERE id = $1", [tenantID])
            guard !tenant.rows.isEmpty else { throw UserError.tenantNotFound(tenantID) }
            do {
                let rows = try await session.query(
                    """
                    INSERT INTO users (id, tenant_id, email, password_hash, roles) VALUES ($1, $2, $3, $4, $5::text[])
                    RETURNING id, tenant_id, email, roles::text AS roles, created_at
                    """,
                    [UUID(), tenantID, email, passwordHash, "{" + roles.map(\.rawValue).joined(separator: ",") + "}"]
                )
                guard let user = rows.all.first.map(Self.decode) else { throw UserError.tenantNotFound(tenantID) }
                return user
            } catch let error as ClientError where error.serverCode == SQLState.uniqueViolation {
                throw UserError.emailTaken
            }
        }
    }

    func list(tenantID: UUID, caller: CallerIdentity) async throws -> [User] {
        try await self.tenants.withCaller(caller) { session in
            guard !(try await session.query("SELECT 1 FROM tenants WHERE id = $1", [tenantID])).rows.isEmpty else {
                throw UserError.tenantNotFound(tenantID)
            }
            return try await session.query(
                "SELECT id, tenant_id, email, roles::text AS roles, created_at FROM users WHERE tenant_id = $1 ORDER BY lower(email)", [tenantID]
            ).all.map(Self.decode)
        }
    }

    func credentials(email: String) async throws -> Credentials? {
        try await self.tenants.withCaller(Self.signInScope) { session in
            try await session.query(
                "SELECT id, tenant_id, email, roles::text AS roles, created_at, password_hash FROM users WHERE lower(email) = lower($1)", [email]
            ).all.first.map { Credentials(user: Self.decode($0), passwordHash: $0["password_hash"] ?? "") }
        }
    }

    func platformAdminExists() async throws -> Bool {
        try await self.tenants.withCaller(Self.signInScope) { session in
            !(try await session.query("SELECT 1 FROM users WHERE 'platform-admin' = ANY (roles) LIMIT 1").rows.isEmpty)
        }
    }

    func storeRefreshToken(digest: String, userID: UUID, lifetime: Duration) async throws {
        _ = try await self.tenants.withCaller(Self.signInScope) { session in
            try await session.execute(
                "INSERT INTO refresh_tokens (token_hash, user_id, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3))",
                [digest, userID, Int(lifetime.components.seconds)]
            )
        }
    }

    /// Revokes a live refresh token and returns its user; nil when unknown, expired or revoked.
    /// Rotation: every refresh token works once.
    func consumeRefreshToken(digest: String) async throws -> User? {
        try await self.tenants.withCaller(Self.signInScope) { session in
            let consumed = try await session.query(
                """
                UPDATE refresh_tokens SET revoked_at = now()
                WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now() RETURNING user_id
                """,
                [digest]
            )
            guard let userID = consumed.rows.first?.first.flatMap({ $0 }) else { return nil }
            return try await session.query("SELECT id, tenant_id, email, roles::text AS roles, created_at FROM users WHERE id = $1::uuid", [userID])
                .all.first.map(Self.decode)
        }
    }

    private static func decode(_ row: PostgresRow) -> User {
        let roles = (row["roles"] ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "{}")).split(separator: ",").compactMap { Role(rawValue: String($0)) }
        return User(
            id: row["id"].flatMap(UUID.init(uuidString:)) ?? UUID(),
            tenantId: row["tenant_id"].flatMap(UUID.init(uuidString:)) ?? UUID(),
            email: row["email"] ?? "",
            roles: roles,
            createdAt: row.date("created_at") ?? Date(timeIntervalSince1970: 0)
        )
    }
}
