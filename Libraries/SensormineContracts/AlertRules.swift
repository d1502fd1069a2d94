import Foundation

/// How bad an alert is, in the order users sort by.
public enum AlertSeverity: String, Codable, Sendable, CaseIterable {
    case info, warning, major, critical
}

/// What a rule watches: one device, every device of a type, an asset subtree, or a tag.
public struct AlertScope: Codable, Sendable, Equatable {
    /// Which of the fields below selects the devices.
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case device, deviceType, asset, tag
    }

    public var kind: Kind
    public var deviceId: UUID?
    public var deviceTypeId: UUID?
    /// The root of the asset subtree (the asset and everything under it).
    public var assetId: UUID?
    public var tag: String?

    /// Creates a scope; exactly the field its kind names is set.
    public init(kind: Kind, deviceId: UUID? = nil, deviceTypeId: UUID? = nil, assetId: UUID? = nil, tag: String? = nil) {
        self.kind = kind
        self.deviceId = deviceId
        self.deviceTypeId = deviceTypeId
        self.assetId = assetId
        self.tag = tag
    }
}

/// Which side of a level fires.
public enum AlertComparison: String, Codable, Sendable, CaseIterable {
    case above, below
}

/// The aggregate a windowed condition compares.
public enum AlertAggregate: String, Codable, Sendable, CaseIterable {
    case avg, min, max, sum, count
}

/// The unit a rate of change is expressed in.
public enum AlertRateUnit: String, Codable, Sendable, CaseIterable {
    case perSecond, perMinute
}

/// When a rule's devices are in trouble; StreamProcessing evaluates it on the telemetry stream.
/// On the wire an object with a `type` (`threshold`, `rate`, `noData`, `window`, `anomaly`,
/// `all`, `any`) and that type's fields.
public indirect enum AlertCondition: Sendable, Equatable {
    /// The latest value of `metric` beyond `level`; clears only once it is back by `hysteresis`.
    case threshold(metric: String, comparison: AlertComparison, level: Double, hysteresis: Double)
    /// The change of `metric` per second or per minute beyond `level`.
    case rate(metric: String, comparison: AlertComparison, level: Double, unit: AlertRateUnit)
    /// No value of `metric` (or of any metric, when nil) for `seconds`.
    case noData(metric: String?, seconds: Int)
    /// `aggregate` of `metric` over the last `minutes` beyond `level`.
    case window(metric: String, aggregate: AlertAggregate, minutes: Int, comparison: AlertComparison, level: Double)
    /// The anomaly score of `metric` (0 to 1) above `level`.
    case anomaly(metric: String, level: Double)
    /// Every condition holds.
    case all([AlertCondition])
    /// At least one condition holds.
    case any([AlertCondition])

    /// The `type` each case has on the wire.
    public static let types = ["threshold", "rate", "noData", "window", "anomaly", "all", "any"]
}

extension AlertCondition: Codable {
    private enum Keys: String, CodingKey {
        case type, metric, comparison, level, hysteresis, unit, seconds, aggregate, minutes, conditions
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        let type = try container.decode(String.self, forKey: .type)
        switch type {
        case "threshold":
            self = .threshold(metric: try container.decode(String.self, forKey: .metric), comparison: try container.decode(AlertComparison.self, forKey: .comparison),
                              level: try container.decode(Double.self, forKey: .level), hysteresis: try container.decodeIfPresent(Double.self, forKey: .hysteresis) ?? 0)
        case "rate":
            self = .rate(metric: try container.decode(String.self, forKey: .metric), comparison: try container.decode(AlertComparison.self, forKey: .comparison),
                         level: try container.decode(Double.self, forKey: .level), unit: try container.decodeIfPresent(AlertRateUnit.self, forKey: .unit) ?? .perSecond)
        case "noData":
            self = .noData(metric: try container.decodeIfPresent(String.self, forKey: .metric), seconds: try container.decode(Int.self, forKey: .seconds))
        case "window":
            self = .window(metric: try container.decode(String.self, forKey: .metric), aggregate: try container.decode(AlertAggregate.self, forKey: .aggregate),
                           minutes: try container.decode(Int.self, forKey: .minutes), comparison: try container.decode(AlertComparison.self, forKey: .comparison),
                           level: try container.decode(Double.self, forKey: .level))
        case "anomaly":
            self = .anomaly(metric: try container.decode(String.self, forKey: .metric), level: try container.decode(Double.self, forKey: .level))
        case "all":
            self = .all(try container.decode([AlertCondition].self, forKey: .conditions))
        case "any":
            self = .any(try container.decode([AlertCondition].self, forKey: .conditions))
        default:
            throw DecodingError.dataCorruptedError(forKey: .type, in: container,
                                                   debugDescription: "unknown condition type '\(type)'; one of \(Self.types.joined(separator: ", "))")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        switch self {
        case let .threshold(metric, comparison, level, hysteresis):
            try container.encode("threshold", forKey: .type)
            try container.encode(metric, forKey: .metric)
            try container.encode(comparison, forKey: .comparison)
            try container.encode(level, forKey: .level)
            try container.encode(hysteresis, forKey: .hysteresis)
        case let .rate(metric, comparison, level, unit):
            try container.encode("rate", forKey: .type)
            try container.encode(metric, forKey: .metric)
            try container.encode(comparison, forKey: .comparison)
            try container.encode(level, forKey: .level)
            try container.encode(unit, forKey: .unit)
        case let .noData(metric, seconds):
            try container.encode("noData", forKey: .type)
            try container.encodeIfPresent(metric, forKey: .metric)
            try container.encode(seconds, forKey: .seconds)
        case let .window(metric, aggregate, minutes, comparison, level):
            try container.encode("window", forKey: .type)
            try container.encode(metric, forKey: .metric)
            try container.encode(aggregate, forKey: .aggregate)
            try container.encode(minutes, forKey: .minutes)
            try container.encode(comparison, forKey: .comparison)
            try container.encode(level, forKey: .level)
        case let .anomaly(metric, level):
            try container.encode("anomaly", forKey: .type)
            try container.encode(metric, forKey: .metric)
            try container.encode(level, forKey: .level)
        case let .all(conditions):
            try container.encode("all", forKey: .type)
            try container.encode(conditions, forKey: .conditions)
        case let .any(conditions):
            try container.encode("any", forKey: .type)
            try container.encode(conditions, forKey: .conditions)
        }
    }
}

/// An alert rule, as Alerts serves it and publishes it on `alerts.rules` (key: the rule id; a
/// deleted rule is a tombstone, a record without a value). StreamProcessing evaluates it.
public struct AlertRule: Codable, Sendable, Equatable {
    public var id: UUID
    /// The tenant that owns it.
    public var tenantId: UUID
    public var name: String
    public var description: String
    /// A disabled rule is kept but not evaluated.
    public var enabled: Bool
    public var scope: AlertScope
    public var condition: AlertCondition
    /// How long the condition must hold before the alert fires (0: at once).
    public var forSeconds: Int
    public var severity: AlertSeverity
    /// Copied onto every alert of the rule; used for grouping, silences and routing.
    public var labels: [String: String]
    /// Mustache templates of the notification's subject line and body.
    public var summaryTemplate: String
    public var messageTemplate: String
    /// The notification policy the alerts of this rule follow, when set.
    public var notificationPolicyId: UUID?
    /// The rule also applies to the devices of the owner's sub-tenants.
    public var appliesToSubTenants: Bool
    /// Increases with every change, so a consumer can tell an older copy from a newer one.
    public var revision: Int
    public var createdAt: Date
    public var updatedAt: Date

    /// Creates a rule.
    public init(id: UUID, tenantId: UUID, name: String, description: String, enabled: Bool, scope: AlertScope, condition: AlertCondition,
                forSeconds: Int, severity: AlertSeverity, labels: [String: String], summaryTemplate: String, messageTemplate: String,
                notificationPolicyId: UUID?, appliesToSubTenants: Bool, revision: Int, createdAt: Date, updatedAt: Date) {
        self.id = id
        self.tenantId = tenantId
        self.name = name
        self.description = description
        self.enabled = enabled
        self.scope = scope
        self.condition = condition
        self.forSeconds = forSeconds
        self.severity = severity
        self.labels = labels
        self.summaryTemplate = summaryTemplate
        self.messageTemplate = messageTemplate
        self.notificationPolicyId = notificationPolicyId
        self.appliesToSubTenants = appliesToSubTenants
        self.revision = revision
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}
