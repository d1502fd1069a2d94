import Foundation
import Hummingbird
import SensormineCore
import SensormineJSON

/// /api/v1/alerts/channels, /policies and /silences: where a tenant's notifications go, how they
/// escalate, and when they are held back (viewers read; operators and tenant-admins write).
struct NotificationSettingsController: Sendable {
    let channels: ChannelStore
    let policies: PolicyStore
    let silences: SilenceStore

    func addRoutes(to group: RouterGroup<SensormineRequestContext>) {
        group.post("channels", use: self.createChannel)
        group.get("channels", use: self.listChannels)
        group.get("channels/{id}", use: self.getChannel)
        group.put("channels/{id}", use: self.replaceChannel)
        group.delete("channels/{id}", use: self.deleteChannel)
        group.post("policies", use: self.createPolicy)
        group.get("policies", use: self.listPolicies)
        group.get("policies/{id}", use: self.getPolicy)
        group.put("policies/{id}", use: self.replacePolicy)
        group.delete("policies/{id}", use: self.deletePolicy)
        group.post("silences", use: self.createSilence)
        group.get("silences", use: self.listSilences)
        group.delete("silences/{id}", use: self.expireSilence)
    }

    struct Items<Item: Encodable & Sendable>: ResponseEncodable, Sendable {
        var items: [Item]
    }

    /// The tenant acted on: the caller's own, or `tenantId` (a sub-tenant's; row-level security decides).
    private static func tenant(_ request: Request, _ caller: CallerIdentity) throws -> UUID {
        try RouteParameters.optionalUUID(request, "tenantId") ?? caller.tenantID
    }

    private static func reader(_ context: SensormineRequestContext) throws -> CallerIdentity {
        let caller = try context.requireIdentity()
        guard caller.has(atLeast: .viewer) else { throw AlertsError.forbidden("reading notification settings needs the viewer role") }
        return caller
    }

    private static func writer(_ context: SensormineRequestContext) throws -> CallerIdentity {
        let caller = try context.requireIdentity()
        guard caller.has(atLeast: .operator) else { throw AlertsError.forbidden("changing notification settings needs the operator or tenant-admin role") }
        return caller
    }

    // MARK: Channels

    @Sendable func createChannel(_ request: Request, context: SensormineRequestContext) async throws -> EditedResponse<NotificationChannel> {
        let caller = try Self.writer(context)
        let definition = try ChannelDefinition.parse(try await request.decode(as: JSON.self, context: context))
        let channel = try await self.channels.create(tenantID: try Self.tenant(request, caller), definition, caller: caller)
        return EditedResponse(status: .created, headers: [.location: "/api/v1/alerts/channels/\(channel.id.uuidString.lowercased())"], response: channel)
    }

    @Sendable func listChannels(_ request: Request, context: SensormineRequestContext) async throws -> Items<NotificationChannel> {
        let caller = try Self.reader(context)
        return Items(items: try await self.channels.list(tenantID: try Self.tenant(request, caller), caller: caller))
    }

    @Sendable func getChannel(_ request: Request, context: SensormineRequestContext) async throws -> NotificationChannel {
        let caller = try Self.reader(context)
        return try await self.channels.channel(try RouteParameters.uuid(context, what: "channel"), caller: caller)
    }

    @Sendable func replaceChannel(_ request: Request, context: SensormineRequestContext) async throws -> NotificationChannel {
        let caller = try Self.writer(context)
        let id = try RouteParameters.uuid(context, what: "channel")
        let definition = try ChannelDefinition.parse(try await request.decode(as: JSON.self, context: context))
        return try await self.channels.replace(id, definition, caller: caller)
    }

    @Sendable func deleteChannel(_ request: Request, context: SensormineRequestContext) async throws -> HTTPResponse.Status {
        let caller = try Self.writer(context)
        try await self.channels.delete(try RouteParameters.uuid(context, what: "channel"), caller: caller)
        return .noContent
    }

    // MARK: Policies

    @Sendable func createPolicy(_ request: Request, context: SensormineRequestContext) async throws -> EditedResponse<NotificationPolicy> {
        let caller = try Self.writer(context)
        let definition = try PolicyDefinition.parse(try await request.decode(as: JSON.self, context: context))
        let policy = try await self.policies.create(tenantID: try Self.tenant(request, caller), definition, caller: caller)
        return EditedResponse(status: .created, headers: [.location: "/api/v1/alerts/policies/\(policy.id.uuidString.lowercased())"], response: policy)
    }

    @Sendable func listPolicies(_ request: Request, context: SensormineRequestContext) async throws -> Items<NotificationPolicy> {
        let caller = try Self.reader(context)
        return Items(items: try await self.policies.list(tenantID: try Self.tenant(request, caller), caller: caller))
    }

    @Sendable func getPolicy(_ request: Request, context: SensormineRequestContext) async throws -> NotificationPolicy {
        let caller = try Self.reader(context)
        return try await self.policies.policy(try RouteParameters.uuid(context, what: "policy"), caller: caller)
    }

    @Sendable func replacePolicy(_ request: Request, context: SensormineRequestContext) async throws -> NotificationPolicy {
        let caller = try Self.writer(context)
        let id = try RouteParameters.uuid(context, what: "policy")
        let definition = try PolicyDefinition.parse(try await request.decode(as: JSON.self, context: context))
        return try await self.policies.replace(id, definition, caller: caller)
    }

    @Sendable func deletePolicy(_ request: Request, context: SensormineRequestContext) async throws -> HTTPResponse.Status {
        let caller = try Self.writer(context)
        try await self.policies.delete(try RouteParameters.uuid(context, what: "policy"), caller: caller)
        return .noContent
    }

    // MARK: Silences

    @Sendable func createSilence(_ request: Request, context: SensormineRequestContext) async throws -> EditedResponse<Silence> {
        let caller = try Self.writer(context)
        let definition = try SilenceDefinition.parse(try await request.decode(as: JSON.self, context: context))
        let silence = try await self.silences.create(tenantID: try Self.tenant(request, caller), definition, caller: caller)
        return EditedResponse(status: .created, headers: [.location: "/api/v1/alerts/silences/\(silence.id.uuidString.lowercased())"], response: silence)
    }

    @Sendable func listSilences(_ request: Request, context: SensormineRequestContext) async throws -> Items<Silence> {
        let caller = try Self.reader(context)
        let expired: Bool
        switch RouteParameters.string(request, "expired") {
        case nil, "false": expired = false
        case "true": expired = true
        default: throw APIError.badRequest("expired must be true or false", errors: [.init(pointer: "expired", detail: "true or false")])
        }
        return Items(items: try await self.silences.list(tenantID: try Self.tenant(request, caller), includeExpired: expired, caller: caller))
    }

    /// Ends a silence now (it is kept, as expired).
    @Sendable func expireSilence(_ request: Request, context: SensormineRequestContext) async throws -> Silence {
        let caller = try Self.writer(context)
        return try await self.silences.expire(try RouteParameters.uuid(context, what: "silence"), caller: caller)
    }
}

extension NotificationChannel: ResponseEncodable {}
extension NotificationPolicy: ResponseEncodable {}
extension Silence: ResponseEncodable {}
