import Foundation
import JSONSchema
import SensormineJSON

/// How a subject's new versions must relate to its earlier ones.
enum CompatibilityMode: String, Codable, Sendable, CaseIterable {
    case backward = "BACKWARD", backwardTransitive = "BACKWARD_TRANSITIVE"
    case forward = "FORWARD", forwardTransitive = "FORWARD_TRANSITIVE"
    case full = "FULL", fullTransitive = "FULL_TRANSITIVE"
    case none = "NONE"

    /// Whether every earlier version is checked, or only the latest.
    var transitive: Bool { [.backwardTransitive, .forwardTransitive, .fullTransitive].contains(self) }
    /// New readers must accept old data.
    var checksBackward: Bool { [.backward, .backwardTransitive, .full, .fullTransitive].contains(self) }
    /// Old readers must accept new data.
    var checksForward: Bool { [.forward, .forwardTransitive, .full, .fullTransitive].contains(self) }
}

/// One change that breaks compatibility, located by a JSON pointer into the schema.
struct BreakingChange: Codable, Sendable, Equatable {
    var pointer: String
    var kind: String
    var message: String
    /// BACKWARD or FORWARD: which direction the change breaks, and against which version.
    var direction: String
    var version: Int
}

/// Compares two schemas structurally: what data one accepts that the other refuses, over the
/// keywords telemetry schemas use (types, enums, bounds, lengths, patterns, required,
/// properties, additionalProperties, items). Composition keywords are compared as a whole.
enum CompatibilityChecker {
    /// Changes that make `reader` refuse data `writer` accepts.
    static func changes(writer: JSON, reader: JSON, pointer: String = "") -> [(pointer: String, kind: String, message: String)] {
        if case .bool(true) = reader { return [] }
        if case .bool(false) = writer { return [] }
        if case .bool(false) = reader { return [(pointer, "schema-false", "the schema now accepts nothing")] }
        let w = writer.object ?? [:]
        let r = reader.object ?? [:]
        var found: [(String, String, String)] = []

        let writerTypes = Self.types(w["type"])
        let readerTypes = Self.types(r["type"])
        if let readerTypes {
            let lost = (writerTypes ?? ["null", "boolean", "number", "string", "array", "object"]).filter { type in
                !(readerTypes.contains(type) || (type == "integer" && readerTypes.contains("number")))
            }
            if !lost.isEmpty { found.append((pointer + "/type", "type-narrowed", "no longer accepts \(lost.sorted().joined(separator: ", "))")) }
        }
        if let readerEnum = r["enum"]?.array {
            if let writerEnum = w["enum"]?.array {
                let removed = writerEnum.filter { !readerEnum.contains($0) }
                if !removed.isEmpty { found.append((pointer + "/enum", "enum-narrowed", "no longer accepts \(removed.map(\.canonicalText).joined(separator: ", "))")) }
            } else {
                found.append((pointer + "/enum", "enum-added", "now restricts values to an enumeration"))
            }
        }
        if let readerConst = r["const"], w["const"] != readerConst {
            found.append((pointer + "/const", "const-changed", "now requires the value \(readerConst.canonicalText)"))
        }
        for (keyword, tighter) in [("minimum", ">"), ("exclusiveMinimum", ">"), ("minLength", ">"), ("minItems", ">"), ("minProperties", ">"),
                                   ("maximum", "<"), ("exclusiveMaximum", "<"), ("maxLength", "<"), ("maxItems", "<"), ("maxProperties", "<")] {
            guard let readerBound = r[keyword]?.number else { continue }
            let writerBound = w[keyword]?.number
            let narrowed = writerBound.map { tighter == ">" ? readerBound > $0 : readerBound < $0 } ?? true
            if narrowed {
                let from = writerBound.map { "\($0)" } ?? "none"
                found.append((pointer + "/" + keyword, "\(keyword)-tightened", "\(keyword) changed from \(from) to \(readerBound)"))
            }
        }
        if let readerPattern = r["pattern"]?.string, w["pattern"]?.string != readerPattern {
            found.append((pointer + "/pattern", "pattern-changed", "values must now match \(readerPattern)"))
        }
        if let readerMultiple = r["multipleOf"]?.number, w["multipleOf"]?.number.map({ NumberChecks.isMultiple($0, of: readerMultiple) }) != true {
            found.append((pointer + "/multipleOf", "multipleOf-tightened", "values must now be multiples of \(readerMultiple)"))
        }
        let writerRequired = Set(w["required"]?.strings ?? [])
        for name in (r["required"]?.strings ?? []) where !writerRequired.contains(name) {
            found.append((pointer + "/required", "required-added", "property '\(name)' became required"))
        }
        let writerProperties = w["properties"]?.object ?? [:]
        let readerProperties = r["properties"]?.object ?? [:]
        for (name, readerProperty) in readerProperties.sorted(by: { $0.key < $1.key }) {
            let child = pointer + "/properties/" + JSONPointer.escape(name)
            if let writerProperty = writerProperties[name] {
                found += Self.changes(writer: writerProperty, reader: readerProperty, pointer: child).map { ($0.pointer, $0.kind, "'\(name)': \($0.message)") }
            } else if let writerAdditional = w["additionalProperties"], writerAdditional != .bool(true) {
                found += Self.changes(writer: writerAdditional, reader: readerProperty, pointer: child).map { ($0.pointer, $0.kind, "'\(name)': \($0.message)") }
            }
        }
        let readerAdditional = r["additionalProperties"]
        if let readerAdditional, readerAdditional != .bool(true) {
            for (name, writerProperty) in writerProperties.sorted(by: { $0.key < $1.key }) where readerProperties[name] == nil {
                let child = pointer + "/properties/" + JSONPointer.escape(name)
                if readerAdditional == .bool(false) {
                    found.append((child, "property-removed", "property '\(name)' was removed and additional properties are not allowed"))
                } else {
                    found += Self.changes(writer: writerProperty, reader: readerAdditional, pointer: child).map { ($0.pointer, $0.kind, "'\(name)': \($0.message)") }
                }
            }
            if w["additionalProperties"] == nil || w["additionalProperties"] == .bool(true) {
                found.append((pointer + "/additionalProperties", "additional-properties-closed", "properties the schema does not name are no longer allowed"))
            }
        }
        if let readerItems = r["items"] {
            found += Self.changes(writer: w["items"] ?? .bool(true), reader: readerItems, pointer: pointer + "/items")
        }
        for keyword in ["allOf", "anyOf", "oneOf", "not", "if", "then", "else", "$ref"] where r[keyword] != nil && r[keyword] != w[keyword] {
            found.append((pointer + "/" + keyword, "\(keyword)-changed", "'\(keyword)' changed; its effect on old data cannot be proven compatible"))
        }
        return found
    }

    private static func types(_ value: JSON?) -> Set<String>? {
        switch value {
        case .string(let name)?: [name]
        case .array(let names)?: Set(names.compactMap(\.string))
        default: nil
        }
    }

    /// Breaking changes of `candidate` against the earlier `versions` (oldest first) under `mode`.
    static func check(_ candidate: JSON, against versions: [(version: Int, schema: JSON)], mode: CompatibilityMode) -> [BreakingChange] {
        guard mode != .none, let latest = versions.last else { return [] }
        let targets = mode.transitive ? versions : [latest]
        var result: [BreakingChange] = []
        for target in targets {
            if mode.checksBackward {
                result += self.changes(writer: target.schema, reader: candidate).map {
                    BreakingChange(pointer: $0.pointer, kind: $0.kind, message: $0.message, direction: "BACKWARD", version: target.version)
                }
            }
            if mode.checksForward {
                result += self.changes(writer: candidate, reader: target.schema).map {
                    BreakingChange(pointer: $0.pointer, kind: $0.kind, message: $0.message, direction: "FORWARD", version: target.version)
                }
            }
        }
        return result
    }
}
