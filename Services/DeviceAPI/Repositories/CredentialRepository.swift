import ClientRuntime
import Foundation
import LibPQ
import SensormineAuth
import SensormineClients
import SensormineCore
import SensormineContracts

/// Device credentials: API keys (hashed in PostgreSQL, indexed in Redis for the gateway) and MQTT
/// accounts (in the broker's dynamic-security plugin). The database decides: Redis and the broker
/// are changed only after the commit, through the credential outbox (retried until applied),
/// except a new MQTT password, which is never stored and so goes to the broker right after the
/// commit; if the broker refuses it the caller is told, and the previous password still works.
struct CredentialRepository: Sendable {
    let devices: DeviceRepository
    let index: APIKeyIndex
    let broker: BrokerAccounts
    let outbox: CredentialOutbox
    private var tenants: TenantRepository { self.devices.tenants }

    private static let keyColumns = "id, device_id, name, prefix, created_at, revoked_at"

    /// Issues a key for an active device, optionally revoking `replacing` in the same transaction.
    func issueKey(deviceID: UUID, name: String, replacing: UUID? = nil, caller: CallerIdentity) async throws -> IssuedAPIKey {
        let device = try await self.devices.find(deviceID, caller: caller)
        let owner = try await self.tenants.find(device.tenantId, caller: caller)
        let plan = owner?.effective.plan
        let organisation = owner?.path.first?.lowercasedString
        let issued = try await self.tenants.withCaller(caller) { session in
            let device = try await DeviceRepository.device(deviceID, caller: caller, lock: true, in: session)
            guard device.status == .active else { throw CatalogError.conflict("device \(deviceID) is decommissioned") }
            var revoked: [String] = []
            if let replacing {
                revoked = try await session.query(
                    "UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND device_id = $2 AND revoked_at IS NULL RETURNING key_hash", [replacing, deviceID]
                ).rows.compactMap { $0.first ?? nil }
                guard !revoked.isEmpty else { throw CatalogError.notFound("no active API key \(replacing) on device \(deviceID)") }
            }
            let secret = OpaqueSecret.generate(prefix: "smk_")
            let digest = OpaqueSecret.digest(secret)
            let rows = try await session.query(
                "INSERT INTO api_keys (id, tenant_id, device_id, key_hash, prefix, name) VALUES ($1, $2, $3, $4, $5, $6) RETURNING \(Self.keyColumns)",
                [UUID(), device.tenantId, deviceID, digest, String(secret.prefix(10)), name]
            )
            guard let key = rows.first.map(Self.decodeKey) else { throw CatalogError.notFound("the API key vanished") }
            try await self.devices.publishCredentialsChanged(device, in: session)
            try await CredentialOutbox.enqueue([
                .revokeKeys(digests: revoked),
                .indexKey(digest: digest, entry: APIKeyIndex.Entry(
                    deviceID: deviceID.lowercasedString, tenantID: device.tenantId.lowercasedString, plan: plan, organisationID: organisation)),
            ], in: session)
            return IssuedAPIKey(apiKey: key, key: secret)
        }
        await self.outbox.applyCommitted()
        return issued
    }

    func listKeys(deviceID: UUID, caller: CallerIdentity) async throws -> [APIKey] {
        try await self.tenants.withCaller(caller) { session in
            _ = try await DeviceRepository.device(deviceID, caller: caller, lock: false, in: session)
            return try await session.query("SELECT \(Self.keyColumns) FROM api_keys WHERE device_id = $1 ORDER BY created_at, id", [deviceID])
                .all.map(Self.decodeKey)
        }
    }

    /// Revokes a key; the gateway refuses it from the next request on.
    func revokeKey(deviceID: UUID, keyID: UUID, caller: CallerIdentity) async throws {
        try await self.tenants.withCaller(caller) { session in
            let device = try await DeviceRepository.device(deviceID, caller: caller, lock: true, in: session)
            let revoked = try await session.query(
                "UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND device_id = $2 AND revoked_at IS NULL RETURNING key_hash", [keyID, deviceID]
            ).rows.compactMap { $0.first ?? nil }
            guard !revoked.isEmpty else { throw CatalogError.notFound("no active API key \(keyID) on device \(deviceID)") }
            try await self.devices.publishCredentialsChanged(device, in: session)
            try await CredentialOutbox.enqueue([.revokeKeys(digests: revoked)], in: session)
        }
        await self.outbox.applyCommitted()
    }

    /// Creates or replaces the device's MQTT account with a new password.
    func provisionMQTT(deviceID: UUID, caller: CallerIdentity) async throws -> IssuedMQTTCredentials {
        let (device, username) = try await self.tenants.withCaller(caller) { session in
            let device = try await DeviceRepository.device(deviceID, caller: caller, lock: true, in: session)
            guard device.status == .active else { throw CatalogError.conflict("device \(deviceID) is decommissioned") }
            let username = deviceID.lowercasedString
            try await session.execute(
                """
                INSERT INTO mqtt_credentials (device_id, tenant_id, username) VALUES ($1, $2, $3)
                ON CONFLICT (device_id) DO UPDATE SET rotated_at = now()
                """,
                [deviceID, device.tenantId, username]
            )
            try await self.devices.publishCredentialsChanged(device, in: session)
            return (device, username)
        }
        // A removal still waiting in the outbox must not delete the account made next.
        await self.outbox.applyCommitted()
        let password = OpaqueSecret.generate(prefix: "smq_")
        let access = BrokerAccounts.DeviceAccess(tenantID: device.tenantId.lowercasedString, deviceID: username)
        do {
            try await self.broker.provision(username: username, password: password, access: access)
        } catch let error as ClientError {
            throw CatalogError.unavailable("the MQTT broker did not take the new password (\(error.message)); the previous one, if any, still works; retry later")
        }
        return IssuedMQTTCredentials(username: username, password: password,
                                     telemetryTopic: DeviceCredentials.telemetryTopic(tenantID: device.tenantId, deviceID: deviceID),
                                     publishFilter: access.publish, commandFilter: access.subscribe)
    }

    /// Removes the device's MQTT account; the broker disconnects it.
    func removeMQTT(deviceID: UUID, caller: CallerIdentity) async throws {
        try await self.tenants.withCaller(caller) { session in
            let device = try await DeviceRepository.device(deviceID, caller: caller, lock: true, in: session)
            guard let username = try await session.query("DELETE FROM mqtt_credentials WHERE device_id = $1 RETURNING username", [deviceID]).rows.first?.first ?? nil else {
                throw CatalogError.notFound("device \(deviceID) has no MQTT credentials")
            }
            try await self.devices.publishCredentialsChanged(device, in: session)
            try await CredentialOutbox.enqueue([.removeMQTT(username: username)], in: session)
        }
        await self.outbox.applyCommitted()
    }

    /// Decommissions a device and withdraws every credential it has, all or nothing.
    func decommission(deviceID: UUID, caller: CallerIdentity) async throws -> Device {
        let device = try await self.devices.decommission(deviceID, caller: caller) { revoked, session in
            try await CredentialOutbox.enqueue([.revokeKeys(digests: revoked.revokedKeyDigests)]
                + (revoked.mqttUsername.map { [.removeMQTT(username: $0)] } ?? []), in: session)
        }
        await self.outbox.applyCommitted()
        return device
    }

    /// Every active key with its entry, to rebuild the gateway's index after Redis lost it.
    func activeKeys() async throws -> [(digest: String, entry: APIKeyIndex.Entry)] {
        try await self.tenants.withCaller(UserRepository.signInScope) { session in
            try await session.query(
                """
                SELECT k.key_hash, k.device_id, k.tenant_id, t.path[1] AS organisation,
                       coalesce(t.settings->>'plan', t.inherited_settings->>'plan') AS plan
                FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.revoked_at IS NULL
                """
            ).all.map { row in
                (row["key_hash"] ?? "", APIKeyIndex.Entry(deviceID: row["device_id"] ?? "", tenantID: row["tenant_id"] ?? "", plan: row["plan"],
                                                        organisationID: row["organisation"]))
            }
        }
    }

    private static func decodeKey(_ row: PostgresRow) -> APIKey {
        APIKey(
            id: row["id"].flatMap(UUID.init(uuidString:)) ?? UUID(), deviceId: row["device_id"].flatMap(UUID.init(uuidString:)) ?? UUID(),
            name: row["name"] ?? "", prefix: row["prefix"] ?? "", createdAt: row.date("created_at") ?? .distantPast, revokedAt: row.date("revoked_at")
        )
    }
}
