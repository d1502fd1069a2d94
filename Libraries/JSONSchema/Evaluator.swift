import Foundation
import SensormineJSON

/// What a subschema evaluated, for `unevaluatedProperties` / `unevaluatedItems`.
struct Annotations {
    var properties: Set<String> = []
    var allProperties = false
    /// Items `0..<items` were evaluated (prefixItems/items).
    var items = 0
    var allItems = false
    var containsItems: Set<Int> = []

    mutating func merge(_ other: Annotations) {
        if other.allProperties { self.allProperties = true } else if !other.properties.isEmpty { self.properties.formUnion(other.properties) }
        self.items = max(self.items, other.items)
        if other.allItems { self.allItems = true }
        if !other.containsItems.isEmpty { self.containsItems.formUnion(other.containsItems) }
    }
}

/// What one subschema's earlier keywords found that a later keyword of the same subschema can use.
struct NodeProgress {
    /// How many of the instance's members `properties` named; -1 when it has not run.
    var namedMembersPresent = -1
}

/// One evaluation of an instance: the instance path and dynamic scope as stacks, violations when
/// collected, annotations only when the schema has an unevaluated* keyword.
///
/// The valid path of `isValid` allocates nothing per keyword: the instance path is kept only when
/// violations are collected, and the dynamic scope only when the schema has dynamic anchors.
struct Evaluator {
    let collect: Bool
    let annotate: Bool
    let anchors: DynamicAnchorTable
    private let tracksScope: Bool
    var violations: [SchemaViolation] = []
    private var path: [String] = []
    private var scope: [String] = []
    /// Subschemas entered and not yet left.
    private var depth = 0

    init(collect: Bool, annotate: Bool, anchors: DynamicAnchorTable) {
        self.collect = collect
        self.annotate = annotate
        self.anchors = anchors
        self.tracksScope = !anchors.nodes.isEmpty
    }

    private var instanceLocation: String { self.path.isEmpty ? "" : "/" + self.path.map(JSONPointer.escape).joined(separator: "/") }

    private mutating func report(_ node: SchemaNode, _ keyword: String, _ message: @autoclosure () -> String) {
        guard self.collect else { return }
        self.violations.append(SchemaViolation(instanceLocation: self.instanceLocation, keyword: keyword,
                                               schemaLocation: node.location + "/" + keyword, message: message()))
    }

    /// Evaluates `node` against `instance`; the result carries annotations only when valid.
    mutating func evaluate(_ node: SchemaNode, _ instance: JSON) -> (valid: Bool, annotations: Annotations) {
        if let always = node.always {
            if !always { self.report(node, "false", "no value is allowed here") }
            return (always, Annotations())
        }
        guard self.depth < CompiledSchema.maximumEvaluationDepth else {
            self.report(node, "$ref", "nested deeper than \(CompiledSchema.maximumEvaluationDepth) subschemas; evaluation stopped")
            return (false, Annotations())
        }
        self.depth += 1
        defer { self.depth -= 1 }
        let entered = self.tracksScope && self.scope.last != node.base
        if entered { self.scope.append(node.base) }
        defer { if entered { self.scope.removeLast() } }
        var valid = true
        var annotations = Annotations()
        var progress = NodeProgress()
        for (keyword, check) in node.checks {
            if !self.apply(check, keyword, node, instance, &annotations, &progress) {
                valid = false
                if !self.collect { return (false, Annotations()) }
            }
        }
        return (valid, valid ? annotations : Annotations())
    }

    /// Evaluates a branch whose failure is reported by the caller, not by the branch itself.
    private mutating func quietly(_ node: SchemaNode, _ instance: JSON) -> (valid: Bool, annotations: Annotations) {
        let mark = self.violations.count
        let result = self.evaluate(node, instance)
        if self.collect { self.violations.removeSubrange(mark...) }
        return result
    }

    private mutating func descend(_ component: @autoclosure () -> String, _ node: SchemaNode, _ instance: JSON) -> (valid: Bool, annotations: Annotations) {
        guard self.collect else { return self.evaluate(node, instance) }
        self.path.append(component())
        defer { self.path.removeLast() }
        return self.evaluate(node, instance)
    }

    private mutating func apply(_ check: Check, _ keyword: String, _ node: SchemaNode, _ instance: JSON,
                                _ annotations: inout Annotations, _ progress: inout NodeProgress) -> Bool {
        switch check {
        case .types(let types, let names):
            if types.admits(instance) { return true }
            self.report(node, keyword, "expected \(names), found \(instance.typeName)")
            return false
        case .enumeration(let values):
            if values.contains(instance) { return true }
            self.report(node, keyword, "must be one of the enumerated values")
            return false
        case .constant(let value):
            if value == instance { return true }
            self.report(node, keyword, "must equal \(value.canonicalText)")
            return false
        case .multipleOf(let divisor):
            guard case .number(let value) = instance else { return true }
            if NumberChecks.isMultiple(value, of: divisor) { return true }
            self.report(node, keyword, "must be a multiple of \(divisor)")
            return false
        case .maximum(let limit):
            guard case .number(let value) = instance, value > limit else { return true }
            self.report(node, keyword, "must be at most \(limit)")
            return false
        case .exclusiveMaximum(let limit):
            guard case .number(let value) = instance, value >= limit else { return true }
            self.report(node, keyword, "must be less than \(limit)")
            return false
        case .minimum(let limit):
            guard case .number(let value) = instance, value < limit else { return true }
            self.report(node, keyword, "must be at least \(limit)")
            return false
        case .exclusiveMinimum(let limit):
            guard case .number(let value) = instance, value <= limit else { return true }
            self.report(node, keyword, "must be greater than \(limit)")
            return false
        case .maxLength(let limit):
            // Never fewer bytes than characters: the count is needed only past the limit in bytes.
            guard case .string(let text) = instance, text.utf8.count > limit, text.unicodeScalars.count > limit else { return true }
            self.report(node, keyword, "must be at most \(limit) characters")
            return false
        case .minLength(let limit):
            // At most four bytes per character: enough bytes settle it without counting.
            guard case .string(let text) = instance, text.utf8.count / 4 < limit, text.unicodeScalars.count < limit else { return true }
            self.report(node, keyword, "must be at least \(limit) characters")
            return false
        case .pattern(let regex, let source):
            guard case .string(let text) = instance else { return true }
            switch regex.matches(text) {
            case true?: return true
            case false?: self.report(node, keyword, "must match \(source)")
            case nil: self.report(node, keyword, "could not be matched against \(source) within \(CompiledPattern.timeLimitMilliseconds) ms")
            }
            return false
        case .format(let name):
            guard let problem = Formats.problem(name, instance) else { return true }
            self.report(node, keyword, problem)
            return false
        case .maxItems(let limit):
            guard case .array(let items) = instance, items.count > limit else { return true }
            self.report(node, keyword, "must have at most \(limit) items")
            return false
        case .minItems(let limit):
            guard case .array(let items) = instance, items.count < limit else { return true }
            self.report(node, keyword, "must have at least \(limit) items")
            return false
        case .uniqueItems:
            guard case .array(let items) = instance, items.count > 1 else { return true }
            for first in 0..<(items.count - 1) {
                for second in (first + 1)..<items.count where items[first] == items[second] {
                    self.report(node, keyword, "items \(first) and \(second) are equal")
                    return false
                }
            }
            return true
        case .maxProperties(let limit):
            guard case .object(let members) = instance, members.count > limit else { return true }
            self.report(node, keyword, "must have at most \(limit) properties")
            return false
        case .minProperties(let limit):
            guard case .object(let members) = instance, members.count < limit else { return true }
            self.report(node, keyword, "must have at least \(limit) properties")
            return false
        case .required(let names):
            guard case .object(let members) = instance else { return true }
            var valid = true
            for name in names where members[name] == nil {
                self.report(node, keyword, "'\(name)' is required")
                valid = false
                if !self.collect { return false }
            }
            return valid
        case .dependentRequired(let map):
            guard case .object(let members) = instance else { return true }
            var valid = true
            for (trigger, names) in map where members[trigger] != nil {
                for name in names where members[name] == nil {
                    self.report(node, keyword, "'\(name)' is required when '\(trigger)' is present")
                    valid = false
                }
            }
            return valid
        case .properties(let schemas):
            guard case .object(let members) = instance else { return true }
            var valid = true
            var present = 0
            for (name, schema) in schemas {
                guard let value = members[name] else { continue }
                present += 1
                if self.descend(name, schema, value).valid {
                    if self.annotate { annotations.properties.insert(name) }
                } else {
                    valid = false
                    if !self.collect { return false }
                }
            }
            progress.namedMembersPresent = present
            return valid
        case .patternProperties(let list):
            guard case .object(let members) = instance else { return true }
            var valid = true
            for (name, value) in members {
                for (regex, schema) in list {
                    // A name the pattern cannot be decided for within the time limit is refused,
                    // never let past the subschema it might have to meet.
                    guard let matched = regex.matches(name) else {
                        self.path.append(name)
                        self.report(node, keyword, "the property name could not be matched within \(CompiledPattern.timeLimitMilliseconds) ms")
                        self.path.removeLast()
                        valid = false
                        if !self.collect { return false }
                        continue
                    }
                    guard matched else { continue }
                    if self.descend(name, schema, value).valid {
                        if self.annotate { annotations.properties.insert(name) }
                    } else {
                        valid = false
                        if !self.collect { return false }
                    }
                }
            }
            return valid
        case .additionalProperties(let schema, let named, let patterns):
            guard case .object(let members) = instance else { return true }
            // Every member was one `properties` named: none is additional (no lookups needed).
            if patterns.isEmpty && progress.namedMembersPresent == members.count { return true }
            var valid = true
            // A pattern that times out counts as not matching: the name then meets additionalProperties.
            for (name, value) in members where !named.contains(name) && !patterns.contains(where: { $0.matches(name) == true }) {
                if self.descend(name, schema, value).valid {
                    if self.annotate { annotations.properties.insert(name) }
                } else {
                    valid = false
                    if !self.collect { return false }
                }
            }
            return valid
        case .propertyNames(let schema):
            guard case .object(let members) = instance else { return true }
            var valid = true
            for name in members.keys where !self.descend(name, schema, .string(name)).valid {
                valid = false
                if !self.collect { return false }
            }
            return valid
        case .dependentSchemas(let map):
            guard case .object(let members) = instance else { return true }
            var valid = true
            for (trigger, schema) in map where members[trigger] != nil {
                let result = self.evaluate(schema, instance)
                if result.valid { annotations.merge(result.annotations) } else { valid = false }
            }
            return valid
        case .prefixItems(let schemas):
            guard case .array(let items) = instance else { return true }
            var valid = true
            for (index, schema) in schemas.enumerated() where index < items.count {
                if !self.descend(String(index), schema, items[index]).valid {
                    valid = false
                    if !self.collect { return false }
                }
            }
            if self.annotate { annotations.items = max(annotations.items, min(schemas.count, items.count)) }
            return valid
        case .items(let schema, let prefix):
            guard case .array(let items) = instance else { return true }
            var valid = true
            if prefix < items.count {
                for index in prefix..<items.count where !self.descend(String(index), schema, items[index]).valid {
                    valid = false
                    if !self.collect { return false }
                }
            }
            if self.annotate { annotations.allItems = true }
            return valid
        case .contains(let schema, let minimum, let maximum):
            guard case .array(let items) = instance else { return true }
            var matched = 0
            for (index, item) in items.enumerated() {
                self.path.append(String(index))
                let result = self.quietly(schema, item)
                self.path.removeLast()
                if result.valid {
                    matched += 1
                    if self.annotate { annotations.containsItems.insert(index) }
                }
            }
            if matched < minimum {
                self.report(node, keyword, "must contain at least \(minimum) matching item(s), found \(matched)")
                return false
            }
            if let maximum, matched > maximum {
                self.report(node, keyword, "must contain at most \(maximum) matching item(s), found \(matched)")
                return false
            }
            return true
        case .allOf(let schemas):
            var valid = true
            for schema in schemas {
                let result = self.evaluate(schema, instance)
                if result.valid { annotations.merge(result.annotations) } else {
                    valid = false
                    if !self.collect { return false }
                }
            }
            return valid
        case .anyOf(let schemas):
            var any = false
            for schema in schemas {
                let result = self.quietly(schema, instance)
                if result.valid {
                    any = true
                    annotations.merge(result.annotations)
                    if !self.annotate { break }
                }
            }
            if !any { self.report(node, keyword, "must match at least one of the subschemas") }
            return any
        case .oneOf(let schemas):
            var matches = 0
            var matched = Annotations()
            for schema in schemas {
                let result = self.quietly(schema, instance)
                if result.valid {
                    matches += 1
                    matched.merge(result.annotations)
                    if matches > 1 && !self.collect { break }
                }
            }
            if matches == 1 {
                annotations.merge(matched)
                return true
            }
            self.report(node, keyword, matches == 0 ? "must match exactly one subschema, matched none" : "must match exactly one subschema, matched \(matches)")
            return false
        case .not(let schema):
            if !self.quietly(schema, instance).valid { return true }
            self.report(node, keyword, "must not match the subschema")
            return false
        case .conditional(let condition, let then, let otherwise):
            let test = self.quietly(condition, instance)
            if test.valid {
                annotations.merge(test.annotations)
                guard let then else { return true }
                let result = self.evaluate(then, instance)
                if result.valid { annotations.merge(result.annotations) }
                return result.valid
            }
            guard let otherwise else { return true }
            let result = self.evaluate(otherwise, instance)
            if result.valid { annotations.merge(result.annotations) }
            return result.valid
        case .reference(let slot):
            guard let target = slot.node else { return true }
            let result = self.evaluate(target, instance)
            if result.valid { annotations.merge(result.annotations) }
            return result.valid
        case .dynamicReference(let slot, let anchor):
            var target = slot.node
            if let anchor {
                // The outermost resource in the dynamic scope that declares the anchor wins.
                for resource in self.scope {
                    if let found = self.anchors.nodes[resource + "#" + anchor] {
                        target = found
                        break
                    }
                }
            }
            guard let target else { return true }
            let result = self.evaluate(target, instance)
            if result.valid { annotations.merge(result.annotations) }
            return result.valid
        case .unevaluatedProperties(let schema):
            guard case .object(let members) = instance, !annotations.allProperties else { return true }
            var valid = true
            for (name, value) in members where !annotations.properties.contains(name) {
                if self.descend(name, schema, value).valid {
                    annotations.properties.insert(name)
                } else {
                    valid = false
                    if !self.collect { return false }
                }
            }
            return valid
        case .unevaluatedItems(let schema):
            guard case .array(let items) = instance, !annotations.allItems else { return true }
            var valid = true
            for index in annotations.items..<max(annotations.items, items.count) where !annotations.containsItems.contains(index) {
                if !self.descend(String(index), schema, items[index]).valid {
                    valid = false
                    if !self.collect { return false }
                }
            }
            if valid { annotations.allItems = true }
            return valid
        }
    }
}

/// Number rules shared by the validator and schema tooling.
public enum NumberChecks {
    /// Whether `value` is an integer multiple of `divisor`, tolerating binary rounding of
    /// decimal fractions (0.0075 is a multiple of 0.0001).
    public static func isMultiple(_ value: Double, of divisor: Double) -> Bool {
        let quotient = value / divisor
        guard quotient.isFinite else { return false }
        if value.rounded() == value, divisor.rounded() == divisor, abs(value) < 9e15 {
            return Int64(value) % Int64(divisor) == 0
        }
        let nearest = quotient.rounded()
        return abs(quotient - nearest) <= 1e-9 * max(1, abs(quotient))
    }
}
