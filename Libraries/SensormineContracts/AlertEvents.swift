import Foundation

/// Where an alert comes from: a rule StreamProcessing evaluates, or a check a service makes of
/// its own (Billing's quota warnings, a platform service's health).
public enum AlertSource: String, Codable, Sendable, CaseIterable {
    case rule, quota, system
}

/// What a producer of `alerts.triggered` says about one alert: it fires, or it is over. Alerts
/// keeps at most one open instance per key (``AlertEvent/dedupKey``): repeated triggers join it,
/// and `sequence` orders the events of a key, so a late copy of an older event changes nothing.
/// Kafka key: ``AlertEvent/partitionKey`` (the events of one key stay in order on one partition).
public struct AlertEvent: Codable, Sendable, Equatable {
    /// Whether the condition holds (trigger) or has cleared (resolve).
    public enum Action: String, Codable, Sendable, CaseIterable {
        case trigger, resolve
    }

    /// Unique per event (logs and tracing; deduplication is by key and sequence).
    public var eventId: UUID
    public var action: Action
    public var source: AlertSource
    public var tenantId: UUID
    /// The rule that fired (source `rule`).
    public var ruleId: UUID?
    /// The device it fired for, when it concerns one.
    public var deviceId: UUID?
    /// The producer's own key for alerts without a rule, e.g. `quota:api-calls` (source `quota` or `system`).
    public var key: String?
    /// Increases with every event of a key: the evaluation time in milliseconds serves.
    public var sequence: Int64
    /// When the condition was evaluated.
    public var occurredAt: Date
    /// For alerts without a rule (a rule's alerts take the rule's severity).
    public var severity: AlertSeverity?
    /// A one-line description for alerts without a rule (a rule's come from its templates).
    public var summary: String?
    /// Added to the rule's labels (grouping, silences, routing).
    public var labels: [String: String]
    /// The values that made the condition hold, by metric.
    public var values: [String: Double]
    /// The service that produced the event.
    public var producer: String

    /// Creates an event.
    public init(eventId: UUID = UUID(), action: Action, source: AlertSource, tenantId: UUID, ruleId: UUID? = nil, deviceId: UUID? = nil,
                key: String? = nil, sequence: Int64, occurredAt: Date, severity: AlertSeverity? = nil, summary: String? = nil,
                labels: [String: String] = [:], values: [String: Double] = [:], producer: String) {
        self.eventId = eventId
        self.action = action
        self.source = source
        self.tenantId = tenantId
        self.ruleId = ruleId
        self.deviceId = deviceId
        self.key = key
        self.sequence = sequence
        self.occurredAt = occurredAt
        self.severity = severity
        self.summary = summary
        self.labels = labels
        self.values = values
        self.producer = producer
    }

    /// What instances are deduplicated on within the tenant: `rule:<rule>:<device or ->` for a
    /// rule's alerts, `<source>:<key>` for the rest.
    public var dedupKey: String {
        switch self.source {
        case .rule: "rule:\(self.ruleId?.lowercasedString ?? "-"):\(self.deviceId?.lowercasedString ?? "-")"
        case .quota, .system: "\(self.source.rawValue):\(self.key ?? "-")"
        }
    }

    /// The Kafka key: tenant and dedup key.
    public var partitionKey: String { "\(self.tenantId.lowercasedString)/\(self.dedupKey)" }
}
