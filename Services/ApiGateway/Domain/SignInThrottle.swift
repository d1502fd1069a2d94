import Crypto
import Foundation
import HTTPTypes
import NIOCore
import SensormineAuth
import SensormineJSON

/// Sign-in attempts counted per account and per client address, in the same Redis buckets as
/// the tenants' rate limits, so password guessing is slow against one account and from one
/// address, whichever gateway replica it reaches.
struct SignInThrottle: Sendable {
    /// Where the token endpoint is and how often it may be called.
    struct Settings: Sendable, Equatable {
        /// The token endpoint's path.
        var path: String
        /// Attempts per account (the `username` of a password grant).
        var perAccount: RateLimiter.Limit
        /// Attempts per client address.
        var perAddress: RateLimiter.Limit
    }

    /// The largest sign-in body read: the gateway reads it to find the account.
    static let maximumBodyBytes = 16 * 1024

    let settings: Settings
    let limiter: RateLimiter

    /// Whether a request is a sign-in attempt.
    func applies(method: HTTPRequest.Method, path: String) -> Bool {
        method == .post && PathGuard.isUnder(path, prefix: self.settings.path)
    }

    /// The account a sign-in body names, normalised (trimmed, lower-case); nil for a refresh
    /// grant or a body that is not JSON, which DeviceAPI then refuses on its own.
    static func account(in body: ByteBuffer) -> String? {
        guard let document = try? JSON.parse(body.readableBytesView), let name = document["username"]?.string else { return nil }
        let normalised = name.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        return normalised.isEmpty ? nil : normalised
    }

    /// Takes a token from the address's bucket and the account's; the first that is empty refuses.
    /// - Throws: `ClientError` when Redis is unreachable.
    func take(account: String?, address: String?) async throws -> RateLimiter.Decision? {
        if let address {
            let decision = try await self.limiter.take(key: "sensormine:ratelimit:signin:address:\(address)", limit: self.settings.perAddress)
            if !decision.allowed { return decision }
        }
        if let account {
            // Hashed: the key names no e-mail address.
            let digest = OpaqueSecret.hex(SHA256.hash(data: Data(account.utf8)))
            let decision = try await self.limiter.take(key: "sensormine:ratelimit:signin:account:\(digest)", limit: self.settings.perAccount)
            if !decision.allowed { return decision }
        }
        return nil
    }
}
