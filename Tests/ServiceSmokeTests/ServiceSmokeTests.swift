import ClientRuntime
import Curl
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Every service binary, its port for this test (clear of `make run`'s 8080–8089), and a setting
/// it cannot start without.
struct ServiceUnderTest: Sendable, CustomStringConvertible {
    let name: String
    let port: Int
    let requiredSetting: String
    /// Other services it needs (started for the test on `port + 10`), and the key naming them.
    var upstreams: [(service: String, key: String)] = []
    var description: String { self.name }

    static let all: [ServiceUnderTest] = [
        .init(name: "ApiGateway", port: 18180, requiredSetting: "SENSORMINE_REDIS_URL"),
        .init(name: "DeviceAPI", port: 18181, requiredSetting: "SENSORMINE_METADATA_DB_URL"),
        .init(name: "SchemaRegistry", port: 18182, requiredSetting: "SENSORMINE_METADATA_DB_URL"),
        .init(name: "QueryAPI", port: 18183, requiredSetting: "SENSORMINE_TIMESERIES_DB_URL"),
        .init(name: "Ingestion", port: 18184, requiredSetting: "SENSORMINE_SCHEMA_REGISTRY_URL",
              upstreams: [("SchemaRegistry", "SENSORMINE_SCHEMA_REGISTRY_URL"), ("DeviceAPI", "SENSORMINE_DEVICE_API_URL")]),
        .init(name: "EdgeGateway", port: 18185, requiredSetting: "SENSORMINE_MQTT_HOST"),
        .init(name: "StreamProcessing", port: 18186, requiredSetting: "SENSORMINE_SCHEMA_REGISTRY_URL",
              upstreams: [("SchemaRegistry", "SENSORMINE_SCHEMA_REGISTRY_URL"), ("DeviceAPI", "SENSORMINE_DEVICE_API_URL")]),
        .init(name: "Alerts", port: 18187, requiredSetting: "SENSORMINE_METADATA_DB_URL"),
        .init(name: "Billing", port: 18188, requiredSetting: "SENSORMINE_REDIS_URL"),
        .init(name: "FailoverOrchestrator", port: 18189, requiredSetting: "SENSORMINE_KAFKA_BROKERS"),
        .init(name: "Console", port: 18190, requiredSetting: "SENSORMINE_CONSOLE_ASSETS_DIR"),
    ]
}

@Suite("Service executables")
struct ServiceSmokeTests {
    static var stackEnvironment: [String: String] {
        var environment = ProcessInfo.processInfo.environment.filter { $0.key.hasPrefix("SENSORMINE_") || $0.key == "LD_LIBRARY_PATH" || $0.key == "PATH" }
        // Ingestion, StreamProcessing and Alerts join groups of the test's own, so `make run`'s groups are left alone.
        environment["SENSORMINE_INGESTION_GROUP"] = "smoke-\(UUID().uuidString.prefix(8).lowercased())"
        environment["SENSORMINE_INGESTION_START"] = "latest"
        environment["SENSORMINE_STREAM_GROUP"] = "smoke-stream-\(UUID().uuidString.prefix(8).lowercased())"
        environment["SENSORMINE_STREAM_START"] = "latest"
        environment["SENSORMINE_ALERTS_GROUP"] = "smoke-alerts-\(UUID().uuidString.prefix(8).lowercased())"
        environment["SENSORMINE_ALERTS_START"] = "latest"
        environment["SENSORMINE_EDGE_SPOOL_DIR"] = FileManager.default.temporaryDirectory.appendingPathComponent("smoke-spool-\(UUID().uuidString)").path
        let run = "smoke-\(UUID().uuidString.prefix(8).lowercased())"
        environment["SENSORMINE_EDGE_MQTT_SHARE_GROUP"] = run
        environment["SENSORMINE_EDGE_MQTT_CLIENT_ID"] = run + "-edge"
        environment["SENSORMINE_EDGE_MQTT_SESSION_EXPIRY"] = "5s"
        environment["SENSORMINE_EDGE_MQTT_CONNECTIONS"] = "2"
        return environment
    }

    /// Validates a document with openapi-spec-validator from the project's virtualenv.
    static func expectValidOpenAPI(_ document: [UInt8], service: String) async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(service)-\(UUID().uuidString).yaml").path
        FileManager.default.createFile(atPath: path, contents: Data(document))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let python = ServiceBinaries.repositoryRoot.appendingPathComponent(".stack/venv/bin/python").path
        let validator = try ChildProcess(executable: python, arguments: ["-m", "openapi_spec_validator", path], environment: [:])
        let status = await validator.waitForExit(timeout: .seconds(60))
        #expect(status == 0, "\(service)'s OpenAPI document is invalid:\n\(validator.output.suffix(1500))")
    }

    @Test("answers --help with its configuration keys", arguments: ServiceUnderTest.all)
    func help(_ service: ServiceUnderTest) async throws {
        let process = try ChildProcess(executable: ServiceBinaries.path(service.name), arguments: ["--help"], environment: [:])
        let status = await process.waitForExit(timeout: .seconds(20))
        #expect(status == 0)
        #expect(process.output.contains("SENSORMINE_HTTP_PORT"))
        #expect(process.output.contains(service.requiredSetting))
        #expect(process.output.contains("migrate"))
    }

    @Test("refuses to start without a required setting, naming it", arguments: ServiceUnderTest.all)
    func missingSetting(_ service: ServiceUnderTest) async throws {
        var environment = Self.stackEnvironment
        environment[service.requiredSetting] = nil
        environment["SENSORMINE_HTTP_PORT"] = String(service.port)
        let process = try ChildProcess(executable: ServiceBinaries.path(service.name), arguments: [], environment: environment)
        let status = await process.waitForExit(timeout: .seconds(20))
        #expect(status == 78)
        #expect(process.output.contains("\(service.requiredSetting): is required but not set"))
    }

    /// Polls GET /health/ready until it answers 200 or 30 s pass.
    static func waitUntilReady(_ base: String, client: HTTPClient) async throws -> HTTPClientResponse? {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let response = try? await client.get(base + "/health/ready"), response.status == 200 { return response }
            try await Task.sleep(for: .milliseconds(200))
        }
        return nil
    }

    @Test("serves health, readiness, metrics and OpenAPI, then drains and exits 0 on SIGTERM", arguments: ServiceUnderTest.all)
    func serveAndStop(_ service: ServiceUnderTest) async throws {
        var environment = Self.stackEnvironment
        environment["SENSORMINE_HTTP_HOST"] = "127.0.0.1"
        environment["SENSORMINE_LOG_FORMAT"] = "json"
        environment["SENSORMINE_SHUTDOWN_TIMEOUT"] = "10s"
        let client = HTTPClient(configuration: .init(maximumRetries: 0))
        // Real upstream services, so readiness checks them as it would in production.
        var upstreams: [ChildProcess] = []
        for (index, upstream) in service.upstreams.enumerated() {
            var upstreamEnvironment = environment
            upstreamEnvironment["SENSORMINE_HTTP_PORT"] = String(service.port + 10 + index)
            upstreams.append(try ChildProcess(executable: ServiceBinaries.path(upstream.service), arguments: ["serve"], environment: upstreamEnvironment))
            environment[upstream.key] = "http://127.0.0.1:\(service.port + 10 + index)"
            let upstreamReady = try await Self.waitUntilReady("http://127.0.0.1:\(service.port + 10 + index)", client: client)
            #expect(upstreamReady?.status == 200, "upstream \(upstream.service) never became ready")
        }
        defer { for upstream in upstreams { upstream.signal(SIGTERM) } }
        environment["SENSORMINE_HTTP_PORT"] = String(service.port)
        let process = try ChildProcess(executable: ServiceBinaries.path(service.name), arguments: ["serve"], environment: environment)
        let base = "http://127.0.0.1:\(service.port)"
        let ready = try await Self.waitUntilReady(base, client: client)
        #expect(ready?.status == 200, "\(service.name) never became ready:\n\(process.output.suffix(2000))")
        #expect(try await client.get(base + "/health").status == 200)
        let openAPI = try await client.get(base + "/openapi.yaml")
        #expect(openAPI.status == 200)
        #expect(String(decoding: openAPI.body, as: UTF8.self).hasPrefix("openapi: 3.1.0"))
        #expect(String(decoding: openAPI.body, as: UTF8.self).contains("Sensormine \(service.name)"))
        try await Self.expectValidOpenAPI(openAPI.body, service: service.name)
        let missing = try await client.get(base + "/no-such-route")
        #expect(missing.status == 404)
        #expect(missing.header("content-type") == "application/problem+json")
        let metrics = try await client.get(base + "/metrics")
        #expect(metrics.status == 200)
        #expect(String(decoding: metrics.body, as: UTF8.self).contains(#"http_route="/health/ready""#))
        await client.shutdown()

        process.signal(SIGTERM)
        let status = await process.waitForExit(timeout: .seconds(20))
        #expect(status == 0, "\(service.name) did not exit cleanly:\n\(process.output.suffix(2000))")
        let lines = process.output.split(separator: "\n").filter { $0.hasPrefix("{") }
        #expect(!lines.isEmpty)
        #expect(lines.allSatisfy { $0.contains(#""service":"\#(service.name)""#) && $0.contains(#""level":""#) })
    }
}
