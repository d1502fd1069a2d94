import Foundation
import Mustache
import SensormineContracts
import SensormineCore
import SensormineJSON

/// Notification texts from Mustache templates (no partials: a template cannot include another,
/// so rendering is bounded by the template's own size).
enum AlertTemplates {
    static let defaultSummary = "[{{severity}}] {{summary}}"
    static let defaultMessage = """
        {{summary}}
        State: {{state}}{{#acknowledged}} (acknowledged){{/acknowledged}}
        Severity: {{severity}}
        Opened: {{openedAt}}
        {{#deviceId}}Device: {{deviceId}}
        {{/deviceId}}{{#values}}Values: {{values}}
        {{/values}}
        """

    /// Why `text` is not a template, or nil.
    static func problem(_ text: String) -> String? {
        do {
            _ = try MustacheTemplate(string: text)
            return nil
        } catch {
            return "not a valid Mustache template: \(error)"
        }
    }

    /// Renders `text` (the default when empty or invalid) with an alert's fields.
    static func render(_ text: String, fallback: String, alert: AlertInstance, ruleName: String?) -> String {
        let template = (try? MustacheTemplate(string: text.isEmpty ? fallback : text)) ?? (try? MustacheTemplate(string: fallback))
        return template?.render(self.fields(alert, ruleName: ruleName)) ?? alert.summary
    }

    /// What a template sees: `summary`, `severity`, `state`, `acknowledged`, `openedAt`,
    /// `resolvedAt`, `deviceId` (also `device.id`, as the default summary has it), `ruleId`,
    /// `source`, `triggerCount`, `labels.<name>`,
    /// `values` (as text) and `value.<metric>`, `rule.name`.
    static func fields(_ alert: AlertInstance, ruleName: String?) -> [String: Any] {
        var fields: [String: Any] = [
            "id": alert.id.lowercasedString, "summary": alert.summary, "severity": alert.severity.rawValue, "state": alert.state.rawValue,
            "acknowledged": alert.acknowledged, "openedAt": alert.openedAt.formatted(.iso8601), "source": alert.source.rawValue,
            "triggerCount": alert.triggerCount, "labels": alert.labels, "value": alert.values,
            "rule": ["name": ruleName ?? ""], "tenantId": alert.tenantId.lowercasedString,
        ]
        if let device = alert.deviceId {
            fields["deviceId"] = device.lowercasedString
            fields["device"] = ["id": device.lowercasedString]
        }
        if let rule = alert.ruleId { fields["ruleId"] = rule.lowercasedString }
        if let resolved = alert.resolvedAt { fields["resolvedAt"] = resolved.formatted(.iso8601) }
        if !alert.values.isEmpty {
            fields["values"] = alert.values.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
        }
        return fields
    }
}

extension FieldReader {
    /// Records a problem when `text` is not a Mustache template.
    mutating func template(_ text: String, at pointer: String) {
        if let problem = AlertTemplates.problem(text) { self.fail(pointer, problem) }
    }
}

/// Where notifications go: a webhook, e-mail addresses or phone numbers (SMS).
struct NotificationChannel: Codable, Sendable, Equatable {
    enum Kind: String, Codable, Sendable, CaseIterable {
        case webhook, email, sms
    }

    var id: UUID
    var tenantId: UUID
    var name: String
    var kind: Kind
    /// The webhook's URL (http or https).
    var url: String?
    /// E-mail addresses or E.164 phone numbers.
    var recipients: [String]
    var enabled: Bool
    var createdAt: Date
    /// The webhook's signing secret: shown once, when the channel is created.
    var secret: String?
}

/// A channel as a client writes it.
struct ChannelDefinition: Sendable, Equatable {
    var name: String
    var kind: NotificationChannel.Kind
    var url: String?
    var recipients: [String]
    var enabled: Bool
    /// A secret of the client's choosing (at least 16 characters), or nil for a generated one.
    var secret: String?

    static func parse(_ body: JSON) throws(AlertsError) -> ChannelDefinition {
        var reader = FieldReader()
        guard let members = body.object else { throw .invalid("the body must be a JSON object", [.init(pointer: "", detail: "expected an object")]) }
        let name = reader.text(members["name"], at: "/name", required: true, maximum: 200) ?? ""
        let kind = reader.choice(members["type"], at: "/type", NotificationChannel.Kind.self, required: true)
        let enabled = reader.bool(members["enabled"], at: "/enabled") ?? true
        var url: String?
        var recipients: [String] = []
        var secret: String?
        switch kind {
        case .webhook:
            url = reader.text(members["url"], at: "/url", required: true, maximum: 2_000)
            if let text = url, WebhookTarget.parse(text) == nil {
                reader.fail("/url", "expected an absolute http or https URL with a host")
                url = nil
            }
            secret = reader.text(members["secret"], at: "/secret", maximum: 200)
            if let text = secret, text.count < 16 { reader.fail("/secret", "at least 16 characters (or leave it out for a generated one)") }
        case .email, .sms:
            let pattern = kind == .email ? #"^[^@\s,;<>"]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$"# : #"^\+[1-9][0-9]{6,14}$"#
            if let items = members["recipients"]?.array, (1...20).contains(items.count) {
                for (index, item) in items.enumerated() {
                    guard let text = item.string, text.range(of: pattern, options: .regularExpression) != nil else {
                        reader.fail("/recipients/\(index)", kind == .email ? "expected an e-mail address" : "expected an E.164 phone number, e.g. +4915112345678")
                        continue
                    }
                    recipients.append(text)
                }
            } else {
                reader.fail("/recipients", "expected an array of 1 to 20 \(kind == .email ? "e-mail addresses" : "phone numbers")")
            }
        case nil:
            break
        }
        let known: Set<String> = ["name", "type", "enabled", "url", "secret", "recipients"]
        for key in members.keys.sorted() where !known.contains(key) { reader.fail("/" + key, "unknown field") }
        guard reader.errors.isEmpty, let kind else { throw .invalid("the channel is invalid (\(reader.errors.count) problem(s))", reader.errors) }
        return ChannelDefinition(name: name, kind: kind, url: url, recipients: recipients, enabled: enabled, secret: secret)
    }
}

/// One escalation level: who is notified, and how long after the previous level.
struct EscalationLevel: Codable, Sendable, Equatable {
    var channelIds: [UUID]
    /// Seconds after the previous level (for the first: after the alert opens) without acknowledgement.
    var delaySeconds: Int
}

/// How a rule's alerts are notified: escalation levels, repeats, grouping, resolved notices.
struct NotificationPolicy: Codable, Sendable, Equatable {
    var id: UUID
    var tenantId: UUID
    var name: String
    var levels: [EscalationLevel]
    /// Times the whole escalation runs again after its last level while unacknowledged.
    var repeatCount: Int
    /// Labels whose values put alerts in one group: a group's notifications go out as one message.
    var groupBy: [String]
    /// How long a group's later notifications wait to be sent together (the first goes at once).
    var groupWaitSeconds: Int
    /// While firing and unacknowledged after the escalation, notify again this often (0: never).
    var repeatIntervalSeconds: Int
    /// An acknowledged alert still firing after this long is unacknowledged and escalates again (0: never).
    var acknowledgementTimeoutSeconds: Int
    /// Whether channels notified of an alert hear when it resolves.
    var sendResolved: Bool
    /// Applies to the tenant's alerts that name no policy (service-raised ones included).
    var isDefault: Bool
}

/// A policy as a client writes it.
struct PolicyDefinition: Sendable, Equatable {
    var name: String
    var levels: [EscalationLevel]
    var repeatCount: Int
    var groupBy: [String]
    var groupWaitSeconds: Int
    var repeatIntervalSeconds: Int
    var acknowledgementTimeoutSeconds: Int
    var sendResolved: Bool
    var isDefault: Bool

    static func parse(_ body: JSON) throws(AlertsError) -> PolicyDefinition {
        var reader = FieldReader()
        guard let members = body.object else { throw .invalid("the body must be a JSON object", [.init(pointer: "", detail: "expected an object")]) }
        let day = 86_400
        let name = reader.text(members["name"], at: "/name", required: true, maximum: 200) ?? ""
        var levels: [EscalationLevel] = []
        if let items = members["levels"]?.array, (1...10).contains(items.count) {
            for (index, item) in items.enumerated() {
                let pointer = "/levels/\(index)"
                guard let level = item.object else { reader.fail(pointer, "expected an object"); continue }
                let delay = reader.integer(level["delaySeconds"], at: pointer + "/delaySeconds", range: 0...day) ?? 0
                var channels: [UUID] = []
                if let ids = level["channelIds"]?.array, (1...20).contains(ids.count) {
                    for (position, id) in ids.enumerated() {
                        if let channel = reader.uuid(id, at: "\(pointer)/channelIds/\(position)", required: true) { channels.append(channel) }
                    }
                } else {
                    reader.fail(pointer + "/channelIds", "expected an array of 1 to 20 channel ids")
                }
                for key in level.keys.sorted() where key != "delaySeconds" && key != "channelIds" { reader.fail(pointer + "/" + key, "unknown field") }
                levels.append(EscalationLevel(channelIds: channels, delaySeconds: delay))
            }
        } else {
            reader.fail("/levels", "expected an array of 1 to 10 escalation levels")
        }
        let repeatCount = reader.integer(members["repeatCount"], at: "/repeatCount", range: 0...100) ?? 0
        var groupBy: [String] = []
        if let value = members["groupBy"], value != .null {
            if let items = value.array, items.count <= 10 {
                for (index, item) in items.enumerated() {
                    guard let label = item.string, !label.isEmpty, label.count <= 100 else { reader.fail("/groupBy/\(index)", "expected a label name"); continue }
                    groupBy.append(label)
                }
            } else {
                reader.fail("/groupBy", "expected an array of at most 10 label names")
            }
        }
        let groupWait = reader.integer(members["groupWaitSeconds"], at: "/groupWaitSeconds", range: 0...3_600) ?? 30
        let repeatInterval = reader.integer(members["repeatIntervalSeconds"], at: "/repeatIntervalSeconds", range: 0...(30 * day)) ?? 0
        if repeatInterval > 0 && repeatInterval < 60 { reader.fail("/repeatIntervalSeconds", "0 (never) or at least 60") }
        let ackTimeout = reader.integer(members["acknowledgementTimeoutSeconds"], at: "/acknowledgementTimeoutSeconds", range: 0...(30 * day)) ?? 0
        if repeatCount > 0, levels.allSatisfy({ $0.delaySeconds == 0 }) { reader.fail("/repeatCount", "repeating needs a delay on at least one level") }
        let sendResolved = reader.bool(members["sendResolved"], at: "/sendResolved") ?? true
        let isDefault = reader.bool(members["default"], at: "/default") ?? false
        let known: Set<String> = ["name", "levels", "repeatCount", "groupBy", "groupWaitSeconds", "repeatIntervalSeconds", "acknowledgementTimeoutSeconds",
                                  "sendResolved", "default"]
        for key in members.keys.sorted() where !known.contains(key) { reader.fail("/" + key, "unknown field") }
        guard reader.errors.isEmpty else { throw .invalid("the notification policy is invalid (\(reader.errors.count) problem(s))", reader.errors) }
        return PolicyDefinition(name: name, levels: levels, repeatCount: repeatCount, groupBy: groupBy, groupWaitSeconds: groupWait,
                                repeatIntervalSeconds: repeatInterval, acknowledgementTimeoutSeconds: ackTimeout, sendResolved: sendResolved, isDefault: isDefault)
    }
}

/// Notifications of matching alerts are suppressed between `startsAt` and `endsAt` (a silence,
/// or a maintenance window); the alerts and their history are kept.
struct Silence: Codable, Sendable, Equatable {
    var id: UUID
    var tenantId: UUID
    /// Every label here must have this value on the alert.
    var labels: [String: String]
    var deviceId: UUID?
    var ruleId: UUID?
    var startsAt: Date
    var endsAt: Date
    var comment: String
    var createdBy: String
    var createdAt: Date

    /// Whether this silence covers `alert` at `time`.
    func covers(_ alert: AlertInstance, at time: Date) -> Bool {
        guard time >= self.startsAt, time < self.endsAt else { return false }
        if let device = self.deviceId, device != alert.deviceId { return false }
        if let rule = self.ruleId, rule != alert.ruleId { return false }
        return self.labels.allSatisfy { alert.labels[$0.key] == $0.value }
    }
}

/// A silence as a client writes it.
struct SilenceDefinition: Sendable, Equatable {
    var labels: [String: String]
    var deviceId: UUID?
    var ruleId: UUID?
    var startsAt: Date
    var endsAt: Date
    var comment: String

    static func parse(_ body: JSON, now: Date = Date()) throws(AlertsError) -> SilenceDefinition {
        var reader = FieldReader()
        guard let members = body.object else { throw .invalid("the body must be a JSON object", [.init(pointer: "", detail: "expected an object")]) }
        let labels = reader.labels(members["labels"], at: "/labels")
        let device = reader.uuid(members["deviceId"], at: "/deviceId")
        let rule = reader.uuid(members["ruleId"], at: "/ruleId")
        func time(_ key: String) -> Date? {
            guard let value = members[key], value != .null else { return nil }
            guard let text = value.string, let date = try? Date(text, strategy: .iso8601) else {
                reader.fail("/" + key, "expected an RFC 3339 date-time, e.g. 2026-01-31T12:00:00Z")
                return nil
            }
            return date
        }
        let startsAt = time("startsAt") ?? now
        let endsAt = time("endsAt")
        if members["endsAt"] == nil { reader.fail("/endsAt", "required") }
        if let endsAt, endsAt <= startsAt { reader.fail("/endsAt", "must be after startsAt") }
        if let endsAt, endsAt.timeIntervalSince(startsAt) > 366 * 86_400 { reader.fail("/endsAt", "a silence lasts at most a year") }
        if labels.isEmpty && device == nil && rule == nil { reader.fail("/labels", "a silence matches on labels, a device or a rule; give at least one") }
        let comment = reader.text(members["comment"], at: "/comment", maximum: 1_000) ?? ""
        let known: Set<String> = ["labels", "deviceId", "ruleId", "startsAt", "endsAt", "comment"]
        for key in members.keys.sorted() where !known.contains(key) { reader.fail("/" + key, "unknown field") }
        guard reader.errors.isEmpty, let endsAt else { throw .invalid("the silence is invalid (\(reader.errors.count) problem(s))", reader.errors) }
        return SilenceDefinition(labels: labels, deviceId: device, ruleId: rule, startsAt: startsAt, endsAt: endsAt, comment: comment)
    }
}

/// Where an alert's escalation stands: which level is due next, in which run of the policy.
enum EscalationPhase: String, Codable, Sendable {
    /// Notifying level after level while unacknowledged.
    case escalating
    /// The levels are done; re-notifying every repeat interval while firing and unacknowledged.
    case repeating
    /// Acknowledged; due when the acknowledgement times out.
    case acknowledged
    case done
}

/// What one due escalation step does: pure, so the policy's rules are tested without a database.
struct EscalationStep: Equatable {
    /// Channels to notify now, and the transition part of their idempotency key.
    var channels: [UUID] = []
    var keyPart = ""
    /// The alert's acknowledgement timed out: it is unacknowledged and escalates from the start.
    var unacknowledge = false
    var phase: EscalationPhase
    var nextLevel: Int
    var cycle: Int
    /// Seconds from now until the next step.
    var dueInSeconds: Int

    /// The step due for an alert in `state` (firing or not, acknowledged or not) under `policy`.
    static func next(phase: EscalationPhase, level: Int, cycle: Int, firing: Bool, acknowledged: Bool, policy: NotificationPolicy) -> EscalationStep {
        let done = EscalationStep(phase: .done, nextLevel: level, cycle: cycle, dueInSeconds: 0)
        guard firing, !policy.levels.isEmpty else { return done }
        switch phase {
        case .done:
            return done
        case .acknowledged:
            guard acknowledged else { return self.next(phase: .escalating, level: 0, cycle: 0, firing: firing, acknowledged: false, policy: policy) }
            guard policy.acknowledgementTimeoutSeconds > 0 else { return done }
            // The acknowledgement timed out while the alert still fires: start over.
            var step = self.next(phase: .escalating, level: 0, cycle: cycle + 1, firing: true, acknowledged: false, policy: policy)
            step.unacknowledge = true
            return step
        case .escalating, .repeating:
            guard !acknowledged else {
                return policy.acknowledgementTimeoutSeconds > 0
                    ? EscalationStep(phase: .acknowledged, nextLevel: 0, cycle: cycle, dueInSeconds: policy.acknowledgementTimeoutSeconds) : done
            }
            if phase == .repeating {
                var everyone: [UUID] = []
                for id in policy.levels.flatMap(\.channelIds) where !everyone.contains(id) { everyone.append(id) }
                return EscalationStep(channels: everyone, keyPart: "repeat-\(cycle)", phase: .repeating, nextLevel: 0, cycle: cycle + 1,
                                      dueInSeconds: policy.repeatIntervalSeconds)
            }
            let index = min(max(level, 0), policy.levels.count - 1)
            var step = EscalationStep(channels: policy.levels[index].channelIds, keyPart: "c\(cycle)-l\(index)", phase: .escalating,
                                      nextLevel: index + 1, cycle: cycle, dueInSeconds: 0)
            if index + 1 < policy.levels.count {
                step.dueInSeconds = policy.levels[index + 1].delaySeconds
            } else if cycle < policy.repeatCount {
                step.nextLevel = 0
                step.cycle = cycle + 1
                step.dueInSeconds = max(policy.levels[0].delaySeconds, policy.levels.map(\.delaySeconds).max() ?? 0)
            } else if policy.repeatIntervalSeconds > 0 {
                step.phase = .repeating
                step.cycle = 0
                step.dueInSeconds = policy.repeatIntervalSeconds
            } else {
                step.phase = .done
            }
            return step
        }
    }
}
