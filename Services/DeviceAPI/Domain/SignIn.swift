import Foundation
import Logging
import SensormineAuth
import SensormineCore

/// Sign-in: password and refresh-token grants, and the bootstrap platform-admin.
struct SignIn: Sendable {
    let users: UserRepository
    let tenants: TenantRepository
    let hasher: PasswordHasher
    let tokens: AccessTokens
    let refreshTokenLifetime: Duration

    func token(_ request: TokenRequest) async throws -> TokenResponse {
        let user: User
        switch request.grant_type {
        case "password":
            guard let username = request.username, let password = request.password,
                  let found = try await self.users.credentials(email: username),
                  await self.hasher.verify(password, against: found.passwordHash)
            else { throw UserError.invalidGrant }
            user = found.user
        case "refresh_token":
            guard let refresh = request.refresh_token,
                  let found = try await self.users.consumeRefreshToken(digest: OpaqueSecret.digest(refresh))
            else { throw UserError.invalidGrant }
            user = found
        default:
            throw UserError.invalid([.init(pointer: "/grant_type", detail: "must be password or refresh_token")])
        }
        let plan = try await self.tenants.find(user.tenantId, caller: UserRepository.signInScope)?.effective.plan
        let identity = CallerIdentity(subject: user.id.uuidString.lowercased(), tenantID: user.tenantId, roles: Set(user.roles), plan: plan)
        let access = try await self.tokens.issue(for: identity)
        let refresh = OpaqueSecret.generate(prefix: "smr_")
        try await self.users.storeRefreshToken(digest: OpaqueSecret.digest(refresh), userID: user.id, lifetime: self.refreshTokenLifetime)
        return TokenResponse(access_token: access.token, token_type: "Bearer", expires_in: access.expiresIn, refresh_token: refresh)
    }

    /// Creates the platform tenant and its platform-admin when none exists yet. With no password
    /// configured, one is generated and logged once, for the operator of a first run.
    func bootstrap(email: String, password: String?, logger: Logger) async throws {
        guard try await !self.users.platformAdminExists() else { return }
        let scope = UserRepository.signInScope
        let platform: Tenant
        do {
            platform = try await self.tenants.insert(name: "Platform", kind: .organisation, parent: nil, settings: TenantSettings(), caller: scope)
        } catch TenantError.nameTaken {
            return  // another replica is bootstrapping at the same moment
        }
        let chosen = password ?? OpaqueSecret.generate(prefix: "", bytes: 18)
        _ = try await self.users.insert(tenantID: platform.id, email: email, passwordHash: try await self.hasher.hash(chosen),
                                        roles: [.platformAdmin], caller: scope)
        if password == nil {
            logger.warning("bootstrap platform-admin created; this password is shown once", metadata: ["email": "\(email)", "password": "\(chosen)"])
        } else {
            logger.notice("bootstrap platform-admin created", metadata: ["email": "\(email)"])
        }
    }
}
