import ClientRuntime
import Foundation
import LibPQ
import SensormineClients
import SensormineCore
import SensormineJSON

/// Subjects and versions in PostgreSQL under row-level security, with each tenant's latest
/// schemas mirrored into Redis for the services that validate on their hot path.
struct SubjectRepository: Sendable {
    let database: PostgresClient
    let cache: SchemaCache

    private static let subjectColumns = """
        s.tenant_id, s.name, s.compatibility, s.description, s.created_at, s.updated_at,
        (SELECT max(version) FROM schema_versions v WHERE v.tenant_id = s.tenant_id AND v.subject = s.name AND v.deleted_at IS NULL) AS latest
        """
    private static let versionColumns = "subject, version, schema, content_hash, deprecated, created_at"

    func createSubject(tenantID: UUID, name: String, compatibility: CompatibilityMode, description: String, caller: CallerIdentity) async throws -> Subject {
        try await self.database.withCaller(caller) { session in
            do {
                try await session.execute(
                    """
                    INSERT INTO schema_subjects (tenant_id, name, compatibility, description) VALUES ($1, $2, $3, $4)
                    ON CONFLICT (tenant_id, name) DO UPDATE SET deleted_at = NULL, compatibility = $3, description = $4, updated_at = now()
                    WHERE schema_subjects.deleted_at IS NOT NULL
                    """,
                    [tenantID, name, compatibility.rawValue, description]
                )
            } catch let error as ClientError where error.serverCode == SQLState.uniqueViolation {
                throw RegistryError.conflict("subject '\(name)' already exists")
            }
            guard let subject = try await Self.subject(tenantID: tenantID, name: name, in: session) else { throw RegistryError.conflict("subject '\(name)' already exists") }
            return subject
        }
    }

    func listSubjects(tenantID: UUID, caller: CallerIdentity) async throws -> [Subject] {
        try await self.database.withCaller(caller) { session in
            try await session.query("SELECT \(Self.subjectColumns) FROM schema_subjects s WHERE s.tenant_id = $1 AND s.deleted_at IS NULL ORDER BY s.name", [tenantID])
                .all.map(Self.decodeSubject)
        }
    }

    func subject(tenantID: UUID, name: String, caller: CallerIdentity) async throws -> Subject {
        try await self.database.withCaller(caller) { session in
            guard let subject = try await Self.subject(tenantID: tenantID, name: name, in: session) else { throw RegistryError.notFound("no subject '\(name)'") }
            return subject
        }
    }

    func updateSubject(tenantID: UUID, name: String, _ request: SubjectRequest, caller: CallerIdentity) async throws -> Subject {
        try await self.database.withCaller(caller) { session in
            let changed = try await session.execute(
                """
                UPDATE schema_subjects SET compatibility = coalesce($3, compatibility), description = coalesce($4, description), updated_at = now()
                WHERE tenant_id = $1 AND name = $2 AND deleted_at IS NULL
                """,
                [tenantID, name, request.compatibility?.rawValue, request.description]
            )
            guard changed == 1, let subject = try await Self.subject(tenantID: tenantID, name: name, in: session) else { throw RegistryError.notFound("no subject '\(name)'") }
            return subject
        }
    }

    /// Soft-deletes the subject and its versions; their numbers are never reused.
    func deleteSubject(tenantID: UUID, name: String, caller: CallerIdentity) async throws {
        try await self.database.withCaller(caller) { session in
            let changed = try await session.execute("UPDATE schema_subjects SET deleted_at = now() WHERE tenant_id = $1 AND name = $2 AND deleted_at IS NULL", [tenantID, name])
            guard changed == 1 else { throw RegistryError.notFound("no subject '\(name)'") }
            try await session.execute("UPDATE schema_versions SET deleted_at = now() WHERE tenant_id = $1 AND subject = $2 AND deleted_at IS NULL", [tenantID, name])
            try await self.cache.forget(tenantID: tenantID, subject: name)
        }
    }

    /// Registers `schema` (already canonical and compiled) unless an equal live version exists;
    /// `check` sees the live versions, oldest first, and throws to refuse. Creates the subject
    /// with `defaultMode` when it does not exist.
    func register(tenantID: UUID, subject name: String, schema: JSON, canonical: (text: String, hash: String), defaultMode: CompatibilityMode,
                  caller: CallerIdentity, check: @Sendable (CompatibilityMode, [(version: Int, schema: JSON)]) throws -> Void) async throws -> RegisterResponse {
        try await self.database.withCaller(caller) { session in
            try await session.execute(
                "INSERT INTO schema_subjects (tenant_id, name, compatibility) VALUES ($1, $2, $3) ON CONFLICT (tenant_id, name) DO UPDATE SET deleted_at = NULL WHERE schema_subjects.deleted_at IS NOT NULL",
                [tenantID, name, defaultMode.rawValue]
            )
            // Serialises registrations per subject, so version numbers and checks never race.
            guard let mode = try await session.query(
                "SELECT compatibility FROM schema_subjects WHERE tenant_id = $1 AND name = $2 AND deleted_at IS NULL FOR UPDATE", [tenantID, name]
            ).first?["compatibility"].flatMap(CompatibilityMode.init(rawValue:)) else { throw RegistryError.notFound("no subject '\(name)'") }
            if let existing = try await session.query(
                "SELECT \(Self.versionColumns) FROM schema_versions WHERE tenant_id = $1 AND subject = $2 AND content_hash = $3 AND deleted_at IS NULL",
                [tenantID, name, canonical.hash]
            ).first.map(Self.decodeVersion) {
                return RegisterResponse(version: existing, existing: true)
            }
            let live = try await session.query(
                "SELECT \(Self.versionColumns) FROM schema_versions WHERE tenant_id = $1 AND subject = $2 AND deleted_at IS NULL ORDER BY version", [tenantID, name]
            ).all.map(Self.decodeVersion)
            try check(mode, live.map { ($0.version, $0.schema) })
            let next = try await session.query("SELECT coalesce(max(version), 0) + 1 AS next FROM schema_versions WHERE tenant_id = $1 AND subject = $2", [tenantID, name])
                .first?.int("next") ?? 1
            guard let version = try await session.query(
                "INSERT INTO schema_versions (tenant_id, subject, version, schema, content_hash) VALUES ($1, $2, $3, $4, $5) RETURNING \(Self.versionColumns)",
                [tenantID, name, next, canonical.text, canonical.hash]
            ).first.map(Self.decodeVersion) else { throw RegistryError.notFound("the version vanished") }
            try await self.cache.store(tenantID: tenantID, version: version, latest: true)
            return RegisterResponse(version: version, existing: false)
        }
    }

    func versions(tenantID: UUID, subject: String, caller: CallerIdentity) async throws -> [SchemaVersion] {
        try await self.database.withCaller(caller) { session in
            guard try await Self.subject(tenantID: tenantID, name: subject, in: session) != nil else { throw RegistryError.notFound("no subject '\(subject)'") }
            return try await session.query(
                "SELECT \(Self.versionColumns) FROM schema_versions WHERE tenant_id = $1 AND subject = $2 AND deleted_at IS NULL ORDER BY version", [tenantID, subject]
            ).all.map(Self.decodeVersion)
        }
    }

    /// A live version, or the latest when `version` is nil.
    func version(tenantID: UUID, subject: String, version: Int?, caller: CallerIdentity) async throws -> SchemaVersion {
        try await self.database.withCaller(caller) { session in
            let filter = version == nil ? "ORDER BY version DESC LIMIT 1" : "AND version = $3"
            let parameters: [(any PostgresBindable)?] = [tenantID, subject] + (version.map { [$0] } ?? [])
            guard let found = try await session.query(
                "SELECT \(Self.versionColumns) FROM schema_versions WHERE tenant_id = $1 AND subject = $2 AND deleted_at IS NULL \(filter)", parameters
            ).first.map(Self.decodeVersion) else {
                throw RegistryError.notFound(version.map { "subject '\(subject)' has no version \($0)" } ?? "subject '\(subject)' has no versions")
            }
            return found
        }
    }

    func deprecate(tenantID: UUID, subject: String, version: Int, caller: CallerIdentity) async throws -> SchemaVersion {
        try await self.database.withCaller(caller) { session in
            guard let updated = try await session.query(
                "UPDATE schema_versions SET deprecated = true WHERE tenant_id = $1 AND subject = $2 AND version = $3 AND deleted_at IS NULL RETURNING \(Self.versionColumns)",
                [tenantID, subject, version]
            ).first.map(Self.decodeVersion) else { throw RegistryError.notFound("subject '\(subject)' has no version \(version)") }
            return updated
        }
    }

    func deleteVersion(tenantID: UUID, subject: String, version: Int, caller: CallerIdentity) async throws {
        try await self.database.withCaller(caller) { session in
            let changed = try await session.execute(
                "UPDATE schema_versions SET deleted_at = now() WHERE tenant_id = $1 AND subject = $2 AND version = $3 AND deleted_at IS NULL", [tenantID, subject, version])
            guard changed == 1 else { throw RegistryError.notFound("subject '\(subject)' has no version \(version)") }
            let latest = try await session.query(
                "SELECT \(Self.versionColumns) FROM schema_versions WHERE tenant_id = $1 AND subject = $2 AND deleted_at IS NULL ORDER BY version DESC LIMIT 1", [tenantID, subject]
            ).first.map(Self.decodeVersion)
            try await self.cache.forget(tenantID: tenantID, subject: subject, version: version, newLatest: latest)
        }
    }

    private static func subject(tenantID: UUID, name: String, in session: PostgresSession) async throws -> Subject? {
        try await session.query("SELECT \(Self.subjectColumns) FROM schema_subjects s WHERE s.tenant_id = $1 AND s.name = $2 AND s.deleted_at IS NULL", [tenantID, name])
            .first.map(Self.decodeSubject)
    }

    private static func decodeSubject(_ row: PostgresRow) -> Subject {
        Subject(
            tenantId: row["tenant_id"].flatMap(UUID.init(uuidString:)) ?? UUID(), name: row["name"] ?? "",
            compatibility: row["compatibility"].flatMap(CompatibilityMode.init(rawValue:)) ?? .backward, description: row["description"] ?? "",
            latestVersion: row.int("latest"), createdAt: row.date("created_at") ?? .distantPast, updatedAt: row.date("updated_at") ?? .distantPast
        )
    }

    private static func decodeVersion(_ row: PostgresRow) -> SchemaVersion {
        SchemaVersion(
            subject: row["subject"] ?? "", version: row.int("version") ?? 0,
            schema: (try? JSON.parse(row["schema"] ?? "true")) ?? .bool(true), contentHash: row["content_hash"] ?? "",
            deprecated: row.bool("deprecated") ?? false, createdAt: row.date("created_at") ?? .distantPast
        )
    }
}
