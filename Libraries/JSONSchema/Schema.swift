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
///
/// Evaluation is bounded: a schema whose references loop without descending into the instance
/// (`{"$ref":"#"}`) is refused when compiled, nesting deeper than ``maximumEvaluationDepth``
/// fails the instance instead of overflowing the stack, and each `pattern` match has a time
/// limit.
public final class CompiledSchema: Sendable {
    /// Subschemas entered within one another at most, per evaluation; a legitimate recursive
    /// schema goes one level deeper per level of the instance, which the JSON parser bounds.
    public static let maximumEvaluationDepth = 512

    let root: SchemaNode
    let dynamicAnchors: DynamicAnchorTable
    let needsAnnotations: Bool
    /// Every node of the graph: references hold their targets weakly (recursive schemas are
    /// cyclic graphs), so this array is what keeps them alive, and what frees them with the schema.
    let nodes: [SchemaNode]

    init(root: SchemaNode, dynamicAnchors: DynamicAnchorTable, needsAnnotations: Bool, nodes: [SchemaNode]) {
        self.root = root
        self.dynamicAnchors = dynamicAnchors
        self.needsAnnotations = needsAnnotations
        self.nodes = nodes
    }

    /// Compiles `schema`; `uri` is its retrieval URI when it has no `$id` of its own.
    /// - Throws: ``SchemaCompilationError`` for an unresolvable reference, an invalid keyword
    ///   value, or references that loop without descending into the instance.
    public convenience init(_ schema: JSON, uri: String = "urn:sensormine:schema", options: SchemaOptions = SchemaOptions()) throws {
        var compiler = SchemaCompiler(options: options)
        let (root, anchors, needsAnnotations) = try compiler.compile(schema, uri: uri)
        let nodes = compiler.compiledNodes + anchors.nodes.values
        try InPlaceCycles.check(nodes)
        self.init(root: root, dynamicAnchors: anchors, needsAnnotations: needsAnnotations, nodes: nodes)
    }

    /// Whether `instance` is valid; stops at the first failure.
    public func isValid(_ instance: JSON) -> Bool {
        var evaluator = Evaluator(collect: false, annotate: self.needsAnnotations, anchors: self.dynamicAnchors)
        return withExtendedLifetime(self) { evaluator.evaluate(self.root, instance).valid }
    }

    /// Every violation of `instance` (empty when valid).
    public func validate(_ instance: JSON) -> [SchemaViolation] {
        var evaluator = Evaluator(collect: true, annotate: self.needsAnnotations, anchors: self.dynamicAnchors)
        withExtendedLifetime(self) { _ = evaluator.evaluate(self.root, instance) }
        return evaluator.violations
    }
}

/// Finds subschemas that reach themselves through keywords applied to the same instance
/// location (`$ref`, `$dynamicRef`, `allOf`, `anyOf`, `oneOf`, `not`, `if`/`then`/`else`,
/// `dependentSchemas`): evaluating one never ends for some instance, so such a schema is refused.
enum InPlaceCycles {
    static func check(_ nodes: [SchemaNode]) throws(SchemaCompilationError) {
        enum Mark { case visiting, done }
        var marks: [ObjectIdentifier: Mark] = [:]
        // Iterative depth-first search: a deep schema must not overflow the stack here either.
        for start in nodes where marks[ObjectIdentifier(start)] == nil {
            var stack: [(node: SchemaNode, next: [(String, SchemaNode)], index: Int)] = [(start, self.inPlace(start), 0)]
            marks[ObjectIdentifier(start)] = .visiting
            while let top = stack.last {
                if top.index == top.next.count {
                    marks[ObjectIdentifier(top.node)] = .done
                    stack.removeLast()
                    continue
                }
                stack[stack.count - 1].index += 1
                let (keyword, target) = top.next[top.index]
                switch marks[ObjectIdentifier(target)] {
                case .visiting?:
                    throw SchemaCompilationError(location: top.node.location + "/" + keyword,
                                                 reason: "reaches \(target.location) again without descending into the instance, so evaluation would never end")
                case .done?:
                    continue
                case nil:
                    marks[ObjectIdentifier(target)] = .visiting
                    stack.append((target, self.inPlace(target), 0))
                }
            }
        }
    }

    /// The subschemas `node` applies to the same instance location, with the keyword.
    private static func inPlace(_ node: SchemaNode) -> [(String, SchemaNode)] {
        var next: [(String, SchemaNode)] = []
        for (keyword, check) in node.checks {
            switch check {
            case .reference(let slot), .dynamicReference(let slot, _):
                if let target = slot.node { next.append((keyword, target)) }
            case .allOf(let list), .anyOf(let list), .oneOf(let list):
                for (index, target) in list.enumerated() { next.append((keyword + "/\(index)", target)) }
            case .not(let target):
                next.append((keyword, target))
            case .conditional(let condition, let then, let otherwise):
                next.append(("if", condition))
                if let then { next.append(("then", then)) }
                if let otherwise { next.append(("else", otherwise)) }
            case .dependentSchemas(let map):
                for (name, target) in map.sorted(by: { $0.key < $1.key }) { next.append((keyword + "/" + JSONPointer.escape(name), target)) }
            default:
                continue
            }
        }
        return next
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
    /// Weak: references make recursive schemas cyclic; ``CompiledSchema/nodes`` owns the nodes.
    weak var node: SchemaNode?
}

/// A compiled regular expression (ECMA-262 `pattern`, run by ICU).
///
/// ICU backtracks, so a pattern such as `^(a+)+$` takes exponential time on some inputs; each
/// match therefore runs with ICU's progress callback and gives up after ``timeLimitMilliseconds``, so one
/// tenant's schema cannot stall a consumer shared with every other tenant.
// @unchecked Sendable: NSRegularExpression is immutable and documented thread-safe for matching.
final class CompiledPattern: @unchecked Sendable {
    /// The longest one match may take, in milliseconds.
    static let timeLimitMilliseconds: UInt64 = 20

    let expression: NSRegularExpression
    init(_ expression: NSRegularExpression) { self.expression = expression }

    /// Whether the pattern matches somewhere in `text`; nil when that could not be decided
    /// within ``timeLimitMilliseconds``.
    func matches(_ text: String) -> Bool? {
        var found = false
        var timedOut = false
        let deadline = DispatchTime.now().uptimeNanoseconds + Self.timeLimitMilliseconds * 1_000_000
        self.expression.enumerateMatches(in: text, options: [.reportProgress], range: NSRange(text.startIndex..., in: text)) { result, _, stop in
            if result != nil {
                found = true
                stop.pointee = true
            } else if DispatchTime.now().uptimeNanoseconds > deadline {
                timedOut = true
                stop.pointee = true
            }
        }
        return found ? true : timedOut ? nil : false
    }
}

/// One compiled keyword.
enum Check: Sendable {
    /// The allowed JSON types, and their names for messages.
    case types(JSONTypes, String)
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
    /// Sorted by name, so that violations come in a stable order.
    case properties([(name: String, node: SchemaNode)])
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

/// A set of JSON Schema types (`type`), tested against an instance without building its type name.
struct JSONTypes: OptionSet, Sendable {
    let rawValue: UInt8
    static let null = JSONTypes(rawValue: 1)
    static let boolean = JSONTypes(rawValue: 2)
    static let integer = JSONTypes(rawValue: 4)
    static let number = JSONTypes(rawValue: 8)
    static let string = JSONTypes(rawValue: 16)
    static let array = JSONTypes(rawValue: 32)
    static let object = JSONTypes(rawValue: 64)

    /// The type a `type` keyword names; nil for a name that is none (it then matches nothing).
    init?(name: String) {
        switch name {
        case "null": self = .null
        case "boolean": self = .boolean
        case "integer": self = .integer
        case "number": self = .number
        case "string": self = .string
        case "array": self = .array
        case "object": self = .object
        default: return nil
        }
    }

    init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Whether `instance` is of one of the types ("number" includes the integers).
    func admits(_ instance: JSON) -> Bool {
        switch instance {
        case .null: self.contains(.null)
        case .bool: self.contains(.boolean)
        case .number(let value): self.contains(.number) || (self.contains(.integer) && value.isFinite && value.rounded(.towardZero) == value)
        case .string: self.contains(.string)
        case .array: self.contains(.array)
        case .object: self.contains(.object)
        }
    }
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
