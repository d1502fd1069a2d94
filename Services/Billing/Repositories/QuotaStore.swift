import Foundation
import LibPQ
import SensormineClients
import SensormineContracts
import SensormineCore

/// The quota state last published per organisation, the notices raised for it, and Billing's
/// outbox of events (`billing.quotas`, `alerts.triggered`).
struct QuotaStore: Sendable {
    let database: PostgresClient
    let topics: TopicNames

    static let outbox = "billing_outbox"

    /// Records `state` if its signature differs from the stored one: the state goes to
    /// `billing.quotas`, each level newly reached in the period raises one alert (source quota),
    /// and the notices whose level no longer holds are resolved, all in one transaction.
    /// - Returns: whether anything changed.
    func record(_ state: QuotaState) async throws -> Bool {
        let encoder = ContractCoding.encoder()
        let payload = String(decoding: try encoder.encode(state), as: UTF8.self)
        let organisation = state.organisationId.lowercasedString
        let topics = self.topics
        return try await self.database.withPlatformScope { session in
            let changed = try await session.query("""
                INSERT INTO quota_states (organisation_id, signature, state) VALUES ($1, $2, $3::jsonb)
                ON CONFLICT (organisation_id) DO UPDATE SET signature = excluded.signature, state = excluded.state, updated_at = now()
                WHERE quota_states.signature <> excluded.signature
                RETURNING 1
                """, [state.organisationId, state.signature, payload])
            guard !changed.rows.isEmpty else { return false }
            var events = [EventOutbox.Event(topic: topics.billingQuotas, key: organisation, payload: payload, tenantID: organisation)]
            let now = Date()
            let sequence = Int64(now.timeIntervalSince1970 * 1000)
            var held: [String] = []
            for resource in MeteredResource.allCases {
                guard let quota = state[resource], quota.level >= .warning else { continue }
                for level in [QuotaLevel.warning, .exceeded] where quota.level >= level {
                    held.append("\(resource.rawValue):\(level.rawValue)")
                    let inserted = try await session.query("""
                        INSERT INTO quota_notices (organisation_id, period_start, resource, level) VALUES ($1, $2, $3, $4)
                        ON CONFLICT DO NOTHING RETURNING 1
                        """, [state.organisationId, state.periodStart, resource.rawValue, level.rawValue])
                    guard !inserted.rows.isEmpty else { continue }
                    events.append(try Self.alert(.trigger, state: state, resource: resource, level: level, periodStart: state.periodStart, sequence: sequence, now: now,
                                                 topic: topics.alertsTriggered))
                }
            }
            let resolved = try await session.query("""
                UPDATE quota_notices SET resolved_at = now()
                WHERE organisation_id = $1 AND resolved_at IS NULL AND NOT (period_start = $2 AND resource || ':' || level = ANY ($3::text[]))
                RETURNING resource, level, period_start
                """, [state.organisationId, state.periodStart, "{" + held.joined(separator: ",") + "}"])
            for row in resolved.all {
                guard let resource = row["resource"].flatMap(MeteredResource.init(rawValue:)), let level = row["level"].flatMap(QuotaLevel.init(rawValue:)),
                      let periodStart = row.date("period_start") else { continue }
                events.append(try Self.alert(.resolve, state: state, resource: resource, level: level, periodStart: periodStart, sequence: sequence + 1, now: now,
                                                 topic: topics.alertsTriggered))
            }
            try await EventOutbox.enqueue(events, in: session, table: Self.outbox)
            return true
        }
    }

    /// A quota alert: one key per resource, level and month, so each is raised once a period.
    private static func alert(_ action: AlertEvent.Action, state: QuotaState, resource: MeteredResource, level: QuotaLevel, periodStart: Date,
                              sequence: Int64, now: Date, topic: String) throws -> EventOutbox.Event {
        let month = BillingPeriod.calendar.dateComponents([.year, .month], from: periodStart)
        let period = String(format: "%04d-%02d", month.year ?? 0, month.month ?? 0)
        let quota = state[resource]
        let percent = quota?.percent ?? 0
        let summary = level == .exceeded
            ? "\(resource.rawValue) has used all the \(state.plan) plan includes this period (\(percent) %)" + (quota?.hardLimit == true ? "; more is refused until \(period) ends" : "; more is billed as overage")
            : "\(resource.rawValue) is at \(percent) % of what the \(state.plan) plan includes this period"
        let event = AlertEvent(action: action, source: .quota, tenantId: state.organisationId, key: "\(resource.rawValue):\(level.rawValue):\(period)",
                               sequence: sequence, occurredAt: now, severity: level == .exceeded ? .critical : .warning, summary: summary,
                               labels: ["resource": resource.rawValue, "plan": state.plan, "level": level.rawValue, "period": period],
                               values: ["used": quota?.used ?? 0, "included": quota?.included ?? 0, "percent": Double(percent)], producer: "billing")
        return EventOutbox.Event(topic: topic, key: event.partitionKey,
                                 payload: String(decoding: try ContractCoding.encoder().encode(event), as: UTF8.self), tenantID: state.organisationId.lowercasedString)
    }
}
