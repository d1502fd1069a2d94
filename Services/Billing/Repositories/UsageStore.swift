import ClientRuntime
import Foundation
import LibPQ
import SensormineClients
import SensormineContracts
import SensormineCore

/// Usage events (one row per usage record, keyed by its event id) and the reports over them.
struct UsageStore: Sendable {
    let database: PostgresClient
    /// Whether new records of organisations with a Stripe customer are queued as meter events.
    var meterEvents = false

    /// What a stored batch changed.
    struct Stored: Sendable {
        /// Records that were new.
        var inserted: Int
        /// The organisations whose usage grew.
        var organisations: [UUID]
    }

    private typealias Key = UsageRecord.SnapshotKey

    /// Stores `records` and adds them to their month's totals, and a daily snapshot's levels to
    /// `tenant_usage_snapshots`; those whose event id is already stored change nothing. Snapshot
    /// records must be ``UsageRecord/snapshotIsReadable``.
    /// - Throws: ``ClientError`` when the database is unavailable or refuses the batch.
    func insert(_ records: [UsageRecord]) async throws -> Stored {
        guard !records.isEmpty else { return Stored(inserted: 0, organisations: []) }
        var rows = PostgresCopyBuffer(capacity: records.count * 200)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        for record in records {
            rows.append(record.eventId)
            rows.append(record.tenantId.lowercasedString)
            rows.append(PostgresTimestamp.format(record.time))
            rows.append(record.resource.rawValue)
            rows.append(String(record.quantity))
            rows.append(record.unit)
            rows.append(record.producer)
            rows.append(String(decoding: try encoder.encode(record.metadata), as: UTF8.self))
            rows.endRow()
        }
        let copied = rows
        let meterEvents = self.meterEvents
        return try await self.database.withPlatformScope { session in
            try await session.execute("""
                CREATE TEMP TABLE IF NOT EXISTS usage_events_in (
                    event_id text, tenant_id uuid, occurred_at timestamptz, resource text, quantity double precision, unit text, producer text, metadata jsonb
                ) ON COMMIT DELETE ROWS
                """)
            _ = try await session.copy(into: "usage_events_in", columns: ["event_id", "tenant_id", "occurred_at", "resource", "quantity", "unit", "producer", "metadata"],
                                       rows: copied)
            // DISTINCT ON: a batch may hold the same event twice (a redelivery next to its original).
            // Only events stored now add to the month's totals.
            let result = try await session.query("""
                WITH inserted AS (
                    INSERT INTO usage_events (event_id, tenant_id, occurred_at, resource, quantity, unit, producer, metadata)
                    SELECT DISTINCT ON (event_id) event_id, tenant_id, occurred_at, resource, quantity, unit, producer, metadata FROM usage_events_in
                    ORDER BY event_id
                    ON CONFLICT (event_id) DO NOTHING
                    RETURNING event_id, tenant_id, occurred_at, resource, quantity, metadata
                ), snapshots AS (
                    INSERT INTO tenant_usage_snapshots AS s (tenant_id, day, active_devices, storage_bytes, raw_storage_exact)
                    SELECT tenant_id, (occurred_at AT TIME ZONE 'UTC')::date, max((metadata->>'\(Key.activeDevicesInMonth)')::bigint),
                        max((metadata->>'\(Key.storageBytes)')::bigint), bool_or((metadata->>'\(Key.rawStorageExact)')::boolean)
                    FROM inserted WHERE metadata->>'\(Key.kind)' = '\(Key.daily)' GROUP BY 1, 2
                    ON CONFLICT (tenant_id, day) DO UPDATE SET active_devices = coalesce(excluded.active_devices, s.active_devices),
                        storage_bytes = coalesce(excluded.storage_bytes, s.storage_bytes), raw_storage_exact = coalesce(excluded.raw_storage_exact, s.raw_storage_exact)
                    RETURNING 1
                ), meters AS (
                    INSERT INTO billing_meter_outbox (event_id, organisation_id, resource, quantity, occurred_at)
                    SELECT i.event_id, t.path[1], i.resource, i.quantity, i.occurred_at
                    FROM inserted i JOIN tenants t ON t.id = i.tenant_id
                    JOIN billing_subscriptions s ON s.organisation_id = t.path[1] AND s.stripe_customer_id IS NOT NULL
                    WHERE $1::boolean
                    RETURNING 1
                ), totals AS (
                    INSERT INTO usage_totals (tenant_id, period_start, resource, quantity)
                    SELECT tenant_id, date_trunc('month', occurred_at, 'UTC'), resource, sum(quantity) FROM inserted GROUP BY 1, 2, 3
                    ON CONFLICT (tenant_id, period_start, resource) DO UPDATE SET quantity = usage_totals.quantity + excluded.quantity
                    RETURNING tenant_id
                )
                SELECT (SELECT count(*) FROM inserted) AS inserted,
                    (SELECT array_to_json(array_agg(DISTINCT t.path[1]))::text FROM tenants t WHERE t.id IN (SELECT tenant_id FROM totals)) AS organisations
                """, [meterEvents])
            let organisations = result.first?["organisations"].flatMap { try? JSONDecoder().decode([UUID].self, from: Data($0.utf8)) } ?? []
            return Stored(inserted: result.first?.int("inserted") ?? 0, organisations: organisations)
        }
    }

    /// `tenant`'s usage in [from, to): its subtree's total per resource and each direct
    /// sub-tenant's (subtree's) share, as `caller` may see them (another subtree is a 404).
    /// - Throws: ``BillingError/notFound(_:)``, ``ClientError``.
    func report(tenant: UUID, from: Date, to: Date, caller: CallerIdentity, plans: PlanStore) async throws -> UsageReport {
        let (plan, totals, children, shares) = try await self.database.withCaller(caller) { session in
            guard let row = try await session.query(
                "SELECT coalesce(nullif(settings->>'plan', ''), inherited_settings->>'plan') AS plan FROM tenants WHERE id = $1", [tenant]).first else {
                throw BillingError.notFound("no tenant \(tenant.lowercasedString) that you can see")
            }
            let totals = try await session.query("""
                SELECT u.resource, sum(u.quantity) AS quantity FROM usage_events u JOIN tenants t ON t.id = u.tenant_id
                WHERE $1 = ANY (t.path) AND u.occurred_at >= $2 AND u.occurred_at < $3 GROUP BY u.resource
                """, [tenant, from, to])
            let children = try await session.query("SELECT id, name FROM tenants WHERE parent_id = $1 ORDER BY lower(name), id", [tenant])
            let shares = try await session.query("""
                SELECT c.id, u.resource, sum(u.quantity) AS quantity
                FROM tenants c JOIN tenants t ON c.id = ANY (t.path) JOIN usage_events u ON u.tenant_id = t.id
                WHERE c.parent_id = $1 AND u.occurred_at >= $2 AND u.occurred_at < $3 GROUP BY c.id, u.resource
                """, [tenant, from, to])
            return (row["plan"], totals.all, children.all, shares.all)
        }
        let catalogue = try await plans.plan(id: plan ?? "free")
        func quantities(_ rows: [PostgresRow]) -> [MeteredResource: Double] {
            var result: [MeteredResource: Double] = [:]
            for row in rows {
                if let resource = row["resource"].flatMap(MeteredResource.init(rawValue:)), let quantity = row.double("quantity") { result[resource, default: 0] += quantity }
            }
            return result
        }
        let byChild = Dictionary(grouping: shares) { $0["id"] ?? "" }
        let subTenants = children.compactMap { child -> UsageReport.SubTenant? in
            guard let text = child["id"], let id = UUID(uuidString: text) else { return nil }
            return UsageReport.SubTenant(tenantId: id, name: child["name"] ?? "", resources: UsageReport.resources(quantities(byChild[text] ?? []), plan: nil))
        }
        return UsageReport(tenantId: tenant, from: from, to: to, plan: plan, resources: UsageReport.resources(quantities(totals), plan: catalogue),
                           subTenants: subTenants)
    }
}

extension UsageStore {
    /// `tenant`'s subtree's levels per day from the daily snapshots in [from, to), as `caller` may
    /// see them (another subtree is a 404).
    /// - Throws: ``BillingError/notFound(_:)``, ``ClientError``.
    func daily(tenant: UUID, from: Date, to: Date, caller: CallerIdentity) async throws -> DailyUsage {
        let rows = try await self.database.withCaller(caller) { session in
            guard try await session.query("SELECT 1 FROM tenants WHERE id = $1", [tenant]).first != nil else {
                throw BillingError.notFound("no tenant \(tenant.lowercasedString) that you can see")
            }
            return try await session.query("""
                SELECT s.day::text AS day, coalesce(sum(s.active_devices), 0) AS active_devices, coalesce(sum(s.storage_bytes), 0) AS storage_bytes,
                    count(*) AS tenants, coalesce(bool_and(s.raw_storage_exact), false) AS exact
                FROM tenant_usage_snapshots s JOIN tenants t ON t.id = s.tenant_id
                WHERE $1 = ANY (t.path) AND s.day >= ($2::timestamptz AT TIME ZONE 'UTC')::date AND s.day < ($3::timestamptz AT TIME ZONE 'UTC')::date
                GROUP BY s.day ORDER BY s.day
                """, [tenant, from, to]).all
        }
        let items = rows.compactMap { row -> DailyUsage.Day? in
            guard let day = row["day"], let devices = row.int("active_devices"), let bytes = row.int("storage_bytes"), let tenants = row.int("tenants") else { return nil }
            return DailyUsage.Day(day: day, activeDevices: devices, storageBytes: bytes, tenants: tenants, rawStorageExact: row.bool("exact") ?? false)
        }
        return DailyUsage(tenantId: tenant, from: from, to: to, items: items)
    }
}

/// The plan catalogue.
struct PlanStore: Sendable {
    let database: PostgresClient

    private static let columns = "id, name, currency, monthly_price_minor, yearly_price_minor, included, overage, array_to_json(hard_limits)::text AS hard_limits"

    /// Every plan, in the catalogue's order.
    func list() async throws -> [Plan] {
        try await self.database.query("SELECT \(Self.columns) FROM billing_plans ORDER BY position").all.compactMap(Self.plan)
    }

    /// One plan (nil: no such plan).
    func plan(id: String) async throws -> Plan? {
        try await self.database.query("SELECT \(Self.columns) FROM billing_plans WHERE id = $1", [id]).first.flatMap(Self.plan)
    }

    private static func plan(_ row: PostgresRow) -> Plan? {
        let decoder = JSONDecoder()
        guard let id = row["id"], let name = row["name"], let currency = row["currency"],
              let included = row["included"].flatMap({ try? decoder.decode([String: Double].self, from: Data($0.utf8)) }),
              let overage = row["overage"].flatMap({ try? decoder.decode([String: Plan.Overage].self, from: Data($0.utf8)) }),
              let hardLimits = row["hard_limits"].flatMap({ try? decoder.decode([String].self, from: Data($0.utf8)) }) else { return nil }
        return Plan(id: id, name: name, currency: currency, monthlyPriceMinor: row.int("monthly_price_minor"), yearlyPriceMinor: row.int("yearly_price_minor"),
                    included: included, overage: overage, hardLimits: hardLimits)
    }
}
