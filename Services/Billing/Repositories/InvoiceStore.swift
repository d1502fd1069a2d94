import ClientRuntime
import Foundation
import LibPQ
import SensormineClients
import SensormineContracts
import SensormineCore

/// Invoices (documents keyed by organisation and period) and chargeback settings.
struct InvoiceStore: Sendable {
    let database: PostgresClient
    let plans: PlanStore
    /// Whether finalised invoices are brought to Stripe (queued in `billing_stripe_sync`).
    var stripe = false

    /// Computes the invoice of `organisation` for the month starting at `periodStart` and stores
    /// it as a draft, replacing an earlier draft; an invoice past draft is returned unchanged.
    /// - Throws: ``BillingError/notFound(_:)`` for an organisation without a paying plan,
    ///   ``BillingError/invalid(_:_:)`` for amounts past 64 bits.
    func computeDraft(_ organisation: UUID, periodStart: Date, now: Date = Date()) async throws -> Invoice {
        let period = BillingPeriod.month(containing: periodStart)
        let inputs = try await self.database.withPlatformScope { session in
            let subscription = try await session.query("""
                SELECT plan_id, billing_interval, included_overrides::text AS overrides, currency, tax_rate_basis_points, created_at
                FROM billing_subscriptions WHERE organisation_id = $1
                """, [organisation]).first
            let parties = try await session.query(
                "SELECT id, name, id = $1 AS own FROM tenants WHERE id = $1 OR parent_id = $1 ORDER BY id = $1 DESC, lower(name), id", [organisation]).all
            let usage = try await session.query("""
                SELECT p.id AS party, u.resource, sum(u.quantity) AS quantity
                FROM tenants p JOIN tenants t ON (CASE WHEN p.id = $1 THEN t.id = $1 ELSE t.path @> ARRAY[p.id] END)
                JOIN usage_totals u ON u.tenant_id = t.id AND u.period_start = $2
                WHERE p.id = $1 OR p.parent_id = $1 GROUP BY p.id, u.resource
                """, [organisation, period.start]).all
            let settings = try await session.query("SELECT settings::text AS settings FROM chargeback_settings WHERE organisation_id = $1", [organisation]).first?["settings"]
            let existing = try await session.query("SELECT invoice::text AS invoice FROM billing_invoices WHERE organisation_id = $1 AND period_start = $2",
                                                   [organisation, period.start]).first?["invoice"]
            return (subscription, parties, usage, settings, existing)
        }
        let decoder = ContractCoding.decoder()
        if let existing = inputs.4.flatMap({ try? decoder.decode(Invoice.self, from: Data($0.utf8)) }), existing.status != .draft { return existing }
        guard let row = inputs.0, let planID = row["plan_id"], let plan = try await self.plans.plan(id: planID),
              (plan.monthlyPriceMinor ?? 0) > 0 || (plan.yearlyPriceMinor ?? 0) > 0 || !plan.overage.isEmpty else {
            throw BillingError.notFound("organisation \(organisation.lowercasedString) has no paying subscription to invoice")
        }
        var subscription = Subscription.free(organisation)
        subscription.plan = planID
        subscription.interval = row["billing_interval"].flatMap(Subscription.Interval.init(rawValue:)) ?? .month
        subscription.includedOverrides = row["overrides"].flatMap { try? JSONDecoder().decode([String: Double].self, from: Data($0.utf8)) } ?? [:]
        subscription.currency = row["currency"] ?? plan.currency
        subscription.taxRateBasisPoints = row.int("tax_rate_basis_points") ?? 0
        var byParty: [String: [String: Double]] = [:]
        for usage in inputs.2 {
            guard let party = usage["party"], let resource = usage["resource"], let quantity = usage.double("quantity") else { continue }
            byParty[party, default: [:]][resource, default: 0] += quantity
        }
        let parties = inputs.1.compactMap { party -> PartyUsage? in
            guard let text = party["id"], let id = UUID(uuidString: text) else { return nil }
            return PartyUsage(tenantId: id, name: party["name"] ?? "", isOrganisation: party["own"] == "t", usage: byParty[text] ?? [:])
        }
        var total: [MeteredResource: Double] = [:]
        for party in parties {
            for resource in MeteredResource.allCases { total[resource, default: 0] += party.quantity(resource) }
        }
        let computed = try InvoiceCalculator.lines(plan: plan, subscription: subscription, usage: total, periodStart: period.start, subscribedAt: row.date("created_at"))
        let settings = inputs.3.flatMap { try? JSONDecoder().decode(ChargebackSettings.self, from: Data($0.utf8)) } ?? .default
        let allocation = parties.count > 1
            ? try? Chargeback.allocate(lines: computed.lines, tax: computed.tax, total: computed.total, parties: parties, settings: settings) : nil
        let components = BillingPeriod.calendar.dateComponents([.year, .month], from: period.start)
        let id = inputs.4.flatMap { try? decoder.decode(Invoice.self, from: Data($0.utf8)) }?.id ?? UUID()
        let invoice = Invoice(
            id: id, organisationId: organisation,
            number: String(format: "SM-%04d-%02d-", components.year ?? 0, components.month ?? 0) + organisation.lowercasedString.prefix(8),
            periodStart: period.start, periodEnd: period.end, plan: plan.id, interval: subscription.interval, currency: subscription.currency,
            taxRateBasisPoints: subscription.taxRateBasisPoints, status: .draft, lines: computed.lines, subtotalMinor: computed.subtotal, taxMinor: computed.tax,
            totalMinor: computed.total, parties: parties, allocation: allocation, createdAt: now, finalizedAt: nil, paidAt: nil, voidedAt: nil, stripeInvoiceId: nil)
        try await self.save(invoice, onlyIfDraft: true)
        return invoice
    }

    /// The invoice under `id` as `caller` may see it (another organisation's: 404).
    func invoice(_ id: UUID, caller: CallerIdentity) async throws -> Invoice {
        let text = try await self.database.withCaller(caller) { session in
            try await session.query("SELECT invoice::text AS invoice FROM billing_invoices WHERE id = $1", [id]).first?["invoice"]
        }
        guard let text, let invoice = try? ContractCoding.decoder().decode(Invoice.self, from: Data(text.utf8)) else {
            throw BillingError.notFound("no invoice \(id.lowercasedString) that you can see")
        }
        return invoice
    }

    /// The organisation's invoices, newest period first.
    func invoices(of organisation: UUID, caller: CallerIdentity) async throws -> [Invoice] {
        let rows = try await self.database.withCaller(caller) { session in
            try await session.query("SELECT invoice::text AS invoice FROM billing_invoices WHERE organisation_id = $1 ORDER BY period_start DESC LIMIT 120",
                                    [organisation]).all
        }
        let decoder = ContractCoding.decoder()
        return rows.compactMap { $0["invoice"].flatMap { try? decoder.decode(Invoice.self, from: Data($0.utf8)) } }
    }

    /// Moves an invoice along draft → finalized → paid, or to void from draft or finalized.
    /// - Throws: ``BillingError/conflict(_:)`` for any other move.
    func transition(_ id: UUID, to status: Invoice.Status, now: Date = Date(), stripeInvoiceId: String? = nil) async throws -> Invoice {
        let stripe = self.stripe
        return try await self.database.withPlatformScope { session in
            guard let text = try await session.query("SELECT invoice::text AS invoice FROM billing_invoices WHERE id = $1 FOR UPDATE", [id]).first?["invoice"],
                  var invoice = try? ContractCoding.decoder().decode(Invoice.self, from: Data(text.utf8)) else {
                throw BillingError.notFound("no invoice \(id.lowercasedString)")
            }
            if invoice.status == status { return invoice }
            switch (invoice.status, status) {
            case (.draft, .finalized): invoice.finalizedAt = now
            case (.finalized, .paid): invoice.paidAt = now
            case (.draft, .void), (.finalized, .void): invoice.voidedAt = now
            default: throw BillingError.conflict("an invoice that is \(invoice.status.rawValue) cannot become \(status.rawValue)")
            }
            invoice.status = status
            if let stripeInvoiceId { invoice.stripeInvoiceId = stripeInvoiceId }
            try await Self.write(invoice, in: session, onlyIfDraft: false)
            if stripe, status == .finalized, invoice.totalMinor > 0 {
                try await session.execute("INSERT INTO billing_stripe_sync (organisation_id, kind, invoice_id) VALUES ($1, 'invoice', $2)",
                                          [invoice.organisationId, invoice.id])
            }
            return invoice
        }
    }

    /// Organisations with a paying subscription and no invoice past draft for the period.
    func due(periodStart: Date) async throws -> [UUID] {
        try await self.database.withPlatformScope { session in
            try await session.query("""
                SELECT s.organisation_id FROM billing_subscriptions s JOIN billing_plans p ON p.id = s.plan_id
                WHERE (coalesce(p.monthly_price_minor, 0) > 0 OR coalesce(p.yearly_price_minor, 0) > 0 OR p.overage <> '{}'::jsonb)
                  AND s.created_at < $1::timestamptz + interval '1 month'
                  AND NOT EXISTS (SELECT 1 FROM billing_invoices i WHERE i.organisation_id = s.organisation_id AND i.period_start = $1 AND i.status <> 'draft')
                ORDER BY s.organisation_id
                """, [periodStart]).all.compactMap { $0["organisation_id"].flatMap(UUID.init(uuidString:)) }
        }
    }

    /// The organisation's chargeback settings (direct when none are stored).
    func chargeback(_ organisation: UUID, caller: CallerIdentity) async throws -> ChargebackSettings {
        let text = try await self.database.withCaller(caller) { session in
            try await session.query("SELECT settings::text AS settings FROM chargeback_settings WHERE organisation_id = $1", [organisation]).first?["settings"]
        }
        return text.flatMap { try? JSONDecoder().decode(ChargebackSettings.self, from: Data($0.utf8)) } ?? .default
    }

    /// Stores the organisation's chargeback settings.
    func saveChargeback(_ settings: ChargebackSettings, organisation: UUID, caller: CallerIdentity) async throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let text = String(decoding: try encoder.encode(settings), as: UTF8.self)
        try await self.database.withCaller(caller) { session in
            try await session.execute("""
                INSERT INTO chargeback_settings (organisation_id, settings) VALUES ($1, $2::jsonb)
                ON CONFLICT (organisation_id) DO UPDATE SET settings = excluded.settings, updated_at = now()
                """, [organisation, text])
        }
    }

    /// The organisation and its direct sub-tenants: the parties of its invoices.
    func parties(_ organisation: UUID) async throws -> Set<UUID> {
        try await self.database.withPlatformScope { session in
            Set(try await session.query("SELECT id FROM tenants WHERE id = $1 OR parent_id = $1", [organisation]).all.compactMap { $0["id"].flatMap(UUID.init(uuidString:)) })
        }
    }

    private func save(_ invoice: Invoice, onlyIfDraft: Bool) async throws {
        try await self.database.withPlatformScope { session in try await Self.write(invoice, in: session, onlyIfDraft: onlyIfDraft) }
    }

    private static func write(_ invoice: Invoice, in session: PostgresSession, onlyIfDraft: Bool) async throws {
        let text = String(decoding: try ContractCoding.encoder().encode(invoice), as: UTF8.self)
        try await session.execute("""
            INSERT INTO billing_invoices (id, organisation_id, number, period_start, period_end, status, invoice, stripe_invoice_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8)
            ON CONFLICT (organisation_id, period_start) DO UPDATE SET status = excluded.status, invoice = excluded.invoice,
                stripe_invoice_id = excluded.stripe_invoice_id, updated_at = now()
            \(onlyIfDraft ? "WHERE billing_invoices.status = 'draft'" : "")
            """, [invoice.id, invoice.organisationId, invoice.number, invoice.periodStart, invoice.periodEnd, invoice.status.rawValue, text, invoice.stripeInvoiceId])
    }
}
