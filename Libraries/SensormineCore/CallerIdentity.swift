import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// A user's role within their tenant.
public enum Role: String, Sendable, Codable, CaseIterable, Comparable {
    /// Operates the whole platform; sees every tenant.
    case platformAdmin = "platform-admin"
    /// Administers one tenant and its sub-tenants.
    case tenantAdmin = "tenant-admin"
    /// Runs devices and data within a tenant.
    case `operator` = "operator"
    /// Reads only.
    case viewer = "viewer"
    /// A device authenticated by an API key: sends telemetry, reads nothing.
    case device = "device"

    private var rank: Int {
        switch self {
        case .platformAdmin: 3
        case .tenantAdmin: 2
        case .operator: 1
        case .viewer: 0
        case .device: -1
        }
    }

    public static func < (lhs: Role, rhs: Role) -> Bool { lhs.rank < rhs.rank }
}

/// The authenticated caller: who, in which tenant, with which roles.
public struct CallerIdentity: Sendable, Equatable {
    /// Subject (user id, device id or client id).
    public var subject: String
    /// The caller's own tenant; it sees this tenant and its descendants.
    public var tenantID: UUID
    /// Roles held in that tenant.
    public var roles: Set<Role>
    /// The tenant's plan when the credential carries it (rate limits follow it).
    public var plan: String?
    /// The organisation at the root of the caller's tenant tree, when the credential carries
    /// it: its sub-tenants share one rate-limit budget instead of each having their own.
    public var organisationID: UUID?

    /// Creates an identity.
    public init(subject: String, tenantID: UUID, roles: Set<Role>, plan: String? = nil, organisationID: UUID? = nil) {
        self.subject = subject
        self.tenantID = tenantID
        self.roles = roles
        self.plan = plan
        self.organisationID = organisationID
    }

    /// Whose rate-limit budget the caller spends: its organisation's, else its tenant's.
    public var rateLimitTenant: UUID { self.organisationID ?? self.tenantID }

    /// Whether the caller holds `role` or a stronger one.
    public func has(atLeast role: Role) -> Bool { self.roles.contains { $0 >= role } }

    /// Whether the caller administers the whole platform.
    public var isPlatformAdmin: Bool { self.roles.contains(.platformAdmin) }
}

extension HTTPField.Name {
    /// The gateway's proof that the identity headers come from it.
    public static let gatewayToken = HTTPField.Name("X-Sensormine-Gateway-Token")!
    /// Verified subject.
    public static let callerSubject = HTTPField.Name("X-Sensormine-Subject")!
    /// Verified tenant id.
    public static let callerTenant = HTTPField.Name("X-Sensormine-Tenant")!
    /// Verified roles, comma-separated.
    public static let callerRoles = HTTPField.Name("X-Sensormine-Roles")!
}

/// Accepts the caller identity another Sensormine service asserts in `X-Sensormine-*` headers,
/// but only when the request carries that service's own token (``TrustedCallers``), and only
/// what that service may assert (``ServiceCaller/permits(method:path:identity:)``): the gateway
/// any user, Ingestion a viewer's reads, EdgeGateway device activity. Anything else is 401 (no
/// known token) or 403 (a known caller beyond its rights).
public struct TrustedIdentityMiddleware: RouterMiddleware {
    public typealias Context = SensormineRequestContext
    private let callers: TrustedCallers
    private let identityRequired: Bool

    /// Creates the middleware; with `identityRequired` false it only checks that the request came
    /// through the gateway (the token endpoint).
    public init(callers: TrustedCallers, identityRequired: Bool = true) {
        self.callers = callers
        self.identityRequired = identityRequired
    }

    /// Parses the identity headers; nil when any is missing or malformed.
    public static func identity(from headers: HTTPFields) -> CallerIdentity? {
        guard let subject = headers[.callerSubject], !subject.isEmpty, subject.count <= 200,
              let tenant = headers[.callerTenant].flatMap(UUID.init(uuidString:)),
              let rolesText = headers[.callerRoles]
        else { return nil }
        var roles: Set<Role> = []
        for name in rolesText.split(separator: ",") {
            guard let role = Role(rawValue: name.trimmingCharacters(in: .whitespaces)) else { return nil }
            roles.insert(role)
        }
        guard !roles.isEmpty else { return nil }
        return CallerIdentity(subject: subject, tenantID: tenant, roles: roles)
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let presented = request.headers[.gatewayToken], let caller = self.callers.caller(presenting: presented) else {
            throw APIError.unauthorized("requests must come through the API gateway")
        }
        guard self.identityRequired else {
            guard caller == .gateway else { throw APIError.forbidden("only the API gateway may call this route") }
            return try await next(request, context)
        }
        guard let identity = Self.identity(from: request.headers) else {
            throw APIError.unauthorized("the gateway did not assert a valid caller identity")
        }
        guard caller.permits(method: request.method, path: request.uri.path, identity: identity) else {
            throw APIError.forbidden("the \(caller.rawValue) service may not \(request.method.rawValue) \(request.uri.path.prefix(200)) as \(identity.roles.map(\.rawValue).sorted().joined(separator: ","))")
        }
        var context = context
        context.identity = identity
        context.serviceCaller = caller
        context.logger[metadataKey: "caller"] = .string(identity.subject)
        return try await next(request, context)
    }
}

extension SensormineRequestContext {
    /// The verified caller; 401 when the route is not behind ``TrustedIdentityMiddleware``.
    public func requireIdentity() throws -> CallerIdentity {
        guard let identity else { throw APIError.unauthorized("no caller identity") }
        return identity
    }
}

/// A service's own token, which it presents when it calls another service.
public enum GatewaySettings {
    /// Reads and checks `caller`'s token (``ServiceCaller/tokenKey``).
    /// - Throws: ``ConfigurationError`` when missing or shorter than 32 characters.
    public static func token(reader: ConfigReader, caller: ServiceCaller = .gateway) throws -> String {
        let token = try reader.secret(caller.tokenKey)
        guard token.utf8.count >= 32 else {
            throw ConfigurationError(key: caller.tokenKey, problem: "must be at least 32 characters")
        }
        return token
    }
}
