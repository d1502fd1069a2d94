import Foundation
import SensormineJSON

/// Turns schema documents into ``SchemaNode`` trees: references become slots filled from a
/// work list, so recursive schemas compile to cyclic graphs in one pass.
struct SchemaCompiler {
    static let validationKeywords: Set<String> = [
        "type", "enum", "const", "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum",
        "maxLength", "minLength", "pattern", "maxItems", "minItems", "uniqueItems", "maxContains", "minContains",
        "maxProperties", "minProperties", "required", "dependentRequired",
    ]
    static let validationVocabulary = "https://json-schema.org/draft/2020-12/vocab/validation"
    static let largestExactInteger: Double = 9_007_199_254_740_992

    let options: SchemaOptions
    var index: SchemaIndex
    private var nodes: [String: SchemaNode] = [:]
    private var pending: [(ReferenceSlot, SchemaLocation)] = []
    private var patterns: [String: CompiledPattern] = [:]
    private var vocabularies: [String: Bool] = [:]
    /// Meta-schemas whose `$vocabulary` turns on the format-assertion vocabulary.
    private var assertingMetaschemas: Set<String> = []
    static let formatAssertionVocabulary = "https://json-schema.org/draft/2020-12/vocab/format-assertion"
    private var needsAnnotations = false

    init(options: SchemaOptions) {
        self.options = options
        let loader = options.loader
        self.index = SchemaIndex { uri in
            if let builtIn = Metaschemas.all[uri] { return try? JSON.parse(builtIn) }
            return loader(uri)
        }
    }

    /// Every node compiled so far, in no particular order.
    var compiledNodes: [SchemaNode] { Array(self.nodes.values) }

    mutating func compile(_ schema: JSON, uri: String) throws(SchemaCompilationError) -> (SchemaNode, DynamicAnchorTable, Bool) {
        self.index.add(schema, uri: uri)
        var base = URIReference.withoutFragment(uri)
        if case .string(let id)? = schema["$id"] { base = URIReference.withoutFragment(URIReference.resolve(id, against: base)) }
        let rootLocation = SchemaLocation(base: base, pointer: "", schema: schema)
        let root = try self.node(rootLocation, validation: self.validationEnabled(for: rootLocation))
        var anchorNodes: [String: SchemaNode] = [:]
        var compiledAnchors = 0
        repeat {
            try self.drainPending()
            // Every dynamic anchor of every resource seen may be a $dynamicRef target at run time.
            compiledAnchors = anchorNodes.count
            for (resource, names) in self.index.dynamicAnchors {
                for name in names where anchorNodes[resource + "#" + name] == nil {
                    guard let location = self.index.locate(resource + "#" + name) else { continue }
                    anchorNodes[resource + "#" + name] = try self.node(location, validation: self.validationEnabled(for: location))
                }
            }
        } while anchorNodes.count != compiledAnchors || !self.pending.isEmpty
        return (root, DynamicAnchorTable(nodes: anchorNodes), self.needsAnnotations)
    }

    private mutating func drainPending() throws(SchemaCompilationError) {
        while let (slot, location) = self.pending.popLast() {
            slot.node = try self.node(location, validation: self.validationEnabled(for: location))
        }
    }

    /// Whether the validation vocabulary applies in the resource of `location` (its meta-schema
    /// may leave it out).
    private mutating func validationEnabled(for location: SchemaLocation) -> Bool {
        guard let resource = self.index.locate(location.base), case .string(let metaschema)? = resource.schema["$schema"] else { return true }
        if let known = self.vocabularies[metaschema] { return known }
        var enabled = true
        if let meta = self.index.locate(URIReference.withoutFragment(metaschema)), case .object(let vocabulary)? = meta.schema["$vocabulary"] {
            enabled = vocabulary[Self.validationVocabulary] != nil
            if vocabulary[Self.formatAssertionVocabulary] == .bool(true) { self.assertingMetaschemas.insert(metaschema) }
        }
        self.vocabularies[metaschema] = enabled
        return enabled
    }

    /// Whether the resource's meta-schema declares the format-assertion vocabulary as required.
    private mutating func assertsFormats(_ location: SchemaLocation) -> Bool {
        guard let resource = self.index.locate(location.base), case .string(let metaschema)? = resource.schema["$schema"] else { return false }
        _ = self.validationEnabled(for: location)
        return self.assertingMetaschemas.contains(metaschema)
    }

    private func fail(_ location: SchemaLocation, _ keyword: String, _ reason: String) -> SchemaCompilationError {
        SchemaCompilationError(location: location.key + "/" + keyword, reason: reason)
    }

    /// The node for `location`, compiled once.
    private mutating func node(_ location: SchemaLocation, validation inherited: Bool) throws(SchemaCompilationError) -> SchemaNode {
        if let node = self.nodes[location.key] { return node }
        let node = try self.build(location, validation: inherited)
        self.nodes[location.key] = node
        return node
    }

    private mutating func child(_ location: SchemaLocation, _ path: String, _ schema: JSON, validation: Bool) throws(SchemaCompilationError) -> SchemaNode {
        var childLocation = SchemaLocation(base: location.base, pointer: location.pointer + path, schema: schema)
        if case .string(let id)? = schema["$id"] {
            childLocation = SchemaLocation(base: URIReference.withoutFragment(URIReference.resolve(id, against: location.base)), pointer: "", schema: schema)
            return try self.node(childLocation, validation: self.validationEnabled(for: childLocation))
        }
        return try self.node(childLocation, validation: validation)
    }

    private mutating func pattern(_ source: String, _ location: SchemaLocation, _ keyword: String) throws(SchemaCompilationError) -> CompiledPattern {
        if let compiled = self.patterns[source] { return compiled }
        guard let expression = try? NSRegularExpression(pattern: ECMARegex.translate(source)) else {
            throw self.fail(location, keyword, "'\(source)' is not a valid regular expression")
        }
        let compiled = CompiledPattern(expression)
        self.patterns[source] = compiled
        return compiled
    }

    private mutating func reference(_ text: String, _ location: SchemaLocation, _ keyword: String) throws(SchemaCompilationError) -> (ReferenceSlot, SchemaLocation) {
        let absolute = URIReference.resolve(text, against: location.base)
        guard let target = self.index.locate(absolute) else {
            throw self.fail(location, keyword, "cannot resolve '\(text)' (as \(absolute))")
        }
        let slot = ReferenceSlot()
        if let existing = self.nodes[target.key] {
            slot.node = existing
        } else {
            self.pending.append((slot, target))
        }
        return (slot, target)
    }

    private mutating func build(_ location: SchemaLocation, validation: Bool) throws(SchemaCompilationError) -> SchemaNode {
        let where_ = location.key
        let members: [String: JSON]
        switch location.schema {
        case .bool(let value): return SchemaNode(always: value, checks: [], location: where_, base: location.base)
        case .object(let object): members = object
        default: throw SchemaCompilationError(location: where_, reason: "a schema must be an object or a boolean")
        }
        var checks: [(String, Check)] = []
        var late: [(String, Check)] = []

        func integer(_ keyword: String) throws(SchemaCompilationError) -> Int? {
            guard let value = members[keyword] else { return nil }
            // Integers beyond 2^53 lose precision as JSON numbers (and 1e400 reads as infinity).
            guard case .number(let number) = value, number >= 0, number.rounded() == number, number <= Self.largestExactInteger else {
                throw self.fail(location, keyword, "must be a non-negative integer no larger than 9007199254740992")
            }
            return Int(number)
        }
        func number(_ keyword: String) throws(SchemaCompilationError) -> Double? {
            guard let value = members[keyword] else { return nil }
            guard case .number(let number) = value, number.isFinite else { throw self.fail(location, keyword, "must be a finite number") }
            return number
        }

        if validation {
            if let type = members["type"] {
                switch type {
                case .string(let name): checks.append(("type", .types(JSONTypes(name: name) ?? [], name)))
                case .array(let names):
                    let list = names.compactMap(\.string)
                    let types = list.reduce(into: JSONTypes()) { types, name in types.formUnion(JSONTypes(name: name) ?? []) }
                    checks.append(("type", .types(types, Set(list).sorted().joined(separator: " or "))))
                default: throw self.fail(location, "type", "must be a string or an array of strings")
                }
            }
            if let values = members["enum"] {
                guard case .array(let list) = values else { throw self.fail(location, "enum", "must be an array") }
                checks.append(("enum", .enumeration(list)))
            }
            if let value = members["const"] { checks.append(("const", .constant(value))) }
            if let value = try number("multipleOf") {
                guard value > 0 else { throw self.fail(location, "multipleOf", "must be greater than 0") }
                checks.append(("multipleOf", .multipleOf(value)))
            }
            if let value = try number("maximum") { checks.append(("maximum", .maximum(value))) }
            if let value = try number("exclusiveMaximum") { checks.append(("exclusiveMaximum", .exclusiveMaximum(value))) }
            if let value = try number("minimum") { checks.append(("minimum", .minimum(value))) }
            if let value = try number("exclusiveMinimum") { checks.append(("exclusiveMinimum", .exclusiveMinimum(value))) }
            if let value = try integer("maxLength") { checks.append(("maxLength", .maxLength(value))) }
            if let value = try integer("minLength") { checks.append(("minLength", .minLength(value))) }
            if let value = members["pattern"] {
                guard case .string(let source) = value else { throw self.fail(location, "pattern", "must be a string") }
                checks.append(("pattern", .pattern(try self.pattern(source, location, "pattern"), source)))
            }
            if let value = try integer("maxItems") { checks.append(("maxItems", .maxItems(value))) }
            if let value = try integer("minItems") { checks.append(("minItems", .minItems(value))) }
            if case .bool(true)? = members["uniqueItems"] { checks.append(("uniqueItems", .uniqueItems)) }
            if let value = try integer("maxProperties") { checks.append(("maxProperties", .maxProperties(value))) }
            if let value = try integer("minProperties") { checks.append(("minProperties", .minProperties(value))) }
            if let value = members["required"] {
                guard let names = value.strings else { throw self.fail(location, "required", "must be an array of strings") }
                checks.append(("required", .required(names)))
            }
            if case .object(let map)? = members["dependentRequired"] {
                checks.append(("dependentRequired", .dependentRequired(map.mapValues { $0.strings ?? [] })))
            }
        }
        if case .string(let format)? = members["format"], self.options.assertFormats || self.assertsFormats(location) { checks.append(("format", .format(format))) }

        if case .string(let text)? = members["$ref"] {
            let (slot, _) = try self.reference(text, location, "$ref")
            checks.append(("$ref", .reference(slot)))
        }
        if case .string(let text)? = members["$dynamicRef"] {
            let (slot, target) = try self.reference(text, location, "$dynamicRef")
            let fragment = URIReference.split(text).1
            // Dynamic only when the static target itself declares the same dynamic anchor.
            let bookended = !fragment.isEmpty && !fragment.hasPrefix("/") && target.schema["$dynamicAnchor"]?.string == fragment
            checks.append(("$dynamicRef", .dynamicReference(slot, anchor: bookended ? fragment : nil)))
        }

        if case .object(let map)? = members["properties"] {
            var compiled: [(name: String, node: SchemaNode)] = []
            for (name, schema) in map.sorted(by: { $0.key < $1.key }) {
                compiled.append((name, try self.child(location, "/properties/" + JSONPointer.escape(name), schema, validation: validation)))
            }
            checks.append(("properties", .properties(compiled)))
        }
        var patternList: [CompiledPattern] = []
        if case .object(let map)? = members["patternProperties"] {
            var compiled: [(CompiledPattern, SchemaNode)] = []
            for (source, schema) in map.sorted(by: { $0.key < $1.key }) {
                let regex = try self.pattern(source, location, "patternProperties")
                patternList.append(regex)
                compiled.append((regex, try self.child(location, "/patternProperties/" + JSONPointer.escape(source), schema, validation: validation)))
            }
            checks.append(("patternProperties", .patternProperties(compiled)))
        }
        if let schema = members["additionalProperties"] {
            let names = Set(members["properties"]?.object?.keys.map { $0 } ?? [])
            checks.append(("additionalProperties", .additionalProperties(try self.child(location, "/additionalProperties", schema, validation: validation), names, patternList)))
        }
        if let schema = members["propertyNames"] { checks.append(("propertyNames", .propertyNames(try self.child(location, "/propertyNames", schema, validation: validation)))) }
        if case .object(let map)? = members["dependentSchemas"] {
            var compiled: [String: SchemaNode] = [:]
            for (name, schema) in map { compiled[name] = try self.child(location, "/dependentSchemas/" + JSONPointer.escape(name), schema, validation: validation) }
            checks.append(("dependentSchemas", .dependentSchemas(compiled)))
        }
        var prefixCount = 0
        if case .array(let list)? = members["prefixItems"] {
            var compiled: [SchemaNode] = []
            for (index, schema) in list.enumerated() { compiled.append(try self.child(location, "/prefixItems/\(index)", schema, validation: validation)) }
            prefixCount = compiled.count
            checks.append(("prefixItems", .prefixItems(compiled)))
        }
        if let schema = members["items"] { checks.append(("items", .items(try self.child(location, "/items", schema, validation: validation), prefix: prefixCount))) }
        if let schema = members["contains"] {
            let minimum = validation ? (try integer("minContains") ?? 1) : 1
            let maximum = validation ? try integer("maxContains") : nil
            checks.append(("contains", .contains(try self.child(location, "/contains", schema, validation: validation), minimum: minimum, maximum: maximum)))
        }
        for keyword in ["allOf", "anyOf", "oneOf"] {
            guard let value = members[keyword] else { continue }
            guard case .array(let list) = value, !list.isEmpty else { throw self.fail(location, keyword, "must be a non-empty array of schemas") }
            var compiled: [SchemaNode] = []
            for (index, schema) in list.enumerated() { compiled.append(try self.child(location, "/\(keyword)/\(index)", schema, validation: validation)) }
            checks.append((keyword, keyword == "allOf" ? .allOf(compiled) : keyword == "anyOf" ? .anyOf(compiled) : .oneOf(compiled)))
        }
        if let schema = members["not"] { checks.append(("not", .not(try self.child(location, "/not", schema, validation: validation)))) }
        if let schema = members["if"] {
            let condition = try self.child(location, "/if", schema, validation: validation)
            let then = try members["then"].map { (value) throws(SchemaCompilationError) in try self.child(location, "/then", value, validation: validation) }
            let otherwise = try members["else"].map { (value) throws(SchemaCompilationError) in try self.child(location, "/else", value, validation: validation) }
            checks.append(("if", .conditional(condition, then: then, else: otherwise)))
        }
        if let schema = members["unevaluatedProperties"] {
            self.needsAnnotations = true
            late.append(("unevaluatedProperties", .unevaluatedProperties(try self.child(location, "/unevaluatedProperties", schema, validation: validation))))
        }
        if let schema = members["unevaluatedItems"] {
            self.needsAnnotations = true
            late.append(("unevaluatedItems", .unevaluatedItems(try self.child(location, "/unevaluatedItems", schema, validation: validation))))
        }
        // Subschemas under $defs are compiled only when referenced.
        return SchemaNode(always: nil, checks: checks + late, location: where_, base: location.base)
    }
}
