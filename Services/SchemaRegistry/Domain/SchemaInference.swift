import Foundation
import JSONSchema
import SensormineJSON
#if canImport(FoundationXML)
import FoundationXML
#endif

/// The formats sample data arrives in.
enum SampleFormat: String, Codable, Sendable, CaseIterable {
    case json, csv, xml, keyValue = "kv"

    /// The format a media type names, if any.
    init?(mediaType: String) {
        let type = mediaType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        switch type {
        case "application/json", "application/x-ndjson", "application/ndjson": self = .json
        case "text/csv", "application/csv": self = .csv
        case "application/xml", "text/xml": self = .xml
        case "text/plain": self = .keyValue
        default: return nil
        }
    }
}

/// What inference proposes for one field.
struct InferredField: Codable, Sendable, Equatable {
    var name: String
    var type: String
    /// How sure the engine is of the type, 0…1: agreement of the samples, weighed by how many there were.
    var confidence: Double
    var required: Bool
    var format: String?
    var unit: String?
    var minimum: Double?
    var maximum: Double?
    var enumValues: [String]?
    var suggestions: [String]
}

/// A proposed schema with the evidence behind it.
struct InferenceResult: Codable, Sendable {
    var format: SampleFormat
    var records: Int
    var schema: JSON
    var fields: [InferredField]
    /// Who refined the proposal: `deterministic`, or the AI provider's name.
    var engine: String
}

/// Why samples could not be read.
struct InferenceError: Error, Equatable {
    var reason: String
}

/// The deterministic inference engine: parses samples, then proposes types, required fields,
/// observed ranges, enums for low-cardinality fields, timestamps and units from field names.
enum SchemaInference {
    static let maximumRecords = 10_000

    static func infer(_ bytes: [UInt8], format: SampleFormat) throws(InferenceError) -> InferenceResult {
        let records = try self.records(bytes, format: format)
        guard !records.isEmpty else { throw InferenceError(reason: "the sample holds no records") }
        let fields = self.analyse(records)
        var properties: [String: JSON] = [:]
        for field in fields {
            var property: [String: JSON] = ["type": .string(field.type)]
            if let format = field.format { property["format"] = .string(format) }
            if let minimum = field.minimum, ["number", "integer"].contains(field.type) { property["x-observed-minimum"] = .number(minimum) }
            if let maximum = field.maximum, ["number", "integer"].contains(field.type) { property["x-observed-maximum"] = .number(maximum) }
            if let values = field.enumValues { property["enum"] = .array(values.map { .string($0) }) }
            if let unit = field.unit { property["x-unit"] = .string(unit) }
            properties[field.name] = .object(property)
        }
        let schema: JSON = .object([
            "$schema": .string("https://json-schema.org/draft/2020-12/schema"),
            "type": .string("object"),
            "properties": .object(properties),
            "required": .array(fields.filter(\.required).map { .string($0.name) }),
        ])
        return InferenceResult(format: format, records: records.count, schema: schema, fields: fields, engine: "deterministic")
    }

    // MARK: Reading samples

    static func records(_ bytes: [UInt8], format: SampleFormat) throws(InferenceError) -> [[String: JSON]] {
        switch format {
        case .json: return try self.jsonRecords(bytes)
        case .csv: return try self.csvRecords(String(decoding: bytes, as: UTF8.self))
        case .xml: return try self.xmlRecords(bytes)
        case .keyValue: return self.keyValueRecords(String(decoding: bytes, as: UTF8.self))
        }
    }

    private static func jsonRecords(_ bytes: [UInt8]) throws(InferenceError) -> [[String: JSON]] {
        if let document = try? JSON.parse(bytes) {
            switch document {
            case .object(let members): return [members]
            case .array(let items):
                let objects = items.compactMap(\.object)
                guard objects.count == items.count else { throw InferenceError(reason: "a JSON array sample must hold objects") }
                return Array(objects.prefix(self.maximumRecords))
            default: throw InferenceError(reason: "a JSON sample must be an object, an array of objects, or one object per line")
            }
        }
        // Newline-delimited JSON.
        var records: [[String: JSON]] = []
        for (number, line) in String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isNewline).enumerated() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            guard let object = (try? JSON.parse(String(line)))?.object else { throw InferenceError(reason: "line \(number + 1) is not a JSON object") }
            records.append(object)
            if records.count >= self.maximumRecords { break }
        }
        return records
    }

    private static func csvRecords(_ text: String) throws(InferenceError) -> [[String: JSON]] {
        let firstLine = text.prefix { !$0.isNewline }
        let delimiter: Character = [";", "\t", ","].max { first, second in
            firstLine.filter { $0 == first }.count < firstLine.filter { $0 == second }.count
        } ?? ","
        let rows = self.csvRows(text, delimiter: delimiter)
        guard let header = rows.first, !header.isEmpty else { throw InferenceError(reason: "the CSV sample has no header row") }
        let names = header.map { $0.trimmingCharacters(in: .whitespaces) }
        guard Set(names).count == names.count, !names.contains("") else { throw InferenceError(reason: "the CSV header names each column once") }
        var records: [[String: JSON]] = []
        for (index, row) in rows.dropFirst().enumerated() where !(row.count == 1 && row[0].isEmpty) {
            guard row.count == names.count else { throw InferenceError(reason: "CSV row \(index + 2) has \(row.count) fields, the header \(names.count)") }
            var record: [String: JSON] = [:]
            for (name, value) in zip(names, row) { record[name] = self.scalar(value) }
            records.append(record)
            if records.count >= self.maximumRecords { break }
        }
        return records
    }

    /// RFC 4180 fields: quotes, doubled quotes, delimiters and newlines inside quotes.
    private static func csvRows(_ text: String, delimiter: Character) -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field = ""
        var quoted = false
        var iterator = Array(text).makeIterator()
        var pending: Character? = nil
        while let character = pending ?? iterator.next() {
            pending = nil
            if quoted {
                if character == "\"" {
                    if let next = iterator.next() {
                        if next == "\"" { field.append("\"") } else { quoted = false; pending = next }
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(character)
                }
                continue
            }
            switch character {
            case "\"" where field.isEmpty: quoted = true
            case delimiter: row.append(field); field = ""
            case "\n", "\r\n", "\r":
                row.append(field)
                rows.append(row)
                row = []
                field = ""
            default: field.append(character)
            }
        }
        if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
        return rows
    }

    private static func keyValueRecords(_ text: String) -> [[String: JSON]] {
        var records: [[String: JSON]] = []
        var current: [String: JSON] = [:]
        for line in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty {
                if !current.isEmpty { records.append(current); current = [:] }
                continue
            }
            let pairs = trimmed.split(whereSeparator: { $0 == " " || $0 == "," || $0 == ";" }).filter { $0.contains("=") }
            // Several pairs on one line make a record of their own; one pair per line accumulates.
            if pairs.count > 1 {
                if !current.isEmpty { records.append(current); current = [:] }
                var record: [String: JSON] = [:]
                for pair in pairs { let (key, value) = self.pair(pair); record[key] = value }
                records.append(record)
            } else if let pair = pairs.first {
                let (key, value) = self.pair(pair)
                if current[key] != nil { records.append(current); current = [:] }
                current[key] = value
            }
            if records.count >= self.maximumRecords { break }
        }
        if !current.isEmpty { records.append(current) }
        return records
    }

    private static func pair(_ text: Substring) -> (String, JSON) {
        let parts = text.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        let value = parts.count > 1 ? String(parts[1]).trimmingCharacters(in: CharacterSet(charactersIn: "\"' ")) : ""
        return (String(parts[0]).trimmingCharacters(in: .whitespaces), self.scalar(value))
    }

    private static func xmlRecords(_ bytes: [UInt8]) throws(InferenceError) -> [[String: JSON]] {
        let collector = XMLRecordCollector()
        let parser = XMLParser(data: Data(bytes))
        parser.delegate = collector
        guard parser.parse() else { throw InferenceError(reason: "the XML sample is not well-formed: \(parser.parserError.map { "\($0.localizedDescription)" } ?? "parse error")") }
        return collector.records.map { record in record.mapValues { self.scalar($0) } }
    }

    /// A text value as the JSON scalar it looks like.
    static func scalar(_ text: String) -> JSON {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty || trimmed.lowercased() == "null" { return .null }
        if ["true", "false"].contains(trimmed.lowercased()) { return .bool(trimmed.lowercased() == "true") }
        if let number = Double(trimmed), number.isFinite, trimmed.first.map({ $0.isNumber || $0 == "-" || $0 == "+" || $0 == "." }) == true { return .number(number) }
        return .string(trimmed)
    }

    // MARK: Analysis

    private static func analyse(_ records: [[String: JSON]]) -> [InferredField] {
        var names: [String] = []
        var seen: Set<String> = []
        for record in records { for key in record.keys.sorted() where seen.insert(key).inserted { names.append(key) } }
        return names.map { name in
            let values = records.compactMap { $0[name] }
            let present = values.filter { $0 != .null }
            return self.field(name, present: present, total: records.count, occurrences: values.count)
        }
    }

    private static func field(_ name: String, present: [JSON], total: Int, occurrences: Int) -> InferredField {
        var counts: [String: Int] = [:]
        for value in present { counts[value.typeName, default: 0] += 1 }
        let numbers = present.compactMap(\.number)
        // Integers count as numbers when both appear.
        if let integers = counts["integer"], let others = counts["number"] {
            counts["number"] = integers + others
            counts["integer"] = nil
        }
        let (type, agreeing) = counts.max { $0.value < $1.value } ?? ("string", 0)
        let agreement = present.isEmpty ? 0 : Double(agreeing) / Double(present.count)
        let sampleWeight = min(1, Double(present.count) / 10)
        var field = InferredField(name: name, type: present.isEmpty ? "null" : type, confidence: (agreement * (0.5 + 0.5 * sampleWeight) * 100).rounded() / 100,
                                  required: occurrences == total && present.count == total, suggestions: [])
        if present.count < 5 { field.suggestions.append("only \(present.count) sample value(s): confirm the type") }
        if agreement < 1, !present.isEmpty { field.suggestions.append("mixed types: \(counts.keys.sorted().joined(separator: ", ")); \(type) covers \(Int(agreement * 100))%") }
        if !field.required, occurrences < total { field.suggestions.append("missing in \(total - occurrences) of \(total) records: optional") }
        if ["number", "integer"].contains(type), let low = numbers.min(), let high = numbers.max() {
            field.minimum = low
            field.maximum = high
            field.suggestions.append("observed range \(Self.text(low))…\(Self.text(high)); set minimum/maximum to the physical limits")
        }
        if type == "string" {
            let strings = present.compactMap(\.string)
            if !strings.isEmpty, strings.allSatisfy({ Formats.problem("date-time", .string($0)) == nil }) {
                field.format = "date-time"
                field.suggestions.append("timestamps (RFC 3339): consider it the event time")
            } else if !strings.isEmpty, strings.allSatisfy({ Formats.problem("uuid", .string($0)) == nil }) {
                field.format = "uuid"
            } else {
                let distinct = Set(strings)
                if distinct.count <= 10, strings.count >= 2 * distinct.count {
                    field.enumValues = distinct.sorted()
                    field.suggestions.append("\(distinct.count) distinct values in \(strings.count) samples: proposed as an enum")
                }
            }
        }
        if ["number", "integer"].contains(type) {
            let timestamps = numbers.allSatisfy { $0 > 946_684_800 && $0 < 4_102_444_800_000 } && ["time", "ts", "timestamp", "epoch"].contains { name.lowercased().contains($0) }
            if timestamps, !numbers.isEmpty { field.suggestions.append("looks like a Unix timestamp (\(numbers[0] > 4_102_444_800 ? "milliseconds" : "seconds"))") }
            field.unit = self.unit(for: name)
        }
        return field
    }

    private static func text(_ value: Double) -> String {
        value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    /// A unit guessed from a field's name (suffix first, then the quantity it names).
    static func unit(for name: String) -> String? {
        let lower = name.lowercased()
        let suffixes: [(String, String)] = [
            ("_degc", "°C"), ("_c", "°C"), ("_degf", "°F"), ("_f", "°F"), ("_k", "K"), ("_kw", "kW"), ("_mw", "MW"), ("_w", "W"),
            ("_kwh", "kWh"), ("_v", "V"), ("_kv", "kV"), ("_a", "A"), ("_hz", "Hz"), ("_bar", "bar"), ("_psi", "psi"), ("_kpa", "kPa"),
            ("_pa", "Pa"), ("_rpm", "rpm"), ("_pct", "%"), ("_percent", "%"), ("_mm", "mm"), ("_m", "m"), ("_s", "s"), ("_ms", "ms"),
            ("_lph", "L/h"), ("_m3h", "m³/h"), ("_kg", "kg"),
        ]
        for (suffix, unit) in suffixes where lower.hasSuffix(suffix) { return unit }
        let quantities: [(String, String)] = [
            ("temperature", "°C"), ("temp", "°C"), ("pressure", "bar"), ("rpm", "rpm"), ("speed", "rpm"), ("voltage", "V"),
            ("current", "A"), ("power", "kW"), ("energy", "kWh"), ("frequency", "Hz"), ("humidity", "%"), ("vibration", "mm/s"),
            ("flow", "m³/h"), ("level", "%"), ("torque", "N·m"),
        ]
        for (quantity, unit) in quantities where lower.contains(quantity) { return unit }
        return nil
    }
}

/// Collects the records of an XML sample: each child of the root is a record; its attributes
/// and leaf child elements are its fields.
private final class XMLRecordCollector: NSObject, XMLParserDelegate {
    var records: [[String: String]] = []
    private var depth = 0
    private var current: [String: String] = [:]
    private var text = ""

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
        self.depth += 1
        self.text = ""
        if self.depth == 2 {
            self.current = attributes
        } else if self.depth > 2 {
            for (key, value) in attributes { self.current["\(elementName)_\(key)"] = value }
        }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        self.text += string
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
        if self.depth == 3 {
            let value = self.text.trimmingCharacters(in: .whitespacesAndNewlines)
            if !value.isEmpty { self.current[elementName] = value }
        } else if self.depth == 2 {
            if self.records.count < SchemaInference.maximumRecords { self.records.append(self.current) }
            self.current = [:]
        }
        self.text = ""
        self.depth -= 1
    }
}
