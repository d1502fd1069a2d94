import ClientRuntime
import Foundation
import SensormineContracts

/// An alert as Alerts stores and serves it: one firing-then-resolved episode of a key.
struct AlertInstance: Codable, Sendable, Equatable {
    /// Firing until the condition clears (or someone resolves it by hand).
    enum State: String, Codable, Sendable, CaseIterable {
        case firing, resolved
    }

    var id: UUID
    var tenantId: UUID
    var source: AlertSource
    var dedupKey: String
    var ruleId: UUID?
    var deviceId: UUID?
    var severity: AlertSeverity
    var summary: String
    var labels: [String: String]
    var values: [String: Double]
    var state: State
    var acknowledged: Bool
    var acknowledgedBy: String?
    var acknowledgedAt: Date?
    var resolvedBy: String?
    var resolvedAt: Date?
    var openedAt: Date
    var lastTriggeredAt: Date
    /// Trigger events that joined this instance (the first included).
    var triggerCount: Int64
    /// It toggled too often: held firing until it has been quiet for the flapping window.
    var flapping: Bool
    /// When a resolve of a flapping alert arrived and was held.
    var heldResolveAt: Date?
}

/// One state change of an instance, kept for its history.
struct AlertTransition: Codable, Sendable, Equatable {
    enum Kind: String, Codable, Sendable, CaseIterable {
        case opened, acknowledged, unacknowledged, resolved, flapping
    }

    var instanceId: UUID
    var kind: Kind
    var at: Date
    /// Who: a user's subject, or the producer of the event.
    var actor: String
    var detail: String
}

/// When an alert counts as flapping: more than `maximumOpenings` openings of one key within `window`.
struct FlapPolicy: Sendable, Equatable {
    var maximumOpenings: Int
    var window: Duration

    static let standard = FlapPolicy(maximumOpenings: 5, window: .seconds(600))

    var windowSeconds: TimeInterval { TimeInterval(self.window.milliseconds) / 1000 }
}

/// The rule facts an event of source `rule` takes: its severity, labels and name.
struct RuleFacts: Sendable, Equatable {
    var tenantId: UUID
    var name: String
    var severity: AlertSeverity
    var labels: [String: String]
    var enabled: Bool
    var appliesToSubTenants: Bool
    var notificationPolicyId: UUID?
}

/// Checks what the producers of `alerts.triggered` send before it is stored: an event that fails
/// is logged and counted, never retried.
enum AlertEventCheck {
    static let maximumKeyLength = 200
    static let maximumLabels = 32
    static let maximumValues = 64
    static let maximumTextLength = 1_000

    /// Why `event` cannot be applied, or nil.
    static func problem(_ event: AlertEvent) -> String? {
        func text(_ value: String, _ name: String, maximum: Int = maximumTextLength) -> String? {
            if value.utf8.count > maximum { return "\(name) is longer than \(maximum) bytes" }
            if value.utf8.contains(0) { return "\(name) contains U+0000" }
            return nil
        }
        switch event.source {
        case .rule:
            if event.ruleId == nil { return "an event of source rule names no ruleId" }
        case .quota, .system:
            guard let key = event.key, !key.isEmpty else { return "an event of source \(event.source.rawValue) has no key" }
            if let problem = text(key, "key", maximum: maximumKeyLength) { return problem }
            if event.action == .trigger, event.severity == nil { return "a trigger of source \(event.source.rawValue) has no severity" }
        }
        if event.sequence < 0 { return "sequence is negative" }
        if let summary = event.summary, let problem = text(summary, "summary") { return problem }
        if let problem = text(event.producer, "producer", maximum: 100) { return problem }
        if event.labels.count > maximumLabels { return "more than \(maximumLabels) labels" }
        for (name, value) in event.labels {
            if let problem = text(name, "a label name", maximum: 100) ?? text(value, "label \(name.prefix(40))", maximum: 500) { return problem }
        }
        if event.values.count > maximumValues { return "more than \(maximumValues) values" }
        for (name, value) in event.values {
            if let problem = text(name, "a value's name", maximum: 200) { return problem }
            if !value.isFinite { return "value \(name.prefix(40)) is not a finite number" }
        }
        if !event.occurredAt.timeIntervalSince1970.isFinite || abs(event.occurredAt.timeIntervalSince1970) > 32_503_680_000 {
            return "occurredAt is out of range"
        }
        return nil
    }
}

/// The state of one key while a batch is applied: the highest sequence seen, the instance open
/// now, and when the key's recent instances opened (for flapping).
struct AlertKeyState: Sendable, Equatable {
    var lastSequence: Int64
    var open: AlertInstance?
    var recentOpenings: [Date]
}

/// Applies a key's events in order to its state: pure, so the rules of the lifecycle are tested
/// without a database, and a batch touches each key's rows once however many events it holds.
struct AlertKeyFold {
    let flapPolicy: FlapPolicy
    private(set) var state: AlertKeyState
    /// Every instance this fold created or changed, last version, in order of first change.
    private(set) var touched: [AlertInstance] = []
    private(set) var transitions: [AlertTransition] = []
    /// Events older than the key's last sequence (late copies), left unapplied.
    private(set) var stale = 0
    /// Triggers that joined the open instance.
    private(set) var joined = 0

    init(state: AlertKeyState, flapPolicy: FlapPolicy) {
        self.state = state
        self.flapPolicy = flapPolicy
    }

    /// Applies one event; `rule` is the rule of a `rule` event (nil: the event is not applied).
    mutating func apply(_ event: AlertEvent, rule: RuleFacts?) {
        guard event.sequence > self.state.lastSequence else {
            self.stale += 1
            return
        }
        self.state.lastSequence = event.sequence
        switch event.action {
        case .trigger: self.trigger(event, rule: rule)
        case .resolve: self.resolve(event)
        }
    }

    private mutating func trigger(_ event: AlertEvent, rule: RuleFacts?) {
        if var open = self.state.open {
            open.lastTriggeredAt = max(open.lastTriggeredAt, event.occurredAt)
            open.triggerCount += 1
            if !event.values.isEmpty { open.values = event.values }
            open.heldResolveAt = nil
            self.state.open = open
            self.joined += 1
            self.record(open)
            return
        }
        if event.source == .rule, rule?.enabled != true { return }
        var labels = rule?.labels ?? [:]
        labels.merge(event.labels) { _, new in new }
        let instance = AlertInstance(
            id: UUID(), tenantId: event.tenantId, source: event.source, dedupKey: event.dedupKey, ruleId: event.ruleId, deviceId: event.deviceId,
            severity: rule?.severity ?? event.severity ?? .warning, summary: event.summary ?? rule?.name ?? event.dedupKey, labels: labels,
            values: event.values, state: .firing, acknowledged: false, acknowledgedBy: nil, acknowledgedAt: nil, resolvedBy: nil, resolvedAt: nil,
            openedAt: event.occurredAt, lastTriggeredAt: event.occurredAt, triggerCount: 1, flapping: false, heldResolveAt: nil
        )
        self.state.open = instance
        self.state.recentOpenings.append(event.occurredAt)
        self.record(instance)
        self.transitions.append(AlertTransition(instanceId: instance.id, kind: .opened, at: event.occurredAt, actor: event.producer, detail: ""))
    }

    private mutating func resolve(_ event: AlertEvent) {
        guard var open = self.state.open else { return }
        let windowStart = event.occurredAt.addingTimeInterval(-self.flapPolicy.windowSeconds)
        let openings = self.state.recentOpenings.filter { $0 > windowStart && $0 <= event.occurredAt }.count
        if openings > self.flapPolicy.maximumOpenings {
            if !open.flapping {
                open.flapping = true
                self.transitions.append(AlertTransition(instanceId: open.id, kind: .flapping, at: event.occurredAt, actor: event.producer,
                                                        detail: "\(openings) openings within \(Int(self.flapPolicy.windowSeconds)) s; held firing"))
            }
            open.heldResolveAt = event.occurredAt
            self.state.open = open
            self.record(open)
            return
        }
        open.state = .resolved
        open.resolvedAt = event.occurredAt
        open.resolvedBy = event.producer
        open.heldResolveAt = nil
        self.state.open = nil
        self.record(open)
        self.transitions.append(AlertTransition(instanceId: open.id, kind: .resolved, at: event.occurredAt, actor: event.producer, detail: ""))
    }

    private mutating func record(_ instance: AlertInstance) {
        if let index = self.touched.firstIndex(where: { $0.id == instance.id }) {
            self.touched[index] = instance
        } else {
            self.touched.append(instance)
        }
    }
}
