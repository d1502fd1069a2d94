import Foundation
import JWTKit
import SensormineCore

/// Settings of the access tokens the platform issues and accepts.
public struct TokenSettings: Sendable {
    /// HS256 signing secret (development); at least 32 bytes.
    public var hs256Secret: String
    /// The `iss` claim issued and required.
    public var issuer: String
    /// The `aud` claim issued and required.
    public var audience: String
    /// Lifetime of an access token.
    public var accessTokenLifetime: Duration

    /// Creates settings.
    public init(hs256Secret: String, issuer: String = "sensormine", audience: String = "sensormine-api", accessTokenLifetime: Duration = .seconds(900)) {
        self.hs256Secret = hs256Secret
        self.issuer = issuer
        self.audience = audience
        self.accessTokenLifetime = accessTokenLifetime
    }

    /// Reads `SENSORMINE_JWT_HS256_SECRET` (required, secret, ≥ 32 bytes), `SENSORMINE_JWT_ISSUER`
    /// (default sensormine), `SENSORMINE_JWT_AUDIENCE` (default sensormine-api) and
    /// `SENSORMINE_JWT_ACCESS_TTL` (default 15m).
    /// - Throws: ``ConfigurationError``.
    public init(reader: ConfigReader) throws {
        let secret = try reader.secret("SENSORMINE_JWT_HS256_SECRET")
        guard secret.utf8.count >= 32 else {
            throw ConfigurationError(key: "SENSORMINE_JWT_HS256_SECRET", problem: "must be at least 32 bytes")
        }
        self.init(
            hs256Secret: secret,
            issuer: try reader.string("SENSORMINE_JWT_ISSUER", default: "sensormine"),
            audience: try reader.string("SENSORMINE_JWT_AUDIENCE", default: "sensormine-api"),
            accessTokenLifetime: try reader.duration("SENSORMINE_JWT_ACCESS_TTL", default: .seconds(900))
        )
    }

    /// The `--help` lines for these keys.
    public static let help = """
          SENSORMINE_JWT_HS256_SECRET   access-token signing secret (required, secret, at least 32 bytes)
          SENSORMINE_JWT_ISSUER         iss claim (default sensormine)
          SENSORMINE_JWT_AUDIENCE       aud claim (default sensormine-api)
          SENSORMINE_JWT_ACCESS_TTL     access-token lifetime (default 15m)
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

/// Signs and verifies access tokens (HS256 here; ES256/RS256 and external OIDC issuers plug in
/// as further keys of the same collection).
public struct AccessTokens: Sendable {
    private let keys: JWTKeyCollection
    private let settings: TokenSettings

    /// Creates the signer/verifier.
    public init(settings: TokenSettings) async {
        self.settings = settings
        self.keys = JWTKeyCollection()
        await self.keys.add(hmac: HMACKey(from: settings.hs256Secret), digestAlgorithm: .sha256)
    }

    /// Issues an access token for `identity`.
    /// - Throws: when signing fails.
    public func issue(for identity: CallerIdentity, now: Date = Date()) async throws -> (token: String, expiresIn: Int) {
        let lifetime = Int(self.settings.accessTokenLifetime.components.seconds)
        let claims = AccessTokenClaims(
            sub: SubjectClaim(value: identity.subject), tid: identity.tenantID.uuidString.lowercased(),
            roles: identity.roles.map(\.rawValue).sorted(), iss: IssuerClaim(value: self.settings.issuer),
            aud: AudienceClaim(value: [self.settings.audience]), iat: IssuedAtClaim(value: now),
            exp: ExpirationClaim(value: now.addingTimeInterval(TimeInterval(lifetime)))
        )
        return (try await self.keys.sign(claims), lifetime)
    }

    /// Verifies signature, algorithm, expiry, issuer and audience, and returns the caller.
    /// - Throws: ``TokenRejected`` naming what was wrong.
    public func verify(_ token: String) async throws(TokenRejected) -> CallerIdentity {
        let claims: AccessTokenClaims
        do {
            claims = try await self.keys.verify(token, as: AccessTokenClaims.self)
        } catch let error as JWTError where error.errorType == .claimVerificationFailure {
            throw TokenRejected(reason: "the token has expired")
        } catch {
            throw TokenRejected(reason: "the token is malformed or its signature is invalid")
        }
        guard claims.iss.value == self.settings.issuer else { throw TokenRejected(reason: "the token was issued by someone else") }
        guard claims.aud.value.contains(self.settings.audience) else { throw TokenRejected(reason: "the token is meant for another audience") }
        guard let tenant = UUID(uuidString: claims.tid) else { throw TokenRejected(reason: "the token names no valid tenant") }
        var roles: Set<Role> = []
        for name in claims.roles {
            guard let role = Role(rawValue: name) else { throw TokenRejected(reason: "the token carries an unknown role") }
            roles.insert(role)
        }
        guard !roles.isEmpty else { throw TokenRejected(reason: "the token carries no role") }
        return CallerIdentity(subject: claims.sub.value, tenantID: tenant, roles: roles)
    }
}
