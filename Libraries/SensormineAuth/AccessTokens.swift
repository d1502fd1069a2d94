import ClientRuntime
import Foundation
import JWTKit
import NIOConcurrencyHelpers
import SensormineCore
import SensormineJSON

/// The asymmetric key the platform signs access tokens with in production.
public struct SigningKey: Sendable, Equatable {
    /// The JWS algorithm.
    public enum Algorithm: String, Sendable { case es256 = "ES256", rs256 = "RS256" }
    /// ES256 (P-256) or RS256.
    public var algorithm: Algorithm
    /// The private key, PEM; secret.
    public var pem: String
    /// The `kid` published in the JWKS and stamped on every token.
    public var keyID: String

    /// Recognises the key type from the PEM.
    /// - Throws: ``ConfigurationError`` naming `key` when it is neither a P-256 nor an RSA private key.
    public init(pem: String, keyID: String, key: String) throws {
        self.pem = pem
        self.keyID = keyID
        if (try? ES256PrivateKey(pem: pem)) != nil {
            self.algorithm = .es256
        } else if let rsa = try? Insecure.RSA.PrivateKey(pem: pem), (try? rsa.publicKey.getKeyPrimitives()) != nil {
            self.algorithm = .rs256
        } else {
            throw ConfigurationError(key: key, problem: "is neither a P-256 (ES256) nor an RSA (RS256) private key in PEM form")
        }
    }
}

/// An external OpenID Connect issuer (Keycloak, Entra ID, …) whose tokens the gateway accepts.
public struct ExternalIssuer: Sendable, Equatable {
    /// The `iss` its tokens carry.
    public var issuer: String
    /// Where its signing keys are published.
    public var jwksURL: String
    /// The `aud` its tokens must carry.
    public var audience: String
    /// Claim holding the Sensormine tenant id (dotted path).
    public var tenantClaim: String
    /// Claim holding the role names (dotted path, e.g. `realm_access.roles` for Keycloak).
    public var rolesClaim: String

    /// Creates the settings.
    public init(issuer: String, jwksURL: String, audience: String, tenantClaim: String = "tid", rolesClaim: String = "roles") {
        self.issuer = issuer
        self.jwksURL = jwksURL
        self.audience = audience
        self.tenantClaim = tenantClaim
        self.rolesClaim = rolesClaim
    }
}

/// Settings of the access tokens the platform issues and accepts.
public struct TokenSettings: Sendable {
    /// HS256 signing secret (development); at least 32 bytes.
    public var hs256Secret: String?
    /// The asymmetric signing key (production); when set, tokens are signed with it.
    public var signingKey: SigningKey?
    /// Where a verifier that holds no signing key fetches the platform's public keys.
    public var jwksURL: String?
    /// An external OIDC issuer whose tokens are accepted too.
    public var externalIssuer: ExternalIssuer?
    /// The `iss` claim issued and required.
    public var issuer: String
    /// The `aud` claim issued and required.
    public var audience: String
    /// Lifetime of an access token.
    public var accessTokenLifetime: Duration

    /// Creates settings.
    public init(hs256Secret: String? = nil, signingKey: SigningKey? = nil, jwksURL: String? = nil, externalIssuer: ExternalIssuer? = nil,
                issuer: String = "sensormine", audience: String = "sensormine-api", accessTokenLifetime: Duration = .seconds(900)) {
        self.hs256Secret = hs256Secret
        self.signingKey = signingKey
        self.jwksURL = jwksURL
        self.externalIssuer = externalIssuer
        self.issuer = issuer
        self.audience = audience
        self.accessTokenLifetime = accessTokenLifetime
    }

    /// Reads the keys listed in ``help``; at least one of the HS256 secret, a private key or a
    /// JWKS URL is required.
    /// - Throws: ``ConfigurationError``.
    public init(reader: ConfigReader) throws {
        let secret = reader.optionalString("SENSORMINE_JWT_HS256_SECRET")
        if let secret, secret.utf8.count < 32 {
            throw ConfigurationError(key: "SENSORMINE_JWT_HS256_SECRET", problem: "must be at least 32 bytes")
        }
        var pem = reader.optionalString("SENSORMINE_JWT_PRIVATE_KEY")
        var pemKey = "SENSORMINE_JWT_PRIVATE_KEY"
        if pem == nil, let path = reader.optionalString("SENSORMINE_JWT_PRIVATE_KEY_FILE") {
            pemKey = "SENSORMINE_JWT_PRIVATE_KEY_FILE"
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ConfigurationError(key: pemKey, problem: "cannot read \(path)")
            }
            pem = text
        }
        let signingKey = try pem.map { try SigningKey(pem: $0, keyID: try reader.string("SENSORMINE_JWT_KEY_ID", default: "sensormine-1"), key: pemKey) }
        let jwksURL = reader.optionalString("SENSORMINE_JWT_JWKS_URL")
        guard secret != nil || signingKey != nil || jwksURL != nil else {
            throw ConfigurationError(key: "SENSORMINE_JWT_HS256_SECRET",
                                     problem: "is required unless SENSORMINE_JWT_PRIVATE_KEY(_FILE) or SENSORMINE_JWT_JWKS_URL is set")
        }
        let audience = try reader.string("SENSORMINE_JWT_AUDIENCE", default: "sensormine-api")
        var external: ExternalIssuer?
        if let issuer = reader.optionalString("SENSORMINE_OIDC_ISSUER") {
            external = ExternalIssuer(
                issuer: issuer, jwksURL: try reader.string("SENSORMINE_OIDC_JWKS_URL"),
                audience: try reader.string("SENSORMINE_OIDC_AUDIENCE", default: audience),
                tenantClaim: try reader.string("SENSORMINE_OIDC_TENANT_CLAIM", default: "tid"),
                rolesClaim: try reader.string("SENSORMINE_OIDC_ROLES_CLAIM", default: "roles"))
        }
        self.init(
            hs256Secret: secret, signingKey: signingKey, jwksURL: jwksURL, externalIssuer: external,
            issuer: try reader.string("SENSORMINE_JWT_ISSUER", default: "sensormine"), audience: audience,
            accessTokenLifetime: try reader.duration("SENSORMINE_JWT_ACCESS_TTL", default: .seconds(900))
        )
    }

    /// The `--help` lines for these keys.
    public static let help = """
          SENSORMINE_JWT_HS256_SECRET   HS256 secret, at least 32 bytes (development; secret)
          SENSORMINE_JWT_PRIVATE_KEY / _FILE  ES256 or RS256 private key, PEM (production; secret)
          SENSORMINE_JWT_KEY_ID         kid of that key (default sensormine-1)
          SENSORMINE_JWT_JWKS_URL       where a verifier fetches the platform's public keys
          SENSORMINE_JWT_ISSUER         iss claim (default sensormine)
          SENSORMINE_JWT_AUDIENCE       aud claim (default sensormine-api)
          SENSORMINE_JWT_ACCESS_TTL     access-token lifetime (default 15m)
          SENSORMINE_OIDC_ISSUER / _JWKS_URL  an external OIDC issuer accepted too (optional)
          SENSORMINE_OIDC_AUDIENCE / _TENANT_CLAIM / _ROLES_CLAIM  its aud, tenant and roles claims
                                        (defaults: the JWT audience, tid, roles; dotted paths allowed)
        """
}

/// The claims of a Sensormine access token.
public struct AccessTokenClaims: JWTPayload, Equatable {
    /// Subject: the user id.
    public var sub: SubjectClaim
    /// Tenant id.
    public var tid: String
    /// Role names.
    public var roles: [String]
    /// The tenant's plan at issue time (rate limits follow it).
    public var plan: String?
    /// The organisation at the root of the tenant's tree (its rate-limit budget is shared).
    public var org: String?
    /// Issuer.
    public var iss: IssuerClaim
    /// Audience.
    public var aud: AudienceClaim
    /// Issued at.
    public var iat: IssuedAtClaim
    /// Expiry.
    public var exp: ExpirationClaim

    public func verify(using algorithm: some JWTAlgorithm) async throws {
        try self.exp.verifyNotExpired()
    }
}

/// Why a token was refused; the message is safe to show to the caller.
public struct TokenRejected: Error, Equatable, CustomStringConvertible {
    /// What was wrong.
    public let reason: String
    public var description: String { self.reason }
}

/// Signs and verifies access tokens: HS256 in development, ES256 or RS256 with a published JWKS
/// in production, and tokens of one external OIDC issuer mapped onto Sensormine identities.
public struct AccessTokens: Sendable {
    /// The key sets in force and the JWKS documents they were built from. A fetched JWKS
    /// replaces the keys it brought last time, so a key withdrawn from it is refused from the
    /// next refresh on.
    private struct KeySets {
        var platform: JWTKeyCollection
        var external = JWTKeyCollection()
        var platformJWKS: String?
        var externalJWKS: String?
    }

    private let keySets: NIOLockedValueBox<KeySets>
    private let settings: TokenSettings
    private let verified = VerifiedTokenCache()

    private var platformKeys: JWTKeyCollection { self.keySets.withLockedValue { $0.platform } }
    private var externalKeys: JWTKeyCollection { self.keySets.withLockedValue { $0.external } }

    /// Creates the signer/verifier.
    /// - Throws: when a configured key does not parse (``TokenSettings`` checked it already).
    public init(settings: TokenSettings) async throws {
        self.settings = settings
        self.keySets = NIOLockedValueBox(KeySets(platform: try await Self.ownKeys(settings)))
    }

    /// The keys this process holds itself (HS256 secret, ES256/RS256 private key).
    private static func ownKeys(_ settings: TokenSettings) async throws -> JWTKeyCollection {
        let keys = JWTKeyCollection()
        if let secret = settings.hs256Secret {
            await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256, kid: settings.signingKey == nil ? nil : "hs256")
        }
        if let key = settings.signingKey {
            switch key.algorithm {
            case .es256: await keys.add(ecdsa: try ES256PrivateKey(pem: key.pem), kid: JWKIdentifier(string: key.keyID))
            case .rs256: await keys.add(rsa: try Insecure.RSA.PrivateKey(pem: key.pem), digestAlgorithm: .sha256, kid: JWKIdentifier(string: key.keyID))
            }
        }
        return keys
    }

    /// The public half of the signing key as a JWKS document (`{"keys":[]}` with HS256 only).
    public func jwks() throws -> String {
        guard let key = self.settings.signingKey else { return #"{"keys":[]}"# }
        var jwk: [String: String] = ["kid": key.keyID, "use": "sig", "alg": key.algorithm.rawValue]
        switch key.algorithm {
        case .es256:
            guard let parameters = try ES256PrivateKey(pem: key.pem).publicKey.parameters else { return #"{"keys":[]}"# }
            jwk.merge(["kty": "EC", "crv": "P-256", "x": parameters.x, "y": parameters.y]) { $1 }
        case .rs256:
            let primitives = try Insecure.RSA.PrivateKey(pem: key.pem).publicKey.getKeyPrimitives()
            jwk.merge(["kty": "RSA", "n": OpaqueSecret.base64URL(primitives.modulus), "e": OpaqueSecret.base64URL(primitives.publicExponent)]) { $1 }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(["keys": [jwk]]), as: UTF8.self)
    }

    /// Takes the platform's public keys fetched from ``TokenSettings/jwksURL``, replacing those
    /// of the last fetch; a changed set also forgets the tokens verified so far.
    /// - Throws: when the document is not a JWKS; the keys in force stay then.
    public func setPlatformKeys(jwks json: String) async throws {
        guard self.keySets.withLockedValue({ $0.platformJWKS != json }) else { return }
        let keys = try await Self.ownKeys(self.settings)
        try await keys.add(jwksJSON: json)
        self.keySets.withLockedValue {
            $0.platform = keys
            $0.platformJWKS = json
        }
        self.verified.forgetAll()
    }

    /// Takes the external issuer's keys fetched from its JWKS URL, replacing those of the last
    /// fetch; a changed set also forgets the tokens verified so far.
    /// - Throws: when the document is not a JWKS; the keys in force stay then.
    public func setExternalKeys(jwks json: String) async throws {
        guard self.keySets.withLockedValue({ $0.externalJWKS != json }) else { return }
        let keys = JWTKeyCollection()
        try await keys.add(jwksJSON: json)
        self.keySets.withLockedValue {
            $0.external = keys
            $0.externalJWKS = json
        }
        self.verified.forgetAll()
    }

    /// Issues an access token for `identity`.
    /// - Throws: when signing fails.
    public func issue(for identity: CallerIdentity, now: Date = Date()) async throws -> (token: String, expiresIn: Int) {
        let lifetime = Int(self.settings.accessTokenLifetime.components.seconds)
        let claims = AccessTokenClaims(
            sub: SubjectClaim(value: identity.subject), tid: identity.tenantID.uuidString.lowercased(),
            roles: identity.roles.map(\.rawValue).sorted(), plan: identity.plan, org: identity.organisationID?.uuidString.lowercased(), iss: IssuerClaim(value: self.settings.issuer),
            aud: AudienceClaim(value: [self.settings.audience]), iat: IssuedAtClaim(value: now),
            exp: ExpirationClaim(value: now.addingTimeInterval(TimeInterval(lifetime)))
        )
        let kid = self.settings.signingKey.map { JWKIdentifier(string: $0.keyID) }
        return (try await self.platformKeys.sign(claims, kid: kid), lifetime)
    }

    /// The caller of a token ``verify(_:)`` accepted recently and still trusts, without any
    /// check; nil when it must be verified (the gateway's event-loop path asks this first).
    public func recentlyVerified(_ token: String) -> CallerIdentity? {
        self.verified.identity(for: token)
    }

    /// Verifies signature, algorithm, expiry, issuer and audience, and returns the caller.
    /// - Throws: ``TokenRejected`` naming what was wrong.
    public func verify(_ token: String) async throws(TokenRejected) -> CallerIdentity {
        if let identity = self.verified.identity(for: token) { return identity }
        let issuer: String?
        do {
            issuer = try await self.platformKeys.unverified(token, as: IssuerOnly.self).iss?.value
        } catch {
            throw TokenRejected(reason: "the token is malformed or its signature is invalid")
        }
        if let external = self.settings.externalIssuer, issuer == external.issuer {
            let (identity, expiry) = try await self.verifyExternal(token, external)
            self.verified.remember(token, identity, until: expiry)
            return identity
        }
        let claims: AccessTokenClaims
        do {
            claims = try await self.platformKeys.verify(token, as: AccessTokenClaims.self)
        } catch let error as JWTError where error.errorType == .claimVerificationFailure {
            throw TokenRejected(reason: "the token has expired")
        } catch {
            throw TokenRejected(reason: "the token is malformed or its signature is invalid")
        }
        guard claims.iss.value == self.settings.issuer else { throw TokenRejected(reason: "the token was issued by someone else") }
        guard claims.aud.value.contains(self.settings.audience) else { throw TokenRejected(reason: "the token is meant for another audience") }
        var identity = try Self.identity(subject: claims.sub.value, tenant: claims.tid, roleNames: claims.roles, ignoreUnknownRoles: false, plan: claims.plan)
        identity.organisationID = claims.org.flatMap(UUID.init(uuidString:))
        self.verified.remember(token, identity, until: claims.exp.value)
        return identity
    }

    private func verifyExternal(_ token: String, _ external: ExternalIssuer) async throws(TokenRejected) -> (CallerIdentity, Date) {
        let claims: ExternalClaims
        do {
            claims = try await self.externalKeys.verify(token, as: ExternalClaims.self)
        } catch let error as JWTError where error.errorType == .claimVerificationFailure {
            throw TokenRejected(reason: "the token has expired")
        } catch {
            throw TokenRejected(reason: "the token is malformed or its signature is invalid")
        }
        guard claims.audiences.contains(external.audience) else { throw TokenRejected(reason: "the token is meant for another audience") }
        guard let subject = claims.raw["sub"]?.string else { throw TokenRejected(reason: "the token names no subject") }
        guard let tenant = claims.raw.path(external.tenantClaim)?.string else { throw TokenRejected(reason: "the token names no valid tenant") }
        let roles = claims.raw.path(external.rolesClaim)?.strings ?? []
        return (try Self.identity(subject: subject, tenant: tenant, roleNames: roles, ignoreUnknownRoles: true, plan: nil), claims.exp.value)
    }

    /// The identity from verified claims; an external issuer's other roles (offline_access, …)
    /// are ignored, ours must all be known.
    private static func identity(subject: String, tenant: String, roleNames: [String], ignoreUnknownRoles: Bool, plan: String?) throws(TokenRejected) -> CallerIdentity {
        guard let tenantID = UUID(uuidString: tenant) else { throw TokenRejected(reason: "the token names no valid tenant") }
        var roles: Set<Role> = []
        for name in roleNames {
            if let role = Role(rawValue: name) {
                roles.insert(role)
            } else if !ignoreUnknownRoles {
                throw TokenRejected(reason: "the token carries an unknown role")
            }
        }
        guard !roles.isEmpty else { throw TokenRejected(reason: "the token carries no Sensormine role") }
        guard !roles.contains(.device) else { throw TokenRejected(reason: "the token carries a device role; devices use API keys") }
        return CallerIdentity(subject: subject, tenantID: tenantID, roles: roles, plan: plan)
    }
}

/// Tokens verified recently, so a client's next requests skip the signature check. An entry lives
/// until the token expires or for `lifetime`, whichever is sooner; it is cleared whenever it
/// reaches `capacity` and whenever a fetched key set changes.
final class VerifiedTokenCache: Sendable {
    private let entries: ExpiringCache<String, CallerIdentity, Date>
    private let lifetime: TimeInterval

    init(lifetime: TimeInterval = 60, capacity: Int = 10_000) {
        self.entries = ExpiringCache(capacity: capacity)
        self.lifetime = lifetime
    }

    func identity(for token: String, now: Date = Date()) -> CallerIdentity? {
        self.entries.value(for: token, now: now)
    }

    func forgetAll() {
        self.entries.removeAll()
    }

    func remember(_ token: String, _ identity: CallerIdentity, until expiry: Date, now: Date = Date()) {
        self.entries.insert(identity, for: token, expires: min(expiry, now.addingTimeInterval(self.lifetime)))
    }
}

/// Only the issuer, read before verification to choose the key set.
private struct IssuerOnly: JWTPayload {
    var iss: IssuerClaim?
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// An external issuer's claims, kept whole so the tenant and roles claims can be configured.
private struct ExternalClaims: JWTPayload {
    var exp: ExpirationClaim
    var raw: JSON

    var audiences: [String] {
        switch self.raw["aud"] {
        case .string(let one)?: [one]
        case .array(let many)?: many.compactMap(\.string)
        default: []
        }
    }

    enum CodingKeys: String, CodingKey { case exp }

    init(from decoder: any Decoder) throws {
        self.exp = try decoder.container(keyedBy: CodingKeys.self).decode(ExpirationClaim.self, forKey: .exp)
        self.raw = try JSON(from: decoder)
    }

    func encode(to encoder: any Encoder) throws { try self.raw.encode(to: encoder) }

    func verify(using algorithm: some JWTAlgorithm) async throws {
        try self.exp.verifyNotExpired()
    }
}
