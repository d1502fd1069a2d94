import Foundation
import JSONSchema
import SensormineJSON
import Testing

@Suite("JSON Schema validator")
struct ValidatorTests {
    static let telemetry = try! JSON.parse(#"""
    {
      "type": "object",
      "required": ["deviceId", "time", "temperature"],
      "properties": {
        "deviceId": {"type": "string", "format": "uuid"},
        "time": {"type": "string", "format": "date-time"},
        "temperature": {"type": "number", "minimum": -50, "maximum": 900},
        "pressure": {"type": "number", "exclusiveMinimum": 0},
        "status": {"enum": ["running", "idle", "fault"]},
        "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": true}
      },
      "additionalProperties": false
    }
    """#)

    @Test("every violation is reported with instance location, keyword and schema location")
    func violations() throws {
        let schema = try CompiledSchema(Self.telemetry, uri: "https://schemas.sensormine.local/gas-turbine/1")
        let instance = try JSON.parse(#"{"deviceId": 7, "temperature": 1200, "status": "exploded", "tags": ["a", "a"], "extra": true}"#)
        let violations = schema.validate(instance)
        let summary = Set(violations.map { "\($0.instanceLocation) \($0.keyword)" })
        #expect(summary == ["/deviceId type", "/temperature maximum", "/status enum", "/tags uniqueItems", " required", "/extra false"])
        let maximum = try #require(violations.first { $0.keyword == "maximum" })
        #expect(maximum.schemaLocation == "https://schemas.sensormine.local/gas-turbine/1#/properties/temperature/maximum")
        #expect(maximum.message.contains("900"))
        #expect(!schema.isValid(instance))
        #expect(schema.isValid(try JSON.parse(#"{"deviceId": "x", "time": "t", "temperature": 20}"#)), "format only annotates by default")
    }

    @Test("format assertions, when enabled, check each supported format")
    func formats() throws {
        let cases: [(String, String, Bool)] = [
            ("date-time", "2026-11-23T04:55:00Z", true), ("date-time", "2026-11-23 04:55", false), ("date-time", "2026-02-30T00:00:00Z", false),
            ("date", "2024-02-29", true), ("date", "2023-02-29", false), ("time", "23:59:60Z", true), ("time", "24:00:00Z", false),
            ("duration", "P1DT2H", true), ("duration", "PT", false), ("duration", "P2W", true),
            ("email", "ops@plant.example.com", true), ("email", "ops@@example.com", false),
            ("hostname", "edge-01.plant.local", true), ("hostname", "-bad.example", false),
            ("ipv4", "192.168.0.1", true), ("ipv4", "256.1.1.1", false), ("ipv4", "01.2.3.4", false),
            ("ipv6", "2001:db8::1", true), ("ipv6", "::ffff:192.168.0.1", true), ("ipv6", "1:2:3", false),
            ("uri", "mqtt://broker:1883/topic", true), ("uri", "relative/path", false), ("uri-reference", "relative/path", true),
            ("uuid", "2a5a4d5e-9c1b-4f3e-8a7d-1234567890ab", true), ("uuid", "2a5a4d5e9c1b4f3e8a7d1234567890ab", false),
            ("regex", "^[a-z]+$", true), ("regex", "([a-z", false), ("json-pointer", "/a~1b/0", true), ("json-pointer", "/a~2", false),
        ]
        for (format, value, expected) in cases {
            let schema = try CompiledSchema(.object(["format": .string(format)]), options: SchemaOptions(assertFormats: true))
            #expect(schema.isValid(.string(value)) == expected, "\(format) \(value)")
        }
        let unknown = try CompiledSchema(.object(["format": .string("x-custom")]), options: SchemaOptions(assertFormats: true))
        #expect(unknown.isValid(.string("anything")))
    }

    @Test("an invalid schema or an unresolvable reference is a compilation error naming the place")
    func compilationErrors() {
        let badPattern = #expect(throws: SchemaCompilationError.self) { try CompiledSchema(try JSON.parse(#"{"properties": {"a": {"pattern": "(["}}}"#)) }
        #expect(badPattern?.location.hasSuffix("/properties/a/pattern") == true)
        let badReference = #expect(throws: SchemaCompilationError.self) { try CompiledSchema(try JSON.parse(##"{"$ref": "#/$defs/missing"}"##)) }
        #expect(badReference?.reason.contains("#/$defs/missing") == true)
        #expect(throws: SchemaCompilationError.self) { try CompiledSchema(try JSON.parse(#"{"minimum": "ten"}"#)) }
    }

    @Test("the parser refuses what is not JSON and says where")
    func parser() throws {
        for text in ["{", "[1,]", "{\"a\" 1}", "01", "\"\\x\"", "tru", "1 2", "\"\u{01}\""] {
            #expect(throws: JSONParseError.self, "\(text)") { try JSON.parse(text) }
        }
        let error = #expect(throws: JSONParseError.self) { try JSON.parse("[1, 2, x]") }
        #expect(error?.offset == 7)
        #expect(try JSON.parse(#"{"a":[1,2.5,-3e2,true,null,"\u00e9\ud83d\ude00"]}"#)
                == .object(["a": .array([.number(1), .number(2.5), .number(-300), .bool(true), .null, .string("é😀")])]))
        let deep = String(repeating: "[", count: 300) + String(repeating: "]", count: 300)
        #expect(throws: JSONParseError.self) { try JSON.parse(deep) }
        #expect(try JSON.parse(#"{"b":1,"a":[true,"x"]}"#).canonicalText == #"{"a":[true,"x"],"b":1}"#)
    }

    @Test("a top-level array's elements come back as the bytes they were sent as, nested arrays whole")
    func elements() throws {
        let text = " [ {\"b\": 1, \"a\": [2, [3]]} ,\n\t\"x\\\"]\" , 4e1,[ ] ] "
        let (document, elements) = try JSON.parseElements(Array(text.utf8))
        #expect(document == (try JSON.parse(text)))
        #expect(elements?.map { String(decoding: $0, as: UTF8.self) } == [#"{"b": 1, "a": [2, [3]]}"#, #""x\"]""#, "4e1", "[ ]"])
        #expect(try JSON.parseElements(Array("[]".utf8)).elements?.isEmpty == true)
        #expect(try JSON.parseElements(Array(#"{"a":[1,2]}"#.utf8)).elements == nil)
        #expect(try JSON.parseElements(Array("7".utf8)).elements == nil)
        for refused in ["[1,]", "[1 2]", "[{\"a\":1}", "[1] 2"] {
            #expect(throws: JSONParseError.self, "\(refused)") { try JSON.parseElements(Array(refused.utf8)) }
        }
    }
}

@Suite("JSON Schema vocabularies")
struct VocabularyTests {
    @Test("a meta-schema that requires the format-assertion vocabulary turns format into an assertion")
    func formatAssertionVocabulary() throws {
        let metaschema = try JSON.parse(#"""
        {"$schema":"https://json-schema.org/draft/2020-12/schema","$id":"https://example.test/strict-meta",
         "$vocabulary":{"https://json-schema.org/draft/2020-12/vocab/core":true,"https://json-schema.org/draft/2020-12/vocab/validation":true,
                        "https://json-schema.org/draft/2020-12/vocab/format-assertion":true},
         "$dynamicAnchor":"meta","allOf":[{"$ref":"https://json-schema.org/draft/2020-12/meta/core"}]}
        """#)
        let options = SchemaOptions(loader: { $0 == "https://example.test/strict-meta" ? metaschema : nil })
        let strict = try CompiledSchema(try JSON.parse(#"{"$schema":"https://example.test/strict-meta","format":"ipv4"}"#), options: options)
        let lenient = try CompiledSchema(try JSON.parse(#"{"$schema":"https://json-schema.org/draft/2020-12/schema","format":"ipv4"}"#), options: options)
        #expect(!strict.isValid(.string("999.1.1.1")))
        #expect(strict.isValid(.string("10.0.0.1")))
        #expect(lenient.isValid(.string("999.1.1.1")))
    }
}
