import ClientRuntime
import Foundation
import LibPQ
import SensormineClients
import SensormineContracts
import SensormineCore

/// Organisations' subscriptions, and what quotas are computed from: usage totals of the
/// period, registered devices, each organisation's tenants.
struct SubscriptionStore: Sendable {
    let database: PostgresClient
    /// Whether changes are brought to Stripe (queued in `billing_stripe_sync`).
    var stripe = false

    private static let columns = """
        organisation_id, plan_id, billing_interval, included_overrides::text AS overrides, array_to_json(hard_limits)::text AS hard_limits,
        currency, tax_rate_basis_points, status, grace_until, stripe_customer_id, stripe_subscription_id, stripe_sync_error
        """

    /// The organisation `tenant` belongs to, as `caller` may see it: itself when it is one.
    /// - Throws: ``BillingError/notFound(_:)`` when the caller cannot see the tenant.
    func organisation(of tenant: UUID, caller: CallerIdentity) async throws -> (organisation: UUID, isOrganisation: Bool) {
        try await self.database.withCaller(caller) { session in
            guard let row = try await session.query("SELECT (path[1])::text AS organisation, parent_id IS NULL AS root FROM tenants WHERE id = $1", [tenant]).first,
                  let organisation = row["organisation"].flatMap(UUID.init(uuidString:)) else {
                throw BillingError.notFound("no tenant \(tenant.lowercasedString) that you can see")
            }
            return (organisation, row["root"] == "t")
        }
    }

    /// The organisation's subscription (Free when it has none stored).
    func subscription(_ organisation: UUID) async throws -> Subscription {
        try await self.subscriptions([organisation])[organisation] ?? .free(organisation)
    }

    /// Stores `subscription` and queues its plan for DeviceAPI's tenant settings (and the
    /// change for Stripe, when configured).
    func save(_ subscription: Subscription) async throws {
        let stripe = self.stripe
        try await self.database.withPlatformScope { session in
            try await session.execute("""
                INSERT INTO billing_subscriptions (organisation_id, plan_id, billing_interval, included_overrides, hard_limits, currency, tax_rate_basis_points)
                VALUES ($1, $2, $3, $4::jsonb, (SELECT array_agg(value) FROM jsonb_array_elements_text($5::jsonb)), $6, $7)
                ON CONFLICT (organisation_id) DO UPDATE SET plan_id = excluded.plan_id, billing_interval = excluded.billing_interval,
                    included_overrides = excluded.included_overrides, hard_limits = excluded.hard_limits, currency = excluded.currency,
                    tax_rate_basis_points = excluded.tax_rate_basis_points, updated_at = now()
                """, [subscription.organisationId, subscription.plan, subscription.interval.rawValue, try Self.json(subscription.includedOverrides),
                      try subscription.hardLimits.map(Self.json), subscription.currency, subscription.taxRateBasisPoints])
            try await session.execute("INSERT INTO billing_plan_sync (organisation_id, plan_id) VALUES ($1, $2)", [subscription.organisationId, subscription.plan])
            if stripe {
                try await session.execute("INSERT INTO billing_stripe_sync (organisation_id, kind) VALUES ($1, 'subscription')", [subscription.organisationId])
            }
        }
    }

    /// Stored subscriptions by organisation.
    private func subscriptions(_ organisations: [UUID]) async throws -> [UUID: Subscription] {
        guard !organisations.isEmpty else { return [:] }
        let rows = try await self.database.withPlatformScope { session in
            try await session.query("SELECT \(Self.columns) FROM billing_subscriptions WHERE organisation_id = ANY ($1::uuid[])",
                                    [Self.array(organisations)]).all
        }
        var result: [UUID: Subscription] = [:]
        for row in rows {
            guard let subscription = Self.subscription(row) else { continue }
            result[subscription.organisationId] = subscription
        }
        return result
    }

    /// What quotas need of `organisations` (every organisation after `after` in id order, at most
    /// `limit`, when nil) in the period starting at `periodStart`.
    func quotaInputs(_ organisations: [UUID]?, after: UUID? = nil, limit: Int = 500, periodStart: Date) async throws -> [QuotaCalculator.Inputs] {
        let rows = try await self.database.withPlatformScope { session in
            let selection = organisations == nil ? "o.id > $2 ORDER BY o.id LIMIT $3" : "o.id = ANY ($2::uuid[])"
            let bounds: [(any PostgresBindable)?] = organisations.map { [Self.array($0)] } ?? [after ?? Self.before, limit]
            return try await session.query("""
                SELECT o.id,
                    (SELECT array_to_json(array_agg(t.id))::text FROM tenants t WHERE t.path @> ARRAY[o.id]) AS tenants,
                    (SELECT count(*) FROM devices d JOIN tenants t ON t.id = d.tenant_id WHERE t.path @> ARRAY[o.id]) AS devices,
                    (SELECT sum(latest.storage_bytes) FROM (
                        SELECT DISTINCT ON (s.tenant_id) s.storage_bytes FROM tenant_usage_snapshots s JOIN tenants t ON t.id = s.tenant_id
                        WHERE t.path @> ARRAY[o.id] AND s.storage_bytes IS NOT NULL AND s.day >= ($1::timestamptz AT TIME ZONE 'UTC')::date - 1
                        ORDER BY s.tenant_id, s.day DESC) latest) AS storage_bytes,
                    (SELECT json_object_agg(x.resource, x.quantity)::text FROM (
                        SELECT u.resource, sum(u.quantity) AS quantity FROM usage_totals u JOIN tenants t ON t.id = u.tenant_id
                        WHERE t.path @> ARRAY[o.id] AND u.period_start = $1 GROUP BY u.resource) x) AS usage
                FROM tenants o WHERE o.parent_id IS NULL AND \(selection)
                """, [periodStart] + bounds).all
        }
        let decoder = JSONDecoder()
        let ids = rows.compactMap { $0["id"].flatMap(UUID.init(uuidString:)) }
        let stored = try await self.subscriptions(ids)
        return rows.compactMap { row in
            guard let id = row["id"].flatMap(UUID.init(uuidString:)) else { return nil }
            let tenants = row["tenants"].flatMap { try? decoder.decode([UUID].self, from: Data($0.utf8)) } ?? [id]
            let totals = row["usage"].flatMap { try? decoder.decode([String: Double].self, from: Data($0.utf8)) } ?? [:]
            var usage: [MeteredResource: Double] = [:]
            for (name, quantity) in totals {
                if let resource = MeteredResource(rawValue: name) { usage[resource] = quantity }
            }
            return QuotaCalculator.Inputs(organisation: id, tenants: tenants, subscription: stored[id] ?? .free(id), usage: usage, devices: row.int("devices") ?? 0,
                                         storageBytes: row.double("storage_bytes") ?? 0)
        }
    }

    private static func subscription(_ row: PostgresRow) -> Subscription? {
        let decoder = JSONDecoder()
        guard let organisation = row["organisation_id"].flatMap(UUID.init(uuidString:)), let plan = row["plan_id"],
              let interval = row["billing_interval"].flatMap(Subscription.Interval.init(rawValue:)),
              let status = row["status"].flatMap(Subscription.Status.init(rawValue:)), let currency = row["currency"] else { return nil }
        return Subscription(
            organisationId: organisation, plan: plan, interval: interval,
            includedOverrides: row["overrides"].flatMap { try? decoder.decode([String: Double].self, from: Data($0.utf8)) } ?? [:],
            hardLimits: row["hard_limits"].flatMap { try? decoder.decode([String].self, from: Data($0.utf8)) }, currency: currency,
            taxRateBasisPoints: row.int("tax_rate_basis_points") ?? 0, status: status, graceUntil: row.date("grace_until"), stored: true,
            stripeCustomerId: row["stripe_customer_id"], stripeSubscriptionId: row["stripe_subscription_id"], stripeSyncError: row["stripe_sync_error"])
    }

    /// Sorts before every UUID (the first page's `after`).
    private static let before = UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))

    /// A uuid[] parameter in PostgreSQL's array text.
    static func array(_ ids: [UUID]) -> String { "{" + ids.map(\.postgresText).joined(separator: ",") + "}" }

    private static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
