import ClientRuntime
import Foundation
import LibPQ
import SensormineClients
import SensormineCore

/// Tenant storage in PostgreSQL. Every statement runs in a transaction that first sets the
/// caller's tenant for row-level security, and also filters by it itself: isolation holds twice.
struct TenantRepository: Sendable {
    let database: PostgresClient

    private static let columns =
        "id, parent_id, name, kind, settings::text AS settings, inherited_settings::text AS inherited, created_at, updated_at, cardinality(path) AS depth, path::text AS path"
    /// The application's own visibility filter, on top of the policy: `$1` is the caller's tenant,
    /// `$2` whether it is a platform admin.
    private static let visible = "($1::uuid = ANY (path) OR $2::boolean)"

    /// A stored tenant with what is needed to place children under it.
    struct Stored: Sendable {
        var tenant: Tenant
        var inherited: TenantSettings
        var depth: Int
        var path: [UUID]
        var effective: TenantSettings { self.tenant.effectiveSettings }
    }

    /// Runs `body` in a transaction scoped to `caller` for row-level security.
    func withCaller<Result: Sendable>(_ caller: CallerIdentity, _ body: @Sendable (PostgresSession) async throws -> Result) async throws -> Result {
        try await self.database.withCaller(caller, body)
    }

    func find(_ id: UUID, caller: CallerIdentity) async throws -> Stored? {
        try await self.withCaller(caller) { session in
            try await session.query("SELECT \(Self.columns) FROM tenants WHERE id = $3 AND \(Self.visible)", Self.scope(caller) + [id])
                .all.first.map(Self.decode)
        }
    }

    func list(caller: CallerIdentity, parentID: UUID?, limit: Int, offset: Int) async throws -> [Tenant] {
        try await self.withCaller(caller) { session in
            let filter = parentID == nil ? "" : " AND parent_id = $5"
            let parameters: [(any PostgresBindable)?] = Self.scope(caller) + [limit, offset] + (parentID.map { [$0] } ?? [])
            return try await session.query(
                "SELECT \(Self.columns) FROM tenants WHERE \(Self.visible)\(filter) ORDER BY cardinality(path), lower(name), id LIMIT $3 OFFSET $4",
                parameters
            ).all.map { Self.decode($0).tenant }
        }
    }

    func insert(name: String, kind: TenantKind, parent: Stored?, settings: TenantSettings, caller: CallerIdentity) async throws -> Tenant {
        let id = UUID()
        let path = (parent?.path ?? []) + [id]
        let inherited = parent?.effective ?? TenantSettings()
        return try await self.withCaller(caller) { session in
            do {
                let row = try await session.query(
                    """
                    INSERT INTO tenants (id, parent_id, path, name, kind, settings, inherited_settings)
                    VALUES ($1, $2, $3::uuid[], $4, $5, $6::jsonb, $7::jsonb) RETURNING \(Self.columns)
                    """,
                    [id, parent?.tenant.id, Self.arrayLiteral(path), name, kind.rawValue, try Self.json(settings), try Self.json(inherited)]
                )
                guard let stored = row.all.first.map(Self.decode) else { throw TenantError.notFound(id) }
                return stored.tenant
            } catch let error as ClientError where error.serverCode == SQLState.uniqueViolation {
                throw TenantError.nameTaken(name)
            }
        }
    }

    /// Updates name and settings, then re-derives what the subtree inherits, top-down.
    func update(_ id: UUID, name: String?, settings: TenantSettings?, caller: CallerIdentity) async throws -> Tenant {
        try await self.change(id, caller: caller) { root in
            if let name { root.tenant.name = name }
            if let settings {
                try TenantPolicy.checkLimits(settings, parent: root.depth > 1 ? root.inherited : nil, caller: caller, isOwnTenant: id == caller.tenantID)
                root.tenant.settings = TenantPolicy.merged(settings, over: root.tenant.settings, caller: caller)
            }
        }
    }

    /// Sets an organisation's plan (Billing's call, the plan's only writer); its subtree inherits it.
    func setPlan(_ id: UUID, plan: String, caller: CallerIdentity) async throws -> Tenant {
        try await self.change(id, caller: caller) { root in
            guard root.tenant.parentId == nil else { throw TenantError.invalid([.init(pointer: "/plan", detail: "a plan belongs to an organisation; its sub-tenants inherit it")]) }
            root.tenant.settings.plan = plan
        }
    }

    /// Applies `edit` to the tenant `id` (locked with its subtree) and passes the effective
    /// settings down the subtree.
    private func change(_ id: UUID, caller: CallerIdentity, _ edit: @escaping @Sendable (inout Stored) throws -> Void) async throws -> Tenant {
        try await self.withCaller(caller) { session in
            let subtree = try await session.query(
                "SELECT \(Self.columns) FROM tenants WHERE $3::uuid = ANY (path) AND \(Self.visible) ORDER BY cardinality(path) FOR UPDATE",
                Self.scope(caller) + [id]
            ).all.map(Self.decode)
            guard var root = subtree.first, root.tenant.id == id else { throw TenantError.notFound(id) }
            try edit(&root)
            var effective: [UUID: TenantSettings] = [id: root.tenant.settings.inheriting(from: root.inherited)]
            do {
                try await session.execute(
                    "UPDATE tenants SET name = $2, settings = $3::jsonb, updated_at = now() WHERE id = $1",
                    [id, root.tenant.name, try Self.json(root.tenant.settings)]
                )
            } catch let error as ClientError where error.serverCode == SQLState.uniqueViolation {
                throw TenantError.nameTaken(root.tenant.name)
            }
            for node in subtree.dropFirst() {
                guard let parentID = node.tenant.parentId, let inherited = effective[parentID] else { continue }
                effective[node.tenant.id] = node.tenant.settings.inheriting(from: inherited)
                try await session.execute("UPDATE tenants SET inherited_settings = $2::jsonb WHERE id = $1", [node.tenant.id, try Self.json(inherited)])
            }
            let updated = try await session.query("SELECT \(Self.columns) FROM tenants WHERE id = $3 AND \(Self.visible)", Self.scope(caller) + [id])
            guard let stored = updated.all.first.map(Self.decode) else { throw TenantError.notFound(id) }
            return stored.tenant
        }
    }

    func delete(_ id: UUID, caller: CallerIdentity) async throws {
        try await self.withCaller(caller) { session in
            let children = try await session.query("SELECT 1 FROM tenants WHERE parent_id = $1 LIMIT 1", [id])
            guard children.rows.isEmpty else { throw TenantError.hasChildren(id) }
            let deleted = try await session.execute("DELETE FROM tenants WHERE id = $3 AND \(Self.visible)", Self.scope(caller) + [id])
            guard deleted == 1 else { throw TenantError.notFound(id) }
        }
    }

    static func scope(_ caller: CallerIdentity) -> [(any PostgresBindable)?] {
        [caller.tenantID, caller.isPlatformAdmin]
    }

    private static func arrayLiteral(_ ids: [UUID]) -> String {
        "{" + ids.map { $0.uuidString.lowercased() }.joined(separator: ",") + "}"
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return encoder
    }()

    private static func json(_ settings: TenantSettings) throws -> String {
        String(decoding: try encoder.encode(settings), as: UTF8.self)
    }

    private static func settings(_ text: String?) -> TenantSettings {
        guard let text, let value = try? JSONDecoder().decode(TenantSettings.self, from: Data(text.utf8)) else { return TenantSettings() }
        return value
    }

    private static func decode(_ row: PostgresRow) -> Stored {
        let settings = Self.settings(row["settings"])
        let inherited = Self.settings(row["inherited"])
        let tenant = Tenant(
            id: row["id"].flatMap(UUID.init(uuidString:)) ?? UUID(),
            parentId: row["parent_id"].flatMap(UUID.init(uuidString:)),
            name: row["name"] ?? "",
            kind: row["kind"].flatMap(TenantKind.init(rawValue:)) ?? .organisation,
            settings: settings,
            effectiveSettings: settings.inheriting(from: inherited),
            createdAt: row.date("created_at") ?? Date(timeIntervalSince1970: 0),
            updatedAt: row.date("updated_at") ?? Date(timeIntervalSince1970: 0)
        )
        let path = (row["path"] ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "{}"))
            .split(separator: ",").compactMap { UUID(uuidString: String($0)) }
        return Stored(tenant: tenant, inherited: inherited, depth: row.int("depth") ?? 1, path: path)
    }
}
