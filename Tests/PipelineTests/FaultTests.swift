import Curl
import Foundation
import SensormineClients
import LibPQ
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

    /// Sends `count` points of `metric` over HTTP, one second apart from `start + first` seconds,
    /// valued by their index; returns how many the edge accepted.
    func send(_ client: HTTPClient, gateway: String, metric: String, start: Date, first: Int, count: Int) async throws -> Int {
        let format = ISO8601DateFormatter()
        let points = (first..<(first + count)).map { index in
            #"{"time":"\#(format.string(from: start.addingTimeInterval(Double(index))))","\#(metric)":\#(index)}"#
        }
        let answer = try await PipelineTests.call(client, "POST", gateway + "/api/v1/ingest", apiKey: self.apiKey, json: "[" + points.joined(separator: ",") + "]")
        return answer.status == 202 ? Int(answer.body["accepted"]?.number ?? 0) : 0
    }

    /// A connection as the device, with its own MQTT credentials.
    func connectMQTT(name: String) async throws -> MQTTClient {
        let environment = ProcessInfo.processInfo.environment
        let client = try MQTTClient(configuration: .init(
            host: environment["SENSORMINE_MQTT_HOST"] ?? "127.0.0.1", port: Int(environment["SENSORMINE_MQTT_PORT"] ?? "") ?? 1883,
            clientID: "\(name)-\(UUID().uuidString.prefix(8))", username: self.mqttUsername, password: self.mqttPassword),
            logger: PipelineTestStack.logger)
        try await client.connect()
        return client
    }

    /// Polls QueryAPI for up to a minute until `expected` points of `metric` are stored; returns
    /// the last count seen.
    func waitForStored(_ client: HTTPClient, gateway: String, metric: String, from: String, expected: Int) async throws -> Int {
        var stored = 0
        for _ in 0..<600 where stored < expected {
            stored = (try? await self.storedCount(client, gateway: gateway, metric: metric, from: from)) ?? 0
            if stored < expected { try await Task.sleep(for: .milliseconds(100)) }
        }
        return stored
    }

    /// How many points of `metric` QueryAPI holds for the device since `from`.
    func storedCount(_ client: HTTPClient, gateway: String, metric: String, from: String) async throws -> Int {
        let answer = try await PipelineTests.call(client, "GET", gateway + "/api/v1/telemetry/aggregate?metric=\(metric)&fn=count&bucket=1d&devices=\(self.device)&from=\(from)",
                                                  token: self.viewerToken)
        return Int(answer.body["buckets"]?.array?.compactMap { $0["count"]?.number }.reduce(0, +) ?? 0)
    }
}

/// The local stack's server processes, for pausing, killing and restarting them.
enum LocalStack {
    /// The Kafka-protocol broker's pid.
    static func brokerPID() throws -> pid_t {
        try pid(fromFirstLineOf: ".stack/pids/tansu.pid")
    }

    /// The TimescaleDB postmaster's pid (first line of its postmaster.pid).
    static func postgresPID() throws -> pid_t {
        try pid(fromFirstLineOf: ".stack/trixie/var/lib/sensormine/pg/postmaster.pid")
    }

    /// Runs the stack's own start script, which starts whatever is not answering.
    static func up() async throws {
        let script = ServiceBinaries.repositoryRoot.appendingPathComponent("scripts/stack/up.sh").path
        let process = try ChildProcess(executable: "/bin/bash", arguments: [script], environment: ProcessInfo.processInfo.environment)
        let status = await process.waitForExit(timeout: .seconds(120))
        guard status == 0 else { throw PipelineTestError("scripts/stack/up.sh ended with \(String(describing: status)): \(process.output.suffix(2000))") }
    }

    private static func pid(fromFirstLineOf path: String) throws -> pid_t {
        let text = try String(contentsOf: ServiceBinaries.repositoryRoot.appendingPathComponent(path), encoding: .utf8)
        guard let line = text.split(separator: "\n").first, let pid = pid_t(line.trimmingCharacters(in: .whitespaces)) else {
            throw PipelineTestError("no pid in \(path)")
        }
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

            let broker = try LocalStack.brokerPID()
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
                let publisher = try await fixture.connectMQTT(name: "outage")
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

            let stored = try await fixture.waitForStored(client, gateway: gateway, metric: "load", from: from, expected: 300)
            let left = (try? FileManager.default.contentsOfDirectory(atPath: PipelineTestStack.spoolDirectory)) ?? []
            #expect(stored == 300, "spool still holds \(left)")
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
                accepted += try await fixture.send(client, gateway: gateway, metric: "temp", start: start, first: batch * 100, count: 100)
                if batch == 10 {
                    ingestion.signal(SIGKILL)
                    #expect(await ingestion.waitForExit(timeout: .seconds(5)) == 128 + SIGKILL)
                }
                if batch == 25 { ingestion = try startIngestion() }
            }
            #expect(accepted == 4000)
            let stored = try await fixture.waitForStored(client, gateway: gateway, metric: "temp", from: from, expected: 4000)
            #expect(stored == 4000, "\(ingestion.output.suffix(1500))")
            ingestion.signal(SIGTERM)
            #expect(await ingestion.waitForExit(timeout: .seconds(20)) == 0)
            await client.shutdown()
        }
    }

    @Test("PostgreSQL stopped and restarted while devices keep publishing: every acknowledged point is stored exactly once")
    func postgresRestart() async throws {
        let tokens = try await AccessTokens(settings: try TokenSettings(reader: ConfigReader(values: PipelineTestStack.values(port: 0))))
        try await PipelineTestStack.run { gateway in
            let client = HTTPClient(configuration: .init(timeout: .seconds(30), maximumRetries: 0))
            let fixture = try await ProvisionedDevice.make(client, gateway: gateway, tokens: tokens, name: "Restart")
            let start = Date().addingTimeInterval(-10800)
            let format = ISO8601DateFormatter()
            let from = format.string(from: start.addingTimeInterval(-60))

            // 30 batches of 100 points; the database goes down (fast shutdown: every connection
            // dropped) after the 10th and comes back after the 20th.
            var accepted = 0
            for batch in 0..<30 {
                accepted += try await fixture.send(client, gateway: gateway, metric: "rpm", start: start, first: batch * 100, count: 100)
                if batch == 10 {
                    let postmaster = try LocalStack.postgresPID()
                    #expect(kill(postmaster, SIGINT) == 0)
                    var gone = false
                    for _ in 0..<300 where !gone {
                        gone = kill(postmaster, 0) != 0
                        if !gone { try await Task.sleep(for: .milliseconds(100)) }
                    }
                    #expect(gone)
                }
                if batch == 20 { try await LocalStack.up() }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(accepted == 3000)
            #expect(try await fixture.waitForStored(client, gateway: gateway, metric: "rpm", from: from, expected: 3000) == 3000)
            try await Task.sleep(for: .seconds(1))
            #expect(try await fixture.storedCount(client, gateway: gateway, metric: "rpm", from: from) == 3000)
            await client.shutdown()
        }
    }
}

extension PipelineTests {
    @Test("a database outage longer than max.poll.interval.ms: Ingestion leaves the group, rejoins afterwards and stores every point once")
    func outageLongerThanPollInterval() async throws {
        let tokens = try await AccessTokens(settings: try TokenSettings(reader: ConfigReader(values: PipelineTestStack.values(port: 0))))
        try await ScratchTimeseries.timescale.withURL { url, timeseries in
            let database = try #require(url.split(separator: "/").last.map(String.init))
            let overrides = ["SENSORMINE_TIMESERIES_DB_URL": url, "SENSORMINE_INGESTION_MAX_POLL_INTERVAL": "7s",
                             "SENSORMINE_TIMESERIES_DB_CONNECT_TIMEOUT": "1s"]
            try await PipelineTestStack.run(overrides: overrides) { gateway in
                let client = HTTPClient(configuration: .init(timeout: .seconds(30), maximumRetries: 0))
                let fixture = try await ProvisionedDevice.make(client, gateway: gateway, tokens: tokens, name: "Outage")
                let start = Date().addingTimeInterval(-7200)
                let from = ISO8601DateFormatter().string(from: start.addingTimeInterval(-60))
                #expect(try await fixture.send(client, gateway: gateway, metric: "flow", start: start, first: 0, count: 100) == 100)
                #expect(try await fixture.waitForStored(client, gateway: gateway, metric: "flow", from: from, expected: 100) == 100)

                // The outage: no new connections to Ingestion's database, existing ones cut.
                _ = try await timeseries.query("SELECT 1")
                let admin = PostgresClient(configuration: .init(url: url.replacingOccurrences(of: "/" + database, with: "/postgres"), name: "outage-admin"))
                _ = try await admin.query("ALTER DATABASE \(database) ALLOW_CONNECTIONS false")
                _ = try await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", [database])
                // Batches enough to fill Ingestion's pipeline, so it stops polling while it retries.
                for part in 0..<5 {
                    #expect(try await fixture.send(client, gateway: gateway, metric: "flow", start: start, first: 100 + part * 20, count: 20) == 20)
                    try await Task.sleep(for: .milliseconds(300))
                }
                // Twice the poll interval: librdkafka has left the group by now.
                try await Task.sleep(for: .seconds(14))
                _ = try await admin.query("ALTER DATABASE \(database) ALLOW_CONNECTIONS true")
                await admin.shutdown()

                #expect(try await fixture.send(client, gateway: gateway, metric: "flow", start: start, first: 200, count: 100) == 100)
                let reader = PostgresClient(configuration: .init(url: url, name: "outage-reader", sessionSettings: PostgresClient.Configuration.allTenants))
                var stored = 0
                for _ in 0..<600 where stored < 300 {
                    stored = (try? await reader.query("SELECT count(*) AS n FROM telemetry WHERE device_id = $1", [fixture.device]).first?.int("n")) ?? 0
                    if stored < 300 { try await Task.sleep(for: .milliseconds(100)) }
                }
                #expect(stored == 300)
                try await Task.sleep(for: .seconds(1))
                #expect(try await reader.query("SELECT count(DISTINCT time) AS n FROM telemetry WHERE device_id = $1", [fixture.device]).first?.int("n") == 300)
                await reader.shutdown()
                await client.shutdown()
            }
        }
    }
}
