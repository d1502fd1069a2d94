import ClientRuntime
import Foundation
import LibPQ
import SensormineClients
import SensormineCore
import SensormineContracts

/// Device types and devices in PostgreSQL, under the tenants' row-level security, with every
/// device change written to the outbox for `device.events` in the same transaction.
struct DeviceRepository: Sendable {
    let tenants: TenantRepository
    let topics: TopicNames

    private static let typeColumns = "id, tenant_id, name, description, schema_subject, created_at, updated_at"
    private static let deviceColumns = """
        id, tenant_id, device_type_id, asset_id, name, array_to_json(tags)::text AS tags, metadata::text AS metadata, status,
        connectivity, last_seen_at, created_at, updated_at, decommissioned_at
        """

    // MARK: Device types

    func insertType(tenantID: UUID, _ request: DeviceTypeRequest, caller: CallerIdentity) async throws -> DeviceType {
        try await self.tenants.withCaller(caller) { session in
            try await Self.requireTenant(tenantID, caller: caller, in: session)
            do {
                let rows = try await session.query(
                    """
                    INSERT INTO device_types (id, tenant_id, name, description, schema_subject) VALUES ($1, $2, $3, $4, $5)
                    RETURNING \(Self.typeColumns)
                    """,
                    [UUID(), tenantID, request.name?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "", request.description ?? "", request.schemaSubject]
                )
                guard let type = rows.first.map(Self.decodeType) else { throw CatalogError.notFound("the device type vanished") }
                return type
            } catch let error as ClientError where error.serverCode == SQLState.uniqueViolation {
                throw CatalogError.conflict("the tenant already has a device type called '\(request.name ?? "")'")
            }
        }
    }

    func listTypes(tenantID: UUID?, caller: CallerIdentity) async throws -> [DeviceType] {
        try await self.tenants.withCaller(caller) { session in
            let filter = tenantID == nil ? "" : " AND tenant_id = $3"
            return try await session.query(
                "SELECT \(Self.typeColumns) FROM device_types WHERE \(Self.typeReadable)\(filter) ORDER BY lower(name), id",
                TenantRepository.scope(caller) + (tenantID.map { [$0] } ?? [])
            ).all.map(Self.decodeType)
        }
    }

    func findType(_ id: UUID, caller: CallerIdentity) async throws -> DeviceType {
        try await self.tenants.withCaller(caller) { session in
            guard let type = try await session.query(
                "SELECT \(Self.typeColumns) FROM device_types WHERE id = $3 AND \(Self.typeReadable)", TenantRepository.scope(caller) + [id]
            ).first.map(Self.decodeType) else { throw CatalogError.notFound("no device type \(id) is visible to the caller") }
            return type
        }
    }

    func updateType(_ id: UUID, _ request: DeviceTypeRequest, caller: CallerIdentity) async throws -> DeviceType {
        try await self.tenants.withCaller(caller) { session in
            do {
                let rows = try await session.query(
                    """
                    UPDATE device_types SET name = coalesce($4, name), description = coalesce($5, description),
                        schema_subject = coalesce($6, schema_subject), updated_at = now()
                    WHERE id = $3 AND \(Self.visible) RETURNING \(Self.typeColumns)
                    """,
                    TenantRepository.scope(caller) + [id, request.name?.trimmingCharacters(in: .whitespacesAndNewlines), request.description, request.schemaSubject]
                )
                guard let type = rows.first.map(Self.decodeType) else { throw CatalogError.notFound("no device type \(id) is visible to the caller") }
                return type
            } catch let error as ClientError where error.serverCode == SQLState.uniqueViolation {
                throw CatalogError.conflict("the tenant already has a device type called '\(request.name ?? "")'")
            }
        }
    }

    func deleteType(_ id: UUID, caller: CallerIdentity) async throws {
        try await self.tenants.withCaller(caller) { session in
            do {
                let deleted = try await session.execute("DELETE FROM device_types WHERE id = $3 AND \(Self.visible)", TenantRepository.scope(caller) + [id])
                guard deleted == 1 else { throw CatalogError.notFound("no device type \(id) is visible to the caller") }
            } catch let error as ClientError where error.serverCode == SQLState.foreignKeyViolation {
                throw CatalogError.conflict("devices still use device type \(id)")
            }
        }
    }

    // MARK: Devices

    func insert(tenantID: UUID, _ request: CreateDeviceRequest, caller: CallerIdentity) async throws -> Device {
        try await self.tenants.withCaller(caller) { session in
            try await Self.requireTenant(tenantID, caller: caller, in: session)
            try await Self.requireUsableType(request.deviceTypeId, tenantID: tenantID, in: session)
            if let assetID = request.assetId {
                try await Self.requireSameTenant("assets", assetID, tenantID: tenantID, what: "asset", pointer: "/assetId", in: session)
            }
            let rows: PostgresRows
            do {
                rows = try await session.query(
                    """
                    INSERT INTO devices (id, tenant_id, device_type_id, asset_id, name, tags, metadata)
                    VALUES ($1, $2, $3, $4, $5, ARRAY(SELECT jsonb_array_elements_text($6::jsonb)), $7::jsonb)
                    RETURNING \(Self.deviceColumns)
                    """,
                    [UUID(), tenantID, request.deviceTypeId, request.assetId, request.name.trimmingCharacters(in: .whitespacesAndNewlines),
                     try Self.json(request.tags ?? []), try Self.json(request.metadata ?? [:])]
                )
            } catch let error as ClientError where error.serverCode == SQLState.uniqueViolation {
                throw CatalogError.conflict("the tenant already has an active device called '\(request.name)'")
            }
            guard let device = rows.first.map(Self.decodeDevice) else { throw CatalogError.notFound("the device vanished") }
            try await self.publish(.registered, device, in: session)
            return device
        }
    }

    func list(_ filter: DeviceFilter, caller: CallerIdentity) async throws -> DevicePage {
        try await self.tenants.withCaller(caller) { session in
            var conditions = [Self.visible]
            var parameters = TenantRepository.scope(caller)
            func add(_ condition: String, _ value: any PostgresBindable) {
                parameters.append(value)
                conditions.append(condition.replacingOccurrences(of: "?", with: "$\(parameters.count)"))
            }
            if let tenantID = filter.tenantID { add("tenant_id = ?", tenantID) }
            if let typeID = filter.deviceTypeID { add("device_type_id = ?", typeID) }
            if let assetID = filter.assetID { add("asset_id = ?", assetID) }
            if let status = filter.status { add("status = ?", status.rawValue) }
            if let tag = filter.tag { add("tags @> ARRAY[?::text]", tag) }
            if let ids = filter.ids { add("id = ANY (?::uuid[])", "{\(ids.map { $0.lowercasedString }.joined(separator: ","))}") }
            if let after = filter.after { add("id > ?", after) }
            parameters.append(filter.limit + 1)
            let devices = try await session.query(
                "SELECT \(Self.deviceColumns) FROM devices WHERE \(conditions.joined(separator: " AND ")) ORDER BY id LIMIT $\(parameters.count)",
                parameters
            ).all.map(Self.decodeDevice)
            let page = Array(devices.prefix(filter.limit))
            return DevicePage(items: page, nextCursor: devices.count > filter.limit ? page.last?.id : nil)
        }
    }

    func find(_ id: UUID, caller: CallerIdentity) async throws -> Device {
        try await self.tenants.withCaller(caller) { session in
            try await Self.device(id, caller: caller, lock: false, in: session)
        }
    }

    func update(_ id: UUID, _ request: UpdateDeviceRequest, caller: CallerIdentity) async throws -> Device {
        try await self.tenants.withCaller(caller) { session in
            let current = try await Self.device(id, caller: caller, lock: true, in: session)
            guard current.status == .active else { throw CatalogError.conflict("device \(id) is decommissioned") }
            if let assetID = request.assetId {
                try await Self.requireSameTenant("assets", assetID, tenantID: current.tenantId, what: "asset", pointer: "/assetId", in: session)
            }
            let rows: PostgresRows
            do {
                rows = try await session.query(
                    """
                    UPDATE devices SET name = coalesce($2, name),
                        tags = CASE WHEN $3::jsonb IS NULL THEN tags ELSE ARRAY(SELECT jsonb_array_elements_text($3::jsonb)) END,
                        metadata = coalesce($4::jsonb, metadata),
                        asset_id = CASE WHEN $6 THEN NULL ELSE coalesce($5, asset_id) END, updated_at = now()
                    WHERE id = $1 RETURNING \(Self.deviceColumns)
                    """,
                    [id, request.name?.trimmingCharacters(in: .whitespacesAndNewlines), try request.tags.map(Self.json),
                     try request.metadata.map(Self.json), request.assetId, request.detachAsset]
                )
            } catch let error as ClientError where error.serverCode == SQLState.uniqueViolation {
                throw CatalogError.conflict("the tenant already has an active device called '\(request.name ?? "")'")
            }
            guard let device = rows.first.map(Self.decodeDevice) else { throw CatalogError.notFound("no device \(id) is visible to the caller") }
            try await self.publish(.updated, device, in: session)
            return device
        }
    }

    /// What decommissioning revoked, so the caller can withdraw it outside the database too.
    struct Decommissioned: Sendable {
        var device: Device
        var revokedKeyDigests: [String]
        var mqttUsername: String?
    }

    /// Marks devices the caller can see online and moves their last-seen time forward (never
    /// back); returns how many were updated. Decommissioned devices are left alone. Rows are
    /// locked in id order, as the offline sweep locks them, so the two cannot deadlock.
    func recordActivity(_ seen: [DeviceActivity.Seen], caller: CallerIdentity) async throws -> Int {
        guard !seen.isEmpty else { return 0 }
        let ids = "{" + seen.map { $0.id.lowercasedString }.joined(separator: ",") + "}"
        let times = "{" + seen.map { "\"\(PostgresTimestamp.format($0.lastSeenAt))\"" }.joined(separator: ",") + "}"
        return try await self.tenants.withCaller(caller) { session in
            try await session.execute("""
                WITH activity AS (
                    SELECT id, max(seen) AS seen FROM unnest($3::uuid[], $4::timestamptz[]) AS given (id, seen) GROUP BY id
                ), locked AS (
                    SELECT devices.id, activity.seen FROM devices JOIN activity ON activity.id = devices.id
                    WHERE devices.status = 'active' AND \(Self.visible)
                    ORDER BY devices.id FOR UPDATE OF devices
                )
                UPDATE devices SET last_seen_at = greatest(coalesce(last_seen_at, locked.seen), locked.seen), connectivity = 'online'
                FROM locked WHERE devices.id = locked.id
                """, TenantRepository.scope(caller) + [ids, times])
        }
    }

    /// Marks devices offline that have not been heard from since `cutoff`, across all tenants
    /// (the platform's own sweep); returns how many changed.
    func markSilentOffline(before cutoff: Date) async throws -> Int {
        let platform = CallerIdentity(subject: "service:device-api", tenantID: UUID(), roles: [.platformAdmin])
        return try await self.tenants.withCaller(platform) { session in
            try await session.execute("""
                UPDATE devices SET connectivity = 'offline' WHERE id IN (
                    SELECT id FROM devices WHERE connectivity = 'online' AND (last_seen_at IS NULL OR last_seen_at < $1) ORDER BY id FOR UPDATE)
                """, [cutoff])
        }
    }

    /// Marks the device decommissioned, revokes its API keys and forgets its MQTT account, in
    /// one transaction; `beforeCommit` withdraws them from Redis and the broker while the row is
    /// still locked, so a failure there leaves everything as it was.
    func decommission(_ id: UUID, caller: CallerIdentity, inTransaction: @Sendable (Decommissioned, PostgresSession) async throws -> Void) async throws -> Device {
        try await self.tenants.withCaller(caller) { session in
            let current = try await Self.device(id, caller: caller, lock: true, in: session)
            guard current.status == .active else { return current }
            let revoked = try await session.query(
                "UPDATE api_keys SET revoked_at = now() WHERE device_id = $1 AND revoked_at IS NULL RETURNING key_hash", [id]
            ).rows.compactMap { $0.first ?? nil }
            let mqtt = try await session.query("DELETE FROM mqtt_credentials WHERE device_id = $1 RETURNING username", [id]).rows.first?.first ?? nil
            let rows = try await session.query(
                "UPDATE devices SET status = 'decommissioned', connectivity = 'offline', decommissioned_at = now(), updated_at = now() WHERE id = $1 RETURNING \(Self.deviceColumns)",
                [id]
            )
            guard let device = rows.first.map(Self.decodeDevice) else { throw CatalogError.notFound("no device \(id) is visible to the caller") }
            try await self.publish(.decommissioned, device, in: session)
            try await inTransaction(Decommissioned(device: device, revokedKeyDigests: revoked, mqttUsername: mqtt), session)
            return device
        }
    }

    /// Records that a device's credentials changed, on `device.events`.
    func publishCredentialsChanged(_ device: Device, in session: PostgresSession) async throws {
        try await self.publish(.credentialsChanged, device, in: session)
    }

    // MARK: Shared

    /// The application's own visibility filter, on top of the policy: `$1` is the caller's tenant,
    /// `$2` whether it is a platform admin.
    static let visible = "(tenant_id IN (SELECT id FROM tenants WHERE $1::uuid = ANY (path)) OR $2::boolean)"
    /// Device types a caller reads: those of its subtree and, read only, its ancestors' (an
    /// organisation's types serve its sites' devices).
    static let typeReadable = "(\(visible) OR tenant_id = ANY (coalesce((SELECT path FROM tenants WHERE id = $1::uuid), '{}')))"

    /// The device `id` as the caller sees it, optionally locked for update.
    static func device(_ id: UUID, caller: CallerIdentity, lock: Bool, in session: PostgresSession) async throws -> Device {
        guard let device = try await session.query(
            "SELECT \(Self.deviceColumns) FROM devices WHERE id = $3 AND \(Self.visible)\(lock ? " FOR UPDATE" : "")",
            TenantRepository.scope(caller) + [id]
        ).first.map(Self.decodeDevice) else { throw CatalogError.notFound("no device \(id) is visible to the caller") }
        return device
    }

    static func requireTenant(_ tenantID: UUID, caller: CallerIdentity, in session: PostgresSession) async throws {
        let found = try await session.query("SELECT 1 FROM tenants WHERE id = $3 AND ($1::uuid = ANY (path) OR $2::boolean)", TenantRepository.scope(caller) + [tenantID])
        guard !found.rows.isEmpty else { throw CatalogError.notFound("no tenant \(tenantID) is visible to the caller") }
    }

    /// Checks that row `id` of `table` exists in `tenantID` (references never cross tenants).
    /// A device may be of a type of its own tenant or of one of the tenant's ancestors.
    static func requireUsableType(_ typeID: UUID, tenantID: UUID, in session: PostgresSession) async throws {
        let found = try await session.query(
            "SELECT 1 FROM device_types d WHERE d.id = $1 AND d.tenant_id = ANY (coalesce((SELECT path FROM tenants WHERE id = $2), '{}'))", [typeID, tenantID])
        guard !found.rows.isEmpty else {
            throw CatalogError.invalid("request", [.init(pointer: "/deviceTypeId", detail: "no device type \(typeID) in the device's tenant or its ancestors")])
        }
    }

    static func requireSameTenant(_ table: String, _ id: UUID, tenantID: UUID, what: String, pointer: String, in session: PostgresSession) async throws {
        let found = try await session.query("SELECT 1 FROM \(table) WHERE id = $1 AND tenant_id = $2", [id, tenantID])
        guard !found.rows.isEmpty else {
            throw CatalogError.invalid("request", [.init(pointer: pointer, detail: "no \(what) \(id) in the device's tenant")])
        }
    }

    private func publish(_ type: DeviceEventType, _ device: Device, in session: PostgresSession) async throws {
        let event = DeviceEvent(messageId: UUID(), type: type, tenantId: device.tenantId, deviceId: device.id, eventTime: Date(), device: device)
        try await EventOutbox.enqueue([EventOutbox.Event(
            topic: self.topics.deviceEvents, key: device.id.lowercasedString, payload: try Self.json(event),
            tenantID: device.tenantId.lowercasedString
        )], in: session)
    }

    /// Events are contract types, written the way every consumer reads them.
    static func json(_ value: some Encodable) throws -> String {
        String(decoding: try ContractCoding.encoder().encode(value), as: UTF8.self)
    }

    static func decodeJSON<Value: Decodable>(_ text: String?, as type: Value.Type, default value: Value) -> Value {
        guard let text, let decoded = try? JSONDecoder().decode(Value.self, from: Data(text.utf8)) else { return value }
        return decoded
    }

    private static func decodeType(_ row: PostgresRow) -> DeviceType {
        DeviceType(
            id: row["id"].flatMap(UUID.init(uuidString:)) ?? UUID(), tenantId: row["tenant_id"].flatMap(UUID.init(uuidString:)) ?? UUID(),
            name: row["name"] ?? "", description: row["description"] ?? "", schemaSubject: row["schema_subject"],
            createdAt: row.date("created_at") ?? .distantPast, updatedAt: row.date("updated_at") ?? .distantPast
        )
    }

    static func decodeDevice(_ row: PostgresRow) -> Device {
        Device(
            id: row["id"].flatMap(UUID.init(uuidString:)) ?? UUID(), tenantId: row["tenant_id"].flatMap(UUID.init(uuidString:)) ?? UUID(),
            deviceTypeId: row["device_type_id"].flatMap(UUID.init(uuidString:)) ?? UUID(),
            assetId: row["asset_id"].flatMap(UUID.init(uuidString:)), name: row["name"] ?? "",
            tags: Self.decodeJSON(row["tags"], as: [String].self, default: []),
            metadata: Self.decodeJSON(row["metadata"], as: [String: String].self, default: [:]),
            status: row["status"].flatMap(DeviceStatus.init(rawValue:)) ?? .active,
            connectivity: row["connectivity"].flatMap(Connectivity.init(rawValue:)) ?? .offline,
            lastSeenAt: row.date("last_seen_at"), createdAt: row.date("created_at") ?? .distantPast,
            updatedAt: row.date("updated_at") ?? .distantPast, decommissionedAt: row.date("decommissioned_at")
        )
    }
}
