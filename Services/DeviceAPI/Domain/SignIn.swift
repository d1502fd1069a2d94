import Foundation
#if canImport(Glibc)
import Glibc
#endif
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
            guard let username = request.username, let password = request.password else { throw UserError.invalidGrant }
            let found = try await self.users.credentials(email: username)
            // An unknown account is checked against a decoy hash: answering sooner would tell
            // which e-mail addresses have accounts.
            let matches = await self.hasher.verify(password, against: found?.passwordHash ?? PasswordHasher.decoyHash)
            guard let found, matches else { throw UserError.invalidGrant }
            user = found.user
        case "refresh_token":
            guard let refresh = request.refresh_token,
                  let found = try await self.users.consumeRefreshToken(digest: OpaqueSecret.digest(refresh))
            else { throw UserError.invalidGrant }
            user = found
        default:
            throw UserError.invalid([.init(pointer: "/grant_type", detail: "must be password or refresh_token")])
        }
        let tenant = try await self.tenants.find(user.tenantId, caller: UserRepository.signInScope)
        let identity = CallerIdentity(subject: user.id.uuidString.lowercased(), tenantID: user.tenantId, roles: Set(user.roles),
                                      plan: tenant?.effective.plan, organisationID: tenant?.path.first)
        let access = try await self.tokens.issue(for: identity)
        let refresh = OpaqueSecret.generate(prefix: "smr_")
        try await self.users.storeRefreshToken(digest: OpaqueSecret.digest(refresh), userID: user.id, lifetime: self.refreshTokenLifetime)
        return TokenResponse(access_token: access.token, token_type: "Bearer", expires_in: access.expiresIn, refresh_token: refresh)
    }

    /// Creates the platform tenant and its platform-admin when none exists yet. With no password
    /// configured, one is generated and written to `passwordFile` (readable by its owner only)
    /// or, without one, shown on the terminal; never to the logs, which are shipped and kept.
    /// Without a password, a file or a terminal, nobody could sign in: nothing is created then.
    func bootstrap(email: String, password: String?, passwordFile: String? = nil, logger: Logger) async throws {
        guard try await !self.users.platformAdminExists() else { return }
        guard password != nil || passwordFile != nil || isatty(STDERR_FILENO) == 1 else {
            logger.error("no platform-admin yet, and nowhere to put a generated password: set SENSORMINE_BOOTSTRAP_ADMIN_PASSWORD or SENSORMINE_BOOTSTRAP_ADMIN_PASSWORD_FILE")
            return
        }
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
        guard password == nil else {
            logger.notice("bootstrap platform-admin created", metadata: ["email": "\(email)"])
            return
        }
        if let passwordFile {
            try Self.writeOwnerOnly(chosen + "\n", to: passwordFile)
            logger.warning("bootstrap platform-admin created; its generated password is in the file named here, readable by its owner only",
                           metadata: ["email": "\(email)", "file": "\(passwordFile)"])
        } else {
            FileHandle.standardError.write(Data("\nBootstrap platform-admin \(email), password (shown once): \(chosen)\n\n".utf8))
            logger.warning("bootstrap platform-admin created; its generated password was shown once on the terminal", metadata: ["email": "\(email)"])
        }
    }

    /// Writes `text` to a new file with mode 0600; an existing file is refused, never replaced.
    static func writeOwnerOnly(_ text: String, to path: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard descriptor >= 0 else { throw BootstrapError(reason: "cannot create \(path) (errno \(errno)); remove it or choose another path") }
        defer { close(descriptor) }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(descriptor) == 0 else { throw BootstrapError(reason: "cannot write \(path) (errno \(errno))") }
    }
}

/// The bootstrap password could not be handed over.
struct BootstrapError: Error, CustomStringConvertible {
    let reason: String
    var description: String { self.reason }
}
