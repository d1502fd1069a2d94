import Foundation
import Hummingbird
import SensormineContracts
import SensormineCore
import SensormineJSON

/// /api/v1/alerts/rules: a tenant's alert rules (viewers read; operators and tenant-admins write).
struct RuleController: Sendable {
    let repository: RuleRepository

    func addRoutes(to group: RouterGroup<SensormineRequestContext>) {
        group.post("rules", use: self.create)
        group.get("rules", use: self.list)
        group.get("rules/{id}", use: self.get)
        group.put("rules/{id}", use: self.replace)
        group.delete("rules/{id}", use: self.delete)
    }

    /// A list of rules.
    struct RuleList: ResponseEncodable, Sendable {
        var items: [AlertRule]
    }

    /// The tenant acted on: the caller's own, or `tenantId` (a sub-tenant's, or any for a
    /// platform-admin; row-level security decides).
    private func tenant(_ request: Request, _ caller: CallerIdentity) throws -> UUID {
        guard let text = request.uri.queryParameters["tenantId"].map(String.init) else { return caller.tenantID }
        guard let id = UUID(uuidString: text) else { throw APIError.badRequest("tenantId must be a UUID", errors: [.init(pointer: "tenantId", detail: "not a UUID")]) }
        return id
    }

    private func ruleID(_ context: SensormineRequestContext) throws -> UUID {
        guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)) else {
            throw APIError.badRequest("the rule id must be a UUID", errors: [.init(pointer: "id", detail: "not a UUID")])
        }
        return id
    }

    @Sendable func create(_ request: Request, context: SensormineRequestContext) async throws -> EditedResponse<AlertRule> {
        let caller = try context.requireIdentity()
        try RulePolicy.checkWrite(caller)
        let definition = try RuleDefinition.parse(try await request.decode(as: JSON.self, context: context))
        let rule = try await self.repository.create(tenantID: try self.tenant(request, caller), definition, caller: caller)
        return EditedResponse(status: .created, headers: [.location: "/api/v1/alerts/rules/\(rule.id.lowercasedString)"], response: rule)
    }

    @Sendable func list(_ request: Request, context: SensormineRequestContext) async throws -> RuleList {
        let caller = try context.requireIdentity()
        try RulePolicy.checkRead(caller)
        return RuleList(items: try await self.repository.list(tenantID: try self.tenant(request, caller), caller: caller))
    }

    @Sendable func get(_ request: Request, context: SensormineRequestContext) async throws -> AlertRule {
        let caller = try context.requireIdentity()
        try RulePolicy.checkRead(caller)
        return try await self.repository.rule(id: try self.ruleID(context), caller: caller)
    }

    @Sendable func replace(_ request: Request, context: SensormineRequestContext) async throws -> AlertRule {
        let caller = try context.requireIdentity()
        try RulePolicy.checkWrite(caller)
        let id = try self.ruleID(context)
        let definition = try RuleDefinition.parse(try await request.decode(as: JSON.self, context: context))
        return try await self.repository.replace(id: id, definition, caller: caller)
    }

    @Sendable func delete(_ request: Request, context: SensormineRequestContext) async throws -> HTTPResponse.Status {
        let caller = try context.requireIdentity()
        try RulePolicy.checkWrite(caller)
        try await self.repository.delete(id: try self.ruleID(context), caller: caller)
        return .noContent
    }
}

extension AlertRule: ResponseEncodable {}
