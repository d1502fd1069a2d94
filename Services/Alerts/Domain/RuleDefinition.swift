import Foundation
import SensormineContracts
import SensormineCore
import SensormineJSON

/// Alerts' domain failures.
typealias AlertsError = ServiceError

/// Who may do what with rules: viewers read, operators and tenant-admins write.
enum RulePolicy {
    static func checkRead(_ caller: CallerIdentity) throws(AlertsError) {
        guard caller.has(atLeast: .viewer) else { throw .forbidden("reading alert rules needs the viewer role") }
    }

    static func checkWrite(_ caller: CallerIdentity) throws(AlertsError) {
        guard caller.has(atLeast: .operator) else { throw .forbidden("changing alert rules needs the operator or tenant-admin role") }
    }
}

/// A rule as a client writes it (POST and PUT): everything but the identity, owner and history.
struct RuleDefinition: Sendable, Equatable {
    var name: String
    var description: String
    var enabled: Bool
    var scope: AlertScope
    var condition: AlertCondition
    var forSeconds: Int
    var severity: AlertSeverity
    var labels: [String: String]
    var summaryTemplate: String
    var messageTemplate: String
    var notificationPolicyId: UUID?
    var appliesToSubTenants: Bool

    static let maximumDurationSeconds = 30 * 24 * 3600
    static let maximumWindowMinutes = 24 * 60
    static let maximumConditions = 32
    static let maximumDepth = 4
    static let maximumLabels = 32

    /// Reads a request body, naming every field that is wrong by its JSON pointer.
    static func parse(_ body: JSON) throws(AlertsError) -> RuleDefinition {
        var reader = FieldReader()
        guard let members = body.object else { throw .invalid("the body must be a JSON object", [.init(pointer: "", detail: "expected an object")]) }
        let name = reader.text(members["name"], at: "/name", required: true, maximum: 200) ?? ""
        let description = reader.text(members["description"], at: "/description", maximum: 2_000) ?? ""
        let enabled = reader.bool(members["enabled"], at: "/enabled") ?? true
        let scope = reader.scope(members["scope"], at: "/scope")
        let condition = reader.condition(members["condition"], at: "/condition", depth: 1)
        let forSeconds = reader.integer(members["forSeconds"], at: "/forSeconds", range: 0...maximumDurationSeconds) ?? 0
        let severity = reader.choice(members["severity"], at: "/severity", AlertSeverity.self) ?? .warning
        let labels = reader.labels(members["labels"], at: "/labels")
        let summaryTemplate = reader.text(members["summaryTemplate"], at: "/summaryTemplate", maximum: 500) ?? "{{rule.name}} on {{device.id}}"
        let messageTemplate = reader.text(members["messageTemplate"], at: "/messageTemplate", maximum: 10_000) ?? ""
        reader.template(summaryTemplate, at: "/summaryTemplate")
        reader.template(messageTemplate, at: "/messageTemplate")
        let policy = reader.uuid(members["notificationPolicyId"], at: "/notificationPolicyId")
        let inherited = reader.bool(members["appliesToSubTenants"], at: "/appliesToSubTenants") ?? false
        let known: Set<String> = ["name", "description", "enabled", "scope", "condition", "forSeconds", "severity", "labels", "summaryTemplate",
                                  "messageTemplate", "notificationPolicyId", "appliesToSubTenants"]
        for key in members.keys.sorted() where !known.contains(key) {
            reader.fail("/" + key, "unknown field")
        }
        guard reader.errors.isEmpty, let scope, let condition else {
            throw .invalid("the alert rule is invalid (\(reader.errors.count) problem(s))", reader.errors)
        }
        return RuleDefinition(name: name, description: description, enabled: enabled, scope: scope, condition: condition, forSeconds: forSeconds,
                              severity: severity, labels: labels, summaryTemplate: summaryTemplate, messageTemplate: messageTemplate,
                              notificationPolicyId: policy, appliesToSubTenants: inherited)
    }
}

extension FieldReader {
    mutating func labels(_ value: JSON?, at pointer: String) -> [String: String] {
        guard let value, !(value == .null) else { return [:] }
        guard let members = value.object else { self.fail(pointer, "expected an object of strings"); return [:] }
        if members.count > RuleDefinition.maximumLabels { self.fail(pointer, "at most \(RuleDefinition.maximumLabels) labels") }
        var labels: [String: String] = [:]
        for (key, member) in members {
            let keyValid = !key.isEmpty && key.count <= 100 && key.allSatisfy { $0.isLetter || $0.isNumber || "_-.".contains($0) }
            if !keyValid { self.fail(pointer + "/" + key, "label names are 1-100 letters, digits, _ - or ."); continue }
            guard let text = member.string, text.count <= 500 else { self.fail(pointer + "/" + key, "expected a string of at most 500 characters"); continue }
            labels[key] = text
        }
        return labels
    }

    mutating func scope(_ value: JSON?, at pointer: String) -> AlertScope? {
        guard let value, let members = value.object else {
            self.fail(pointer, value == nil ? "required: which devices the rule watches" : "expected an object")
            return nil
        }
        guard let kind = self.choice(members["kind"], at: pointer + "/kind", AlertScope.Kind.self, required: true) else { return nil }
        let field: String = switch kind {
        case .device: "deviceId"
        case .deviceType: "deviceTypeId"
        case .asset: "assetId"
        case .tag: "tag"
        }
        for other in ["deviceId", "deviceTypeId", "assetId", "tag"] where other != field && members[other] != nil && members[other] != .null {
            self.fail(pointer + "/" + other, "not allowed in a '\(kind.rawValue)' scope (it uses \(field))")
        }
        for key in members.keys where !["kind", "deviceId", "deviceTypeId", "assetId", "tag"].contains(key) {
            self.fail(pointer + "/" + key, "unknown field")
        }
        switch kind {
        case .tag:
            guard let tag = self.text(members["tag"], at: pointer + "/tag", required: true, maximum: 100) else { return nil }
            return AlertScope(kind: .tag, tag: tag)
        case .device:
            guard let id = self.uuid(members["deviceId"], at: pointer + "/deviceId", required: true) else { return nil }
            return AlertScope(kind: .device, deviceId: id)
        case .deviceType:
            guard let id = self.uuid(members["deviceTypeId"], at: pointer + "/deviceTypeId", required: true) else { return nil }
            return AlertScope(kind: .deviceType, deviceTypeId: id)
        case .asset:
            guard let id = self.uuid(members["assetId"], at: pointer + "/assetId", required: true) else { return nil }
            return AlertScope(kind: .asset, assetId: id)
        }
    }

    mutating func condition(_ value: JSON?, at pointer: String, depth: Int) -> AlertCondition? {
        guard let value, let members = value.object else {
            self.fail(pointer, value == nil ? "required: when the rule fires" : "expected an object")
            return nil
        }
        guard let type = members["type"]?.string, AlertCondition.types.contains(type) else {
            self.fail(pointer + "/type", "unknown condition type; one of \(AlertCondition.types.joined(separator: ", "))")
            return nil
        }
        let allowed: Set<String> = switch type {
        case "threshold": ["type", "metric", "comparison", "level", "hysteresis"]
        case "rate": ["type", "metric", "comparison", "level", "unit"]
        case "noData": ["type", "metric", "seconds"]
        case "window": ["type", "metric", "aggregate", "minutes", "comparison", "level"]
        case "anomaly": ["type", "metric", "level"]
        default: ["type", "conditions"]
        }
        for key in members.keys.sorted() where !allowed.contains(key) {
            self.fail(pointer + "/" + key, "not a field of a '\(type)' condition")
        }
        switch type {
        case "threshold":
            let metric = self.metric(members["metric"], at: pointer + "/metric")
            let comparison = self.choice(members["comparison"], at: pointer + "/comparison", AlertComparison.self, required: true)
            let level = self.number(members["level"], at: pointer + "/level")
            let hysteresis = self.number(members["hysteresis"], at: pointer + "/hysteresis", required: false) ?? 0
            if hysteresis < 0 { self.fail(pointer + "/hysteresis", "must not be negative") }
            guard let metric, let comparison, let level, hysteresis >= 0 else { return nil }
            return .threshold(metric: metric, comparison: comparison, level: level, hysteresis: hysteresis)
        case "rate":
            let metric = self.metric(members["metric"], at: pointer + "/metric")
            let comparison = self.choice(members["comparison"], at: pointer + "/comparison", AlertComparison.self, required: true)
            let level = self.number(members["level"], at: pointer + "/level")
            let unit = self.choice(members["unit"], at: pointer + "/unit", AlertRateUnit.self) ?? .perSecond
            guard let metric, let comparison, let level else { return nil }
            return .rate(metric: metric, comparison: comparison, level: level, unit: unit)
        case "noData":
            let metric = self.metric(members["metric"], at: pointer + "/metric", required: false)
            let seconds = self.integer(members["seconds"], at: pointer + "/seconds", range: 1...RuleDefinition.maximumDurationSeconds, required: true)
            guard let seconds else { return nil }
            return .noData(metric: metric, seconds: seconds)
        case "window":
            let metric = self.metric(members["metric"], at: pointer + "/metric")
            let aggregate = self.choice(members["aggregate"], at: pointer + "/aggregate", AlertAggregate.self, required: true)
            let minutes = self.integer(members["minutes"], at: pointer + "/minutes", range: 1...RuleDefinition.maximumWindowMinutes, required: true)
            let comparison = self.choice(members["comparison"], at: pointer + "/comparison", AlertComparison.self, required: true)
            let level = self.number(members["level"], at: pointer + "/level")
            guard let metric, let aggregate, let minutes, let comparison, let level else { return nil }
            return .window(metric: metric, aggregate: aggregate, minutes: minutes, comparison: comparison, level: level)
        case "anomaly":
            let metric = self.metric(members["metric"], at: pointer + "/metric")
            let level = self.number(members["level"], at: pointer + "/level")
            if let level, !(0...1).contains(level) { self.fail(pointer + "/level", "an anomaly score level is between 0 and 1") }
            guard let metric, let level, (0...1).contains(level) else { return nil }
            return .anomaly(metric: metric, level: level)
        default:
            guard depth < RuleDefinition.maximumDepth else {
                self.fail(pointer, "conditions nest at most \(RuleDefinition.maximumDepth) deep")
                return nil
            }
            guard let items = members["conditions"]?.array, !items.isEmpty, items.count <= RuleDefinition.maximumConditions else {
                self.fail(pointer + "/conditions", "expected an array of 1 to \(RuleDefinition.maximumConditions) conditions")
                return nil
            }
            var parts: [AlertCondition] = []
            for (index, item) in items.enumerated() {
                if let part = self.condition(item, at: "\(pointer)/conditions/\(index)", depth: depth + 1) { parts.append(part) }
            }
            guard parts.count == items.count else { return nil }
            return type == "all" ? .all(parts) : .any(parts)
        }
    }
}
