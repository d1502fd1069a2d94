import Crypto
import Foundation
import HTTPTypes

/// A Sensormine service that calls other services' APIs directly, each with a token of its own,
/// and what a receiving service lets it assert. Rotating one caller's token touches no other.
public enum ServiceCaller: String, Sendable, CaseIterable {
    /// The ApiGateway: asserts the identity of whoever it authenticated.
    case gateway
    /// Ingestion: reads one tenant's devices, device types and schemas, as a viewer.
    case ingestion
    /// EdgeGateway: reports which devices were heard from, as an operator.
    case edgeGateway = "edgegateway"
    /// StreamProcessing: reads one tenant's devices, types, assets, tenants and schemas, as a viewer.
    case streamProcessing = "stream"
    /// Billing: sets an organisation's plan in its tenant settings (the plan tokens carry), as a platform-admin.
    case billing

    /// The setting holding the caller's token; a receiver may hold `{key}_SHA256` instead, the
    /// token's SHA-256 in hex, so that it can check the token without being able to present it.
    public var tokenKey: String {
        switch self {
        case .gateway: "SENSORMINE_GATEWAY_TOKEN"
        case .ingestion: "SENSORMINE_INGESTION_TOKEN"
        case .edgeGateway: "SENSORMINE_EDGE_TOKEN"
        case .streamProcessing: "SENSORMINE_STREAM_TOKEN"
        case .billing: "SENSORMINE_BILLING_TOKEN"
        }
    }

    /// Whether this caller may assert `identity` for `method` on `path`.
    public func permits(method: HTTPRequest.Method, path: String, identity: CallerIdentity) -> Bool {
        switch self {
        case .gateway:
            return true
        case .ingestion, .streamProcessing:
            return method == .get && identity.roles == [.viewer]
        case .edgeGateway:
            return method == .post && path == "/api/v1/devices/activity" && identity.roles == [.operator]
        case .billing:
            let parts = path.split(separator: "/", omittingEmptySubsequences: false)
            return method == .put && identity.roles == [.platformAdmin] && parts.count == 6 && parts[0].isEmpty && parts[1] == "api" && parts[2] == "v1"
                && parts[3] == "tenants" && UUID(uuidString: String(parts[4])) != nil && parts[5] == "plan"
        }
    }
}

/// The callers a receiving service accepts, known by their tokens' SHA-256.
public struct TrustedCallers: Sendable {
    private let digests: [(caller: ServiceCaller, digest: [UInt8])]

    /// Accepts the given callers' tokens (tests, and services wired by hand).
    public init(tokens: [ServiceCaller: String]) {
        self.digests = tokens.sorted { $0.key.rawValue < $1.key.rawValue }.map { ($0.key, Array(SHA256.hash(data: Array($0.value.utf8)))) }
    }

    /// Reads, per caller, `{tokenKey}_SHA256` or else `{tokenKey}`; the gateway's is required,
    /// the others are accepted when set.
    /// - Throws: ``ConfigurationError`` for a missing gateway token, a short token or a bad digest.
    public init(reader: ConfigReader) throws {
        var digests: [(ServiceCaller, [UInt8])] = []
        for caller in ServiceCaller.allCases {
            let digestKey = caller.tokenKey + "_SHA256"
            if let hex = reader.optionalString(digestKey) {
                guard let digest = Self.bytes(hex: hex), digest.count == SHA256.byteCount else {
                    throw ConfigurationError(key: digestKey, problem: "must be a SHA-256 digest in hex (64 characters)")
                }
                digests.append((caller, digest))
            } else if caller == .gateway || reader.optionalString(caller.tokenKey) != nil {
                let token = try GatewaySettings.token(reader: reader, caller: caller)
                digests.append((caller, Array(SHA256.hash(data: Array(token.utf8)))))
            }
        }
        self.digests = digests
    }

    /// The caller whose token `presented` is; every digest is compared, in constant time, so
    /// timing tells neither which caller nor how much of a guess was right.
    public func caller(presenting presented: String) -> ServiceCaller? {
        let digest = Array(SHA256.hash(data: Array(presented.utf8)))
        var found: ServiceCaller?
        for entry in self.digests {
            var difference: UInt8 = 0
            for (left, right) in zip(entry.digest, digest) { difference |= left ^ right }
            if difference == 0 { found = entry.caller }
        }
        return found
    }

    private static func bytes(hex: String) -> [UInt8]? {
        let characters = Array(hex.utf8)
        guard characters.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        for index in stride(from: 0, to: characters.count, by: 2) {
            guard let high = Self.nibble(characters[index]), let low = Self.nibble(characters[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    private static func nibble(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): character - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
