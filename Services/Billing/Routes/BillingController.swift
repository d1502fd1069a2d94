import Foundation
import Hummingbird
import SensormineCore

/// /api/v1/billing: the plan catalogue, usage per tenant and subscriptions (viewers read;
/// platform-admins change subscriptions).
struct BillingController: Sendable {
    let usage: UsageStore
    let plans: PlanStore
    let subscriptions: SubscriptionStore
    let quotas: QuotaKeeper

    func addRoutes(to group: RouterGroup<SensormineRequestContext>) {
        group.get("plans", use: self.listPlans)
        group.get("usage", use: self.report)
        group.get("usage/daily", use: self.daily)
        group.get("subscriptions/{tenantId}", use: self.subscription)
        group.put("subscriptions/{tenantId}", use: self.changeSubscription)
    }

    /// GET subscriptions/{tenantId}: the subscription of the organisation the tenant belongs to,
    /// with its quota state now (viewer of the tenant).
    @Sendable func subscription(_ request: Request, context: SensormineRequestContext) async throws -> SubscriptionView {
        let caller = try context.requireIdentity()
        try self.checkRead(caller)
        let tenant = try RouteParameters.uuid(context, "tenantId", what: "tenant")
        let (organisation, _) = try await self.subscriptions.organisation(of: tenant, caller: caller)
        return try await self.view(organisation, evaluate: false)
    }

    /// PUT subscriptions/{tenantId}: a platform-admin changes an organisation's plan, overrides
    /// and billing settings; quotas follow for the next request, the plan reaches DeviceAPI.
    @Sendable func changeSubscription(_ request: Request, context: SensormineRequestContext) async throws -> SubscriptionView {
        let caller = try context.requireIdentity()
        guard caller.isPlatformAdmin else { throw BillingError.forbidden("only a platform-admin changes subscriptions and plans") }
        let tenant = try RouteParameters.uuid(context, "tenantId", what: "tenant")
        let body = try await request.decode(as: SubscriptionRequest.self, context: context)
        let errors = body.validationErrors(plans: try await self.plans.list().map(\.id))
        guard errors.isEmpty else { throw APIError.validationFailed("the subscription is invalid", errors: errors) }
        let (organisation, isOrganisation) = try await self.subscriptions.organisation(of: tenant, caller: caller)
        guard isOrganisation else {
            throw APIError.validationFailed("a subscription belongs to an organisation", errors: [
                .init(pointer: "tenantId", detail: "a sub-tenant shares its organisation's subscription: \(organisation.uuidString.lowercased())"),
            ])
        }
        try await self.subscriptions.save(body.applied(to: try await self.subscriptions.subscription(organisation)))
        return try await self.view(organisation, evaluate: true)
    }

    private func view(_ organisation: UUID, evaluate: Bool) async throws -> SubscriptionView {
        let states = evaluate ? try await self.quotas.evaluate([organisation]) : try await self.quotas.states([organisation])
        guard let state = states.first else { throw BillingError.notFound("no organisation \(organisation.uuidString.lowercased())") }
        return SubscriptionView(subscription: try await self.subscriptions.subscription(organisation), quota: state)
    }

    /// A list of plans.
    struct PlanList: ResponseEncodable, Sendable {
        var items: [Plan]
    }

    private func checkRead(_ caller: CallerIdentity) throws(BillingError) {
        guard caller.has(atLeast: .viewer) else { throw .forbidden("reading usage needs the viewer role") }
    }

    @Sendable func listPlans(_ request: Request, context: SensormineRequestContext) async throws -> PlanList {
        try self.checkRead(try context.requireIdentity())
        return PlanList(items: try await self.plans.list())
    }

    /// The tenant and period a usage query names: the caller's tenant (or `tenantId`: a
    /// sub-tenant's, any for a platform-admin) over [from, to), by default the current calendar
    /// month (UTC), and the format among `formats`.
    private struct UsageQuery {
        var tenant: UUID
        var from: Date
        var to: Date
        var format: String
    }

    private func usageQuery(_ request: Request, caller: CallerIdentity, formats: [String]) throws -> UsageQuery {
        let query = request.uri.queryParameters
        var errors: [ProblemDetails.FieldError] = []
        var tenant = caller.tenantID
        if let text = query["tenantId"].map(String.init) {
            if let id = UUID(uuidString: text) { tenant = id } else { errors.append(.init(pointer: "tenantId", detail: "not a UUID")) }
        }
        let (monthStart, nextMonth) = BillingPeriod.month(containing: Date())
        func date(_ name: String, default value: Date) -> Date {
            guard let text = query[Substring(name)].map(String.init) else { return value }
            if let parsed = Self.parse(text) { return parsed }
            errors.append(.init(pointer: name, detail: "expected an RFC 3339 date-time (2026-12-01T00:00:00Z) or a date (2026-12-01)"))
            return value
        }
        let from = date("from", default: monthStart)
        let to = date("to", default: nextMonth)
        if errors.isEmpty, !(from < to) { errors.append(.init(pointer: "to", detail: "must be after from")) }
        if errors.isEmpty, to.timeIntervalSince(from) > 400 * 86_400 { errors.append(.init(pointer: "to", detail: "at most 400 days after from")) }
        let format = query["format"].map(String.init) ?? "json"
        if !formats.contains(format) { errors.append(.init(pointer: "format", detail: formats.joined(separator: " or "))) }
        guard errors.isEmpty else { throw APIError.badRequest("the usage query is invalid", errors: errors) }
        return UsageQuery(tenant: tenant, from: from, to: to, format: format)
    }

    /// GET usage: usage per resource over the query's period; `format=csv` for CSV.
    @Sendable func report(_ request: Request, context: SensormineRequestContext) async throws -> Response {
        let caller = try context.requireIdentity()
        try self.checkRead(caller)
        let query = try self.usageQuery(request, caller: caller, formats: ["json", "csv"])
        let report = try await self.usage.report(tenant: query.tenant, from: query.from, to: query.to, caller: caller, plans: self.plans)
        if query.format == "csv" {
            return Response(status: .ok, headers: [.contentType: "text/csv; charset=utf-8",
                                                   .contentDisposition: "attachment; filename=\"usage-\(query.tenant.uuidString.lowercased()).csv\""],
                            body: .init(byteBuffer: ByteBuffer(string: report.csv)))
        }
        return try report.response(from: request, context: context)
    }

    /// GET usage/daily: the subtree's levels per day from the daily snapshots (devices active in
    /// the month so far, storage) over the query's period.
    @Sendable func daily(_ request: Request, context: SensormineRequestContext) async throws -> DailyUsage {
        let caller = try context.requireIdentity()
        try self.checkRead(caller)
        let query = try self.usageQuery(request, caller: caller, formats: ["json"])
        return try await self.usage.daily(tenant: query.tenant, from: query.from, to: query.to, caller: caller)
    }

    private static func parse(_ text: String) -> Date? {
        guard text.count <= 40 else { return nil }
        if let date = try? Date(text, strategy: .iso8601) { return date }
        return try? Date(text + "T00:00:00Z", strategy: .iso8601)
    }
}
