import Foundation
import SensormineJSON

/// Runs the official JSON Schema test suite (draft 2020-12) against this validator: every file
/// under `tests/draft2020-12`, recursively, with `http://localhost:1234/` served from `remotes/`.
/// Used by the conformance test and by `make bench`, which both print its counts.
public struct ConformanceSuite: Sendable {
    /// The outcome of one file.
    public struct FileResult: Sendable {
        /// Path below tests/draft2020-12.
        public var name: String
        public var passed = 0
        /// One line per failed test: group, test, and what happened.
        public var failures: [String] = []
    }

    /// The suite's root folder.
    public let root: URL

    /// The suite under `JSON_SCHEMA_TEST_SUITE`, default `../shared/json-schema-test-suite`.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        let configured = environment["JSON_SCHEMA_TEST_SUITE"] ?? "../shared/json-schema-test-suite"
        self.root = URL(fileURLWithPath: configured, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)).standardizedFileURL
    }

    /// Every test file, sorted.
    public func files() -> [URL] {
        let directory = self.root.appendingPathComponent("tests/draft2020-12")
        guard let walker = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil) else { return [] }
        return walker.compactMap { $0 as? URL }.filter { $0.pathExtension == "json" }.sorted { $0.path < $1.path }
    }

    private var loader: @Sendable (String) -> JSON? {
        let remotes = self.root.appendingPathComponent("remotes")
        return { uri in
            let prefix = "http://localhost:1234/"
            guard uri.hasPrefix(prefix), let data = try? Data(contentsOf: remotes.appendingPathComponent(String(uri.dropFirst(prefix.count)))) else { return nil }
            return try? JSON.parse(Array(data))
        }
    }

    /// Runs one file: each group's schema compiled once, each test checked with both
    /// ``CompiledSchema/isValid(_:)`` and ``CompiledSchema/validate(_:)``.
    /// - Throws: when the file cannot be read or parsed.
    public func run(_ file: URL) throws -> FileResult {
        let prefix = self.root.appendingPathComponent("tests/draft2020-12").path + "/"
        var result = FileResult(name: file.path.replacingOccurrences(of: prefix, with: ""))
        let document = try JSON.parse(Array(try Data(contentsOf: file)))
        for group in document.array ?? [] {
            let description = group["description"]?.string ?? "?"
            let schema: CompiledSchema
            do {
                schema = try CompiledSchema(group["schema"] ?? .bool(true), uri: "http://localhost:1234/suite-root.json", options: SchemaOptions(loader: self.loader))
            } catch {
                for test in group["tests"]?.array ?? [] { result.failures.append("\(description) / \(test["description"]?.string ?? "?"): does not compile: \(error)") }
                continue
            }
            for test in group["tests"]?.array ?? [] {
                guard let data = test["data"], case .bool(let expected)? = test["valid"] else { continue }
                let valid = schema.isValid(data)
                let violations = schema.validate(data)
                if valid == expected && violations.isEmpty == expected {
                    result.passed += 1
                } else {
                    result.failures.append("\(description) / \(test["description"]?.string ?? "?"): expected \(expected ? "valid" : "invalid"), isValid=\(valid), violations=\(violations.count)")
                }
            }
        }
        return result
    }
}
