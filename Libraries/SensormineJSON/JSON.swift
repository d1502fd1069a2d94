import Foundation

/// A JSON value: what telemetry payloads, schemas and configurable claims are read as.
/// Numbers are doubles, so `1` and `1.0` are the same value, as JSON Schema requires.
public enum JSON: Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSON])
    case object([String: JSON])

    /// The member `key` of an object, else nil.
    public subscript(key: String) -> JSON? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    /// The value at a dotted path such as `realm_access.roles`.
    public func path(_ dotted: String) -> JSON? {
        dotted.split(separator: ".").reduce(Optional(self)) { value, key in value?[String(key)] }
    }

    /// The text of a string value.
    public var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The strings of an array value (other elements skipped).
    public var strings: [String]? {
        if case .array(let values) = self { return values.compactMap(\.string) }
        return nil
    }

    /// The number of a number value.
    public var number: Double? {
        if case .number(let value) = self { return value }
        return nil
    }

    /// The members of an object value.
    public var object: [String: JSON]? {
        if case .object(let members) = self { return members }
        return nil
    }

    /// The elements of an array value.
    public var array: [JSON]? {
        if case .array(let values) = self { return values }
        return nil
    }

    /// The JSON Schema type name of this value (`integer` for whole numbers).
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number(let value): value.rounded(.towardZero) == value && value.isFinite ? "integer" : "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }
}

extension JSON: Hashable {
    /// Strings are equal when their code points are (JSON Schema), not merely canonically
    /// equivalent as Swift's `String ==` would have it.
    public static func == (lhs: JSON, rhs: JSON) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case (.bool(let a), .bool(let b)): a == b
        case (.number(let a), .number(let b)): a == b
        case (.string(let a), .string(let b)): a.unicodeScalars.elementsEqual(b.unicodeScalars)
        case (.array(let a), .array(let b)): a == b
        case (.object(let a), .object(let b)): a.count == b.count && a.allSatisfy { key, value in b[key] == value }
        default: false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0)
        case .bool(let value): hasher.combine(value)
        case .number(let value): hasher.combine(value)
        case .string(let value): hasher.combine(value.unicodeScalars.count)
        case .array(let values): hasher.combine(values)
        case .object(let members): hasher.combine(members.count)
        }
    }
}

extension JSON: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSON].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSON].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}

/// Why a document is not JSON, with the byte offset where parsing stopped.
public struct JSONParseError: Error, Equatable, CustomStringConvertible {
    public let offset: Int
    public let reason: String
    public var description: String { "invalid JSON at byte \(self.offset): \(self.reason)" }
}

extension JSON {
    /// Parses UTF-8 JSON text (RFC 8259); nesting deeper than `maximumDepth` is refused.
    /// - Throws: ``JSONParseError``.
    public static func parse(_ bytes: some Collection<UInt8>, maximumDepth: Int = 256) throws(JSONParseError) -> JSON {
        let buffer = Array(bytes)
        return try buffer.withUnsafeBufferPointer { (pointer) throws(JSONParseError) -> JSON in
            var parser = JSONParser(bytes: pointer, maximumDepth: maximumDepth)
            return try parser.document()
        }
    }

    /// Parses like ``parse(_:maximumDepth:)`` and, when the document is an array, also answers
    /// each element's text as it stands in `bytes` (without the whitespace around it), so a batch
    /// can be split into its messages without writing each one out again.
    /// - Throws: ``JSONParseError``.
    public static func parseElements(_ bytes: [UInt8], maximumDepth: Int = 256) throws(JSONParseError) -> (document: JSON, elements: [ArraySlice<UInt8>]?) {
        let (document, ranges) = try bytes.withUnsafeBufferPointer { (pointer) throws(JSONParseError) -> (JSON, [Range<Int>]) in
            var parser = JSONParser(bytes: pointer, maximumDepth: maximumDepth)
            parser.recordsTopLevelElements = true
            return (try parser.document(), parser.topLevelElements)
        }
        guard case .array = document else { return (document, nil) }
        return (document, ranges.map { bytes[$0] })
    }

    /// Parses JSON text.
    /// - Throws: ``JSONParseError``.
    public static func parse(_ text: String) throws(JSONParseError) -> JSON {
        try self.parse(Array(text.utf8))
    }

    /// Compact JSON text with object keys sorted: the canonical form two equal values share.
    public var canonicalText: String {
        var output = ""
        self.write(to: &output)
        return output
    }

    private func write(to output: inout String) {
        switch self {
        case .null: output += "null"
        case .bool(let value): output += value ? "true" : "false"
        case .number(let value):
            if value.rounded(.towardZero) == value, abs(value) < 1e15 { output += String(Int64(value)) } else { output += "\(value)" }
        case .string(let value): Self.writeString(value, to: &output)
        case .array(let values):
            output += "["
            for (index, value) in values.enumerated() {
                if index > 0 { output += "," }
                value.write(to: &output)
            }
            output += "]"
        case .object(let members):
            output += "{"
            for (index, key) in members.keys.sorted().enumerated() {
                if index > 0 { output += "," }
                Self.writeString(key, to: &output)
                output += ":"
                members[key]?.write(to: &output)
            }
            output += "}"
        }
    }

    private static func writeString(_ value: String, to output: inout String) {
        output += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case _ where scalar.value < 0x20: output += String(format: "\\u%04x", scalar.value)
            default: output.unicodeScalars.append(scalar)
            }
        }
        output += "\""
    }
}

/// A recursive-descent parser over a byte buffer; no intermediate allocations besides the values.
private struct JSONParser {
    let bytes: UnsafeBufferPointer<UInt8>
    let maximumDepth: Int
    var index = 0
    var depth = 0
    /// Whether the byte ranges of a top-level array's elements are kept in ``topLevelElements``.
    var recordsTopLevelElements = false
    var topLevelElements: [Range<Int>] = []

    init(bytes: UnsafeBufferPointer<UInt8>, maximumDepth: Int) {
        self.bytes = bytes
        self.maximumDepth = maximumDepth
    }

    mutating func document() throws(JSONParseError) -> JSON {
        let value = try self.value()
        self.skipWhitespace()
        guard self.index == self.bytes.count else { throw self.error("unexpected data after the value") }
        return value
    }

    func error(_ reason: String) -> JSONParseError { JSONParseError(offset: self.index, reason: reason) }

    mutating func skipWhitespace() {
        while self.index < self.bytes.count {
            switch self.bytes[self.index] {
            case 0x20, 0x0A, 0x0D, 0x09: self.index += 1
            default: return
            }
        }
    }

    mutating func value() throws(JSONParseError) -> JSON {
        self.skipWhitespace()
        guard self.index < self.bytes.count else { throw self.error("unexpected end of input") }
        switch self.bytes[self.index] {
        case UInt8(ascii: "{"): return try self.object()
        case UInt8(ascii: "["): return try self.array()
        case UInt8(ascii: "\""): return .string(try self.string())
        case UInt8(ascii: "t"): try self.literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try self.literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try self.literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try self.number())
        default: throw self.error("unexpected character")
        }
    }

    mutating func literal(_ word: String) throws(JSONParseError) {
        var offset = self.index
        for byte in word.utf8 {
            guard offset < self.bytes.count, self.bytes[offset] == byte else { throw self.error("invalid literal") }
            offset += 1
        }
        self.index = offset
    }

    mutating func enter() throws(JSONParseError) {
        self.depth += 1
        guard self.depth <= self.maximumDepth else { throw self.error("nested deeper than \(self.maximumDepth)") }
    }

    mutating func object() throws(JSONParseError) -> JSON {
        try self.enter()
        self.index += 1
        var members: [String: JSON] = [:]
        self.skipWhitespace()
        if self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: "}") {
            self.index += 1
            self.depth -= 1
            return .object(members)
        }
        while true {
            self.skipWhitespace()
            guard self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: "\"") else { throw self.error("expected a member name") }
            let key = try self.string()
            self.skipWhitespace()
            guard self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: ":") else { throw self.error("expected ':'") }
            self.index += 1
            members[key] = try self.value()
            self.skipWhitespace()
            guard self.index < self.bytes.count else { throw self.error("unexpected end of input") }
            if self.bytes[self.index] == UInt8(ascii: ",") { self.index += 1; continue }
            guard self.bytes[self.index] == UInt8(ascii: "}") else { throw self.error("expected ',' or '}'") }
            self.index += 1
            self.depth -= 1
            return .object(members)
        }
    }

    mutating func array() throws(JSONParseError) -> JSON {
        try self.enter()
        self.index += 1
        var values: [JSON] = []
        self.skipWhitespace()
        if self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: "]") {
            self.index += 1
            self.depth -= 1
            return .array(values)
        }
        let recordsElements = self.recordsTopLevelElements && self.depth == 1
        while true {
            if recordsElements {
                self.skipWhitespace()
                let start = self.index
                values.append(try self.value())
                self.topLevelElements.append(start..<self.index)
            } else {
                values.append(try self.value())
            }
            self.skipWhitespace()
            guard self.index < self.bytes.count else { throw self.error("unexpected end of input") }
            if self.bytes[self.index] == UInt8(ascii: ",") { self.index += 1; continue }
            guard self.bytes[self.index] == UInt8(ascii: "]") else { throw self.error("expected ',' or ']'") }
            self.index += 1
            self.depth -= 1
            return .array(values)
        }
    }

    mutating func string() throws(JSONParseError) -> String {
        self.index += 1
        let start = self.index
        // Fast path: no escapes.
        while self.index < self.bytes.count {
            let byte = self.bytes[self.index]
            if byte == UInt8(ascii: "\"") {
                let text = String(decoding: UnsafeBufferPointer(rebasing: self.bytes[start..<self.index]), as: UTF8.self)
                self.index += 1
                return text
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw self.error("control character in a string") }
            self.index += 1
        }
        var scalars = Array(self.bytes[start..<self.index])
        while self.index < self.bytes.count {
            let byte = self.bytes[self.index]
            if byte == UInt8(ascii: "\"") {
                self.index += 1
                return String(decoding: scalars, as: UTF8.self)
            }
            if byte < 0x20 { throw self.error("control character in a string") }
            if byte != UInt8(ascii: "\\") {
                scalars.append(byte)
                self.index += 1
                continue
            }
            self.index += 1
            guard self.index < self.bytes.count else { break }
            let escape = self.bytes[self.index]
            self.index += 1
            switch escape {
            case UInt8(ascii: "\""): scalars.append(0x22)
            case UInt8(ascii: "\\"): scalars.append(0x5C)
            case UInt8(ascii: "/"): scalars.append(0x2F)
            case UInt8(ascii: "b"): scalars.append(0x08)
            case UInt8(ascii: "f"): scalars.append(0x0C)
            case UInt8(ascii: "n"): scalars.append(0x0A)
            case UInt8(ascii: "r"): scalars.append(0x0D)
            case UInt8(ascii: "t"): scalars.append(0x09)
            case UInt8(ascii: "u"):
                var code = try self.hex4()
                if (0xD800...0xDBFF).contains(code), self.index + 1 < self.bytes.count,
                   self.bytes[self.index] == UInt8(ascii: "\\"), self.bytes[self.index + 1] == UInt8(ascii: "u") {
                    self.index += 2
                    let low = try self.hex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw self.error("invalid surrogate pair") }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                }
                let scalar = Unicode.Scalar(code) ?? "\u{FFFD}"
                scalars.append(contentsOf: Array(String(scalar).utf8))
            default: throw self.error("invalid escape")
            }
        }
        throw self.error("unterminated string")
    }

    mutating func hex4() throws(JSONParseError) -> UInt32 {
        guard self.index + 4 <= self.bytes.count else { throw self.error("truncated \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = self.bytes[self.index]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw self.error("invalid \\u escape")
            }
            value = value << 4 | digit
            self.index += 1
        }
        return value
    }

    mutating func number() throws(JSONParseError) -> Double {
        let start = self.index
        var integer: Int64 = 0
        var negative = false
        var simple = true
        if self.bytes[self.index] == UInt8(ascii: "-") { negative = true; self.index += 1 }
        let digitsStart = self.index
        while self.index < self.bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self.bytes[self.index]) {
            if integer < 100_000_000_000_000_000 { integer = integer * 10 + Int64(self.bytes[self.index] - UInt8(ascii: "0")) } else { simple = false }
            self.index += 1
        }
        guard self.index > digitsStart else { throw self.error("invalid number") }
        if self.bytes[digitsStart] == UInt8(ascii: "0"), self.index - digitsStart > 1 { throw self.error("leading zero in a number") }
        if self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: ".") {
            simple = false
            self.index += 1
            let fraction = self.index
            while self.index < self.bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self.bytes[self.index]) { self.index += 1 }
            guard self.index > fraction else { throw self.error("invalid number") }
        }
        if self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: "e") || self.bytes[self.index] == UInt8(ascii: "E") {
            simple = false
            self.index += 1
            if self.index < self.bytes.count, self.bytes[self.index] == UInt8(ascii: "+") || self.bytes[self.index] == UInt8(ascii: "-") { self.index += 1 }
            let exponent = self.index
            while self.index < self.bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self.bytes[self.index]) { self.index += 1 }
            guard self.index > exponent else { throw self.error("invalid number") }
        }
        if simple { return Double(negative ? -integer : integer) }
        let text = String(decoding: UnsafeBufferPointer(rebasing: self.bytes[start..<self.index]), as: UTF8.self)
        guard let value = Double(text) else { throw self.error("invalid number") }
        // Beyond ±1.8e308 a double is infinite, which JSON cannot write back (found by fuzzing).
        guard value.isFinite else { throw self.error("number out of the range of a double") }
        return value
    }
}
