import Crypto
import CryptoExtras
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JWTKit
import Logging
@testable import SensormineAuth
import SensormineCore
import SensormineJSON
import TestSupport
import Testing

@testable import ApiGateway
@testable import DeviceAPI

/// Serves a fixed JWKS document on a free port, like an identity provider's certs endpoint.
enum KeySetServer {
    static func with<Result: Sendable>(_ jwks: String, _ body: @Sendable (String) async throws -> Result) async throws -> Result {
        try await LocalServer.run({ router in
            router.get("/certs") { _, _ in Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: jwks))) }
        }, { port in try await body("http://127.0.0.1:\(port)/certs") })
    }
}

/// Claims as Keycloak puts them: roles under realm_access, the tenant in a custom claim.
struct KeycloakClaims: JWTPayload {
    var iss: IssuerClaim
    var sub: SubjectClaim
    var aud: AudienceClaim
    var exp: ExpirationClaim
    var realm_access: [String: [String]]
    var sensormine_tenant: String
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

@Suite("ApiGateway signing keys")
struct SigningKeyTests {
    /// Waits until the gateway has loaded its key sets (it is not ready before).
    static func waitUntilReady(_ client: some TestClientProtocol) async throws {
        for _ in 0..<100 {
            if try await client.execute(uri: "/health/ready", method: .get).status == .ok { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("the gateway never became ready")
    }

    @Test("ES256: DeviceAPI signs and publishes its JWKS; a gateway holding no key verifies through it")
    func es256ThroughJWKS() async throws {
        let pem = ES256PrivateKey().pemRepresentation
        let signing = try SigningKey(pem: pem, keyID: "es-test", key: "K")
        #expect(signing.algorithm == .es256)
        let issuer = try await AccessTokens(settings: TokenSettings(signingKey: signing))
        let jwks = try issuer.jwks()
        #expect(jwks.contains(#""kid":"es-test""#) && jwks.contains(#""crv":"P-256""#) && !jwks.contains(#""d":"#))

        // DeviceAPI serves the same document.
        var deviceValues = GatewayTestApp.stack
        deviceValues["SENSORMINE_HTTP_PORT"] = "18283"
        deviceValues["SENSORMINE_HTTP_HOST"] = "127.0.0.1"
        deviceValues["SENSORMINE_JWT_PRIVATE_KEY"] = pem
        deviceValues["SENSORMINE_JWT_KEY_ID"] = "es-test"
        deviceValues.removeValue(forKey: "SENSORMINE_JWT_HS256_SECRET")
        let deviceAPI = try await DeviceAPIService.buildApplication(
            try DeviceAPIConfiguration(reader: ConfigReader(values: deviceValues)), observability: Observability(logger: GatewayTestApp.logger))
        try await deviceAPI.test(.router) { client in
            let served = try await client.execute(uri: "/.well-known/jwks.json", method: .get)
            #expect(served.status == .ok)
            #expect(String(buffer: served.body) == jwks)
        }

        let caller = CallerIdentity(subject: "u-es", tenantID: UUID(), roles: [.operator])
        let token = try await issuer.issue(for: caller).token
        let otherKey = try await AccessTokens(settings: TokenSettings(signingKey: try SigningKey(pem: ES256PrivateKey().pemRepresentation, keyID: "es-test", key: "K")))
        let forged = try await otherKey.issue(for: caller).token
        let hmacForged = try await AccessTokens(settings: TokenSettings(hs256Secret: String(repeating: "s", count: 40))).issue(for: caller).token
        try await KeySetServer.with(jwks) { jwksURL in
            try await GatewayTestApp.withEchoUpstream { port in
                var values = GatewayTestApp.stack
                values.removeValue(forKey: "SENSORMINE_JWT_HS256_SECRET")
                values["SENSORMINE_HTTP_PORT"] = "0"
                values["SENSORMINE_HTTP_HOST"] = "127.0.0.1"
                values["SENSORMINE_GATEWAY_ROUTES"] = "/api/v1/echo=http://127.0.0.1:\(port)"
                values["SENSORMINE_JWT_JWKS_URL"] = jwksURL
                let configuration = try ApiGatewayConfiguration(reader: ConfigReader(values: values))
                #expect(configuration.tokens.hs256Secret == nil)
                try await GatewayTestApp.make(configuration).test(.live) { client in
                    try await Self.waitUntilReady(client)
                    let accepted = try await client.execute(uri: "/api/v1/echo", method: .get, headers: GatewayTestApp.bearer(token))
                    #expect(accepted.status == .ok)
                    #expect(try GatewayTestApp.echo(accepted)["h:x-sensormine-subject"] == "u-es")
                    #expect(try await client.execute(uri: "/api/v1/echo", method: .get, headers: GatewayTestApp.bearer(forged)).status == .unauthorized)
                    #expect(try await client.execute(uri: "/api/v1/echo", method: .get, headers: GatewayTestApp.bearer(hmacForged)).status == .unauthorized)
                }
            }
        }
    }

    @Test("an external OIDC issuer (RS256, Keycloak-shaped claims) is accepted; its forgeries and strangers are not")
    func externalIssuer() async throws {
        let rsa = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let idpKey = try Insecure.RSA.PrivateKey(pem: rsa.pemRepresentation)
        let primitives = try idpKey.publicKey.getKeyPrimitives()
        func base64URL(_ data: Data) -> String {
            data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        }
        let jwks = #"{"keys":[{"kty":"RSA","kid":"kc-1","alg":"RS256","use":"sig","n":"\#(base64URL(primitives.modulus))","e":"\#(base64URL(primitives.publicExponent))"}]}"#
        let realm = "http://keycloak.test/realms/plant"
        let signer = JWTKeyCollection()
        await signer.add(rsa: idpKey, digestAlgorithm: .sha256, kid: "kc-1")
        let stranger = JWTKeyCollection()
        await stranger.add(rsa: try Insecure.RSA.PrivateKey(pem: try _RSA.Signing.PrivateKey(keySize: .bits2048).pemRepresentation), digestAlgorithm: .sha256, kid: "kc-1")
        let tenant = UUID()
        func claims(roles: [String], audience: String = "sensormine-api", tenantClaim: String? = nil, expiresIn: TimeInterval = 300) -> KeycloakClaims {
            KeycloakClaims(iss: IssuerClaim(value: realm), sub: SubjectClaim(value: "kc-user"), aud: AudienceClaim(value: [audience]),
                           exp: ExpirationClaim(value: Date().addingTimeInterval(expiresIn)), realm_access: ["roles": roles],
                           sensormine_tenant: tenantClaim ?? tenant.uuidString.lowercased())
        }
        let good = try await signer.sign(claims(roles: ["offline_access", "operator"]), kid: "kc-1")
        let forged = try await stranger.sign(claims(roles: ["operator"]), kid: "kc-1")
        let noRole = try await signer.sign(claims(roles: ["offline_access"]), kid: "kc-1")
        let wrongAudience = try await signer.sign(claims(roles: ["operator"], audience: "account"), kid: "kc-1")
        let expired = try await signer.sign(claims(roles: ["operator"], expiresIn: -60), kid: "kc-1")
        let badTenant = try await signer.sign(claims(roles: ["operator"], tenantClaim: "acme"), kid: "kc-1")
        let deviceRole = try await signer.sign(claims(roles: ["device"]), kid: "kc-1")

        try await KeySetServer.with(jwks) { jwksURL in
            try await GatewayTestApp.withEchoUpstream { port in
                let configuration = try GatewayTestApp.configuration(routes: "/api/v1/echo=http://127.0.0.1:\(port)", [
                    "SENSORMINE_OIDC_ISSUER": realm, "SENSORMINE_OIDC_JWKS_URL": jwksURL,
                    "SENSORMINE_OIDC_TENANT_CLAIM": "sensormine_tenant", "SENSORMINE_OIDC_ROLES_CLAIM": "realm_access.roles",
                ])
                try await GatewayTestApp.make(configuration).test(.live) { client in
                    try await Self.waitUntilReady(client)
                    let accepted = try await client.execute(uri: "/api/v1/echo", method: .get, headers: GatewayTestApp.bearer(good))
                    #expect(accepted.status == .ok)
                    let seen = try GatewayTestApp.echo(accepted)
                    #expect(seen["h:x-sensormine-subject"] == "kc-user")
                    #expect(seen["h:x-sensormine-tenant"] == tenant.uuidString.lowercased())
                    #expect(seen["h:x-sensormine-roles"] == "operator")
                    for (name, token) in [("forged", forged), ("no role", noRole), ("wrong audience", wrongAudience), ("expired", expired),
                                          ("bad tenant", badTenant), ("device role", deviceRole)] {
                        let response = try await client.execute(uri: "/api/v1/echo", method: .get, headers: GatewayTestApp.bearer(token))
                        #expect(response.status == .unauthorized, "\(name) was accepted")
                    }
                    // The platform's own HS256 tokens still work beside the external issuer.
                    let own = try await AccessTokens(settings: configuration.tokens).issue(for: CallerIdentity(subject: "own", tenantID: tenant, roles: [.viewer])).token
                    #expect(try await client.execute(uri: "/api/v1/echo", method: .get, headers: GatewayTestApp.bearer(own)).status == .ok)
                }
            }
        }
    }

    @Test("a private key that is neither P-256 nor RSA is a configuration error naming the key")
    func badKey() throws {
        let error = #expect(throws: ConfigurationError.self) {
            try TokenSettings(reader: ConfigReader(values: ["SENSORMINE_JWT_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"]))
        }
        #expect(error?.key == "SENSORMINE_JWT_PRIVATE_KEY")
        let missing = #expect(throws: ConfigurationError.self) { try TokenSettings(reader: ConfigReader(values: [:])) }
        #expect(missing?.key == "SENSORMINE_JWT_HS256_SECRET")
    }
}

@Suite("Verified-token cache")
struct VerifiedTokenCacheTests {
    @Test("an entry is served until the token's expiry or the cache lifetime, whichever comes first; a full cache starts over")
    func expiry() {
        let cache = VerifiedTokenCache(lifetime: 60, capacity: 2)
        let now = Date()
        let caller = CallerIdentity(subject: "u", tenantID: UUID(), roles: [.viewer])
        cache.remember("short", caller, until: now.addingTimeInterval(5), now: now)
        cache.remember("long", caller, until: now.addingTimeInterval(3600), now: now)
        #expect(cache.identity(for: "short", now: now.addingTimeInterval(4)) == caller)
        #expect(cache.identity(for: "short", now: now.addingTimeInterval(6)) == nil)
        #expect(cache.identity(for: "long", now: now.addingTimeInterval(59)) == caller)
        #expect(cache.identity(for: "long", now: now.addingTimeInterval(61)) == nil)
        cache.remember("a", caller, until: now.addingTimeInterval(30), now: now)
        cache.remember("b", caller, until: now.addingTimeInterval(30), now: now)
        cache.remember("c", caller, until: now.addingTimeInterval(30), now: now)
        #expect(cache.identity(for: "a", now: now) == nil)
        #expect(cache.identity(for: "c", now: now) == caller)
    }
}

extension SigningKeyTests {
    @Test("a key withdrawn from the JWKS is refused from the next refresh on, even for a token verified before")
    func withdrawnKey() async throws {
        let current = try await AccessTokens(settings: TokenSettings(signingKey: try SigningKey(pem: ES256PrivateKey().pemRepresentation, keyID: "k-current", key: "K")))
        let retired = try await AccessTokens(settings: TokenSettings(signingKey: try SigningKey(pem: ES256PrivateKey().pemRepresentation, keyID: "k-retired", key: "K")))
        func keys(_ documents: String...) throws -> String {
            let all = try documents.flatMap { try JSON.parse($0)["keys"]?.array ?? [] }
            return JSON.object(["keys": .array(all)]).canonicalText
        }
        let verifier = try await AccessTokens(settings: TokenSettings(jwksURL: "http://127.0.0.1:1/jwks"))
        try await verifier.setPlatformKeys(jwks: try keys(try current.jwks(), try retired.jwks()))
        let caller = CallerIdentity(subject: "u", tenantID: UUID(), roles: [.viewer])
        let oldToken = try await retired.issue(for: caller).token
        let newToken = try await current.issue(for: caller).token
        #expect(try await verifier.verify(oldToken).subject == "u")
        #expect(try await verifier.verify(newToken).subject == "u")
        // The issuer rotates: the retired key leaves its JWKS.
        try await verifier.setPlatformKeys(jwks: try keys(try current.jwks()))
        await #expect(throws: TokenRejected.self) { _ = try await verifier.verify(oldToken) }
        #expect(try await verifier.verify(newToken).subject == "u")
        // A malformed document leaves the keys in force.
        await #expect(throws: (any Error).self) { try await verifier.setPlatformKeys(jwks: "{") }
        #expect(try await verifier.verify(newToken).subject == "u")
    }
}
