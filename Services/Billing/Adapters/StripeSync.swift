import Foundation
import LibPQ
import Logging
import SensormineAuth
import SensormineClients
import SensormineContracts
import SensormineCore
import SensormineJSON

/// Brings Billing's changes to Stripe after they commit (from `billing_stripe_sync`, at least
/// once, in order): an organisation's Customer (created once, its id kept with the
/// subscription), its plan's Product and Plan, and a Subscription to it while the plan has a
/// price (cancelled when it has none); a finalised invoice as invoice items and an invoice that
/// Stripe charges, whose outcome comes back by webhook. The platform's invoice is the
/// authoritative one: Stripe's subscription bills the base price, the items the rest (usage
/// beyond the plan and tax), so Stripe's total is ours. Idempotency keys name the change, so a
/// repeated delivery creates nothing twice. A change Stripe refuses for good (no payment method,
/// say) is recorded with the subscription (`stripeSyncError`) and not retried.
struct StripeSync: Sendable {
    let database: PostgresClient
    let stripe: StripeClient
    let plans: PlanStore
    let logger: Logger

    /// The relay draining `billing_stripe_sync` into Stripe.
    func relay() -> OutboxRelay {
        OutboxRelay(name: "StripeSync", database: self.database, table: "billing_stripe_sync", columns: "id, organisation_id, kind, invoice_id",
                    batchSize: 20, idleInterval: .milliseconds(500), logger: self.logger) { rows in
            for row in rows {
                guard let organisation = row["organisation_id"].flatMap(UUID.init(uuidString:)) else { continue }
                do {
                    if row["kind"] == "invoice", let invoice = row["invoice_id"].flatMap(UUID.init(uuidString:)) {
                        try await self.push(invoice: invoice, organisation: organisation)
                    } else {
                        try await self.synchronise(organisation)
                    }
                    try await self.recordError(nil, organisation: organisation)
                } catch let failure as StripeClient.Failure where !failure.isRetryable {
                    self.logger.warning("Stripe refused a change", metadata: ["organisation": "\(organisation)", "error": "\(failure)"])
                    try await self.recordError(failure.description, organisation: organisation)
                }
            }
        }
    }

    /// Customer, Product, Plan and Subscription as the organisation's subscription says.
    func synchronise(_ organisation: UUID) async throws {
        let row = try await self.database.withPlatformScope { session in
            try await session.query("""
                SELECT s.plan_id, s.billing_interval, s.currency, s.stripe_customer_id, s.stripe_subscription_id, extract(epoch FROM s.updated_at)::bigint AS version,
                       t.name
                FROM billing_subscriptions s JOIN tenants t ON t.id = s.organisation_id WHERE s.organisation_id = $1
                """, [organisation]).first
        }
        guard let row, let planID = row["plan_id"], let plan = try await self.plans.plan(id: planID) else { return }
        let org = organisation.lowercasedString
        let version = row["version"] ?? "0"
        var customer = row["stripe_customer_id"]
        if customer == nil {
            let created = try await self.stripe.post("/v1/customers", [("name", row["name"] ?? org), ("metadata[organisation_id]", org)],
                                                     idempotencyKey: "sensormine-customer-\(org)")
            customer = created["id"]?.string
            try await self.set("stripe_customer_id", customer, organisation: organisation)
        }
        guard let customer else { return }
        let interval = row["billing_interval"] == "year" ? "year" : "month"
        let price = interval == "year" ? plan.yearlyPriceMinor ?? 0 : plan.monthlyPriceMinor ?? 0
        let current = row["stripe_subscription_id"]
        guard price > 0 else {
            if let current {
                _ = try await self.stripe.delete("/v1/subscriptions/\(current)")
                try await self.set("stripe_subscription_id", nil, organisation: organisation)
            }
            return
        }
        let productID = "sensormine-\(plan.id)"
        let planPriceID = "sensormine-\(plan.id)-\(interval)-\((row["currency"] ?? plan.currency).lowercased())"
        try await self.ensure("/v1/products", [("id", productID), ("name", "Sensormine \(plan.name)")], key: "sensormine-product-\(productID)")
        try await self.ensure("/v1/plans", [("id", planPriceID), ("amount", String(price)), ("currency", (row["currency"] ?? plan.currency).lowercased()),
                                            ("interval", interval), ("product", productID)], key: "sensormine-plan-\(planPriceID)")
        if let current {
            let subscription = try await self.stripe.get("/v1/subscriptions/\(current)")
            let item = subscription["items"]?["data"]?.array?.first
            guard item?["plan"]?["id"]?.string != planPriceID, let itemID = item?["id"]?.string else { return }
            _ = try await self.stripe.post("/v1/subscriptions/\(current)", [("items[0][id]", itemID), ("items[0][plan]", planPriceID)],
                                           idempotencyKey: "sensormine-subscription-\(org)-\(version)")
        } else {
            let created = try await self.stripe.post("/v1/subscriptions", [("customer", customer), ("items[0][plan]", planPriceID), ("metadata[organisation_id]", org)],
                                                     idempotencyKey: "sensormine-subscription-\(org)-\(version)")
            try await self.set("stripe_subscription_id", created["id"]?.string, organisation: organisation)
        }
    }

    /// The invoice's lines beyond the base price (and the base too when Stripe has no
    /// subscription billing it) as invoice items, then an invoice of them that Stripe charges.
    func push(invoice id: UUID, organisation: UUID) async throws {
        let (document, customer, subscription) = try await self.database.withPlatformScope { session in
            let invoice = try await session.query("SELECT invoice::text AS invoice FROM billing_invoices WHERE id = $1", [id]).first?["invoice"]
            let stripe = try await session.query("SELECT stripe_customer_id, stripe_subscription_id FROM billing_subscriptions WHERE organisation_id = $1",
                                                 [organisation]).first
            return (invoice, stripe?["stripe_customer_id"], stripe?["stripe_subscription_id"])
        }
        guard let document, let invoice = try? ContractCoding.decoder().decode(Invoice.self, from: Data(document.utf8)), invoice.stripeInvoiceId == nil else { return }
        guard let customer else { throw StripeClient.Failure(status: 400, type: "sensormine", message: "the organisation has no Stripe customer yet") }
        let currency = invoice.currency.lowercased()
        let reference = id.lowercasedString
        for (index, line) in invoice.lines.enumerated() where line.amountMinor > 0 && (line.kind == .usage || subscription == nil) {
            _ = try await self.stripe.post("/v1/invoiceitems", [("customer", customer), ("amount", String(line.amountMinor)), ("currency", currency),
                                                                ("description", line.description), ("metadata[sensormine_invoice_id]", reference)],
                                           idempotencyKey: "sensormine-item-\(reference)-\(index)")
        }
        if invoice.taxMinor > 0 {
            _ = try await self.stripe.post("/v1/invoiceitems", [("customer", customer), ("amount", String(invoice.taxMinor)), ("currency", currency),
                                                                ("description", "Tax"), ("metadata[sensormine_invoice_id]", reference)],
                                           idempotencyKey: "sensormine-item-\(reference)-tax")
        }
        let created = try await self.stripe.post("/v1/invoices", [("customer", customer), ("metadata[sensormine_invoice_id]", reference),
                                                                  ("metadata[organisation_id]", organisation.lowercasedString)],
                                                 idempotencyKey: "sensormine-invoice-\(reference)")
        guard let stripeInvoice = created["id"]?.string else { return }
        try await self.database.withPlatformScope { session in
            try await session.execute("""
                UPDATE billing_invoices SET stripe_invoice_id = $2, invoice = jsonb_set(invoice, '{stripeInvoiceId}', to_jsonb($2::text)), updated_at = now()
                WHERE id = $1
                """, [id, stripeInvoice])
        }
        // Stripe finalises before it charges; a fake without the route (localstripe) charges a draft.
        do {
            _ = try await self.stripe.post("/v1/invoices/\(stripeInvoice)/finalize", [], idempotencyKey: "sensormine-finalize-\(reference)")
        } catch let failure as StripeClient.Failure where failure.status == 404 {
            self.logger.debug("Stripe has no invoice finalisation route; paying the draft")
        }
        _ = try await self.stripe.post("/v1/invoices/\(stripeInvoice)/pay", [], idempotencyKey: "sensormine-pay-\(reference)")
    }

    /// The relay reporting usage records as Billing Meter events (`/v1/billing/meter_events`):
    /// event name `sensormine_<resource>` (a meter per resource, made by the account), the
    /// organisation's customer, the quantity, the record's time, and identifier = the record's id
    /// (hashed when longer than Stripe's 100 characters), which Stripe de-duplicates. A record
    /// Stripe refuses for good (no meter by that name, say) is logged and dropped.
    func meterRelay() -> OutboxRelay {
        OutboxRelay(name: "StripeMeterEvents", database: self.database, table: "billing_meter_outbox",
                    columns: "id, event_id, organisation_id, resource, quantity, extract(epoch FROM occurred_at)::bigint AS occurred",
                    batchSize: 200, idleInterval: .milliseconds(500), logger: self.logger) { rows in
            let organisations = Set(rows.compactMap { $0["organisation_id"] })
            let customers = try await self.database.withPlatformScope { session in
                try await session.query("SELECT organisation_id, stripe_customer_id FROM billing_subscriptions WHERE organisation_id = ANY ($1::uuid[])",
                                        ["{" + organisations.sorted().joined(separator: ",") + "}"]).all
            }
            var customerOf: [String: String] = [:]
            for row in customers {
                if let organisation = row["organisation_id"], let customer = row["stripe_customer_id"] { customerOf[organisation] = customer }
            }
            for row in rows {
                guard let eventID = row["event_id"], let organisation = row["organisation_id"], let customer = customerOf[organisation],
                      let resource = row["resource"], let quantity = row.double("quantity") else { continue }
                let identifier = Self.identifier(eventID)
                let value = quantity.rounded() == quantity && abs(quantity) < 1e15 ? String(Int64(quantity)) : String(quantity)
                do {
                    _ = try await self.stripe.post("/v1/billing/meter_events", [
                        ("event_name", "sensormine_" + resource.replacingOccurrences(of: "-", with: "_")), ("identifier", identifier),
                        ("payload[stripe_customer_id]", customer), ("payload[value]", value), ("timestamp", row["occurred"] ?? ""),
                    ], idempotencyKey: "sensormine-meter-\(identifier)")
                } catch let failure as StripeClient.Failure where !failure.isRetryable {
                    // Already reported (an identifier Stripe has seen) or refused for good: not retried.
                    if failure.code != "resource_already_exists" {
                        self.logger.warning("meter event refused", metadata: ["identifier": "\(identifier)", "error": "\(failure)"])
                    }
                }
            }
        }
    }

    /// The record's id as a meter event identifier: itself up to Stripe's 100 characters, else
    /// `sm_` and its SHA-256 in hex.
    static func identifier(_ eventID: String) -> String {
        guard eventID.utf8.count > 100 else { return eventID }
        return "sm_" + OpaqueSecret.digest(eventID)
    }

    /// Creates an object with a fixed id, unless it exists already.
    private func ensure(_ path: String, _ form: [(String, String)], key: String) async throws {
        do {
            _ = try await self.stripe.post(path, form, idempotencyKey: key)
        } catch let failure as StripeClient.Failure where failure.status == 409 || failure.code == "resource_already_exists" {
            return
        }
    }

    private func set(_ column: String, _ value: String?, organisation: UUID) async throws {
        try await self.database.withPlatformScope { session in
            try await session.execute("UPDATE billing_subscriptions SET \(column) = $2 WHERE organisation_id = $1", [organisation, value])
        }
    }

    private func recordError(_ message: String?, organisation: UUID) async throws {
        try await self.set("stripe_sync_error", message.map { String($0.prefix(500)) }, organisation: organisation)
    }
}
