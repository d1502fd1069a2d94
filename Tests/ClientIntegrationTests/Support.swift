import Foundation
import Logging
import Testing

/// Where the local stack is, as the Makefile exports it. Integration tests run under `make test`,
/// which starts the stack; run directly, they fail with a message saying so.
enum TestStack {
    struct NotConfigured: Error, CustomStringConvertible {
        let key: String
        var description: String { "\(key) is not set: run the tests with `make test`, which starts the local stack and exports it" }
    }

    static func setting(_ key: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[key], !value.isEmpty else { throw NotConfigured(key: key) }
        return value
    }

    static var metadataURL: String { get throws { try setting("SENSORMINE_METADATA_DB_URL") } }
    static var timeseriesURL: String { get throws { try setting("SENSORMINE_TIMESERIES_DB_URL") } }
    static var redisURL: String { get throws { try setting("SENSORMINE_REDIS_URL") } }
    static var kafkaBrokers: String { get throws { try setting("SENSORMINE_KAFKA_BROKERS") } }
    static var mqttHost: String { get throws { try setting("SENSORMINE_MQTT_HOST") } }
    static var mqttPort: Int { get throws { Int(try setting("SENSORMINE_MQTT_PORT")) ?? 1883 } }
    static var mqttUsername: String { get throws { try setting("SENSORMINE_MQTT_USERNAME") } }
    static var mqttPassword: String { get throws { try setting("SENSORMINE_MQTT_PASSWORD") } }

    /// A name no other test (or earlier run) uses.
    static func unique(_ prefix: String) -> String {
        "\(prefix)_\(UUID().uuidString.prefix(8).lowercased())"
    }

    static let logger: Logger = {
        var logger = Logger(label: "integration-tests")
        logger.logLevel = .warning
        return logger
    }()

    static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    struct ScriptFailed: Error, CustomStringConvertible {
        let description: String
    }

    /// Starts or stops a throwaway server (scripts/stack/scratch.sh) for restart tests.
    /// Awaits the script through its termination handler: `waitUntilExit` can hang when called
    /// from a Swift-concurrency thread.
    static func scratch(_ action: String, _ kind: String, port: Int) async throws {
        let logPath = FileManager.default.temporaryDirectory.appendingPathComponent("scratch-\(kind)-\(port)-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: logPath) }
        // bash does every redirection itself: no descriptor of ours is handed to Process, so none
        // can be closed twice (a double close could hit a descriptor libdispatch reused).
        let script = repositoryRoot.appendingPathComponent("scripts/stack/scratch.sh").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", "exec </dev/null >\"$0\" 2>&1; exec /bin/bash \"$1\" \"$2\" \"$3\" \"$4\"", logPath, script, action, kind, String(port)]
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch { continuation.resume(throwing: error) }
        }
        guard status == 0 else {
            let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            throw ScriptFailed(description: "scratch.sh \(action) \(kind) \(port) failed: \(text)")
        }
    }

    /// Retries `body` until it succeeds or `timeout` passes; returns the attempts it took.
    @discardableResult
    static func eventually(timeout: Duration = .seconds(15), _ body: () async throws -> Void) async throws -> Int {
        let deadline = ContinuousClock.now + timeout
        var attempts = 0
        while true {
            attempts += 1
            do {
                try await body()
                return attempts
            } catch {
                if ContinuousClock.now >= deadline { throw error }
                try await Task.sleep(for: .milliseconds(200))
            }
        }
    }
}

/// Ports of the throwaway servers restart tests own (one per test, so they never collide).
/// Below the kernel's ephemeral range (32768–60999), so an outgoing connection can never hold
/// the port while a scratch server restarts on it.
enum ScratchPort {
    static let postgres = 29104
    static let redis = 29101
    static let mosquitto = 29102
    static let kafka = 29103
}
