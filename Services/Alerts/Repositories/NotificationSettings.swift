import Crypto
import Foundation
import LibPQ
import SensormineClients
import SensormineContracts
import SensormineCore

/// Notification channels per tenant, under row-level security. A webhook's signing secret is
/// returned once, when the channel is created; lists and reads leave it out.
struct ChannelStore: Sendable {
    let database: PostgresClient

    static let columns = "id, tenant_id, name, kind, url, recipients, secret, enabled, created_at"

    func create(tenantID: UUID, _ definition: ChannelDefinition, caller: CallerIdentity) async throws -> NotificationChannel {
        try await self.database.withCaller(caller) { session in
            try await TenantCheck.visible(tenantID, in: session)
            let secret = definition.kind == .webhook ? (definition.secret ?? Self.newSecret()) : nil
            guard let row = try await session.query(
                """
                INSERT INTO notification_channels (id, tenant_id, name, kind, url, recipients, secret, enabled)
                VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8) RETURNING \(Self.columns)
                """, [UUID(), tenantID, definition.name, definition.kind.rawValue, definition.url, try SQLJSON.text(definition.recipients), secret, definition.enabled]
            ).first else { throw AlertsError.notFound("the channel was not stored") }
            return try Self.decode(row, secret: true)
        }
    }

    func list(tenantID: UUID, caller: CallerIdentity) async throws -> [NotificationChannel] {
        try await self.database.withCaller(caller) { session in
            try await session.query("SELECT \(Self.columns) FROM notification_channels WHERE tenant_id = $1 ORDER BY name, id", [tenantID]).all
                .map { try Self.decode($0, secret: false) }
        }
    }

    func channel(_ id: UUID, caller: CallerIdentity) async throws -> NotificationChannel {
        try await self.database.withCaller(caller) { session in
            guard let row = try await session.query("SELECT \(Self.columns) FROM notification_channels WHERE id = $1", [id]).first else {
                throw AlertsError.notFound("no channel \(id)")
            }
            return try Self.decode(row, secret: false)
        }
    }

    /// Replaces a channel's definition; a webhook keeps its secret unless a new one is given.
    func replace(_ id: UUID, _ definition: ChannelDefinition, caller: CallerIdentity) async throws -> NotificationChannel {
        try await self.database.withCaller(caller) { session in
            guard let row = try await session.query(
                """
                UPDATE notification_channels SET name = $2, kind = $3, url = $4, recipients = $5::jsonb,
                    secret = CASE WHEN $3 <> 'webhook' THEN NULL ELSE coalesce($6, secret, $7) END, enabled = $8
                WHERE id = $1 RETURNING \(Self.columns)
                """, [id, definition.name, definition.kind.rawValue, definition.url, try SQLJSON.text(definition.recipients), definition.secret, Self.newSecret(),
                      definition.enabled]
            ).first else { throw AlertsError.notFound("no channel \(id)") }
            return try Self.decode(row, secret: definition.secret != nil)
        }
    }

    func delete(_ id: UUID, caller: CallerIdentity) async throws {
        try await self.database.withCaller(caller) { session in
            guard try await !session.query("DELETE FROM notification_channels WHERE id = $1 RETURNING id", [id]).rows.isEmpty else {
                throw AlertsError.notFound("no channel \(id)")
            }
        }
    }

    /// 32 random bytes, hex.
    static func newSecret() -> String {
        SymmetricKey(size: .bits256).withUnsafeBytes { bytes in bytes.map { String(format: "%02x", $0) }.joined() }
    }

    static func decode(_ row: PostgresRow, secret: Bool) throws -> NotificationChannel {
        NotificationChannel(
            id: row["id"].flatMap(UUID.init(uuidString:)) ?? UUID(), tenantId: row["tenant_id"].flatMap(UUID.init(uuidString:)) ?? UUID(),
            name: row["name"] ?? "", kind: NotificationChannel.Kind(rawValue: row["kind"] ?? "") ?? .webhook, url: row["url"],
            recipients: try ContractCoding.decoder().decode([String].self, from: Data((row["recipients"] ?? "[]").utf8)),
            enabled: row.bool("enabled") ?? true, createdAt: row.date("created_at") ?? .distantPast, secret: secret ? row["secret"] : nil)
    }
}

/// Notification policies per tenant: escalation levels over the tenant's channels.
struct PolicyStore: Sendable {
    let database: PostgresClient

    static func columns(_ alias: String) -> String {
        ["id", "tenant_id", "name", "levels", "repeat_count", "group_by", "group_wait_seconds", "repeat_interval_seconds", "acknowledgement_timeout_seconds",
         "send_resolved", "is_default"].map { "\(alias).\($0)" }.joined(separator: ", ")
    }

    func create(tenantID: UUID, _ definition: PolicyDefinition, caller: CallerIdentity) async throws -> NotificationPolicy {
        try await self.database.withCaller(caller) { session in
            try await TenantCheck.visible(tenantID, in: session)
            try await Self.checkChannels(definition, tenantID: tenantID, in: session)
            if definition.isDefault { try await session.execute("UPDATE notification_policies SET is_default = false WHERE tenant_id = $1 AND is_default", [tenantID]) }
            guard let row = try await session.query(
                """
                INSERT INTO notification_policies (id, tenant_id, name, levels, repeat_count, group_by, group_wait_seconds, repeat_interval_seconds,
                                                   acknowledgement_timeout_seconds, send_resolved, is_default)
                VALUES ($1, $2, $3, $4::jsonb, $5, $6::jsonb, $7, $8, $9, $10, $11) RETURNING \(Self.columns("notification_policies"))
                """, try Self.parameters(UUID(), tenantID, definition)
            ).first else { throw AlertsError.notFound("the policy was not stored") }
            return try Self.decode(row)
        }
    }

    func list(tenantID: UUID, caller: CallerIdentity) async throws -> [NotificationPolicy] {
        try await self.database.withCaller(caller) { session in
            try await session.query("SELECT \(Self.columns("p")) FROM notification_policies p WHERE p.tenant_id = $1 ORDER BY p.name, p.id", [tenantID]).all.map(Self.decode)
        }
    }

    func policy(_ id: UUID, caller: CallerIdentity) async throws -> NotificationPolicy {
        try await self.database.withCaller(caller) { session in
            guard let row = try await session.query("SELECT \(Self.columns("p")) FROM notification_policies p WHERE p.id = $1", [id]).first else {
                throw AlertsError.notFound("no notification policy \(id)")
            }
            return try Self.decode(row)
        }
    }

    func replace(_ id: UUID, _ definition: PolicyDefinition, caller: CallerIdentity) async throws -> NotificationPolicy {
        try await self.database.withCaller(caller) { session in
            guard let tenant = try await session.query("SELECT tenant_id FROM notification_policies WHERE id = $1 FOR UPDATE", [id]).first?["tenant_id"]
                .flatMap(UUID.init(uuidString:)) else { throw AlertsError.notFound("no notification policy \(id)") }
            try await Self.checkChannels(definition, tenantID: tenant, in: session)
            if definition.isDefault {
                try await session.execute("UPDATE notification_policies SET is_default = false WHERE tenant_id = $1 AND is_default AND id <> $2", [tenant, id])
            }
            guard let row = try await session.query(
                """
                UPDATE notification_policies SET name = $3, levels = $4::jsonb, repeat_count = $5, group_by = $6::jsonb, group_wait_seconds = $7,
                    repeat_interval_seconds = $8, acknowledgement_timeout_seconds = $9, send_resolved = $10, is_default = $11
                WHERE id = $1 AND tenant_id = $2 RETURNING \(Self.columns("notification_policies"))
                """, try Self.parameters(id, tenant, definition)
            ).first else { throw AlertsError.notFound("no notification policy \(id)") }
            return try Self.decode(row)
        }
    }

    /// Deletes a policy; escalations under it end (alerts and their history stay).
    func delete(_ id: UUID, caller: CallerIdentity) async throws {
        try await self.database.withCaller(caller) { session in
            guard try await !session.query("DELETE FROM notification_policies WHERE id = $1 RETURNING id", [id]).rows.isEmpty else {
                throw AlertsError.notFound("no notification policy \(id)")
            }
            try NotificationQueue.elevate(session)
            try await session.execute("UPDATE alert_escalations SET phase = 'done' WHERE policy_id = $1", [id])
        }
    }

    /// Every channel a level names must be the policy tenant's or an ancestor's.
    private static func checkChannels(_ definition: PolicyDefinition, tenantID: UUID, in session: PostgresSession) async throws {
        var errors: [ProblemDetails.FieldError] = []
        for (index, level) in definition.levels.enumerated() {
            for (position, channel) in level.channelIds.enumerated() {
                let found = try await session.query(
                    """
                    SELECT 1 FROM notification_channels c WHERE c.id = $1
                    AND (c.tenant_id = $2 OR c.tenant_id = ANY (coalesce((SELECT t.path FROM tenants t WHERE t.id = $2), '{}')))
                    """, [channel, tenantID])
                if found.rows.isEmpty {
                    errors.append(.init(pointer: "/levels/\(index)/channelIds/\(position)", detail: "no channel \(channel.lowercasedString) of this tenant"))
                }
            }
        }
        if !errors.isEmpty { throw AlertsError.invalid("the policy names channels this tenant does not have", errors) }
    }

    private static func parameters(_ id: UUID, _ tenant: UUID, _ definition: PolicyDefinition) throws -> [(any PostgresBindable)?] {
        [id, tenant, definition.name, try SQLJSON.text(definition.levels), definition.repeatCount, try SQLJSON.text(definition.groupBy),
         definition.groupWaitSeconds, definition.repeatIntervalSeconds, definition.acknowledgementTimeoutSeconds, definition.sendResolved, definition.isDefault]
    }

    static func decode(_ row: PostgresRow) throws -> NotificationPolicy {
        let decoder = ContractCoding.decoder()
        return NotificationPolicy(
            id: row["id"].flatMap(UUID.init(uuidString:)) ?? UUID(), tenantId: row["tenant_id"].flatMap(UUID.init(uuidString:)) ?? UUID(),
            name: row["name"] ?? "", levels: try decoder.decode([EscalationLevel].self, from: Data((row["levels"] ?? "[]").utf8)),
            repeatCount: row.int("repeat_count") ?? 0, groupBy: try decoder.decode([String].self, from: Data((row["group_by"] ?? "[]").utf8)),
            groupWaitSeconds: row.int("group_wait_seconds") ?? 0, repeatIntervalSeconds: row.int("repeat_interval_seconds") ?? 0,
            acknowledgementTimeoutSeconds: row.int("acknowledgement_timeout_seconds") ?? 0, sendResolved: row.bool("send_resolved") ?? true,
            isDefault: row.bool("is_default") ?? false)
    }
}

/// Silences and maintenance windows per tenant; a tenant's silence also covers its sub-tenants' alerts.
struct SilenceStore: Sendable {
    let database: PostgresClient

    static let columns = "id, tenant_id, labels, device_id, rule_id, starts_at, ends_at, comment, created_by, created_at"

    func create(tenantID: UUID, _ definition: SilenceDefinition, caller: CallerIdentity) async throws -> Silence {
        try await self.database.withCaller(caller) { session in
            try await TenantCheck.visible(tenantID, in: session)
            guard let row = try await session.query(
                """
                INSERT INTO alert_silences (id, tenant_id, labels, device_id, rule_id, starts_at, ends_at, comment, created_by)
                VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8, $9) RETURNING \(Self.columns)
                """, [UUID(), tenantID, try SQLJSON.text(definition.labels), definition.deviceId, definition.ruleId, definition.startsAt, definition.endsAt,
                      definition.comment, caller.subject]
            ).first else { throw AlertsError.notFound("the silence was not stored") }
            return try Self.decode(row)
        }
    }

    /// The tenant's silences, current and future (with `expired`, past ones too), newest first.
    func list(tenantID: UUID, includeExpired: Bool, caller: CallerIdentity) async throws -> [Silence] {
        try await self.database.withCaller(caller) { session in
            try await session.query(
                "SELECT \(Self.columns) FROM alert_silences WHERE tenant_id = $1 AND ($2 OR ends_at > now()) ORDER BY starts_at DESC, id LIMIT 1000",
                [tenantID, includeExpired]).all.map(Self.decode)
        }
    }

    /// Ends a silence now (it stays in the list of expired ones).
    func expire(_ id: UUID, caller: CallerIdentity) async throws -> Silence {
        try await self.database.withCaller(caller) { session in
            guard let row = try await session.query(
                "UPDATE alert_silences SET ends_at = least(ends_at, greatest(now(), starts_at + interval '1 microsecond')) WHERE id = $1 RETURNING \(Self.columns)", [id]
            ).first else { throw AlertsError.notFound("no silence \(id)") }
            return try Self.decode(row)
        }
    }

    /// The silences in force now over the tenants of the alerts `instances` (a `uuid[]` literal):
    /// a tenant's own and its ancestors', each row naming the tenant it covers.
    static func activeStatement(instances: String) -> (sql: String, parameters: [(any PostgresBindable)?]) {
        ("""
            SELECT t.id AS covered, \(Self.columns.split(separator: ",").map { "s." + $0.trimmingCharacters(in: .whitespaces) }.joined(separator: ", "))
            FROM tenants t JOIN alert_silences s ON s.tenant_id = ANY (t.path)
            WHERE t.id IN (SELECT tenant_id FROM alert_instances WHERE id = ANY ($1::uuid[])) AND s.starts_at <= now() AND s.ends_at > now()
            """, [instances])
    }

    /// The silences `activeStatement` read, with the tenant each covers.
    static func active(_ result: PostgresRows) throws -> [(tenant: UUID, silence: Silence)] {
        try result.all.map { row in (row["covered"].flatMap(UUID.init(uuidString:)) ?? UUID(), try Self.decode(row)) }
    }

    static func decode(_ row: PostgresRow) throws -> Silence {
        Silence(
            id: row["id"].flatMap(UUID.init(uuidString:)) ?? UUID(), tenantId: row["tenant_id"].flatMap(UUID.init(uuidString:)) ?? UUID(),
            labels: try ContractCoding.decoder().decode([String: String].self, from: Data((row["labels"] ?? "{}").utf8)),
            deviceId: row["device_id"].flatMap(UUID.init(uuidString:)), ruleId: row["rule_id"].flatMap(UUID.init(uuidString:)),
            startsAt: row.date("starts_at") ?? .distantPast, endsAt: row.date("ends_at") ?? .distantPast, comment: row["comment"] ?? "",
            createdBy: row["created_by"] ?? "", createdAt: row.date("created_at") ?? .distantPast)
    }
}

/// The tenant a write names must be the caller's or below it (404 otherwise: another tenant's
/// existence is not disclosed).
enum TenantCheck {
    static func visible(_ tenantID: UUID, in session: PostgresSession) async throws {
        let visible = try await session.query("SELECT alerts_tenant_visible($1) AS visible", [tenantID]).first?.bool("visible")
        guard visible == true else { throw AlertsError.notFound("no tenant \(tenantID)") }
    }
}
