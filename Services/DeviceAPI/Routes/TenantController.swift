import Foundation
import SensormineContracts
import Hummingbird
import SensormineCore

/// /api/v1/tenants: the tenant hierarchy, as the caller may see and change it.
struct TenantController: Sendable {
    let repository: TenantRepository

    func addRoutes(to group: RouterGroup<SensormineRequestContext>) {
        group.post(use: self.create)
        group.get(use: self.list)
        group.get("{id}", use: self.get)
        group.patch("{id}", use: self.update)
        group.put("{id}/plan", use: self.setPlan)
        group.delete("{id}", use: self.delete)
    }

    /// POST: creates an organisation (platform-admin) or a sub-tenant (tenant-admin above it).
    @Sendable func create(_ request: Request, context: SensormineRequestContext) async throws -> EditedResponse<Tenant> {
        let caller = try context.requireIdentity()
        let body = try await request.decode(as: CreateTenantRequest.self, context: context)
        var parent: TenantRepository.Stored?
        if let parentID = body.parentId {
            guard let found = try await self.repository.find(parentID, caller: caller) else { throw TenantError.notFound(parentID) }
            parent = found
        }
        try TenantPolicy.checkCreate(body, parentDepth: parent?.depth ?? 0, parentSettings: parent?.effective, caller: caller)
        let tenant = try await self.repository.insert(
            name: body.name.trimmingCharacters(in: .whitespacesAndNewlines), kind: body.kind, parent: parent,
            settings: body.settings ?? TenantSettings(), caller: caller
        )
        return EditedResponse(status: .created, headers: [.location: "/api/v1/tenants/\(tenant.id.lowercasedString)"], response: tenant)
    }

    /// GET: the tenants the caller sees (its own and its descendants), optionally one parent's children.
    @Sendable func list(_ request: Request, context: SensormineRequestContext) async throws -> TenantPage {
        let caller = try context.requireIdentity()
        try CatalogPolicy.checkRead(caller)
        let limit = try RouteParameters.integer(request, "limit", default: 50, range: 1...200)
        let offset = try RouteParameters.integer(request, "offset", default: 0, range: 0...1_000_000)
        let parentID = try RouteParameters.optionalUUID(request, "parentId")
        let items = try await self.repository.list(caller: caller, parentID: parentID, limit: limit, offset: offset)
        return TenantPage(items: items, limit: limit, offset: offset)
    }

    /// GET {id}: one visible tenant, else 404 (never 403: existence is not disclosed).
    @Sendable func get(_ request: Request, context: SensormineRequestContext) async throws -> Tenant {
        let caller = try context.requireIdentity()
        try CatalogPolicy.checkRead(caller)
        let id = try RouteParameters.uuid(context, what: "tenant")
        guard let stored = try await self.repository.find(id, caller: caller) else { throw TenantError.notFound(id) }
        return stored.tenant
    }

    /// PATCH {id}: renames or changes settings; descendants inherit the change.
    @Sendable func update(_ request: Request, context: SensormineRequestContext) async throws -> Tenant {
        let caller = try context.requireIdentity()
        let id = try RouteParameters.uuid(context, what: "tenant")
        let body = try await request.decode(as: UpdateTenantRequest.self, context: context)
        try TenantPolicy.checkUpdate(body, caller: caller)
        return try await self.repository.update(id, name: body.name?.trimmingCharacters(in: .whitespacesAndNewlines), settings: body.settings, caller: caller)
    }

    /// PUT {id}/plan: an organisation's plan, from Billing only (plans change through Billing's API).
    @Sendable func setPlan(_ request: Request, context: SensormineRequestContext) async throws -> Tenant {
        let caller = try context.requireIdentity()
        guard context.serviceCaller == .billing else {
            throw TenantError.forbidden("a plan is set through Billing (PUT /api/v1/billing/subscriptions/{tenantId}, platform-admin), which owns plans")
        }
        let id = try RouteParameters.uuid(context, what: "tenant")
        let body = try await request.decode(as: TenantPlan.self, context: context)
        var settings = TenantSettings()
        settings.plan = body.plan
        let errors = settings.validationErrors()
        guard errors.isEmpty else { throw TenantError.invalid(errors) }
        return try await self.repository.setPlan(id, plan: body.plan, caller: caller)
    }

    /// DELETE {id}: removes a leaf tenant.
    @Sendable func delete(_ request: Request, context: SensormineRequestContext) async throws -> Response {
        let caller = try context.requireIdentity()
        let id = try RouteParameters.uuid(context, what: "tenant")
        try TenantPolicy.checkDelete(id, caller: caller)
        try await self.repository.delete(id, caller: caller)
        return Response(status: .noContent)
    }
}

/// A page of tenants.
struct TenantPage: ResponseCodable, Sendable {
    var items: [Tenant]
    var limit: Int
    var offset: Int
}

extension Tenant: ResponseCodable {}
