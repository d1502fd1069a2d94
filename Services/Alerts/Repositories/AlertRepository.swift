import Foundation
import LibPQ
import SensormineClients
import SensormineContracts
import SensormineCore

/// Alert instances, their transitions and the per-key sequence, under row-level security. The
/// consumer of `alerts.triggered` applies a batch in one transaction (as platform-admin: events
/// are every tenant's); the API reads and changes them as the caller.
struct AlertRepository: Sendable {
    let database: PostgresClient
    let flapPolicy: FlapPolicy

    /// What applying a batch did.
    struct Outcome: Sendable, Equatable {
        var opened = 0
        var resolved = 0
        var joined = 0
        var stale = 0
        /// Events naming a rule or tenant that does not exist (any more), or a rule that does not
        /// apply to the tenant.
        var unknown = 0
    }

    static let instanceColumns = """
        id, tenant_id, source, dedup_key, rule_id, device_id, severity, summary, labels, "values", state, acknowledged, acknowledged_by,
        acknowledged_at, resolved_by, resolved_at, opened_at, last_triggered_at, trigger_count, flapping, held_resolve_at
        """

    private struct KeyID: Hashable, Codable {
        var tenant_id: UUID
        var dedup_key: String
    }

    /// Applies checked events in order: per key, against the highest sequence applied so far.
    func apply(_ events: [AlertEvent]) async throws -> Outcome {
        guard !events.isEmpty else { return Outcome() }
        var order: [KeyID] = []
        var byKey: [KeyID: [AlertEvent]] = [:]
        for event in events {
            let key = KeyID(tenant_id: event.tenantId, dedup_key: event.dedupKey)
            if byKey[key] == nil { order.append(key) }
            byKey[key, default: []].append(event)
        }
        // Only a resolve asks whether the key flaps: the openings of the others are not read.
        let resolving = Set(events.filter { $0.action == .resolve }.map { KeyID(tenant_id: $0.tenantId, dedup_key: $0.dedupKey) })
        let flapChecked = order.filter(resolving.contains)
        let earliest = events.map(\.occurredAt).min() ?? Date()
        // Two round trips in all: everything read (and the keys locked) in one pipeline, every
        // write queued to go out with COMMIT.
        return try await self.database.withTransaction { session in
            try session.enqueue("SELECT set_config('sensormine.platform_admin', 'on', true)")
            var reads = [Self.rulesStatement(Set(events.compactMap(\.ruleId))), Self.tenantPathsStatement(Set(events.map(\.tenantId)))]
            reads += try self.lockKeysStatements(order, flapChecked: flapChecked, earliest: earliest, in: session)
            let results = try await session.pipeline(reads)
            let rules = Self.rules(results[0])
            let paths = Self.tenantPaths(results[1])
            let states = try Self.keyStates(locked: results[2], openings: flapChecked.isEmpty ? nil : results[3])

            var outcome = Outcome()
            var created: [AlertInstance] = []
            var changed: [AlertInstance] = []
            var transitions: [AlertTransition] = []
            var keyRows: [KeyRow] = []
            var opened: [(instance: AlertInstance, rule: RuleFacts?)] = []
            var resolved: [UUID] = []
            for key in order {
                guard let state = states[key] else { continue }
                var fold = AlertKeyFold(state: state, flapPolicy: self.flapPolicy)
                let existing = state.open?.id
                for event in byKey[key] ?? [] {
                    let rule = event.ruleId.flatMap { rules[$0] }
                    let tenantKnown = paths[event.tenantId] != nil
                    // A rule watches devices of its tenant and below it (its scope was checked so when saved).
                    let ruleApplies = rule.map { paths[event.tenantId]?.contains($0.tenantId) == true } ?? false
                    if !tenantKnown || (event.source == .rule && !ruleApplies) {
                        outcome.unknown += 1
                        continue
                    }
                    fold.apply(event, rule: rule)
                }
                outcome.stale += fold.stale
                outcome.joined += fold.joined
                for transition in fold.transitions {
                    if transition.kind == .opened, let instance = fold.touched.first(where: { $0.id == transition.instanceId }) {
                        outcome.opened += 1
                        opened.append((instance, instance.ruleId.flatMap { rules[$0] }))
                    }
                    if transition.kind == .resolved {
                        outcome.resolved += 1
                        resolved.append(transition.instanceId)
                    }
                }
                for instance in fold.touched {
                    if instance.id == existing { changed.append(instance) } else { created.append(instance) }
                }
                transitions += fold.transitions
                keyRows.append(KeyRow(tenant_id: key.tenant_id, dedup_key: key.dedup_key, last_sequence: fold.state.lastSequence, open_instance: fold.state.open?.id))
            }
            // Existing rows first: a key's old instance resolves before its new one opens (one open per key).
            try Self.update(changed, in: session)
            try Self.insert(created, in: session)
            try Self.insert(transitions, in: session)
            try NotificationQueue.opened(opened, in: session)
            try NotificationQueue.resolved(resolved, in: session)
            if !keyRows.isEmpty {
                try session.enqueue(
                    """
                    UPDATE alert_keys k SET last_sequence = x.last_sequence, open_instance = x.open_instance
                    FROM jsonb_to_recordset($1::jsonb) AS x(tenant_id uuid, dedup_key text, last_sequence bigint, open_instance uuid)
                    WHERE k.tenant_id = x.tenant_id AND k.dedup_key = x.dedup_key
                    """, [try SQLJSON.text(keyRows)])
            }
            return outcome
        }
    }

    private struct KeyRow: Codable {
        var tenant_id: UUID
        var dedup_key: String
        var last_sequence: Int64
        var open_instance: UUID?
    }

    /// Creates the keys' rows where missing (queued) and the statements that lock them (in one
    /// order, so two writers never deadlock) with their open instances, and then, after the
    /// lock, read the recent openings of the keys in `flapChecked` (when there are any).
    private func lockKeysStatements(_ keys: [KeyID], flapChecked: [KeyID], earliest: Date,
                                    in session: PostgresSession) throws -> [(sql: String, parameters: [(any PostgresBindable)?])] {
        let keysJSON = try SQLJSON.text(keys)
        try session.enqueue(
            """
            INSERT INTO alert_keys (tenant_id, dedup_key, last_sequence)
            SELECT tenant_id, dedup_key, -1 FROM jsonb_to_recordset($1::jsonb) AS k(tenant_id uuid, dedup_key text) ORDER BY 1, 2
            ON CONFLICT DO NOTHING
            """, [keysJSON])
        var statements: [(sql: String, parameters: [(any PostgresBindable)?])] = [(
            """
            SELECT k.tenant_id AS key_tenant, k.dedup_key AS key_dedup, k.last_sequence, k.open_instance, \(Self.instanceColumnsOf("i"))
            FROM alert_keys k
            JOIN jsonb_to_recordset($1::jsonb) AS x(tenant_id uuid, dedup_key text) ON k.tenant_id = x.tenant_id AND k.dedup_key = x.dedup_key
            LEFT JOIN alert_instances i ON i.id = k.open_instance
            ORDER BY k.tenant_id, k.dedup_key FOR UPDATE OF k
            """, [keysJSON])]
        guard !flapChecked.isEmpty else { return statements }
        let since = earliest.addingTimeInterval(-self.flapPolicy.windowSeconds)
        // Per key through the (tenant, key, opened) index, whatever the planner guesses of the list.
        statements.append((
            """
            SELECT x.tenant_id, x.dedup_key, o.opened_at FROM jsonb_to_recordset($1::jsonb) AS x(tenant_id uuid, dedup_key text)
            CROSS JOIN LATERAL (
                SELECT i.opened_at FROM alert_instances i WHERE i.tenant_id = x.tenant_id AND i.dedup_key = x.dedup_key AND i.opened_at > $2
            ) o
            """, [try SQLJSON.text(flapChecked), since]))
        return statements
    }

    /// Each locked key's state from the lock's rows (with the open instance) and the openings read.
    private static func keyStates(locked: PostgresRows, openings openingRows: PostgresRows?) throws -> [KeyID: AlertKeyState] {
        var openings: [KeyID: [Date]] = [:]
        for row in openingRows?.all ?? [] {
            guard let tenant = row["tenant_id"].flatMap(UUID.init(uuidString:)), let key = row["dedup_key"], let at = row.date("opened_at") else { continue }
            openings[KeyID(tenant_id: tenant, dedup_key: key), default: []].append(at)
        }
        var states: [KeyID: AlertKeyState] = [:]
        for row in locked.all {
            guard let tenant = row["key_tenant"].flatMap(UUID.init(uuidString:)), let key = row["key_dedup"] else { continue }
            let id = KeyID(tenant_id: tenant, dedup_key: key)
            states[id] = AlertKeyState(lastSequence: row["last_sequence"].flatMap { Int64($0) } ?? -1,
                                       open: row["open_instance"] == nil ? nil : try Self.decode(row),
                                       recentOpenings: openings[id] ?? [])
        }
        return states
    }

    /// The instance columns, qualified by `alias`.
    static func instanceColumnsOf(_ alias: String) -> String {
        Self.instanceColumns.split(separator: ",").map { "\(alias)." + $0.trimmingCharacters(in: .whitespacesAndNewlines) }.joined(separator: ", ")
    }

    /// The rule facts of `ids` (nothing when there are none).
    private static func rulesStatement(_ ids: Set<UUID>) -> (sql: String, parameters: [(any PostgresBindable)?]) {
        ("SELECT id, tenant_id, name, severity, labels, enabled, applies_to_sub_tenants, notification_policy_id FROM alert_rules WHERE id = ANY ($1::uuid[])",
         ["{\(ids.map { $0.lowercasedString }.joined(separator: ","))}"])
    }

    private static func rules(_ result: PostgresRows) -> [UUID: RuleFacts] {
        var rules: [UUID: RuleFacts] = [:]
        for row in result.all {
            guard let id = row["id"].flatMap(UUID.init(uuidString:)), let tenant = row["tenant_id"].flatMap(UUID.init(uuidString:)) else { continue }
            let labels = (try? ContractCoding.decoder().decode([String: String].self, from: Data((row["labels"] ?? "{}").utf8))) ?? [:]
            rules[id] = RuleFacts(tenantId: tenant, name: row["name"] ?? "", severity: AlertSeverity(rawValue: row["severity"] ?? "") ?? .warning,
                                  labels: labels, enabled: row.bool("enabled") ?? true, appliesToSubTenants: row.bool("applies_to_sub_tenants") ?? false,
                                  notificationPolicyId: row["notification_policy_id"].flatMap(UUID.init(uuidString:)))
        }
        return rules
    }

    /// The paths (each tenant and its ancestors) of `ids`.
    private static func tenantPathsStatement(_ ids: Set<UUID>) -> (sql: String, parameters: [(any PostgresBindable)?]) {
        ("SELECT id, array_to_string(path, ',') AS path FROM tenants WHERE id = ANY ($1::uuid[])", ["{\(ids.map { $0.lowercasedString }.joined(separator: ","))}"])
    }

    /// Each known tenant's path (itself and its ancestors).
    private static func tenantPaths(_ result: PostgresRows) -> [UUID: Set<UUID>] {
        var paths: [UUID: Set<UUID>] = [:]
        for row in result.all {
            guard let id = row["id"].flatMap(UUID.init(uuidString:)) else { continue }
            paths[id] = Set((row["path"] ?? "").split(separator: ",").compactMap { UUID(uuidString: String($0)) })
        }
        return paths
    }

    private static func insert(_ instances: [AlertInstance], in session: PostgresSession) throws {
        guard !instances.isEmpty else { return }
        try session.enqueue(
            "INSERT INTO alert_instances SELECT * FROM jsonb_populate_recordset(NULL::alert_instances, $1::jsonb)",
            [try SQLJSON.text(instances.map(InstanceRow.init))])
    }

    private static func update(_ instances: [AlertInstance], in session: PostgresSession) throws {
        guard !instances.isEmpty else { return }
        try session.enqueue(
            """
            UPDATE alert_instances i SET "values" = x."values", state = x.state, resolved_by = x.resolved_by, resolved_at = x.resolved_at,
                last_triggered_at = x.last_triggered_at, trigger_count = x.trigger_count, flapping = x.flapping, held_resolve_at = x.held_resolve_at
            FROM jsonb_populate_recordset(NULL::alert_instances, $1::jsonb) AS x WHERE i.id = x.id
            """, [try SQLJSON.text(instances.map(InstanceRow.init))])
    }

    private static func insert(_ transitions: [AlertTransition], in session: PostgresSession) throws {
        guard !transitions.isEmpty else { return }
        struct Row: Codable {
            var n: Int
            var instance_id: UUID
            var kind: String
            var at: Date
            var actor: String
            var detail: String
        }
        try session.enqueue(
            """
            INSERT INTO alert_transitions (instance_id, tenant_id, kind, at, actor, detail)
            SELECT x.instance_id, i.tenant_id, x.kind, x.at, x.actor, x.detail
            FROM jsonb_to_recordset($1::jsonb) AS x(n integer, instance_id uuid, kind text, at timestamptz, actor text, detail text)
            JOIN alert_instances i ON i.id = x.instance_id ORDER BY x.n
            """, [try SQLJSON.text(transitions.enumerated().map { index, transition in Row(n: index, instance_id: transition.instanceId, kind: transition.kind.rawValue, at: transition.at, actor: transition.actor, detail: transition.detail) })])
    }

    /// Resolves flapping alerts whose held resolve has been quiet for a whole window (no
    /// trigger since): the alert settled. Returns how many.
    @discardableResult
    func releaseSettledFlapping() async throws -> Int {
        try await self.database.withTransaction { session in
            try NotificationQueue.elevate(session)
            let released = try await session.query(
                """
                WITH released AS (
                    UPDATE alert_instances SET state = 'resolved', resolved_at = now(), resolved_by = 'alerts', held_resolve_at = NULL
                    WHERE held_resolve_at IS NOT NULL AND held_resolve_at < now() - make_interval(secs => $1) AND last_triggered_at <= held_resolve_at
                    RETURNING id, tenant_id, dedup_key
                ), keys AS (
                    UPDATE alert_keys k SET open_instance = NULL FROM released r
                    WHERE k.tenant_id = r.tenant_id AND k.dedup_key = r.dedup_key AND k.open_instance = r.id
                )
                INSERT INTO alert_transitions (instance_id, tenant_id, kind, at, actor, detail)
                SELECT id, tenant_id, 'resolved', now(), 'alerts', 'quiet for the flapping window after a held resolve' FROM released
                RETURNING instance_id
                """, [self.flapPolicy.windowSeconds])
            try NotificationQueue.resolved(released.all.compactMap { $0["instance_id"].flatMap(UUID.init(uuidString:)) }, in: session)
            return released.rows.count
        }
    }

    // MARK: - The API's reads and changes, as the caller

    /// What the list of alerts is narrowed to.
    struct Filter: Sendable {
        var tenantID: UUID?
        var state: AlertInstance.State?
        var acknowledged: Bool?
        var severity: AlertSeverity?
        var source: AlertSource?
        var ruleID: UUID?
        var deviceID: UUID?
        var openedFrom: Date?
        var openedTo: Date?
    }

    /// Alerts the caller sees (its tenant and sub-tenants), newest first, after the `cursor` alert.
    func list(_ filter: Filter, after cursor: UUID?, limit: Int, caller: CallerIdentity) async throws -> [AlertInstance] {
        try await self.database.withCaller(caller) { session in
            var conditions: [String] = []
            var parameters: [(any PostgresBindable)?] = []
            func add(_ sql: String, _ value: any PostgresBindable) {
                parameters.append(value)
                conditions.append(sql.replacingOccurrences(of: "?", with: "$\(parameters.count)"))
            }
            if let tenant = filter.tenantID { add("tenant_id = ?", tenant) }
            if let state = filter.state { add("state = ?", state.rawValue) }
            if let acknowledged = filter.acknowledged { add("acknowledged = ?", acknowledged) }
            if let severity = filter.severity { add("severity = ?", severity.rawValue) }
            if let source = filter.source { add("source = ?", source.rawValue) }
            if let rule = filter.ruleID { add("rule_id = ?", rule) }
            if let device = filter.deviceID { add("device_id = ?", device) }
            if let from = filter.openedFrom { add("opened_at >= ?", from) }
            if let to = filter.openedTo { add("opened_at < ?", to) }
            if let cursor { add("(opened_at, id) < (SELECT c.opened_at, c.id FROM alert_instances c WHERE c.id = ?)", cursor) }
            parameters.append(limit)
            let sql = """
                SELECT \(Self.instanceColumns) FROM alert_instances
                \(conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "))
                ORDER BY opened_at DESC, id DESC LIMIT $\(parameters.count)
                """
            return try await session.query(sql, parameters).all.map(Self.decode)
        }
    }

    /// One alert and its transitions, oldest first.
    func instance(_ id: UUID, caller: CallerIdentity) async throws -> (AlertInstance, [AlertTransition]) {
        try await self.database.withCaller(caller) { session in
            guard let row = try await session.query("SELECT \(Self.instanceColumns) FROM alert_instances WHERE id = $1", [id]).first else {
                throw AlertsError.notFound("no alert \(id)")
            }
            let transitions = try await session.query("SELECT instance_id, kind, at, actor, detail FROM alert_transitions WHERE instance_id = $1 ORDER BY id", [id])
                .all.map { row in
                    AlertTransition(instanceId: id, kind: AlertTransition.Kind(rawValue: row["kind"] ?? "") ?? .opened, at: row.date("at") ?? .distantPast,
                                    actor: row["actor"] ?? "", detail: row["detail"] ?? "")
                }
            return (try Self.decode(row), transitions)
        }
    }

    /// Records that `caller` has seen the alert (firing or resolved); a second acknowledgement changes nothing.
    func acknowledge(_ id: UUID, caller: CallerIdentity) async throws -> AlertInstance {
        try await self.database.withCaller(caller) { session in
            let updated = try await session.query(
                """
                UPDATE alert_instances SET acknowledged = true, acknowledged_by = $2, acknowledged_at = now()
                WHERE id = $1 AND NOT acknowledged RETURNING \(Self.instanceColumns)
                """, [id, caller.subject]).first
            guard let updated else { return try await Self.existing(id, in: session) }
            let instance = try Self.decode(updated)
            try Self.insert([AlertTransition(instanceId: id, kind: .acknowledged, at: instance.acknowledgedAt ?? Date(), actor: caller.subject, detail: "")],
                                  in: session)
            try NotificationQueue.elevate(session)
            try NotificationQueue.acknowledged(id, in: session)
            return instance
        }
    }

    /// Resolves a firing alert by hand; the next trigger of its key opens a new instance.
    func resolve(_ id: UUID, caller: CallerIdentity) async throws -> AlertInstance {
        try await self.database.withCaller(caller) { session in
            let current = try await Self.existing(id, in: session)
            guard current.state == .firing else { return current }
            // The key first, as the consumer locks it: the two never interleave on one key.
            try session.enqueue("SELECT 1 FROM alert_keys WHERE tenant_id = $1 AND dedup_key = $2 FOR UPDATE", [current.tenantId, current.dedupKey])
            guard let updated = try await session.query(
                """
                UPDATE alert_instances SET state = 'resolved', resolved_by = $2, resolved_at = now(), held_resolve_at = NULL
                WHERE id = $1 AND state = 'firing' RETURNING \(Self.instanceColumns)
                """, [id, caller.subject]).first else { return try await Self.existing(id, in: session) }
            try session.enqueue("UPDATE alert_keys SET open_instance = NULL WHERE tenant_id = $1 AND dedup_key = $2 AND open_instance = $3",
                                      [current.tenantId, current.dedupKey, id])
            let instance = try Self.decode(updated)
            try Self.insert([AlertTransition(instanceId: id, kind: .resolved, at: instance.resolvedAt ?? Date(), actor: caller.subject, detail: "by hand")],
                                  in: session)
            try NotificationQueue.elevate(session)
            try NotificationQueue.resolved([id], in: session)
            return instance
        }
    }

    private static func existing(_ id: UUID, in session: PostgresSession) async throws -> AlertInstance {
        guard let row = try await session.query("SELECT \(Self.instanceColumns) FROM alert_instances WHERE id = $1", [id]).first else {
            throw AlertsError.notFound("no alert \(id)")
        }
        return try Self.decode(row)
    }

    // MARK: - Rows

    /// An instance as a row of `alert_instances`, for jsonb_populate_recordset.
    private struct InstanceRow: Encodable {
        var id: UUID
        var tenant_id: UUID
        var source: String
        var dedup_key: String
        var rule_id: UUID?
        var device_id: UUID?
        var severity: String
        var summary: String
        var labels: [String: String]
        var values: [String: Double]
        var state: String
        var acknowledged: Bool
        var acknowledged_by: String?
        var acknowledged_at: Date?
        var resolved_by: String?
        var resolved_at: Date?
        var opened_at: Date
        var last_triggered_at: Date
        var trigger_count: Int64
        var flapping: Bool
        var held_resolve_at: Date?

        init(_ instance: AlertInstance) {
            self.id = instance.id
            self.tenant_id = instance.tenantId
            self.source = instance.source.rawValue
            self.dedup_key = instance.dedupKey
            self.rule_id = instance.ruleId
            self.device_id = instance.deviceId
            self.severity = instance.severity.rawValue
            self.summary = instance.summary
            self.labels = instance.labels
            self.values = instance.values
            self.state = instance.state.rawValue
            self.acknowledged = instance.acknowledged
            self.acknowledged_by = instance.acknowledgedBy
            self.acknowledged_at = instance.acknowledgedAt
            self.resolved_by = instance.resolvedBy
            self.resolved_at = instance.resolvedAt
            self.opened_at = instance.openedAt
            self.last_triggered_at = instance.lastTriggeredAt
            self.trigger_count = instance.triggerCount
            self.flapping = instance.flapping
            self.held_resolve_at = instance.heldResolveAt
        }
    }

    static func decode(_ row: PostgresRow) throws -> AlertInstance {
        let decoder = ContractCoding.decoder()
        func json<Value: Decodable>(_ column: String, as type: Value.Type) throws -> Value {
            try decoder.decode(Value.self, from: Data((row[column] ?? "{}").utf8))
        }
        return AlertInstance(
            id: row["id"].flatMap(UUID.init(uuidString:)) ?? UUID(), tenantId: row["tenant_id"].flatMap(UUID.init(uuidString:)) ?? UUID(),
            source: AlertSource(rawValue: row["source"] ?? "") ?? .system, dedupKey: row["dedup_key"] ?? "",
            ruleId: row["rule_id"].flatMap(UUID.init(uuidString:)), deviceId: row["device_id"].flatMap(UUID.init(uuidString:)),
            severity: AlertSeverity(rawValue: row["severity"] ?? "") ?? .warning, summary: row["summary"] ?? "",
            labels: try json("labels", as: [String: String].self), values: try json("values", as: [String: Double].self),
            state: AlertInstance.State(rawValue: row["state"] ?? "") ?? .firing, acknowledged: row.bool("acknowledged") ?? false,
            acknowledgedBy: row["acknowledged_by"], acknowledgedAt: row.date("acknowledged_at"), resolvedBy: row["resolved_by"], resolvedAt: row.date("resolved_at"),
            openedAt: row.date("opened_at") ?? .distantPast, lastTriggeredAt: row.date("last_triggered_at") ?? .distantPast,
            triggerCount: row["trigger_count"].flatMap { Int64($0) } ?? 1, flapping: row.bool("flapping") ?? false, heldResolveAt: row.date("held_resolve_at")
        )
    }
}
