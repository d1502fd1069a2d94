import ClientRuntime
import Foundation
import LibPQ
import SensormineCore
import SensormineContracts

/// The model registry's table: each tenant's models with their ONNX bytes. Every
/// StreamProcessing member reads it (``ModelFeed``), so a model registered through any member
/// runs on all of them.
struct ModelStore: Sendable {
    let database: PostgresClient

    private static let columns = """
        id, tenant_id, name, description, enabled, device_type_id, window_seconds, hop_seconds, features, input_name, output_name,
        outputs_per_window, length(model) AS size_bytes, sha256, revision, created_at, updated_at
        """

    /// Registers a model for `tenant`.
    /// - Throws: ``ModelError/conflict(_:)`` for a name the tenant already uses or past its
    ///   model limit; ``ClientError`` when the database is unavailable.
    func create(tenant: UUID, _ definition: ModelDefinition, maximumPerTenant: Int) async throws -> ModelRecord {
        do {
            return try await self.database.withTransaction { session in
                // One registration at a time per tenant, so the limit holds under concurrent requests.
                _ = try await session.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", ["stream-models/\(tenant.lowercasedString)"])
                let count = try await session.query("SELECT count(*) AS n FROM stream_models WHERE tenant_id = $1", [tenant]).first?.int("n") ?? 0
                guard count < maximumPerTenant else { throw ModelError.conflict("the tenant already has \(count) models, the most allowed (SENSORMINE_STREAM_MODELS_PER_TENANT)") }
                let row = try await session.query("""
                    INSERT INTO stream_models (id, tenant_id, name, description, enabled, device_type_id, window_seconds, hop_seconds, features,
                                               input_name, output_name, outputs_per_window, model, sha256)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $12, $13::bytea, $14)
                    RETURNING \(Self.columns)
                    """, [UUID(), tenant] + (try Self.columnValues(definition))).first
                guard let row, let record = Self.record(row) else { throw ModelError.notFound("the model was not stored") }
                return record
            }
        } catch let error as ClientError where error.serverCode == SQLState.uniqueViolation {
            throw ModelError.conflict("a model named '\(definition.name)' exists; replace it with PUT /api/v1/models/{id}")
        }
    }

    /// Replaces a model (its revision goes up).
    /// - Throws: ``ModelError/notFound(_:)``, ``ModelError/conflict(_:)``, ``ClientError``.
    func replace(id: UUID, tenant: UUID, _ definition: ModelDefinition) async throws -> ModelRecord {
        do {
            let row = try await self.database.query("""
                UPDATE stream_models SET name = $3, description = $4, enabled = $5, device_type_id = $6, window_seconds = $7, hop_seconds = $8,
                    features = $9::jsonb, input_name = $10, output_name = $11, outputs_per_window = $12, model = $13::bytea, sha256 = $14,
                    revision = revision + 1, updated_at = now()
                WHERE id = $1 AND tenant_id = $2
                RETURNING \(Self.columns)
                """, [id, tenant] + (try Self.columnValues(definition))).first
            guard let row, let record = Self.record(row) else { throw ModelError.notFound("no model \(id.lowercasedString) in this tenant") }
            return record
        } catch let error as ClientError where error.serverCode == SQLState.uniqueViolation {
            throw ModelError.conflict("another model is named '\(definition.name)'")
        }
    }

    /// The tenant's models, by name.
    func list(tenant: UUID) async throws -> [ModelRecord] {
        try await self.database.query("SELECT \(Self.columns) FROM stream_models WHERE tenant_id = $1 ORDER BY name", [tenant]).all.compactMap(Self.record)
    }

    /// One model of the tenant.
    /// - Throws: ``ModelError/notFound(_:)``, ``ClientError``.
    func get(id: UUID, tenant: UUID) async throws -> ModelRecord {
        guard let row = try await self.database.query("SELECT \(Self.columns) FROM stream_models WHERE id = $1 AND tenant_id = $2", [id, tenant]).first,
              let record = Self.record(row) else { throw ModelError.notFound("no model \(id.lowercasedString) in this tenant") }
        return record
    }

    /// Deletes a model of the tenant.
    /// - Throws: ``ModelError/notFound(_:)``, ``ClientError``.
    func delete(id: UUID, tenant: UUID) async throws {
        guard try await self.database.query("DELETE FROM stream_models WHERE id = $1 AND tenant_id = $2 RETURNING id", [id, tenant]).first != nil else {
            throw ModelError.notFound("no model \(id.lowercasedString) in this tenant")
        }
    }

    /// The id and revision of every enabled model (what a member compares with what it has loaded).
    func revisions() async throws -> [UUID: Int] {
        var revisions: [UUID: Int] = [:]
        for row in try await self.database.query("SELECT id, revision FROM stream_models WHERE enabled").all {
            if let id = row["id"].flatMap(UUID.init(uuidString:)), let revision = row.int("revision") { revisions[id] = revision }
        }
        return revisions
    }

    /// Enabled models with their bytes.
    func load(_ ids: [UUID]) async throws -> [(ModelRecord, [UInt8])] {
        guard !ids.isEmpty else { return [] }
        let list = "{" + ids.map { $0.lowercasedString }.joined(separator: ",") + "}"
        return try await self.database.query("SELECT \(Self.columns), model FROM stream_models WHERE enabled AND id = ANY($1::uuid[])", [list]).all.compactMap { row in
            guard let record = Self.record(row), let bytes = row["model"].flatMap(PostgresBytea.bytes(fromText:)) else { return nil }
            return (record, bytes)
        }
    }

    /// Parameters $3 to $14 of an insert or update: name to sha256, in the columns' order.
    private static func columnValues(_ definition: ModelDefinition) throws -> [(any PostgresBindable)?] {
        [definition.name, definition.description, definition.enabled, definition.deviceTypeId, Int(definition.shape.size / 1_000_000),
         Int(definition.shape.hop / 1_000_000), String(decoding: try JSONEncoder().encode(definition.features), as: UTF8.self), definition.inputName,
         definition.outputName, definition.outputsPerWindow, PostgresBytea.text(definition.bytes), definition.sha256]
    }

    private static func record(_ row: PostgresRow) -> ModelRecord? {
        guard let id = row["id"].flatMap(UUID.init(uuidString:)), let tenant = row["tenant_id"].flatMap(UUID.init(uuidString:)), let name = row["name"],
              let deviceType = row["device_type_id"].flatMap(UUID.init(uuidString:)), let size = row.int("window_seconds"), let hop = row.int("hop_seconds"),
              let features = row["features"].flatMap({ try? JSONDecoder().decode([ModelFeature].self, from: Data($0.utf8)) }),
              let outputs = row.int("outputs_per_window"), let created = row.date("created_at"), let updated = row.date("updated_at") else { return nil }
        return ModelRecord(id: id, tenantId: tenant, name: name, description: row["description"] ?? "", enabled: row.bool("enabled") ?? true, deviceTypeId: deviceType,
                           windowSeconds: size, hopSeconds: hop, features: features, inputName: row["input_name"] ?? "", outputName: row["output_name"] ?? "",
                           outputsPerWindow: outputs, metrics: ModelRecord.metrics(name: name, outputs: outputs), sizeBytes: row.int("size_bytes") ?? 0,
                           sha256: row["sha256"] ?? "", revision: row.int("revision") ?? 1, createdAt: created, updatedAt: updated)
    }
}
