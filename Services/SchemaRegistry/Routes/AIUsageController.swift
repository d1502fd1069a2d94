import Foundation
import Hummingbird
import SensormineCore

/// /api/v1/aiusage: what AI calls cost, this calendar month (UTC).
struct AIUsageController: Sendable {
    let usage: AIUsageRepository

    func addRoutes(to group: RouterGroup<SensormineRequestContext>) {
        group.get("current", use: self.current)
        group.get("tenant/{id}", use: self.tenant)
        group.get("all", use: self.all)
    }

    /// The caller's own tenant (viewer).
    @Sendable func current(_ request: Request, context: SensormineRequestContext) async throws -> AIUsageSummary {
        let caller = try context.requireIdentity()
        try RegistryPolicy.checkRead(caller)
        return try await self.summary(caller.tenantID, caller: caller)
    }

    /// One tenant: its own tenant-admin, or a platform-admin.
    @Sendable func tenant(_ request: Request, context: SensormineRequestContext) async throws -> AIUsageSummary {
        let caller = try context.requireIdentity()
        guard let text = context.parameters.get("id"), let id = UUID(uuidString: text) else {
            throw APIError.badRequest("the tenant id must be a UUID", errors: [.init(pointer: "id", detail: "not a UUID")])
        }
        guard caller.isPlatformAdmin || (id == caller.tenantID && caller.has(atLeast: .tenantAdmin)) else {
            throw RegistryError.forbidden("another tenant's AI usage is for platform-admins; your own needs tenant-admin")
        }
        return try await self.summary(id, caller: caller)
    }

    /// Every tenant (platform-admin).
    @Sendable func all(_ request: Request, context: SensormineRequestContext) async throws -> AIUsageReport {
        let caller = try context.requireIdentity()
        guard caller.isPlatformAdmin else { throw RegistryError.forbidden("usage across tenants is for platform-admins") }
        let (from, to) = AIUsageRepository.currentMonth()
        return AIUsageReport(from: from, to: to, tenants: try await self.usage.summaries(tenantID: nil, from: from, to: to, caller: caller))
    }

    private func summary(_ tenantID: UUID, caller: CallerIdentity) async throws -> AIUsageSummary {
        let (from, to) = AIUsageRepository.currentMonth()
        guard let summary = try await self.usage.summaries(tenantID: tenantID, from: from, to: to, caller: caller).first else {
            throw RegistryError.notFound("no usage for tenant \(tenantID)")
        }
        return summary
    }
}

extension AIUsageSummary: ResponseCodable {}
extension AIUsageReport: ResponseCodable {}
