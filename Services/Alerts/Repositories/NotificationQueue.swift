import ClientRuntime
import Foundation
import LibPQ
import SensormineClients
import SensormineContracts
import SensormineCore

/// The notification engine's rows in PostgreSQL: escalations and notifications with a due time,
/// claimed with `FOR UPDATE SKIP LOCKED` so several replicas share the work and a restart loses
/// nothing; every delivery attempt logged. Notifications are at least once, idempotent per
/// (alert, transition, channel): a second enqueue of one notice is a no-op.
struct NotificationQueue: Sendable {
    let database: PostgresClient

    // MARK: - Hooks of the alert lifecycle, inside its transactions

    /// Lifts row-level security for the rest of the transaction: a site's alert may follow its
    /// organisation's policy, and the bookkeeping below must see both. Callers have already
    /// checked the caller may act on the alert.
    static func elevate(_ session: PostgresSession) throws {
        try session.enqueue("SELECT set_config('sensormine.platform_admin', 'on', true)")
    }

    /// Starts the escalation of each newly opened alert: the rule's policy, or else the default
    /// policy of the alert's tenant or of the rule's owner.
    static func opened(_ alerts: [(instance: AlertInstance, rule: RuleFacts?)], in session: PostgresSession) throws {
        guard !alerts.isEmpty else { return }
        struct Row: Encodable {
            var instance_id: UUID
            var tenant_id: UUID
            var policy_id: UUID?
            var rule_tenant_id: UUID?
        }
        let rows = alerts.map { Row(instance_id: $0.instance.id, tenant_id: $0.instance.tenantId, policy_id: $0.rule?.notificationPolicyId, rule_tenant_id: $0.rule?.tenantId) }
        try session.enqueue(
            """
            INSERT INTO alert_escalations (instance_id, tenant_id, policy_id, next_level, cycle, due_at, phase)
            SELECT x.instance_id, x.tenant_id, p.id, 0, 0, now() + make_interval(secs => coalesce((p.levels -> 0 ->> 'delaySeconds')::int, 0)), 'escalating'
            FROM jsonb_to_recordset($1::jsonb) AS x(instance_id uuid, tenant_id uuid, policy_id uuid, rule_tenant_id uuid)
            JOIN LATERAL (
                SELECT p.id, p.levels FROM notification_policies p
                WHERE p.id = x.policy_id OR (x.policy_id IS NULL AND p.is_default AND p.tenant_id IN (x.tenant_id, x.rule_tenant_id))
                ORDER BY (p.id = x.policy_id) DESC, (p.tenant_id = x.tenant_id) DESC LIMIT 1
            ) p ON true
            ON CONFLICT (instance_id) DO NOTHING
            """, [try SQLJSON.text(rows)])
    }

    /// Ends the escalation of resolved alerts and tells the channels that heard of them (when the
    /// policy sends resolved notices).
    static func resolved(_ ids: [UUID], in session: PostgresSession) throws {
        guard !ids.isEmpty else { return }
        let list = "{\(ids.map { $0.lowercasedString }.joined(separator: ","))}"
        try session.enqueue(
            """
            INSERT INTO alert_notifications (tenant_id, instance_id, channel_id, kind, idempotency_key, group_key, due_at)
            SELECT DISTINCT n.tenant_id, n.instance_id, n.channel_id, 'resolved', n.instance_id || ':resolved:' || n.channel_id, n.group_key, now()
            FROM alert_notifications n
            JOIN alert_escalations e ON e.instance_id = n.instance_id
            JOIN notification_policies p ON p.id = e.policy_id
            WHERE n.instance_id = ANY ($1::uuid[]) AND n.kind = 'firing' AND n.state IN ('sent', 'pending') AND p.send_resolved
            ON CONFLICT (idempotency_key) DO NOTHING
            """, [list])
        try session.enqueue("UPDATE alert_escalations SET phase = 'done' WHERE instance_id = ANY ($1::uuid[])", [list])
    }

    /// Stops an acknowledged alert's escalation (until its acknowledgement times out, if the policy
    /// says so: also when every level has been notified already, as long as the alert fires).
    static func acknowledged(_ id: UUID, in session: PostgresSession) throws {
        try session.enqueue(
            """
            UPDATE alert_escalations e
            SET phase = CASE WHEN p.acknowledgement_timeout_seconds > 0 THEN 'acknowledged' ELSE 'done' END,
                due_at = now() + make_interval(secs => p.acknowledgement_timeout_seconds), next_level = 0
            FROM notification_policies p, alert_instances i
            WHERE e.instance_id = $1 AND p.id = e.policy_id AND i.id = e.instance_id AND i.state = 'firing'
            """, [id])
    }

    // MARK: - Escalation

    /// Takes the escalations that are due and carries out one step of each; returns how many.
    func escalateDue(limit: Int = 100) async throws -> Int {
        // Two round trips: the due escalations read (and locked) with BEGIN, every write with COMMIT.
        try await self.database.withTransaction { session in
            try Self.elevate(session)
            let rows = try await session.query(
                """
                SELECT e.instance_id, e.next_level, e.cycle, e.phase, i.state, i.acknowledged, i.labels, i.tenant_id, \(PolicyStore.columns("p"))
                FROM alert_escalations e
                JOIN alert_instances i ON i.id = e.instance_id
                JOIN notification_policies p ON p.id = e.policy_id
                WHERE e.phase <> 'done' AND e.due_at <= now()
                ORDER BY e.due_at LIMIT $1 FOR UPDATE OF e SKIP LOCKED
                """, [limit]).all
            for row in rows {
                guard let instance = row["instance_id"].flatMap(UUID.init(uuidString:)), let tenant = row["tenant_id"].flatMap(UUID.init(uuidString:)) else { continue }
                let policy = try PolicyStore.decode(row)
                let labels = (try? ContractCoding.decoder().decode([String: String].self, from: Data((row["labels"] ?? "{}").utf8))) ?? [:]
                let step = EscalationStep.next(phase: EscalationPhase(rawValue: row["phase"] ?? "") ?? .done, level: row.int("next_level") ?? 0,
                                               cycle: row.int("cycle") ?? 0, firing: row["state"] == "firing", acknowledged: row.bool("acknowledged") ?? false,
                                               policy: policy)
                if step.unacknowledge {
                    try session.enqueue("UPDATE alert_instances SET acknowledged = false, acknowledged_by = NULL, acknowledged_at = NULL WHERE id = $1", [instance])
                    try session.enqueue(
                        """
                        INSERT INTO alert_transitions (instance_id, tenant_id, kind, at, actor, detail)
                        VALUES ($1, $2, 'unacknowledged', now(), 'alerts', 'still firing after the acknowledgement timeout; escalating again')
                        """, [instance, tenant])
                }
                let group = Self.groupKey(policy: policy, instance: instance, labels: labels)
                for channel in step.channels {
                    try Self.enqueue(instance: instance, tenant: tenant, channel: channel, kind: "firing", key: "\(instance.lowercasedString):\(step.keyPart):\(channel.lowercasedString)",
                                           group: group, groupWaitSeconds: policy.groupBy.isEmpty ? 0 : policy.groupWaitSeconds, in: session)
                }
                try session.enqueue(
                    "UPDATE alert_escalations SET phase = $2, next_level = $3, cycle = $4, due_at = now() + make_interval(secs => $5) WHERE instance_id = $1",
                    [instance, step.phase.rawValue, step.nextLevel, step.cycle, step.dueInSeconds])
            }
            return rows.count
        }
    }

    /// Alerts with the same values of the policy's group labels share a group (one message per
    /// channel); without group labels each alert is its own group.
    static func groupKey(policy: NotificationPolicy, instance: UUID, labels: [String: String]) -> String {
        guard !policy.groupBy.isEmpty else { return instance.lowercasedString }
        return policy.id.lowercasedString + "|" + policy.groupBy.map { "\($0)=\(labels[$0] ?? "")" }.joined(separator: "|")
    }

    /// Queues one notice. The first of a group goes out at once; one that follows within the
    /// group wait waits for the rest of it, and rides with what is pending for the group. (Without
    /// group labels each alert is its own group and nothing waits: an escalation is never delayed.)
    private static func enqueue(instance: UUID, tenant: UUID, channel: UUID, kind: String, key: String, group: String, groupWaitSeconds: Int,
                                in session: PostgresSession) throws {
        try session.enqueue(
            """
            INSERT INTO alert_notifications (tenant_id, instance_id, channel_id, kind, idempotency_key, group_key, due_at)
            SELECT $1, $2, $3, $4, $5, $6, GREATEST(now(),
                coalesce((SELECT max(g.finished_at) FROM alert_notifications g
                          WHERE g.channel_id = $3 AND g.group_key = $6 AND g.state = 'sent' AND g.finished_at > now() - make_interval(secs => $7))
                         + make_interval(secs => $7), now()),
                coalesce((SELECT min(g.due_at) FROM alert_notifications g
                          WHERE g.channel_id = $3 AND g.group_key = $6 AND g.state = 'pending' AND g.claimed_until IS NULL), now()))
            ON CONFLICT (idempotency_key) DO NOTHING
            """, [tenant, instance, channel, kind, key, group, groupWaitSeconds])
    }

    // MARK: - Dispatch

    /// A notice taken for sending, with what the message needs.
    struct Claimed: Sendable {
        var id: Int64
        var kind: String
        var idempotencyKey: String
        var groupKey: String
        var attempts: Int
        var createdAt: Date
        /// When it came due: its creation, or later when a group wait held it.
        var dueAt: Date
        var channel: NotificationChannel
        var alert: AlertInstance
        var rule: (name: String, summaryTemplate: String, messageTemplate: String)?
        /// The silence that covers the alert now, if any.
        var silencedBy: UUID?
    }

    /// Takes up to `limit` due notices for `lease` (a dispatcher that dies lets them come due again).
    func claimDue(limit: Int, lease: Duration) async throws -> [Claimed] {
        try await self.database.withTransaction { session in
            try Self.elevate(session)
            let rows = try await session.query(
                """
                WITH due AS (
                    SELECT id FROM alert_notifications
                    WHERE state = 'pending' AND due_at <= now() AND (claimed_until IS NULL OR claimed_until < now())
                    ORDER BY due_at, id LIMIT $1 FOR UPDATE SKIP LOCKED
                )
                UPDATE alert_notifications n SET claimed_until = now() + make_interval(secs => $2) FROM due WHERE n.id = due.id
                RETURNING n.id, n.instance_id, n.channel_id, n.kind, n.idempotency_key, n.group_key, n.attempts, n.created_at, n.due_at
                """, [limit, Double(lease.milliseconds) / 1000]).all
            guard !rows.isEmpty else { return [] }
            // What the messages need, read in one round trip.
            let instanceList = "{\(Set(rows.compactMap { $0["instance_id"] }).joined(separator: ","))}"
            let read = try await session.pipeline([
                ("SELECT \(AlertRepository.instanceColumns) FROM alert_instances WHERE id = ANY ($1::uuid[])", [instanceList]),
                ("SELECT \(ChannelStore.columns) FROM notification_channels WHERE id = ANY ($1::uuid[])",
                 ["{\(Set(rows.compactMap { $0["channel_id"] }).joined(separator: ","))}"]),
                ("""
                 SELECT r.id, r.name, r.summary_template, r.message_template FROM alert_rules r
                 WHERE r.id IN (SELECT rule_id FROM alert_instances WHERE id = ANY ($1::uuid[]))
                 """, [instanceList]),
                SilenceStore.activeStatement(instances: instanceList),
            ])
            var alerts: [String: AlertInstance] = [:]
            for row in read[0].all {
                let alert = try AlertRepository.decode(row)
                alerts[alert.id.lowercasedString] = alert
            }
            var channels: [String: NotificationChannel] = [:]
            for row in read[1].all {
                let channel = try ChannelStore.decode(row, secret: true)
                channels[channel.id.lowercasedString] = channel
            }
            var rules: [String: (name: String, summaryTemplate: String, messageTemplate: String)] = [:]
            for row in read[2].all {
                rules[row["id"] ?? ""] = (row["name"] ?? "", row["summary_template"] ?? "", row["message_template"] ?? "")
            }
            let silences = try SilenceStore.active(read[3])
            let now = Date()
            var claimed: [Claimed] = []
            for row in rows {
                guard let id = row["id"].flatMap({ Int64($0) }), let alert = row["instance_id"].flatMap({ alerts[$0] }),
                      let channel = row["channel_id"].flatMap({ channels[$0] }) else {
                    // The channel was deleted: nothing to send to.
                    if let id = row["id"] { try session.enqueue("UPDATE alert_notifications SET state = 'failed', finished_at = now(), last_error = 'the channel was deleted' WHERE id = $1", [id]) }
                    continue
                }
                let silence = silences.first { $0.tenant == alert.tenantId && $0.silence.covers(alert, at: now) }?.silence
                claimed.append(Claimed(id: id, kind: row["kind"] ?? "firing", idempotencyKey: row["idempotency_key"] ?? "", groupKey: row["group_key"] ?? "",
                                       attempts: row.int("attempts") ?? 0, createdAt: row.date("created_at") ?? now, dueAt: row.date("due_at") ?? now,
                                       channel: channel, alert: alert,
                                       rule: alert.ruleId.flatMap { rules[$0.lowercasedString] }, silencedBy: silence?.id))
            }
            return claimed
        }
    }

    /// What became of one notice.
    enum Result: Sendable {
        case delivered(detail: String, milliseconds: Int)
        /// Not delivered; `retryAt` nil: given up (too old), recorded as failed.
        case failed(detail: String, milliseconds: Int, retryAt: Date?)
        case silenced(by: UUID)
    }

    /// Records outcomes and the attempt log; a notice to retry comes due again at its `retryAt`.
    func record(_ outcomes: [(id: Int64, result: Result)]) async throws {
        guard !outcomes.isEmpty else { return }
        // One round trip: every statement queued, sent with COMMIT.
        try await self.database.withTransaction { session in
            try Self.elevate(session)
            for (id, result) in outcomes {
                switch result {
                case .delivered(let detail, let milliseconds):
                    try session.enqueue(
                        "UPDATE alert_notifications SET state = 'sent', attempts = attempts + 1, finished_at = now(), claimed_until = NULL, last_error = NULL WHERE id = $1", [id])
                    try Self.logAttempt(id, delivered: true, detail: detail, milliseconds: milliseconds, in: session)
                case .failed(let detail, let milliseconds, let retryAt):
                    if let retryAt {
                        try session.enqueue("UPDATE alert_notifications SET attempts = attempts + 1, due_at = $2, claimed_until = NULL, last_error = $3 WHERE id = $1",
                                                  [id, retryAt, detail])
                    } else {
                        try session.enqueue(
                            "UPDATE alert_notifications SET state = 'failed', attempts = attempts + 1, finished_at = now(), claimed_until = NULL, last_error = $2 WHERE id = $1",
                            [id, detail])
                    }
                    try Self.logAttempt(id, delivered: false, detail: detail, milliseconds: milliseconds, in: session)
                case .silenced(let silence):
                    try session.enqueue(
                        "UPDATE alert_notifications SET state = 'silenced', finished_at = now(), claimed_until = NULL, last_error = $2 WHERE id = $1",
                        [id, "silenced by \(silence.lowercasedString)"])
                }
            }
        }
    }

    private static func logAttempt(_ id: Int64, delivered: Bool, detail: String, milliseconds: Int, in session: PostgresSession) throws {
        try session.enqueue(
            """
            INSERT INTO alert_notification_attempts (notification_id, tenant_id, delivered, detail, duration_ms)
            SELECT id, tenant_id, $2, $3, $4 FROM alert_notifications WHERE id = $1
            """, [id, delivered, String(detail.prefix(1_000)), milliseconds])
    }

    // MARK: - The API's view

    /// A notice as the API shows it, with its attempts.
    struct NotificationRecord: Codable, Sendable {
        struct Attempt: Codable, Sendable {
            var at: Date
            var delivered: Bool
            var detail: String
            var durationMilliseconds: Int
        }

        var id: Int64
        var channelId: UUID
        var kind: String
        var idempotencyKey: String
        var state: String
        var attempts: [Attempt]
        var dueAt: Date
        var finishedAt: Date?
        var lastError: String?
    }

    /// The notices of one alert, oldest first.
    func notifications(of instance: UUID, caller: CallerIdentity) async throws -> [NotificationRecord] {
        try await self.database.withCaller(caller) { session in
            guard try await !session.query("SELECT 1 FROM alert_instances WHERE id = $1", [instance]).rows.isEmpty else {
                throw AlertsError.notFound("no alert \(instance)")
            }
            var attempts: [String: [NotificationRecord.Attempt]] = [:]
            for row in try await session.query(
                """
                SELECT a.notification_id, a.at, a.delivered, a.detail, a.duration_ms FROM alert_notification_attempts a
                JOIN alert_notifications n ON n.id = a.notification_id WHERE n.instance_id = $1 ORDER BY a.id
                """, [instance]).all {
                attempts[row["notification_id"] ?? "", default: []].append(.init(at: row.date("at") ?? .distantPast, delivered: row.bool("delivered") ?? false,
                                                                                   detail: row["detail"] ?? "", durationMilliseconds: row.int("duration_ms") ?? 0))
            }
            return try await session.query(
                "SELECT id, channel_id, kind, idempotency_key, state, due_at, finished_at, last_error FROM alert_notifications WHERE instance_id = $1 ORDER BY id",
                [instance]).all.map { row in
                NotificationRecord(id: row["id"].flatMap { Int64($0) } ?? 0, channelId: row["channel_id"].flatMap(UUID.init(uuidString:)) ?? UUID(),
                                   kind: row["kind"] ?? "", idempotencyKey: row["idempotency_key"] ?? "", state: row["state"] ?? "",
                                   attempts: attempts[row["id"] ?? ""] ?? [], dueAt: row.date("due_at") ?? .distantPast, finishedAt: row.date("finished_at"),
                                   lastError: row["last_error"])
            }
        }
    }
}

/// JSON for a jsonb parameter: dates as PostgreSQL reads them (microseconds kept).
enum SQLJSON {
    static func text(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(PostgresTimestamp.format(date))
        }
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
