import Foundation

/// A setting that is missing or malformed; the message names the variable.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The environment variable at fault.
    public let key: String
    /// What is wrong with it.
    public let problem: String

    /// Creates an error.
    public init(key: String, problem: String) {
        self.key = key
        self.problem = problem
    }

    public var description: String { "configuration error: \(self.key): \(self.problem)" }
}

/// Reads typed settings from environment variables (`SENSORMINE_*`), over an optional file named
/// by `SENSORMINE_CONFIG_FILE` in env-file format (`KEY=value` lines, `#` comments), so the same
/// file works as a Kubernetes ConfigMap or a compose `env_file`. The environment wins over the file.
public struct ConfigReader: Sendable {
    /// The merged settings.
    public let values: [String: String]

    /// Creates a reader over explicit values (tests, tools).
    public init(values: [String: String]) {
        self.values = values
    }

    /// Loads the environment and, if `SENSORMINE_CONFIG_FILE` is set, that file beneath it.
    /// - Throws: ``ConfigurationError`` when the file cannot be read or parsed.
    public static func load(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ConfigReader {
        var merged: [String: String] = [:]
        if let path = environment["SENSORMINE_CONFIG_FILE"], !path.isEmpty {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ConfigurationError(key: "SENSORMINE_CONFIG_FILE", problem: "cannot read file '\(path)'")
            }
            merged = try Self.parseEnvironmentFile(String(decoding: data, as: UTF8.self), path: path)
        }
        for (key, value) in environment where key.hasPrefix("SENSORMINE_") { merged[key] = value }
        return ConfigReader(values: merged)
    }

    /// Parses env-file text: `KEY=value`, optional `export `, optional single or double quotes.
    /// - Throws: ``ConfigurationError`` naming the line that is not `KEY=value`.
    public static func parseEnvironmentFile(_ text: String, path: String = "config file") throws -> [String: String] {
        var values: [String: String] = [:]
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") { line.removeFirst("export ".count) }
            guard let equals = line.firstIndex(of: "="), equals != line.startIndex else {
                throw ConfigurationError(key: "SENSORMINE_CONFIG_FILE", problem: "\(path) line \(number + 1) is not KEY=value")
            }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
                value = String(value.dropFirst().dropLast())
            }
            values[key] = value
        }
        return values
    }

    /// A required or defaulted string.
    /// - Throws: ``ConfigurationError`` when missing without a default, or empty.
    public func string(_ key: String, default defaultValue: String? = nil) throws -> String {
        guard let value = self.values[key] else {
            if let defaultValue { return defaultValue }
            throw ConfigurationError(key: key, problem: "is required but not set")
        }
        guard !value.isEmpty else { throw ConfigurationError(key: key, problem: "is set but empty") }
        return value
    }

    /// A string that may be absent.
    public func optionalString(_ key: String) -> String? {
        self.values[key].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// A secret: like ``string(_:default:)`` but never echoed in errors.
    /// - Throws: ``ConfigurationError`` when missing without a default.
    public func secret(_ key: String, default defaultValue: String? = nil) throws -> String {
        try self.string(key, default: defaultValue)
    }

    /// An integer within `range`.
    /// - Throws: ``ConfigurationError`` when not an integer or out of range.
    public func int(_ key: String, default defaultValue: Int? = nil, range: ClosedRange<Int> = Int.min...Int.max) throws -> Int {
        let fallback = defaultValue.map(String.init)
        let text = try self.string(key, default: fallback)
        guard let value = Int(text) else { throw ConfigurationError(key: key, problem: "expected an integer, got '\(text.prefix(64))'") }
        guard range.contains(value) else {
            throw ConfigurationError(key: key, problem: "expected an integer in \(range.lowerBound)...\(range.upperBound), got \(value)")
        }
        return value
    }

    /// A TCP port (1...65535).
    /// - Throws: ``ConfigurationError``.
    public func port(_ key: String, default defaultValue: Int? = nil) throws -> Int {
        try self.int(key, default: defaultValue, range: 1...65535)
    }

    /// A boolean: true/false, yes/no, on/off, 1/0.
    /// - Throws: ``ConfigurationError`` for anything else.
    public func bool(_ key: String, default defaultValue: Bool? = nil) throws -> Bool {
        let text = try self.string(key, default: defaultValue.map { $0 ? "true" : "false" }).lowercased()
        switch text {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: throw ConfigurationError(key: key, problem: "expected true or false, got '\(text.prefix(64))'")
        }
    }

    /// A duration written as `250ms`, `5s`, `2m`, `1h` (a bare number means seconds).
    /// - Throws: ``ConfigurationError`` for another form or a negative value.
    public func duration(_ key: String, default defaultValue: Duration? = nil) throws -> Duration {
        guard let text = self.optionalString(key) else {
            if let defaultValue { return defaultValue }
            throw ConfigurationError(key: key, problem: "is required but not set")
        }
        guard let value = Self.parseDuration(text) else {
            throw ConfigurationError(key: key, problem: "expected a duration such as 250ms, 5s, 2m, 1h or 30d, got '\(text.prefix(64))'")
        }
        return value
    }

    /// A duration as ``duration(_:default:)`` reads it, or nil when set to `off` (a job turned off).
    /// - Throws: ``ConfigurationError`` for another form or a negative value.
    public func durationOrOff(_ key: String, default defaultValue: Duration) throws -> Duration? {
        self.optionalString(key) == "off" ? nil : try self.duration(key, default: defaultValue)
    }

    /// A URL whose scheme is one of `schemes`; credentials in it are never echoed in errors.
    /// - Throws: ``ConfigurationError``.
    public func url(_ key: String, default defaultValue: String? = nil, schemes: Set<String>) throws -> String {
        let text = try self.string(key, default: defaultValue)
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(), schemes.contains(scheme),
              components.host?.isEmpty == false
        else {
            throw ConfigurationError(key: key, problem: "expected a URL with scheme \(schemes.sorted().joined(separator: " or ")) and a host")
        }
        return text
    }

    /// A comma-separated list (empty items dropped).
    /// - Throws: ``ConfigurationError`` when missing without a default.
    public func list(_ key: String, default defaultValue: [String]? = nil) throws -> [String] {
        guard let text = self.optionalString(key) else {
            if let defaultValue { return defaultValue }
            throw ConfigurationError(key: key, problem: "is required but not set")
        }
        return text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// A duration in the form ``duration(_:default:)`` reads, or nil.
    public static func parseDuration(_ text: String) -> Duration? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)]
        // Up to about 290,000 years in milliseconds: beyond that Int64 would trap.
        func milliseconds(_ value: Double?) -> Duration? {
            guard let value, value >= 0, value < 9e18 else { return nil }
            return .milliseconds(Int64(value.rounded()))
        }
        for (suffix, scale) in units where trimmed.hasSuffix(suffix) {
            return milliseconds(Double(trimmed.dropLast(suffix.count)).map { $0 * scale * 1000 })
        }
        return milliseconds(Double(trimmed).map { $0 * 1000 })
    }
}
