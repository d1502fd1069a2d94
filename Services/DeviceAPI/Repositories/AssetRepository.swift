import ClientRuntime
import Foundation
import LibPQ
import SensormineClients
import SensormineCore
import SensormineContracts

/// Each tenant's asset hierarchy in PostgreSQL, under the tenants' row-level security, with every
/// change written to the outbox for `asset.updates` in the same transaction.
struct AssetRepository: Sendable {
    let tenants: TenantRepository
    let topics: TopicNames

    private static let columns = "id, tenant_id, parent_id, kind, name, attributes::text AS attributes, created_at, updated_at"
    private static var visible: String { DeviceRepository.visible }

    /// The asset `id` when the caller sees it.
    func find(_ id: UUID, caller: CallerIdentity) async throws -> Asset {
        try await self.tenants.withCaller(caller) { session in try await Self.asset(id, caller: caller, lock: false, in: session) }
    }

    func insert(_ request: CreateAssetRequest, caller: CallerIdentity) async throws -> Asset {
        try await self.tenants.withCaller(caller) { session in
            var tenantID = request.tenantId ?? caller.tenantID
            var parentKind: AssetKind?
            if let parentID = request.parentId {
                let parent = try await Self.asset(parentID, caller: caller, lock: false, in: session)
                if request.tenantId == nil { tenantID = parent.tenantId }
                guard parent.tenantId == tenantID else {
                    throw CatalogError.invalid("asset", [.init(pointer: "/parentId", detail: "the parent belongs to another tenant")])
                }
                parentKind = parent.kind
            }
            try CatalogPolicy.checkCreate(request, parentKind: parentKind)
            try await DeviceRepository.requireTenant(tenantID, caller: caller, in: session)
            let rows: PostgresRows
            do {
                rows = try await session.query(
                    "INSERT INTO assets (id, tenant_id, parent_id, kind, name, attributes) VALUES ($1, $2, $3, $4, $5, $6::jsonb) RETURNING \(Self.columns)",
                    [UUID(), tenantID, request.parentId, request.kind.rawValue, request.name.trimmingCharacters(in: .whitespacesAndNewlines),
                     try DeviceRepository.json(request.attributes ?? [:])]
                )
            } catch let error as ClientError where error.serverCode == SQLState.uniqueViolation {
                throw CatalogError.conflict("a sibling asset is already called '\(request.name)'")
            }
            guard let asset = rows.first.map(Self.decode) else { throw CatalogError.notFound("the asset vanished") }
            try await self.publish(.created, asset, in: session)
            return asset
        }
    }

    /// The visible assets, optionally of one tenant or the children of one parent.
    func list(tenantID: UUID?, parentID: UUID?, caller: CallerIdentity) async throws -> [Asset] {
        try await self.tenants.withCaller(caller) { session in
            var conditions = [Self.visible]
            var parameters = TenantRepository.scope(caller)
            if let tenantID {
                parameters.append(tenantID)
                conditions.append("tenant_id = $\(parameters.count)")
            }
            if let parentID {
                parameters.append(parentID)
                conditions.append("parent_id = $\(parameters.count)")
            }
            return try await session.query(
                "SELECT \(Self.columns) FROM assets WHERE \(conditions.joined(separator: " AND ")) ORDER BY kind, lower(name), id LIMIT 1000", parameters
            ).all.map(Self.decode)
        }
    }

    func update(_ id: UUID, _ request: UpdateAssetRequest, caller: CallerIdentity) async throws -> Asset {
        try await self.tenants.withCaller(caller) { session in
            _ = try await Self.asset(id, caller: caller, lock: true, in: session)
            let rows: PostgresRows
            do {
                rows = try await session.query(
                    "UPDATE assets SET name = coalesce($2, name), attributes = coalesce($3::jsonb, attributes), updated_at = now() WHERE id = $1 RETURNING \(Self.columns)",
                    [id, request.name?.trimmingCharacters(in: .whitespacesAndNewlines), try request.attributes.map(DeviceRepository.json)]
                )
            } catch let error as ClientError where error.serverCode == SQLState.uniqueViolation {
                throw CatalogError.conflict("a sibling asset is already called '\(request.name ?? "")'")
            }
            guard let asset = rows.first.map(Self.decode) else { throw CatalogError.notFound("no asset \(id) is visible to the caller") }
            try await self.publish(.updated, asset, in: session)
            return asset
        }
    }

    /// Deletes a leaf asset no device is attached to.
    func delete(_ id: UUID, caller: CallerIdentity) async throws {
        try await self.tenants.withCaller(caller) { session in
            let asset = try await Self.asset(id, caller: caller, lock: true, in: session)
            do {
                try await session.execute("DELETE FROM assets WHERE id = $1", [id])
            } catch let error as ClientError where error.serverCode == SQLState.foreignKeyViolation {
                throw CatalogError.conflict("asset \(id) still has child assets or devices attached")
            }
            try await self.publish(.deleted, asset, in: session)
        }
    }

    private static func asset(_ id: UUID, caller: CallerIdentity, lock: Bool, in session: PostgresSession) async throws -> Asset {
        guard let asset = try await session.query(
            "SELECT \(Self.columns) FROM assets WHERE id = $3 AND \(Self.visible)\(lock ? " FOR UPDATE" : "")", TenantRepository.scope(caller) + [id]
        ).first.map(Self.decode) else { throw CatalogError.notFound("no asset \(id) is visible to the caller") }
        return asset
    }

    private func publish(_ type: AssetEventType, _ asset: Asset, in session: PostgresSession) async throws {
        let event = AssetEvent(messageId: UUID(), type: type, tenantId: asset.tenantId, assetId: asset.id, eventTime: Date(), asset: asset)
        try await EventOutbox.enqueue([EventOutbox.Event(
            topic: self.topics.assetUpdates, key: asset.id.lowercasedString, payload: try DeviceRepository.json(event),
            tenantID: asset.tenantId.lowercasedString
        )], in: session)
    }

    private static func decode(_ row: PostgresRow) -> Asset {
        Asset(
            id: row["id"].flatMap(UUID.init(uuidString:)) ?? UUID(), tenantId: row["tenant_id"].flatMap(UUID.init(uuidString:)) ?? UUID(),
            parentId: row["parent_id"].flatMap(UUID.init(uuidString:)), kind: row["kind"].flatMap(AssetKind.init(rawValue:)) ?? .site,
            name: row["name"] ?? "", attributes: DeviceRepository.decodeJSON(row["attributes"], as: [String: String].self, default: [:]),
            createdAt: row.date("created_at") ?? .distantPast, updatedAt: row.date("updated_at") ?? .distantPast
        )
    }
}
