import Foundation
import LibPQ
import SensormineClients
import SensormineContracts
import SensormineCore
import SensormineJSON

/// One Stripe event as its webhook delivers it.
struct StripeEvent: Sendable {
    var id: String
    var type: String
    var created: Date
    /// `data.object`.
    var object: JSON

    /// The event in `body`.
    /// - Throws: ``BillingError/invalid(_:_:)`` naming what is missing.
    static func parse(_ body: [UInt8]) throws(BillingError) -> StripeEvent {
        guard let document = try? JSON.parse(body) else { throw .invalid("the body is not a Stripe event", [.init(pointer: "", detail: "not JSON")]) }
        guard let id = document["id"]?.string, !id.isEmpty, id.utf8.count <= 255, let type = document["type"]?.string, type.utf8.count <= 255,
              let created = document["created"]?.number, created.isFinite, created > 0, created < 1e11, let object = document["data"]?["object"], object.object != nil else {
            throw .invalid("the body is not a Stripe event", [.init(pointer: "", detail: "an event has id, type, created and data.object")])
        }
        return StripeEvent(id: id, type: type, created: Date(timeIntervalSince1970: created), object: object)
    }
}

/// Applies Stripe's events to subscriptions and invoices, each event once (by id, in the same
/// transaction as its change) and no state older than what is applied (by the event's time):
/// a payment that failed or a subscription deleted starts the grace period (with a notice); a
/// payment that succeeded ends it and marks the invoice paid.
struct StripeEventStore: Sendable {
    let database: PostgresClient
    let topics: TopicNames
    /// How long an organisation keeps its plan after a failed payment or a cancellation.
    let grace: Duration

    /// What an event did.
    enum Outcome: Equatable, Sendable {
        /// Applied (or recorded without effect); the organisation whose state may have changed.
        case applied(organisation: UUID?)
        /// Seen before: nothing done.
        case duplicate
    }

    /// Subscription states Stripe reports, by what they mean here.
    private static let paidUp: Set<String> = ["active", "trialing"]
    private static let unpaid: Set<String> = ["past_due", "unpaid", "canceled", "incomplete_expired"]

    func apply(_ event: StripeEvent, now: Date = Date()) async throws -> Outcome {
        let topics = self.topics
        let graceSeconds = Double(self.grace.components.seconds)
        return try await self.database.withPlatformScope { session in
            let object = event.object
            let customer = object["customer"]?.string ?? (object["object"]?.string == "customer" ? object["id"]?.string : nil)
            let subscriptionID = event.type.hasPrefix("customer.subscription.") ? object["id"]?.string : object["subscription"]?.string
            var organisation = try await session.query("""
                SELECT organisation_id FROM billing_subscriptions
                WHERE ($1::text IS NOT NULL AND stripe_customer_id = $1) OR ($2::text IS NOT NULL AND stripe_subscription_id = $2)
                ORDER BY stripe_customer_id = $1 DESC NULLS LAST LIMIT 1
                """, [customer, subscriptionID]).first?["organisation_id"].flatMap(UUID.init(uuidString:))
            if organisation == nil { organisation = object["metadata"]?["organisation_id"]?.string.flatMap(UUID.init(uuidString:)) }
            let inserted = try await session.query("""
                INSERT INTO stripe_events (id, type, created, organisation_id) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING RETURNING 1
                """, [event.id, event.type, event.created, organisation])
            guard !inserted.rows.isEmpty else { return .duplicate }
            guard let organisation else { return .applied(organisation: nil) }
            var events: [EventOutbox.Event] = []
            let graceEnds = now.addingTimeInterval(graceSeconds).formatted(.iso8601)
            func notice(_ action: AlertEvent.Action, key: String, severity: AlertSeverity, summary: String) throws {
                let alert = AlertEvent(action: action, source: .system, tenantId: organisation, key: key, sequence: Int64(now.timeIntervalSince1970 * 1000),
                                       occurredAt: now, severity: severity, summary: summary, labels: ["stripe_event": event.type], producer: "billing")
                events.append(EventOutbox.Event(topic: topics.alertsTriggered, key: alert.partitionKey,
                                                payload: String(decoding: try ContractCoding.encoder().encode(alert), as: UTF8.self),
                                                tenantID: organisation.lowercasedString))
            }
            /// Moves the subscription to paid up or into its grace period, if this event is not older
            /// than the state applied; answers the status before and after (nil: not applied).
            func setStatus(paidUp: Bool) async throws -> (before: String, after: String)? {
                let changed = try await session.query("""
                    WITH before AS (SELECT organisation_id, status FROM billing_subscriptions WHERE organisation_id = $1 FOR UPDATE)
                    UPDATE billing_subscriptions s SET
                        status = CASE WHEN $2 THEN 'active' WHEN s.status = 'active' THEN 'grace' ELSE s.status END,
                        grace_until = CASE WHEN $2 THEN NULL WHEN s.status = 'active' THEN $4::timestamptz ELSE s.grace_until END,
                        stripe_subscription_id = coalesce($5, s.stripe_subscription_id),
                        stripe_state_at = $3, updated_at = now()
                    FROM before WHERE s.organisation_id = before.organisation_id AND (s.stripe_state_at IS NULL OR s.stripe_state_at <= $3)
                    RETURNING before.status AS before, s.status AS after
                    """, [organisation, paidUp, event.created, now.addingTimeInterval(graceSeconds), subscriptionID])
                guard let row = changed.first, let before = row["before"], let after = row["after"] else { return nil }
                return (before, after)
            }
            /// Notices for a move: into grace raises one, out of grace or lapse resolves them.
            func announce(_ move: (before: String, after: String)?, reason: String) throws {
                guard let move, move.before != move.after else { return }
                if move.after == "grace" {
                    try notice(.trigger, key: "billing:grace", severity: .major, summary: "\(reason): the plan holds until \(graceEnds), then Free's limits apply")
                } else if move.after == "active" {
                    try notice(.resolve, key: "billing:grace", severity: .major, summary: reason)
                    if move.before == "lapsed" { try notice(.resolve, key: "billing:lapsed", severity: .critical, summary: reason) }
                }
            }
            switch event.type {
            case "customer.subscription.created", "customer.subscription.updated":
                let status = object["status"]?.string ?? ""
                if Self.paidUp.contains(status) {
                    try announce(try await setStatus(paidUp: true), reason: "the subscription is \(status) in Stripe")
                } else if Self.unpaid.contains(status) {
                    try announce(try await setStatus(paidUp: false), reason: "the subscription is \(status) in Stripe")
                }
            case "customer.subscription.deleted", "invoice.payment_failed", "payment_intent.payment_failed":
                let reason = event.type == "customer.subscription.deleted" ? "the subscription was cancelled in Stripe" : "a payment failed"
                try announce(try await setStatus(paidUp: false), reason: reason)
            case "invoice.payment_succeeded", "invoice.paid", "payment_intent.succeeded":
                let stripeInvoice = event.type == "payment_intent.succeeded" ? object["invoice"]?.string : object["id"]?.string
                if let stripeInvoice {
                    try await session.execute("""
                        UPDATE billing_invoices SET status = 'paid', updated_at = now(),
                            invoice = jsonb_set(jsonb_set(invoice, '{status}', '"paid"'), '{paidAt}', to_jsonb($2::text))
                        WHERE stripe_invoice_id = $1 AND status = 'finalized'
                        """, [stripeInvoice, event.created.formatted(.iso8601)])
                }
                try announce(try await setStatus(paidUp: true), reason: "a payment succeeded")
            case "invoice.finalized":
                if let stripeInvoice = object["id"]?.string, let ours = object["metadata"]?["sensormine_invoice_id"]?.string.flatMap(UUID.init(uuidString:)) {
                    try await session.execute("""
                        UPDATE billing_invoices SET stripe_invoice_id = $2, invoice = jsonb_set(invoice, '{stripeInvoiceId}', to_jsonb($2::text)), updated_at = now()
                        WHERE id = $1 AND organisation_id = $3
                        """, [ours, stripeInvoice, organisation])
                }
            case "customer.subscription.trial_will_end":
                try notice(.trigger, key: "billing:trial-ending", severity: .warning, summary: "the trial ends in three days; a payment method keeps the plan")
            default:
                break
            }
            try await EventOutbox.enqueue(events, in: session, table: QuotaStore.outbox)
            return .applied(organisation: organisation)
        }
    }

    /// Ends the grace periods that are over: those organisations get Free's limits (with a notice).
    /// - Returns: the organisations that lapsed.
    func lapseExpired(now: Date = Date()) async throws -> [UUID] {
        let topics = self.topics
        return try await self.database.withPlatformScope { session in
            let lapsed = try await session.query("""
                UPDATE billing_subscriptions SET status = 'lapsed', updated_at = now() WHERE status = 'grace' AND grace_until < $1 RETURNING organisation_id
                """, [now]).all.compactMap { $0["organisation_id"].flatMap(UUID.init(uuidString:)) }
            var events: [EventOutbox.Event] = []
            for organisation in lapsed {
                let alert = AlertEvent(action: .trigger, source: .system, tenantId: organisation, key: "billing:lapsed", sequence: Int64(now.timeIntervalSince1970 * 1000),
                                       occurredAt: now, severity: .critical, summary: "the grace period ended unpaid: Free's limits apply until a payment succeeds",
                                       producer: "billing")
                events.append(EventOutbox.Event(topic: topics.alertsTriggered, key: alert.partitionKey,
                                                payload: String(decoding: try ContractCoding.encoder().encode(alert), as: UTF8.self),
                                                tenantID: organisation.lowercasedString))
            }
            try await EventOutbox.enqueue(events, in: session, table: QuotaStore.outbox)
            return lapsed
        }
    }
}
