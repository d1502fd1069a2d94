import Foundation
import Hummingbird
import SensormineContracts
import SensormineCore

/// /api/v1/alerts/instances: the alerts raised for the caller's tenant and its sub-tenants, with
/// their history (viewers read; operators and tenant-admins acknowledge and resolve).
struct AlertController: Sendable {
    let repository: AlertRepository
    let queue: NotificationQueue

    func addRoutes(to group: RouterGroup<SensormineRequestContext>) {
        group.get("instances", use: self.list)
        group.get("instances/{id}", use: self.get)
        group.post("instances/{id}/acknowledge", use: self.acknowledge)
        group.post("instances/{id}/resolve", use: self.resolve)
        group.get("instances/{id}/notifications", use: self.notifications)
    }

    /// The notices of one alert with every delivery attempt.
    struct NotificationList: ResponseEncodable, Sendable {
        var items: [NotificationQueue.NotificationRecord]
    }

    @Sendable func notifications(_ request: Request, context: SensormineRequestContext) async throws -> NotificationList {
        let caller = try context.requireIdentity()
        try Self.checkRead(caller)
        return NotificationList(items: try await self.queue.notifications(of: try RouteParameters.uuid(context, what: "alert"), caller: caller))
    }

    /// A page of alerts, newest first; `next` is the cursor of the following page.
    struct Page: ResponseEncodable, Sendable {
        var items: [AlertInstance]
        var next: UUID?
    }

    /// One alert and every state change it went through, oldest first.
    struct Detail: ResponseEncodable, Sendable {
        var alert: AlertInstance
        var history: [AlertTransition]
    }

    @Sendable func list(_ request: Request, context: SensormineRequestContext) async throws -> Response {
        let caller = try context.requireIdentity()
        try Self.checkRead(caller)
        let filter = try Self.filter(request)
        let limit = try RouteParameters.integer(request, "limit", default: 100, range: 1...1000)
        let cursor = try RouteParameters.optionalUUID(request, "cursor")
        let items = try await self.repository.list(filter, after: cursor, limit: limit, caller: caller)
        if CSV.wanted(request) {
            let header = "id,tenant_id,source,rule_id,device_id,severity,state,acknowledged,acknowledged_by,acknowledged_at,opened_at,last_triggered_at,resolved_at,resolved_by,trigger_count,flapping,summary"
            return CSV.response(header: header, rows: items.map(Self.csvRow))
        }
        return try SensormineResponseEncoder().encode(Page(items: items, next: items.count == limit ? items.last?.id : nil), from: request, context: context)
    }

    @Sendable func get(_ request: Request, context: SensormineRequestContext) async throws -> Detail {
        let caller = try context.requireIdentity()
        try Self.checkRead(caller)
        let (alert, history) = try await self.repository.instance(try RouteParameters.uuid(context, what: "alert"), caller: caller)
        return Detail(alert: alert, history: history)
    }

    @Sendable func acknowledge(_ request: Request, context: SensormineRequestContext) async throws -> AlertInstance {
        let caller = try context.requireIdentity()
        try Self.checkChange(caller)
        return try await self.repository.acknowledge(try RouteParameters.uuid(context, what: "alert"), caller: caller)
    }

    @Sendable func resolve(_ request: Request, context: SensormineRequestContext) async throws -> AlertInstance {
        let caller = try context.requireIdentity()
        try Self.checkChange(caller)
        return try await self.repository.resolve(try RouteParameters.uuid(context, what: "alert"), caller: caller)
    }

    private static func checkRead(_ caller: CallerIdentity) throws(AlertsError) {
        guard caller.has(atLeast: .viewer) else { throw .forbidden("reading alerts needs the viewer role") }
    }

    private static func checkChange(_ caller: CallerIdentity) throws(AlertsError) {
        guard caller.has(atLeast: .operator) else { throw .forbidden("acknowledging or resolving alerts needs the operator or tenant-admin role") }
    }

    /// The list's query parameters; a bad value is a 400 naming it.
    static func filter(_ request: Request) throws -> AlertRepository.Filter {
        func choice<Value: RawRepresentable & CaseIterable>(_ name: String, _ type: Value.Type) throws -> Value? where Value.RawValue == String {
            guard let text = RouteParameters.string(request, name) else { return nil }
            guard let value = Value(rawValue: text) else {
                throw APIError.badRequest("\(name) is not one of its values", errors: [.init(pointer: name, detail: "one of \(Value.allCases.map(\.rawValue).joined(separator: ", "))")])
            }
            return value
        }
        func time(_ name: String) throws -> Date? {
            guard let text = RouteParameters.string(request, name) else { return nil }
            guard let date = (try? Date(text, strategy: .iso8601)) ?? (try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))) else {
                throw APIError.badRequest("\(name) is not a date-time", errors: [.init(pointer: name, detail: "an RFC 3339 date-time, e.g. 2026-01-31T12:00:00Z")])
            }
            return date
        }
        var acknowledged: Bool?
        switch RouteParameters.string(request, "acknowledged") {
        case nil: acknowledged = nil
        case "true": acknowledged = true
        case "false": acknowledged = false
        default: throw APIError.badRequest("acknowledged must be true or false", errors: [.init(pointer: "acknowledged", detail: "true or false")])
        }
        let filter = AlertRepository.Filter(
            tenantID: try RouteParameters.optionalUUID(request, "tenantId"), state: try choice("state", AlertInstance.State.self), acknowledged: acknowledged,
            severity: try choice("severity", AlertSeverity.self), source: try choice("source", AlertSource.self),
            ruleID: try RouteParameters.optionalUUID(request, "ruleId"), deviceID: try RouteParameters.optionalUUID(request, "deviceId"),
            openedFrom: try time("from"), openedTo: try time("to"))
        if let from = filter.openedFrom, let to = filter.openedTo, from >= to {
            throw APIError.badRequest("from must be before to", errors: [.init(pointer: "from", detail: "earlier than to")])
        }
        return filter
    }

    private static func csvRow(_ alert: AlertInstance) -> String {
        func time(_ date: Date?) -> String { date.map { $0.formatted(.iso8601) } ?? "" }
        func id(_ value: UUID?) -> String { value?.lowercasedString ?? "" }
        return [id(alert.id), id(alert.tenantId), alert.source.rawValue, id(alert.ruleId), id(alert.deviceId), alert.severity.rawValue, alert.state.rawValue,
                String(alert.acknowledged), CSV.field(alert.acknowledgedBy ?? ""), time(alert.acknowledgedAt), time(alert.openedAt), time(alert.lastTriggeredAt),
                time(alert.resolvedAt), CSV.field(alert.resolvedBy ?? ""), String(alert.triggerCount), String(alert.flapping), CSV.field(alert.summary)]
            .joined(separator: ",")
    }
}

extension AlertInstance: ResponseEncodable {}
