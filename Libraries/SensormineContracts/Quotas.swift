import Foundation

/// How far a resource's usage in the period is into what the plan includes.
public enum QuotaLevel: String, Codable, Sendable, CaseIterable, Comparable {
    /// Below 80 %.
    case ok
    /// At or past 80 % (the soft limit): warned once per period.
    case warning
    /// At or past 100 %: refused when the resource is hard-limited, billed as overage otherwise.
    case exceeded

    private var rank: Int {
        switch self {
        case .ok: 0
        case .warning: 1
        case .exceeded: 2
        }
    }

    public static func < (lhs: QuotaLevel, rhs: QuotaLevel) -> Bool { lhs.rank < rhs.rank }

    /// The level of `used` against `included` (nothing included: exceeded by any use).
    public static func of(used: Double, included: Double) -> QuotaLevel {
        if included <= 0 { return used > 0 ? .exceeded : .ok }
        if used >= included { return .exceeded }
        return used >= included * 0.8 ? .warning : .ok
    }
}

/// One resource's quota in the current period.
public struct ResourceQuota: Codable, Sendable, Equatable {
    /// What the plan (with the organisation's overrides) includes, in the resource's base unit.
    public var included: Double
    /// Used so far in the period.
    public var used: Double
    public var level: QuotaLevel
    /// Whether usage past `included` is refused (true) or billed as overage (false).
    public var hardLimit: Bool

    /// Creates a quota; its level follows from `used` and `included`.
    public init(included: Double, used: Double, hardLimit: Bool) {
        self.included = included
        self.used = used
        self.level = QuotaLevel.of(used: used, included: included)
        self.hardLimit = hardLimit
    }

    /// Whether the platform refuses more of the resource.
    public var refuses: Bool { self.hardLimit && self.level == .exceeded }

    /// used / included in whole per cent (rounded down).
    public var percent: Int {
        guard self.included > 0 else { return self.used > 0 ? 100 : 0 }
        let value = (self.used / self.included * 100).rounded(.down)
        if value.isNaN || value < 0 { return 0 }
        return Int(min(value, 1_000_000))
    }
}

/// An organisation's plan and quota state for the current period, as Billing (its only writer)
/// computes it: on `billing.quotas` (compacted, key = organisation id) for services without
/// Redis, and in Redis under ``redisKey(_:)`` for the gateway and DeviceAPI. Resources the plan
/// does not limit are absent.
public struct QuotaState: Codable, Sendable, Equatable {
    /// The organisation (root tenant) whose subtree shares the quota.
    public var organisationId: UUID
    /// Every tenant of the organisation's subtree, so that a service knowing only a device's
    /// tenant finds its organisation's quota.
    public var tenants: [UUID]
    /// The effective plan.
    public var plan: String
    public var periodStart: Date
    public var periodEnd: Date
    /// By ``MeteredResource`` raw value.
    public var resources: [String: ResourceQuota]
    /// When Billing computed it.
    public var computedAt: Date

    /// Creates a state.
    public init(organisationId: UUID, tenants: [UUID], plan: String, periodStart: Date, periodEnd: Date, resources: [String: ResourceQuota], computedAt: Date) {
        self.organisationId = organisationId
        self.tenants = tenants
        self.plan = plan
        self.periodStart = periodStart
        self.periodEnd = periodEnd
        self.resources = resources
        self.computedAt = computedAt
    }

    /// The quota of `resource`, if the plan limits it.
    public subscript(resource: MeteredResource) -> ResourceQuota? { self.resources[resource.rawValue] }

    /// Whether the platform refuses more of `resource` until the period ends.
    public func refuses(_ resource: MeteredResource) -> Bool { self[resource]?.refuses ?? false }

    /// Whether telemetry is refused: data ingested or time-series storage used up and hard-limited.
    public var refusesTelemetry: Bool { self.refuses(.dataIngested) || self.refuses(.timeseriesStorage) }

    /// The resources at or past 80 %, as the `Sensormine-Quota-Warning` header's value
    /// (`api-calls=85%, active-devices=100%`), nil when none is.
    public var warningHeader: String? {
        let warned = MeteredResource.allCases.compactMap { resource -> String? in
            guard let quota = self[resource], quota.level >= .warning else { return nil }
            return "\(resource.rawValue)=\(quota.percent)%"
        }
        return warned.isEmpty ? nil : warned.joined(separator: ", ")
    }

    /// What a change of quota state means: plan, period, limits and levels (not every use).
    public var signature: String {
        let parts = self.resources.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value.included):\($0.value.level.rawValue):\($0.value.hardLimit)" }
        return ([self.plan, String(self.periodStart.timeIntervalSince1970), self.tenants.map(\.uuidString).sorted().joined(separator: ".")] + parts).joined(separator: "|")
    }

    /// The Redis hash holding an organisation's state: `state` (this type as JSON), `refused`
    /// (comma-separated resources refused), `warning` (``warningHeader``) and `until` (the
    /// period's end in Unix seconds).
    public static func redisKey(_ organisation: UUID) -> String { "sensormine:quota:\(organisation.lowercasedString)" }
}

/// Billing's call to DeviceAPI (`PUT /api/v1/tenants/{id}/plan`): the organisation's effective
/// plan, which its tenant settings, and so its users' tokens and its API keys, carry.
public struct TenantPlan: Codable, Sendable, Equatable {
    public var plan: String

    /// Creates the body.
    public init(plan: String) { self.plan = plan }
}
