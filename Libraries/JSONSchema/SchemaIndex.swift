import Foundation
import SensormineJSON

/// Where a subschema lives: the base URI of its resource and its JSON pointer within it.
struct SchemaLocation {
    var base: String
    var pointer: String
    var schema: JSON
    var key: String { self.base + "#" + self.pointer }
}

/// Every resource, anchor and dynamic anchor of the documents a compilation has seen, by
/// absolute URI; remote documents are loaded on first reference.
struct SchemaIndex {
    private(set) var resources: [String: SchemaLocation] = [:]
    private(set) var anchors: [String: SchemaLocation] = [:]
    private(set) var dynamicAnchors: [String: Set<String>] = [:]
    private var loaded: Set<String> = []
    let loader: @Sendable (String) -> JSON?

    init(loader: @escaping @Sendable (String) -> JSON?) {
        self.loader = loader
    }

    /// Keywords whose value is one subschema, an array of them, or an object of them: only
    /// these are searched for `$id`s and anchors (an `$id` inside `enum` or an unknown keyword
    /// identifies nothing).
    static let schemaKeywords: Set<String> = [
        "items", "contains", "additionalProperties", "propertyNames", "if", "then", "else", "not",
        "unevaluatedItems", "unevaluatedProperties", "contentSchema",
    ]
    static let schemaArrayKeywords: Set<String> = ["prefixItems", "allOf", "anyOf", "oneOf"]
    static let schemaMapKeywords: Set<String> = ["properties", "patternProperties", "$defs", "dependentSchemas", "definitions"]

    /// Adds a document under `uri` (its own `$id` wins).
    mutating func add(_ document: JSON, uri: String) {
        let base = URIReference.withoutFragment(uri)
        self.loaded.insert(base)
        self.scan(document, base: base, pointer: "", isRoot: true)
        // A document whose $id differs from where it was found answers to both.
        if self.resources[base] == nil, case .string(let id)? = document["$id"] {
            self.resources[base] = self.resources[URIReference.withoutFragment(URIReference.resolve(id, against: base))]
        }
    }

    private mutating func scan(_ schema: JSON, base: String, pointer: String, isRoot: Bool) {
        guard case .object(let members) = schema else {
            if isRoot { self.resources[base] = SchemaLocation(base: base, pointer: "", schema: schema) }
            return
        }
        var base = base
        var pointer = pointer
        if case .string(let id)? = members["$id"] {
            base = URIReference.withoutFragment(URIReference.resolve(id, against: base))
            pointer = ""
            self.resources[base] = SchemaLocation(base: base, pointer: "", schema: schema)
        } else if isRoot {
            self.resources[base] = SchemaLocation(base: base, pointer: "", schema: schema)
        }
        if case .string(let anchor)? = members["$anchor"] {
            self.anchors[base + "#" + anchor] = SchemaLocation(base: base, pointer: pointer, schema: schema)
        }
        if case .string(let anchor)? = members["$dynamicAnchor"] {
            self.anchors[base + "#" + anchor] = SchemaLocation(base: base, pointer: pointer, schema: schema)
            self.dynamicAnchors[base, default: []].insert(anchor)
        }
        for (keyword, value) in members {
            let child = pointer + "/" + JSONPointer.escape(keyword)
            if Self.schemaKeywords.contains(keyword) {
                self.scan(value, base: base, pointer: child, isRoot: false)
            } else if Self.schemaArrayKeywords.contains(keyword), case .array(let items) = value {
                for (index, item) in items.enumerated() { self.scan(item, base: base, pointer: child + "/\(index)", isRoot: false) }
            } else if Self.schemaMapKeywords.contains(keyword), case .object(let map) = value {
                for (name, item) in map { self.scan(item, base: base, pointer: child + "/" + JSONPointer.escape(name), isRoot: false) }
            }
        }
    }

    /// The subschema an absolute reference names, loading its document if needed.
    mutating func locate(_ reference: String) -> SchemaLocation? {
        let (uri, fragment) = URIReference.split(reference)
        if self.resources[uri] == nil, !self.loaded.contains(uri) {
            self.loaded.insert(uri)
            if let document = self.loader(uri) { self.add(document, uri: uri) }
        }
        if fragment.isEmpty || fragment.hasPrefix("/") {
            guard let resource = self.resources[uri] else { return nil }
            return Self.walk(resource, pointer: fragment)
        }
        return self.anchors[uri + "#" + fragment]
    }

    /// Follows a JSON pointer from a resource, switching base at each embedded `$id`.
    private static func walk(_ start: SchemaLocation, pointer: String) -> SchemaLocation? {
        var location = start
        for token in JSONPointer.tokens(pointer) {
            let next: JSON?
            switch location.schema {
            case .object(let members): next = members[token]
            case .array(let items): next = Int(token).flatMap { items.indices.contains($0) ? items[$0] : nil }
            default: next = nil
            }
            guard let next else { return nil }
            location = SchemaLocation(base: location.base, pointer: location.pointer + "/" + JSONPointer.escape(token), schema: next)
            if case .string(let id)? = next["$id"] {
                location = SchemaLocation(base: URIReference.withoutFragment(URIReference.resolve(id, against: location.base)), pointer: "", schema: next)
            }
        }
        return location
    }
}

/// URI-reference resolution (RFC 3986 §5.2) for hierarchical bases, and fragment handling for
/// any base (including `urn:`).
enum URIReference {
    static func split(_ uri: String) -> (String, String) {
        guard let hash = uri.firstIndex(of: "#") else { return (uri, "") }
        return (String(uri[..<hash]), String(uri[uri.index(after: hash)...]))
    }

    static func withoutFragment(_ uri: String) -> String { self.split(uri).0 }

    static func hasScheme(_ reference: String) -> Bool {
        guard let colon = reference.firstIndex(of: ":"), let first = reference.first, first.isLetter else { return false }
        return reference[..<colon].allSatisfy { $0.isLetter || $0.isNumber || "+-.".contains($0) }
    }

    static func resolve(_ reference: String, against base: String) -> String {
        if self.hasScheme(reference) { return self.normalize(reference) }
        if reference.hasPrefix("#") { return self.withoutFragment(base) + reference }
        if reference.isEmpty { return self.withoutFragment(base) }
        let baseNoFragment = self.withoutFragment(base)
        guard let schemeEnd = baseNoFragment.range(of: "://") else {
            // A non-hierarchical base (urn:…) cannot take a relative path.
            return reference
        }
        let authorityStart = schemeEnd.upperBound
        let pathStart = baseNoFragment[authorityStart...].firstIndex(of: "/") ?? baseNoFragment.endIndex
        let origin = String(baseNoFragment[..<pathStart])
        if reference.hasPrefix("//") { return String(baseNoFragment[..<schemeEnd.lowerBound]) + ":" + reference }
        var (referencePath, suffix) = (reference, "")
        if let index = reference.firstIndex(where: { $0 == "?" || $0 == "#" }) {
            referencePath = String(reference[..<index])
            suffix = String(reference[index...])
        }
        let merged: String
        if referencePath.hasPrefix("/") {
            merged = referencePath
        } else {
            var basePath = String(baseNoFragment[pathStart...])
            if let query = basePath.firstIndex(of: "?") { basePath = String(basePath[..<query]) }
            if referencePath.isEmpty {
                merged = basePath
            } else {
                let directory = basePath.lastIndex(of: "/").map { String(basePath[...$0]) } ?? "/"
                merged = directory + referencePath
            }
        }
        return origin + self.removeDotSegments(merged) + suffix
    }

    static func normalize(_ uri: String) -> String {
        guard let schemeEnd = uri.range(of: "://") else { return uri }
        let pathStart = uri[schemeEnd.upperBound...].firstIndex(of: "/") ?? uri.endIndex
        let (path, suffix): (String, String) = {
            let rest = String(uri[pathStart...])
            if let index = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) { return (String(rest[..<index]), String(rest[index...])) }
            return (rest, "")
        }()
        return String(uri[..<pathStart]) + self.removeDotSegments(path) + suffix
    }

    static func removeDotSegments(_ path: String) -> String {
        guard path.contains(".") else { return path }
        var output: [Substring] = []
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        for (index, segment) in segments.enumerated() {
            if segment == "." { if index == segments.count - 1 { output.append("") }; continue }
            if segment == ".." {
                if output.count > 1 { output.removeLast() }
                if index == segments.count - 1 { output.append("") }
                continue
            }
            output.append(segment)
        }
        return output.joined(separator: "/")
    }
}
