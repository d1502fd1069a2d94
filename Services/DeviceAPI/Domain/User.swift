import Foundation
import HTTPTypes
import SensormineCore

/// A user as the API shows it (never with its password).
struct User: Codable, Sendable, Equatable {
    var id: UUID
    var tenantId: UUID
    var email: String
    var roles: [Role]
    var createdAt: Date
}

/// Body of POST /api/v1/tenants/{id}/users.
struct CreateUserRequest: Decodable, Sendable {
    var email: String
    var password: String
    var roles: [Role]
}

/// Body of POST /api/v1/auth/token (OAuth 2.0 password and refresh_token grants, as JSON).
struct TokenRequest: Decodable, Sendable {
    var grant_type: String
    var username: String?
    var password: String?
    var refresh_token: String?
}

/// Answer of the token endpoint.
struct TokenResponse: Codable, Sendable {
    var access_token: String
    var token_type: String
    var expires_in: Int
    var refresh_token: String
}

/// Failures of user and sign-in operations.
enum UserError: ProblemConvertible, Equatable {
    case invalid([ProblemDetails.FieldError])
    case forbidden(String)
    case emailTaken
    case tenantNotFound(UUID)
    case invalidGrant

    var apiError: APIError {
        switch self {
        case .invalid(let errors): .validationFailed("the request is invalid", errors: errors)
        case .forbidden(let reason): .forbidden(reason)
        case .emailTaken: .conflict("a user with this e-mail address already exists")
        case .tenantNotFound(let id): .notFound("no tenant \(id) is visible to the caller")
        case .invalidGrant: APIError(status: .badRequest, slug: "invalid-grant", title: "Invalid grant",
                                     detail: "the credentials or refresh token are not valid")
        }
    }
}

/// Who may create which users.
enum UserPolicy {
    static func check(_ request: CreateUserRequest, caller: CallerIdentity) throws(UserError) {
        var errors: [ProblemDetails.FieldError] = []
        let email = request.email.trimmingCharacters(in: .whitespaces)
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        if email.count > 254 || parts.count != 2 || parts[0].isEmpty || !parts[1].contains(".") {
            errors.append(.init(pointer: "/email", detail: "must be an e-mail address"))
        }
        if request.password.count < 12 || request.password.count > 200 {
            errors.append(.init(pointer: "/password", detail: "must be 12–200 characters"))
        }
        if request.roles.isEmpty { errors.append(.init(pointer: "/roles", detail: "must name at least one role")) }
        if request.roles.contains(.device) { errors.append(.init(pointer: "/roles", detail: "device is not a user role; devices get API keys")) }
        guard errors.isEmpty else { throw .invalid(errors) }
        guard caller.has(atLeast: .tenantAdmin) else { throw .forbidden("creating users needs the tenant-admin role") }
        if request.roles.contains(.platformAdmin), !caller.isPlatformAdmin {
            throw .forbidden("only a platform-admin grants platform-admin")
        }
    }
}
