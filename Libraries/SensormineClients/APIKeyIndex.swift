import ClientRuntime
import Foundation
import Hiredis
import SensormineContracts

/// The index the ApiGateway authenticates device API keys against, in Redis: DeviceAPI (which
/// owns the keys in PostgreSQL) writes an entry when it issues a key and a tombstone when it
/// revokes one, before its transaction commits, so a revoked key is refused by the very next
/// request. Keys are looked up by their SHA-256 only.
public struct APIKeyIndex: Sendable {
    /// Who an active key authenticates (the contract the gateway and DeviceAPI share).
    public typealias Entry = APIKeyIndexEntry

    /// What the index says about a key.
    public enum Lookup: Sendable, Equatable {
        case active(Entry)
        case revoked
        case unknown
    }

    private static let tombstone = "revoked"
    /// How long a tombstone outlives the revocation; longer than any index rebuild.
    private static let tombstoneSeconds = "604800"
    private let redis: RedisClient

    /// Creates the index over `redis`.
    public init(redis: RedisClient) { self.redis = redis }

    static func key(_ digest: String) -> String { "sensormine:apikey:" + digest }

    /// Records an issued key.
    /// - Throws: ``ClientError`` when Redis fails.
    public func store(digest: String, _ entry: Entry) async throws {
        let reply = try await self.redis.command("SET", Self.key(digest), String(decoding: try JSONEncoder().encode(entry), as: UTF8.self))
        if case .error(let message) = reply { throw ClientError(.serverError, client: "redis", message) }
    }

    /// Re-adds active keys after Redis lost its data; never overwrites a tombstone, so a key
    /// revoked while the rebuild ran stays revoked.
    /// - Throws: ``ClientError`` when Redis fails.
    public func restore(_ entries: [(digest: String, entry: Entry)]) async throws {
        let encoder = JSONEncoder()
        for chunk in stride(from: 0, to: entries.count, by: 1000) {
            let commands = try entries[chunk..<min(chunk + 1000, entries.count)].map { item in
                ["SET", Self.key(item.digest), String(decoding: try encoder.encode(item.entry), as: UTF8.self), "NX"]
            }
            _ = try await self.redis.pipeline(commands)
        }
    }

    /// Replaces entries with tombstones.
    /// - Throws: ``ClientError`` when Redis fails; the keys may then still be accepted.
    public func revoke(digests: [String]) async throws {
        guard !digests.isEmpty else { return }
        let replies = try await self.redis.pipeline(digests.map { ["SET", Self.key($0), Self.tombstone, "EX", Self.tombstoneSeconds] })
        for case .error(let message) in replies { throw ClientError(.serverError, client: "redis", message) }
    }

    /// Looks a key up by its digest.
    /// - Throws: ``ClientError`` when Redis fails.
    public func lookup(digest: String) async throws -> Lookup {
        let reply = try await self.redis.command("GET", Self.key(digest))
        if case .error(let message) = reply { throw ClientError(.serverError, client: "redis", message) }
        guard let text = reply.string else { return .unknown }
        if text == Self.tombstone { return .revoked }
        guard let entry = try? JSONDecoder().decode(Entry.self, from: Data(text.utf8)) else { return .unknown }
        return .active(entry)
    }
}
