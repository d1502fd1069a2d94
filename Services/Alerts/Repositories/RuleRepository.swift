import ClientRuntime
import Foundation
import LibPQ
import SensormineClients
import SensormineContracts
import SensormineCore

/// Alert rules in PostgreSQL under row-level security; every change is put in Alerts' outbox for
/// `alerts.rules` in the same transaction (the rule, or a tombstone when it is deleted).
struct RuleRepository: Sendable {
    let database: PostgresClient
    let topics: TopicNames
    static let outboxTable = "alerts_outbox"

    private static let columns = """
        id, tenant_id, name, description, enabled, scope, condition, for_seconds, severity, labels, summary_template, message_template,
        notification_policy_id, applies_to_sub_tenants, revision, created_at, updated_at
        """

    func create(tenantID: UUID, _ definition: RuleDefinition, caller: CallerIdentity) async throws -> AlertRule {
        try await self.database.withCaller(caller) { session in
            try await TenantCheck.visible(tenantID, in: session)
            try await Self.checkScope(definition.scope, tenantID: tenantID, in: session)
            try await Self.checkPolicy(definition.notificationPolicyId, tenantID: tenantID, in: session)
            let row = try await session.query(
                """
                INSERT INTO alert_rules (id, tenant_id, name, description, enabled, scope, condition, for_seconds, severity, labels,
                                         summary_template, message_template, notification_policy_id, applies_to_sub_tenants)
                VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8, $9, $10::jsonb, $11, $12, $13, $14)
                RETURNING \(Self.columns)
                """,
                try Self.parameters(id: UUID(), tenantID: tenantID, definition)
            ).first
            guard let row else { throw AlertsError.notFound("the rule was not stored") }
            let rule = try Self.decode(row)
            try await self.publish(rule, in: session)
            return rule
        }
    }

    /// The tenant's own rules and those its ancestors apply to it, by name.
    func list(tenantID: UUID, caller: CallerIdentity) async throws -> [AlertRule] {
        try await self.database.withCaller(caller) { session in
            try await session.query(
                """
                SELECT \(Self.columns) FROM alert_rules
                WHERE tenant_id = $1 OR (applies_to_sub_tenants AND tenant_id <> $1 AND alerts_tenant_ancestor(tenant_id))
                ORDER BY name, id
                """, [tenantID]
            ).all.map(Self.decode)
        }
    }

    func rule(id: UUID, caller: CallerIdentity) async throws -> AlertRule {
        try await self.database.withCaller(caller) { session in
            guard let row = try await session.query("SELECT \(Self.columns) FROM alert_rules WHERE id = $1", [id]).first else {
                throw AlertsError.notFound("no alert rule \(id)")
            }
            return try Self.decode(row)
        }
    }

    /// Replaces a rule's definition (owner and id stay) and raises its revision.
    func replace(id: UUID, _ definition: RuleDefinition, caller: CallerIdentity) async throws -> AlertRule {
        try await self.database.withCaller(caller) { session in
            // The write policy hides inherited rules, so a sub-tenant's update finds nothing.
            guard let owner = try await session.query("SELECT tenant_id FROM alert_rules WHERE id = $1 AND alerts_tenant_visible(tenant_id) FOR UPDATE", [id])
                .first?["tenant_id"].flatMap(UUID.init(uuidString:)) else {
                throw AlertsError.notFound("no alert rule \(id) that this tenant owns")
            }
            try await Self.checkScope(definition.scope, tenantID: owner, in: session)
            try await Self.checkPolicy(definition.notificationPolicyId, tenantID: owner, in: session)
            var parameters = try Self.parameters(id: id, tenantID: owner, definition)
            parameters.removeSubrange(0...1)
            parameters.insert(id, at: 0)
            let row = try await session.query(
                """
                UPDATE alert_rules SET name = $2, description = $3, enabled = $4, scope = $5::jsonb, condition = $6::jsonb, for_seconds = $7,
                    severity = $8, labels = $9::jsonb, summary_template = $10, message_template = $11, notification_policy_id = $12,
                    applies_to_sub_tenants = $13, revision = revision + 1, updated_at = now()
                WHERE id = $1 RETURNING \(Self.columns)
                """, parameters
            ).first
            guard let row else { throw AlertsError.notFound("no alert rule \(id)") }
            let rule = try Self.decode(row)
            try await self.publish(rule, in: session)
            return rule
        }
    }

    func delete(id: UUID, caller: CallerIdentity) async throws {
        try await self.database.withCaller(caller) { session in
            guard let tenant = try await session.query("DELETE FROM alert_rules WHERE id = $1 AND alerts_tenant_visible(tenant_id) RETURNING tenant_id", [id])
                .first?["tenant_id"] else {
                throw AlertsError.notFound("no alert rule \(id) that this tenant owns")
            }
            try await EventOutbox.enqueue([EventOutbox.Event(topic: self.topics.alertRules, key: id.lowercasedString, payload: nil, tenantID: tenant)],
                                          in: session, table: Self.outboxTable)
        }
    }

    /// Puts every rule in the outbox again: the local broker neither keeps nor compacts topics, so
    /// Alerts republishes the whole set when it starts (StreamProcessing keeps the latest revision).
    @discardableResult
    func republishAll() async throws -> Int {
        try await self.database.withTransaction { session in
            try await session.query("SELECT set_config('sensormine.platform_admin', 'on', true)")
            let rules = try await session.query("SELECT \(Self.columns) FROM alert_rules ORDER BY created_at, id").all.map(Self.decode)
            for rule in rules { try await self.publish(rule, in: session) }
            return rules.count
        }
    }

    private func publish(_ rule: AlertRule, in session: PostgresSession) async throws {
        let payload = String(decoding: try ContractCoding.encoder().encode(rule), as: UTF8.self)
        try await EventOutbox.enqueue([EventOutbox.Event(topic: self.topics.alertRules, key: rule.id.lowercasedString, payload: payload,
                                                         tenantID: rule.tenantId.lowercasedString)],
                                      in: session, table: Self.outboxTable)
    }

    /// What the scope names must exist where the rule applies: a device or asset in the rule's
    /// tenant or below it, a device type of it, of a sub-tenant or inherited from an ancestor.
    private static func checkScope(_ scope: AlertScope, tenantID: UUID, in session: PostgresSession) async throws {
        let (sql, id, pointer, what): (String, UUID?, String, String) = switch scope.kind {
        case .device:
            ("SELECT 1 FROM devices d JOIN tenants t ON t.id = d.tenant_id WHERE d.id = $1 AND $2 = ANY (t.path)", scope.deviceId, "/scope/deviceId", "device")
        case .asset:
            ("SELECT 1 FROM assets a JOIN tenants t ON t.id = a.tenant_id WHERE a.id = $1 AND $2 = ANY (t.path)", scope.assetId, "/scope/assetId", "asset")
        case .deviceType:
            ("""
             SELECT 1 FROM device_types dt WHERE dt.id = $1 AND (
                 EXISTS (SELECT 1 FROM tenants t WHERE t.id = dt.tenant_id AND $2 = ANY (t.path))
                 OR dt.tenant_id = ANY (coalesce((SELECT t.path FROM tenants t WHERE t.id = $2), '{}')))
             """, scope.deviceTypeId, "/scope/deviceTypeId", "device type")
        case .tag:
            ("", nil, "", "")
        }
        guard let id else { return }
        guard try await !session.query(sql, [id, tenantID]).rows.isEmpty else {
            throw AlertsError.invalid("the rule's scope names a \(what) this tenant does not have",
                                      [.init(pointer: pointer, detail: "no \(what) \(id.lowercasedString) in tenant \(tenantID.lowercasedString) or below it")])
        }
    }

    /// The policy a rule names must be its tenant's or an ancestor's.
    private static func checkPolicy(_ policy: UUID?, tenantID: UUID, in session: PostgresSession) async throws {
        guard let policy else { return }
        let found = try await session.query(
            """
            SELECT 1 FROM notification_policies p WHERE p.id = $1
            AND (p.tenant_id = $2 OR p.tenant_id = ANY (coalesce((SELECT t.path FROM tenants t WHERE t.id = $2), '{}')))
            """, [policy, tenantID])
        guard !found.rows.isEmpty else {
            throw AlertsError.invalid("the rule names a notification policy this tenant does not have",
                                      [.init(pointer: "/notificationPolicyId", detail: "no policy \(policy.lowercasedString) of this tenant")])
        }
    }

    private static func parameters(id: UUID, tenantID: UUID, _ definition: RuleDefinition) throws -> [(any PostgresBindable)?] {
        let encoder = ContractCoding.encoder()
        let json = { (value: any Encodable) throws -> String in String(decoding: try encoder.encode(value), as: UTF8.self) }
        return [id, tenantID, definition.name, definition.description, definition.enabled, try json(definition.scope), try json(definition.condition),
                definition.forSeconds, definition.severity.rawValue, try json(definition.labels), definition.summaryTemplate, definition.messageTemplate,
                definition.notificationPolicyId, definition.appliesToSubTenants]
    }

    private static func decode(_ row: PostgresRow) throws -> AlertRule {
        let decoder = ContractCoding.decoder()
        func json<Value: Decodable>(_ column: String, as type: Value.Type) throws -> Value {
            try decoder.decode(Value.self, from: Data((row[column] ?? "null").utf8))
        }
        return AlertRule(
            id: row["id"].flatMap(UUID.init(uuidString:)) ?? UUID(), tenantId: row["tenant_id"].flatMap(UUID.init(uuidString:)) ?? UUID(),
            name: row["name"] ?? "", description: row["description"] ?? "", enabled: row.bool("enabled") ?? true,
            scope: try json("scope", as: AlertScope.self), condition: try json("condition", as: AlertCondition.self),
            forSeconds: row.int("for_seconds") ?? 0, severity: AlertSeverity(rawValue: row["severity"] ?? "") ?? .warning,
            labels: try json("labels", as: [String: String].self), summaryTemplate: row["summary_template"] ?? "", messageTemplate: row["message_template"] ?? "",
            notificationPolicyId: row["notification_policy_id"].flatMap(UUID.init(uuidString:)), appliesToSubTenants: row.bool("applies_to_sub_tenants") ?? false,
            revision: row.int("revision") ?? 1, createdAt: row.date("created_at") ?? .distantPast, updatedAt: row.date("updated_at") ?? .distantPast
        )
    }
}
