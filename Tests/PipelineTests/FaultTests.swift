import Curl
import Foundation
import Mosquitto
import SensormineAuth
import SensormineCore
import SensormineJSON
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A tenant with one device (no schema on its type), its API key and MQTT credentials.
struct ProvisionedDevice: Sendable {
    var tenant: String
    var device: String
    var apiKey: String
    var mqttUsername: String
    var mqttPassword: String
    var topic: String
    var viewerToken: String

    static func make(_ client: HTTPClient, gateway: String, tokens: AccessTokens, name: String) async throws -> ProvisionedDevice {
        let admin = try await tokens.issue(for: CallerIdentity(subject: "root", tenantID: UUID(), roles: [.platformAdmin])).token
        let org = try await PipelineTests.call(client, "POST", gateway + "/api/v1/tenants", token: admin,
                                               json: #"{"name":"\#(name) \#(UUID().uuidString.prefix(8))","kind":"organisation"}"#)
        let tenant = try #require(org.body["id"]?.string).lowercased()
        let tenantID = try #require(UUID(uuidString: tenant))
        let orgAdmin = try await tokens.issue(for: CallerIdentity(subject: "ops", tenantID: tenantID, roles: [.tenantAdmin])).token
        let type = try await PipelineTests.call(client, "POST", gateway + "/api/v1/device-types", token: orgAdmin, json: #"{"name":"Rotor"}"#)
        let typeID = try #require(type.body["id"]?.string)
        let device = try await PipelineTests.call(client, "POST", gateway + "/api/v1/devices", token: orgAdmin, json: #"{"name":"r-1","deviceTypeId":"\#(typeID)"}"#)
        let deviceID = try #require(device.body["id"]?.string).lowercased()
        let key = try #require(try await PipelineTests.call(client, "POST", gateway + "/api/v1/devices/\(deviceID)/api-keys", token: orgAdmin, json: "{}").body["key"]?.string)
        let mqtt = try await PipelineTests.call(client, "PUT", gateway + "/api/v1/devices/\(deviceID)/mqtt-credentials", token: orgAdmin, json: "{}")
        let viewer = try await tokens.issue(for: CallerIdentity(subject: "viewer", tenantID: tenantID, roles: [.viewer])).token
        return ProvisionedDevice(tenant: tenant, device: deviceID, apiKey: key, mqttUsername: try #require(mqtt.body["username"]?.string),
                                 mqttPassword: try #require(mqtt.body["password"]?.string), topic: try #require(mqtt.body["telemetryTopic"]?.string),
                                 viewerToken: viewer)
    }

    /// How many points of `metric` QueryAPI holds for the device since `from`.
    func storedCount(_ client: HTTPClient, gateway: String, metric: String, from: String) async throws -> Int {
        let answer = try await PipelineTests.call(client, "GET", gateway + "/api/v1/telemetry/aggregate?metric=\(metric)&fn=count&bucket=1d&devices=\(self.device)&from=\(from)",
                                                  token: self.viewerToken)
        return Int(answer.body["buckets"]?.array?.compactMap { $0["count"]?.number }.reduce(0, +) ?? 0)
    }
}

/// The local Kafka-protocol broker's process, for pausing it.
enum LocalBroker {
    static func pid() throws -> pid_t {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent(".stack/pids/tansu.pid"), encoding: .utf8)
        guard let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { throw PipelineTestError("no broker pid") }
        return pid
    }
}

extension PipelineTests {
    @Test("Kafka stopped while devices publish over HTTP and MQTT: everything is spooled, replayed when it returns, and stored exactly once")
    func kafkaOutage() async throws {
        let tokens = try await AccessTokens(settings: try TokenSettings(reader: ConfigReader(values: PipelineTestStack.values(port: 0))))
        try await PipelineTestStack.run { gateway in
            let client = HTTPClient(configuration: .init(timeout: .seconds(30), maximumRetries: 0))
            let fixture = try await ProvisionedDevice.make(client, gateway: gateway, tokens: tokens, name: "Outage")
            let start = Date().addingTimeInterval(-3600)
            let format = ISO8601DateFormatter()
            format.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            let from = format.string(from: start.addingTimeInterval(-60))

            let broker = try LocalBroker.pid()
            #expect(kill(broker, SIGSTOP) == 0)
            var accepted = 0
            do {
                // 10 HTTP batches of 20 and 100 MQTT messages while the broker is frozen.
                for batch in 0..<10 {
                    let points = (0..<20).map { index in
                        #"{"time":"\#(format.string(from: start.addingTimeInterval(Double(batch * 20 + index))))","load":\#(batch * 20 + index)}"#
                    }
                    let answer = try await PipelineTests.call(client, "POST", gateway + "/api/v1/ingest", apiKey: fixture.apiKey, json: "[" + points.joined(separator: ",") + "]")
                    if answer.status == 202 { accepted += Int(answer.body["accepted"]?.number ?? 0) }
                }
                let publisher = try MQTTClient(configuration: .init(
                    host: ProcessInfo.processInfo.environment["SENSORMINE_MQTT_HOST"] ?? "127.0.0.1",
                    port: Int(ProcessInfo.processInfo.environment["SENSORMINE_MQTT_PORT"] ?? "") ?? 1883,
                    clientID: "outage-\(UUID().uuidString.prefix(8))", username: fixture.mqttUsername, password: fixture.mqttPassword),
                    logger: PipelineTestStack.logger)
                try await publisher.connect()
                for index in 200..<300 {
                    try await publisher.publish(topic: fixture.topic, payload: Array(#"{"time":"\#(format.string(from: start.addingTimeInterval(Double(index))))","load":\#(index)}"#.utf8), qos: 1)
                }
                publisher.disconnect()
                // Nothing reached storage while the broker was frozen; it all sits in the spool.
                #expect(try await fixture.storedCount(client, gateway: gateway, metric: "load", from: from) == 0)
                let segments = try FileManager.default.contentsOfDirectory(atPath: PipelineTestStack.spoolDirectory).filter { $0.hasSuffix(".spool") }
                #expect(!segments.isEmpty)
            }
            #expect(kill(broker, SIGCONT) == 0)
            #expect(accepted == 200)

            var stored = 0
            for _ in 0..<600 where stored < 300 {
                stored = try await fixture.storedCount(client, gateway: gateway, metric: "load", from: from)
                if stored < 300 { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(stored == 300)
            // A little later the count has not grown: replays and late spool segments added no
            // rows beyond the 300 sent (the primary key already rules out exact repeats).
            try await Task.sleep(for: .seconds(2))
            #expect(try await fixture.storedCount(client, gateway: gateway, metric: "load", from: from) == 300)
            await client.shutdown()
        }
    }

    @Test("Ingestion killed with SIGKILL mid-stream and restarted: every acknowledged point is stored exactly once")
    func ingestionKilled() async throws {
        let tokens = try await AccessTokens(settings: try TokenSettings(reader: ConfigReader(values: PipelineTestStack.values(port: 0))))
        try await PipelineTestStack.run(ingestionInProcess: false) { gateway in
            var environment = PipelineTestStack.values(port: PipelineTestStack.ports.ingestion, [
                "SENSORMINE_LOG_LEVEL": "warning", "SENSORMINE_INGESTION_INSTANCE_ID": PipelineTestStack.topicPrefix + "-ingestion",
                "SENSORMINE_INGESTION_BATCH": "200",
            ])
            environment["LD_LIBRARY_PATH"] = ProcessInfo.processInfo.environment["LD_LIBRARY_PATH"]
            func startIngestion() throws -> ChildProcess {
                try ChildProcess(executable: ServiceBinaries.path("Ingestion"), arguments: ["serve"], environment: environment)
            }
            let client = HTTPClient(configuration: .init(timeout: .seconds(30), maximumRetries: 0))
            var ingestion = try startIngestion()
            let fixture = try await ProvisionedDevice.make(client, gateway: gateway, tokens: tokens, name: "Crash")
            let start = Date().addingTimeInterval(-7200)
            let format = ISO8601DateFormatter()
            let from = format.string(from: start.addingTimeInterval(-60))

            // 40 batches of 100 points, acknowledged by the edge; Ingestion dies after the 10th.
            var accepted = 0
            for batch in 0..<40 {
                let points = (0..<100).map { index in #"{"time":"\#(format.string(from: start.addingTimeInterval(Double(batch * 100 + index))))","temp":\#(batch * 100 + index)}"# }
                let answer = try await PipelineTests.call(client, "POST", gateway + "/api/v1/ingest", apiKey: fixture.apiKey, json: "[" + points.joined(separator: ",") + "]")
                if answer.status == 202 { accepted += 100 }
                if batch == 10 {
                    ingestion.signal(SIGKILL)
                    #expect(await ingestion.waitForExit(timeout: .seconds(5)) == 128 + SIGKILL)
                }
                if batch == 25 { ingestion = try startIngestion() }
            }
            #expect(accepted == 4000)
            var stored = 0
            for _ in 0..<600 where stored < 4000 {
                stored = try await fixture.storedCount(client, gateway: gateway, metric: "temp", from: from)
                if stored < 4000 { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(stored == 4000, "\(ingestion.output.suffix(1500))")
            ingestion.signal(SIGTERM)
            #expect(await ingestion.waitForExit(timeout: .seconds(20)) == 0)
            await client.shutdown()
        }
    }
}
