import Foundation
import Hummingbird
import SensormineAuth
import SensormineCore

/// /api/v1/tenants/{id}/users: the users of a tenant the caller sees.
struct UserController: Sendable {
    let users: UserRepository
    let hasher: PasswordHasher

    func addRoutes(to group: RouterGroup<SensormineRequestContext>) {
        group.post("{id}/users", use: self.create)
        group.get("{id}/users", use: self.list)
    }

    /// POST: creates a user with a password (stored as a scrypt hash, never logged).
    @Sendable func create(_ request: Request, context: SensormineRequestContext) async throws -> EditedResponse<User> {
        let caller = try context.requireIdentity()
        let tenantID = try RouteParameters.uuid(context, what: "tenant")
        let body = try await request.decode(as: CreateUserRequest.self, context: context)
        try UserPolicy.check(body, caller: caller)
        let user = try await self.users.insert(
            tenantID: tenantID, email: body.email.trimmingCharacters(in: .whitespaces), passwordHash: try await self.hasher.hash(body.password),
            roles: Array(Set(body.roles)).sorted(), caller: caller
        )
        return EditedResponse(status: .created, response: user)
    }

    /// GET: the tenant's users.
    @Sendable func list(_ request: Request, context: SensormineRequestContext) async throws -> UserList {
        let caller = try context.requireIdentity()
        try CatalogPolicy.checkAdminister(caller)
        return UserList(items: try await self.users.list(tenantID: try RouteParameters.uuid(context, what: "tenant"), caller: caller))
    }
}

/// A list of users.
struct UserList: ResponseCodable, Sendable {
    var items: [User]
}

extension User: ResponseCodable {}
extension TokenResponse: ResponseCodable {}

/// /api/v1/auth/token: the token endpoint (public through the gateway).
struct AuthController: Sendable {
    let signIn: SignIn

    func addRoutes(to group: RouterGroup<SensormineRequestContext>) {
        group.post("token", use: self.token)
    }

    /// POST: exchanges a password or a refresh token for an access token and a new refresh token.
    @Sendable func token(_ request: Request, context: SensormineRequestContext) async throws -> TokenResponse {
        let body = try await request.decode(as: TokenRequest.self, context: context)
        return try await self.signIn.token(body)
    }
}
