import Foundation
import SensormineJSON

/// One violation: where in the instance, which keyword, and where that keyword is in the schema.
public struct SchemaViolation: Sendable, Equatable, Codable {
    /// JSON pointer into the instance.
    public var instanceLocation: String
    /// The keyword that failed (`type`, `required`, …).
    public var keyword: String
    /// Absolute location of the keyword: the resource's URI, `#`, and a JSON pointer.
    public var schemaLocation: String
    /// A human-readable explanation.
    public var message: String
}

/// Why a schema could not be compiled.
public struct SchemaCompilationError: Error, Equatable, CustomStringConvertible {
    /// JSON pointer to the offending place in the schema.
    public var location: String
    /// What is wrong.
    public var reason: String
    public var description: String { "\(self.location): \(self.reason)" }
}

/// How schemas are compiled.
public struct SchemaOptions: Sendable {
    /// Whether `format` asserts (the format-assertion vocabulary) rather than only annotates.
    public var assertFormats: Bool
    /// Documents other than the built-in meta-schemas, by absolute URI (remote references).
    public var loader: @Sendable (String) -> JSON?

    /// Creates options.
    public init(assertFormats: Bool = false, loader: @escaping @Sendable (String) -> JSON? = { _ in nil }) {
        self.assertFormats = assertFormats
        self.loader = loader
    }
}

/// A JSON Schema (draft 2020-12) compiled once into a tree of checks, then applied to many
/// instances without looking at the schema document again.
public final class CompiledSchema: Sendable {
    let root: SchemaNode
    let dynamicAnchors: DynamicAnchorTable
    let needsAnnotations: Bool

    init(root: SchemaNode, dynamicAnchors: DynamicAnchorTable, needsAnnotations: Bool) {
        self.root = root
        self.dynamicAnchors = dynamicAnchors
        self.needsAnnotations = needsAnnotations
    }

    /// Compiles `schema`; `uri` is its retrieval URI when it has no `$id` of its own.
    /// - Throws: ``SchemaCompilationError`` for an unresolvable reference or an invalid keyword value.
    public convenience init(_ schema: JSON, uri: String = "urn:sensormine:schema", options: SchemaOptions = SchemaOptions()) throws {
        var compiler = SchemaCompiler(options: options)
        let (root, anchors, needsAnnotations) = try compiler.compile(schema, uri: uri)
        self.init(root: root, dynamicAnchors: anchors, needsAnnotations: needsAnnotations)
    }

    /// Whether `instance` is valid; stops at the first failure.
    public func isValid(_ instance: JSON) -> Bool {
        var evaluator = Evaluator(collect: false, annotate: self.needsAnnotations, anchors: self.dynamicAnchors)
        return evaluator.evaluate(self.root, instance).valid
    }

    /// Every violation of `instance` (empty when valid).
    public func validate(_ instance: JSON) -> [SchemaViolation] {
        var evaluator = Evaluator(collect: true, annotate: self.needsAnnotations, anchors: self.dynamicAnchors)
        _ = evaluator.evaluate(self.root, instance)
        return evaluator.violations
    }
}

/// The schema for a dynamic anchor of each resource, for `$dynamicRef`.
final class DynamicAnchorTable: Sendable {
    let nodes: [String: SchemaNode]
    init(nodes: [String: SchemaNode]) { self.nodes = nodes }
}

/// A `$ref` target, filled once while compiling (references may point at nodes still being
/// built).
// @unchecked Sendable: `node` is written only by the compiler, before the CompiledSchema that
// owns it is returned; afterwards it is only read.
final class ReferenceSlot: @unchecked Sendable {
    var node: SchemaNode?
}

/// A compiled regular expression (ECMA-262 `pattern`, run by ICU).
// @unchecked Sendable: NSRegularExpression is immutable and documented thread-safe for matching.
final class CompiledPattern: @unchecked Sendable {
    let expression: NSRegularExpression
    init(_ expression: NSRegularExpression) { self.expression = expression }

    func matches(_ text: String) -> Bool {
        self.expression.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }
}

/// One compiled keyword.
enum Check: Sendable {
    case types(Set<String>)
    case enumeration([JSON])
    case constant(JSON)
    case multipleOf(Double)
    case maximum(Double), exclusiveMaximum(Double), minimum(Double), exclusiveMinimum(Double)
    case maxLength(Int), minLength(Int)
    case pattern(CompiledPattern, String)
    case maxItems(Int), minItems(Int), uniqueItems
    case maxProperties(Int), minProperties(Int)
    case required([String])
    case dependentRequired([String: [String]])
    case format(String)
    case properties([String: SchemaNode])
    case patternProperties([(CompiledPattern, SchemaNode)])
    case additionalProperties(SchemaNode, Set<String>, [CompiledPattern])
    case propertyNames(SchemaNode)
    case dependentSchemas([String: SchemaNode])
    case prefixItems([SchemaNode])
    case items(SchemaNode, prefix: Int)
    case contains(SchemaNode, minimum: Int, maximum: Int?)
    case allOf([SchemaNode]), anyOf([SchemaNode]), oneOf([SchemaNode])
    case not(SchemaNode)
    case conditional(SchemaNode, then: SchemaNode?, else: SchemaNode?)
    case reference(ReferenceSlot)
    case dynamicReference(ReferenceSlot, anchor: String?)
    case unevaluatedProperties(SchemaNode)
    case unevaluatedItems(SchemaNode)
}

/// A compiled subschema: `true`, `false`, or a list of checks, with its location for errors.
final class SchemaNode: Sendable {
    let always: Bool?
    let checks: [(keyword: String, check: Check)]
    let location: String
    /// The resource the subschema belongs to (pushed on the dynamic scope).
    let base: String

    init(always: Bool?, checks: [(keyword: String, check: Check)], location: String, base: String) {
        self.always = always
        self.checks = checks
        self.location = location
        self.base = base
    }
}
