import Foundation
import JSONSchema
import SensormineJSON
import Testing

/// Schemas a tenant may register and instances a device may send, chosen to crash, hang or
/// leak a validator shared by every tenant.
@Suite("Hostile schemas and instances")
struct HostileSchemaTests {
    @Test("references that loop without descending into the instance are refused, naming the place",
          arguments: [
            (##"{"$ref":"#"}"##, "/$ref"),
            (##"{"$defs":{"a":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"}"##, "/$defs/a/$ref"),
            (##"{"$defs":{"a":{"allOf":[{"$ref":"#/$defs/b"}]},"b":{"anyOf":[{"type":"string"},{"$ref":"#/$defs/a"}]}},"$ref":"#/$defs/a"}"##, "/$defs/"),
            (##"{"not":{"$ref":"#"}}"##, "/not"),
            (##"{"if":{"type":"string"},"then":{"$ref":"#"}}"##, "/then"),
            (##"{"dependentSchemas":{"a":{"$ref":"#"}}}"##, "/dependentSchemas/a"),
          ])
    func inPlaceCycles(schema: String, pointer: String) throws {
        let error = #expect(throws: SchemaCompilationError.self) { try CompiledSchema(try JSON.parse(schema)) }
        #expect(error?.location.contains(pointer) == true, "\(String(describing: error))")
        #expect(error?.reason.contains("never end") == true)
    }

    @Test("a recursive schema that descends (a tree of nodes) compiles and validates deep trees")
    func legitimateRecursion() throws {
        let schema = try CompiledSchema(try JSON.parse(#"""
            {"$defs":{"node":{"type":"object","required":["value"],"properties":{"value":{"type":"number"},
             "children":{"type":"array","items":{"$ref":"#/$defs/node"}}}}},"$ref":"#/$defs/node"}
            """#))
        var tree = JSON.object(["value": .number(0)])
        for depth in 1...60 { tree = .object(["value": .number(Double(depth)), "children": .array([tree])]) }
        #expect(schema.isValid(tree))
        var broken = JSON.object(["value": .string("x")])
        for depth in 1...60 { broken = .object(["value": .number(Double(depth)), "children": .array([broken])]) }
        #expect(!schema.isValid(broken))
        #expect(schema.validate(broken).first?.instanceLocation.hasSuffix("/children/0/value") == true)
    }

    @Test("nesting past the evaluation bound fails the instance instead of overflowing the stack")
    func evaluationDepthBound() throws {
        let schema = try CompiledSchema(try JSON.parse(##"{"items":{"allOf":[{"allOf":[{"allOf":[{"$ref":"#"}]}]}]}}"##))
        var instance = JSON.array([])
        for _ in 0..<400 { instance = .array([instance]) }
        #expect(!schema.isValid(instance))
        let violations = schema.validate(instance)
        #expect(violations.contains { $0.message.contains("nested deeper than \(CompiledSchema.maximumEvaluationDepth)") })
        var shallow = JSON.array([])
        for _ in 0..<100 { shallow = .array([shallow]) }
        #expect(schema.isValid(shallow))
    }

    @Test("keyword values out of range are compilation errors, never traps",
          arguments: [
            #"{"maxLength":1e300}"#, #"{"minLength":-1}"#, #"{"maxItems":1.5}"#,
            #"{"minProperties":9007199254740993000}"#, #"{"multipleOf":1e-400}"#, #"{"minContains":1e20,"contains":{}}"#,
          ])
    func keywordRanges(schema: String) throws {
        #expect(throws: SchemaCompilationError.self) { try CompiledSchema(try JSON.parse(schema)) }
    }

    @Test("a catastrophic pattern is given up within its time limit and fails the instance")
    func catastrophicPattern() throws {
        let schema = try CompiledSchema(try JSON.parse(#"{"type":"string","pattern":"^(a+)+$"}"#))
        let evil = JSON.string(String(repeating: "a", count: 50) + "b")
        let clock = ContinuousClock()
        var valid = true
        let elapsed = clock.measure { valid = schema.isValid(evil) }
        #expect(!valid)
        #expect(schema.validate(evil).first?.message.contains("within") == true)
        // Bounded by the time limit, not by 2^50 steps: a generous ceiling against a slow machine.
        #expect(elapsed < .seconds(2), "took \(elapsed)")
        #expect(schema.isValid(.string("aaaa")))
        let names = try CompiledSchema(try JSON.parse(#"{"patternProperties":{"^(a+)+$":{"type":"number"}}}"#))
        #expect(!names.isValid(.object([String(repeating: "a", count: 50) + "b": .string("x")])))
    }

    @Test("a recursive schema is freed once nothing holds it (its reference cycle does not leak)")
    func recursiveSchemaIsFreed() throws {
        weak var released: CompiledSchema?
        do {
            let schema = try CompiledSchema(try JSON.parse(##"{"type":"object","properties":{"next":{"$ref":"#"}}}"##))
            #expect(schema.isValid(.object(["next": .object(["next": .object([:])])])))
            released = schema
        }
        #expect(released == nil)
    }
}

extension HostileSchemaTests {
    @Test("numbers beyond a double are refused by the parser, not read as infinity", arguments: ["1e400", "-2e308", #"{"maxLength":1e400}"#, "[1,2e308]"])
    func numbersOutOfRange(text: String) {
        let error = #expect(throws: JSONParseError.self) { try JSON.parse(Array(text.utf8)) }
        #expect(error.map { "\($0)" }?.contains("range") == true)
    }
}
