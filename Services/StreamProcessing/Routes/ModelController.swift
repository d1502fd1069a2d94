import Foundation
import Hummingbird
import ONNXRuntime
import SensormineCore
import SensormineJSON

/// /api/v1/models: a tenant's ONNX models (viewers read; operators and tenant-admins write).
struct ModelController: Sendable {
    let store: ModelStore
    let runtime: ONNXRuntime?
    let shapes: [WindowShape]
    let limits: ModelLimits

    func addRoutes(to group: RouterGroup<SensormineRequestContext>) {
        group.post(use: self.create)
        group.get(use: self.list)
        group.get("{id}", use: self.get)
        group.put("{id}", use: self.replace)
        group.delete("{id}", use: self.delete)
    }

    /// A list of models.
    struct ModelList: ResponseEncodable, Sendable {
        var items: [ModelRecord]
    }

    private func checkRead(_ caller: CallerIdentity) throws(ModelError) {
        guard caller.has(atLeast: .viewer) else { throw .forbidden("reading models needs the viewer role") }
    }

    private func checkWrite(_ caller: CallerIdentity) throws(ModelError) {
        guard caller.has(atLeast: .operator) else { throw .forbidden("changing models needs the operator or tenant-admin role") }
    }

    /// The tenant acted on: the caller's own; another (`tenantId`) only for a platform-admin.
    private func tenant(_ request: Request, _ caller: CallerIdentity) throws -> UUID {
        guard let text = request.uri.queryParameters["tenantId"].map(String.init) else { return caller.tenantID }
        guard let id = UUID(uuidString: text) else { throw APIError.badRequest("tenantId must be a UUID", errors: [.init(pointer: "tenantId", detail: "not a UUID")]) }
        guard id == caller.tenantID || caller.isPlatformAdmin else {
            throw ModelError.forbidden("models are managed by their own tenant's users (or a platform-admin)")
        }
        return id
    }

    private func modelID(_ context: SensormineRequestContext) throws -> UUID {
        guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)) else {
            throw APIError.badRequest("the model id must be a UUID", errors: [.init(pointer: "id", detail: "not a UUID")])
        }
        return id
    }

    private func definition(_ request: Request, context: SensormineRequestContext) async throws -> ModelDefinition {
        let body = try await request.decode(as: JSON.self, context: context)
        return try ModelDefinition.parse(body, shapes: self.shapes, limits: self.limits, runtime: self.runtime)
    }

    @Sendable func create(_ request: Request, context: SensormineRequestContext) async throws -> EditedResponse<ModelRecord> {
        let caller = try context.requireIdentity()
        try self.checkWrite(caller)
        let tenant = try self.tenant(request, caller)
        let model = try await self.store.create(tenant: tenant, try await self.definition(request, context: context), maximumPerTenant: self.limits.maximumPerTenant)
        return EditedResponse(status: .created, headers: [.location: "/api/v1/models/\(model.id.uuidString.lowercased())"], response: model)
    }

    @Sendable func list(_ request: Request, context: SensormineRequestContext) async throws -> ModelList {
        let caller = try context.requireIdentity()
        try self.checkRead(caller)
        return ModelList(items: try await self.store.list(tenant: try self.tenant(request, caller)))
    }

    @Sendable func get(_ request: Request, context: SensormineRequestContext) async throws -> ModelRecord {
        let caller = try context.requireIdentity()
        try self.checkRead(caller)
        return try await self.store.get(id: try self.modelID(context), tenant: try self.tenant(request, caller))
    }

    @Sendable func replace(_ request: Request, context: SensormineRequestContext) async throws -> ModelRecord {
        let caller = try context.requireIdentity()
        try self.checkWrite(caller)
        let id = try self.modelID(context)
        let tenant = try self.tenant(request, caller)
        return try await self.store.replace(id: id, tenant: tenant, try await self.definition(request, context: context))
    }

    @Sendable func delete(_ request: Request, context: SensormineRequestContext) async throws -> HTTPResponse.Status {
        let caller = try context.requireIdentity()
        try self.checkWrite(caller)
        try await self.store.delete(id: try self.modelID(context), tenant: try self.tenant(request, caller))
        return .noContent
    }
}
