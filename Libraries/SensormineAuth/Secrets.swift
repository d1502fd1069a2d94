import ClientRuntime
import Crypto
import CryptoExtras
import Foundation

/// Password hashing with scrypt (N = 2^15, r = 8, p = 1: about 32 MiB and tens of milliseconds
/// per hash), encoded as `scrypt$15$8$1$<salt>$<hash>` so parameters can be raised later while
/// old hashes still verify. Hashing runs on its own threads, never the cooperative pool.
public struct PasswordHasher: Sendable {
    private let executor: BlockingExecutor

    /// Creates a hasher with `threads` hashing threads.
    public init(threads: Int = 2) {
        self.executor = BlockingExecutor(threads: threads)
    }

    /// Hashes a password with a fresh random salt.
    /// - Throws: when the KDF fails.
    public func hash(_ password: String) async throws -> String {
        try await self.executor.run {
            let salt = (0..<16).map { _ in UInt8.random(in: 0...255) }
            let key = try KDF.Scrypt.deriveKey(from: Array(password.utf8), salt: salt, outputByteCount: 32, rounds: 1 << 15, blockSize: 8, parallelism: 1)
            let hash = key.withUnsafeBytes { Data($0) }
            return "scrypt$15$8$1$\(Data(salt).base64EncodedString())$\(hash.base64EncodedString())"
        }
    }

    /// A well-formed hash that no password matches (all-zero salt and key), verified against
    /// when a sign-in names no known user, so an unknown account costs what a wrong password does.
    public static let decoyHash = "scrypt$15$8$1$\(Data(count: 16).base64EncodedString())$\(Data(count: 32).base64EncodedString())"

    /// Whether `password` matches `encoded`; compares in constant time.
    public func verify(_ password: String, against encoded: String) async -> Bool {
        let parts = encoded.split(separator: "$").map(String.init)
        guard parts.count == 6, parts[0] == "scrypt", let logN = Int(parts[1]), let r = Int(parts[2]), let p = Int(parts[3]),
              (10...20).contains(logN), let salt = Data(base64Encoded: parts[4]), let expected = Data(base64Encoded: parts[5])
        else { return false }
        let derived = try? await self.executor.run {
            let key = try KDF.Scrypt.deriveKey(from: Array(password.utf8), salt: salt, outputByteCount: expected.count,
                                                rounds: 1 << logN, blockSize: r, parallelism: p)
            return key.withUnsafeBytes { Data($0) }
        }
        guard let derived, derived.count == expected.count else { return false }
        var difference: UInt8 = 0
        for (left, right) in zip(derived, expected) { difference |= left ^ right }
        return difference == 0
    }

    /// Stops the hashing threads.
    public func shutdown() async { await self.executor.shutdown() }
}

/// Opaque secrets handed out once (refresh tokens, API keys): random, URL-safe, stored only as
/// their SHA-256.
public enum OpaqueSecret {
    /// A new secret with `bytes` of randomness, with a readable prefix (e.g. `smr_`).
    public static func generate(prefix: String, bytes: Int = 32) -> String {
        var generator = SystemRandomNumberGenerator()
        let random = Data((0..<bytes).map { _ in UInt8.random(in: 0...255, using: &generator) })
        return prefix + self.base64URL(random)
    }

    /// The stored form: lower-case hex SHA-256.
    public static func digest(_ secret: String) -> String {
        self.hex(SHA256.hash(data: Array(secret.utf8)))
    }

    /// Unpadded base64url (RFC 4648 §5), as JWTs and URLs use it.
    public static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// Lower-case hex; the gateway digests an API key on every keyed request, so no
    /// per-byte formatting.
    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(64)
        for byte in bytes {
            output.append(self.hexDigits[Int(byte >> 4)])
            output.append(self.hexDigits[Int(byte & 0x0F)])
        }
        return String(decoding: output, as: UTF8.self)
    }
}
