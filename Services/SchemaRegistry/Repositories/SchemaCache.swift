import ClientRuntime
import Foundation
import Hiredis
import JSONSchema
import SensormineJSON
import Synchronization

/// Each tenant's schemas in Redis for other services (Ingestion validates on its hot path):
/// `sensormine:schema:{tenant}:{subject}:{version}` holds the canonical schema and `…:latest`
/// the latest version number; every change is announced on `sensormine:schema-changes` so
/// subscribers drop what they compiled.
struct SchemaCache: Sendable {
    static let channel = "sensormine:schema-changes"
    let redis: RedisClient

    static func key(_ tenantID: UUID, _ subject: String, _ version: String) -> String {
        "sensormine:schema:\(tenantID.uuidString.lowercased()):\(subject):\(version)"
    }

    func store(tenantID: UUID, version: SchemaVersion, latest: Bool) async throws {
        var commands = [["SET", Self.key(tenantID, version.subject, String(version.version)), version.schema.canonicalText]]
        if latest { commands.append(["SET", Self.key(tenantID, version.subject, "latest"), String(version.version)]) }
        commands.append(["PUBLISH", Self.channel, "\(tenantID.uuidString.lowercased())/\(version.subject)"])
        try Self.check(try await self.redis.pipeline(commands))
    }

    /// Forgets one version (and moves `latest` to `newLatest`), or the whole subject.
    func forget(tenantID: UUID, subject: String, version: Int? = nil, newLatest: SchemaVersion? = nil) async throws {
        var commands: [[String]] = []
        if let version {
            commands.append(["DEL", Self.key(tenantID, subject, String(version))])
            if let newLatest {
                commands.append(["SET", Self.key(tenantID, subject, "latest"), String(newLatest.version)])
            } else {
                commands.append(["DEL", Self.key(tenantID, subject, "latest")])
            }
        } else {
            commands.append(["DEL", Self.key(tenantID, subject, "latest")])
        }
        commands.append(["PUBLISH", Self.channel, "\(tenantID.uuidString.lowercased())/\(subject)"])
        try Self.check(try await self.redis.pipeline(commands))
    }

    private static func check(_ replies: [RedisValue]) throws {
        for case .error(let message) in replies { throw ClientError(.serverError, client: "redis", message) }
    }
}

/// Compiled schemas by content hash, so validating against a version compiles it once.
final class CompiledSchemas: Sendable {
    private let entries = Mutex<[String: CompiledSchema]>([:])
    private let capacity: Int
    /// How every schema of this registry is compiled.
    let options: SchemaOptions

    init(options: SchemaOptions, capacity: Int = 1_000) {
        self.options = options
        self.capacity = capacity
    }

    func schema(for version: SchemaVersion) throws -> CompiledSchema {
        if let cached = self.entries.withLock({ $0[version.contentHash] }) { return cached }
        let compiled = try CompiledSchema(version.schema, options: self.options)
        self.entries.withLock { entries in
            if entries.count >= self.capacity { entries.removeAll(keepingCapacity: true) }
            entries[version.contentHash] = compiled
        }
        return compiled
    }
}
