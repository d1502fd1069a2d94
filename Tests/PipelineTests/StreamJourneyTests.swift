import Curl
import Foundation
import LibPQ
import Mosquitto
import RdKafka
import SensormineClients
import SensormineAuth
import SensormineContracts
import SensormineCore
import SensormineJSON
import TestSupport
import Testing

@testable import StreamProcessing

/// Device, schema, rules and notification settings of one tenant, made through the gateway.
struct StreamTenant {
    let tenant: UUID
    let admin: String
    let typeID: String
    let deviceID: String
    let topic: String
    let username: String
    let password: String

    static func make(_ client: HTTPClient, gateway: String, tokens: AccessTokens) async throws -> StreamTenant {
        let root = try await tokens.issue(for: CallerIdentity(subject: "root", tenantID: UUID(), roles: [.platformAdmin])).token
        let org = try await PipelineTests.call(client, "POST", gateway + "/api/v1/tenants", token: root, json: #"{"name":"Stream \#(UUID().uuidString.prefix(8))","kind":"organisation"}"#)
        let tenant = try #require(org.body["id"]?.string.flatMap(UUID.init(uuidString:)))
        let admin = try await tokens.issue(for: CallerIdentity(subject: "ops", tenantID: tenant, roles: [.tenantAdmin])).token
        let subject = "press-\(UUID().uuidString.prefix(8).lowercased())"
        let schema = #"{"type":"object","properties":{"temperature":{"type":"number"},"current":{"type":"number"}}}"#
        #expect(try await PipelineTests.call(client, "POST", gateway + "/api/v1/schemas/subjects", token: admin, json: #"{"name":"\#(subject)"}"#).status == 201)
        #expect(try await PipelineTests.call(client, "POST", gateway + "/api/v1/schemas/subjects/\(subject)/versions", token: admin, json: #"{"schema":\#(schema)}"#).status == 201)
        let type = try await PipelineTests.call(client, "POST", gateway + "/api/v1/device-types", token: admin, json: #"{"name":"Press","schemaSubject":"\#(subject)"}"#)
        let typeID = try #require(type.body["id"]?.string)
        let device = try await PipelineTests.call(client, "POST", gateway + "/api/v1/devices", token: admin, json: #"{"name":"press-1","deviceTypeId":"\#(typeID)","tags":["line-1"]}"#)
        let deviceID = try #require(device.body["id"]?.string).lowercased()
        let mqtt = try await PipelineTests.call(client, "PUT", gateway + "/api/v1/devices/\(deviceID)/mqtt-credentials", token: admin, json: "{}")
        return StreamTenant(tenant: tenant, admin: admin, typeID: typeID, deviceID: deviceID, topic: try #require(mqtt.body["telemetryTopic"]?.string),
                            username: try #require(mqtt.body["username"]?.string), password: try #require(mqtt.body["password"]?.string))
    }

    /// Creates an Alerts resource through the gateway; returns its id.
    func create(_ client: HTTPClient, gateway: String, _ kind: String, _ json: String) async throws -> String {
        let created = try await PipelineTests.call(client, "POST", gateway + "/api/v1/alerts/\(kind)", token: self.admin, json: json)
        #expect(created.status == 201, "\(kind): \(created.body)")
        return try #require(created.body["id"]?.string)
    }

    func publisher() async throws -> MQTTClient {
        let client = try MQTTClient(configuration: .init(
            host: ProcessInfo.processInfo.environment["SENSORMINE_MQTT_HOST"] ?? "127.0.0.1",
            port: Int(ProcessInfo.processInfo.environment["SENSORMINE_MQTT_PORT"] ?? "") ?? 1883,
            clientID: "stream-\(UUID().uuidString.prefix(8))", username: self.username, password: self.password), logger: PipelineTestStack.logger)
        try await client.connect()
        return client
    }
}

@Suite("Stream processing end to end", .serialized)
struct StreamJourneyTests {

    static func eventually(_ what: Comment, seconds: Int = 60, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("not within \(seconds) s: \(what)")
    }

    static func alertOverrides(receiver: Int, smtp: Int) -> [String: String] {
        [
            "SENSORMINE_ALERTS_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32",
            "SENSORMINE_ALERTS_SMTP_URL": "smtp://127.0.0.1:\(smtp)",
            "SENSORMINE_ALERTS_RETRY_BASE": "200ms",
            "SENSORMINE_ALERTS_DISPATCH_INTERVAL": "100ms",
            // The test sends two minutes of event time in a burst, which the edge's several MQTT
            // connections may reorder: a lateness that covers it, and no idle watermark
            // overtaking the test's pauses.
            "SENSORMINE_STREAM_ALLOWED_LATENESS": "3m",
            "SENSORMINE_STREAM_IDLE_TIMEOUT": "10m",
            "SENSORMINE_STREAM_ANOMALY_WARMUP": "20",
        ]
    }

    @Test("journey 8: a threshold rule made through the gateway fires on MQTT telemetry held for its duration; webhook and e-mail arrive, it escalates, resolves on recovery; no-data fires on silence; an anomaly fires after warm-up and not before")
    func journey() async throws {
        let tokens = try await AccessTokens(settings: try TokenSettings(reader: ConfigReader(values: PipelineTestStack.values(port: 0))))
        let mailbox = try await Mailbox.start()
        defer { mailbox.process.signal(SIGKILL) }
        let receiver = RecordingReceiver()
        try await receiver.run { port in
            try await PipelineTestStack.run(streamInProcess: true, alerts: true, overrides: Self.alertOverrides(receiver: port, smtp: mailbox.port)) { gateway in
                let client = HTTPClient(configuration: .init(maximumRetries: 0))
                defer { Task { await client.shutdown() } }
                let tenant = try await StreamTenant.make(client, gateway: gateway, tokens: tokens)
                let hook = try await tenant.create(client, gateway: gateway, "channels", #"{"name":"ops hook","type":"webhook","url":"http://127.0.0.1:\#(port)/hooks/first"}"#)
                let mail = try await tenant.create(client, gateway: gateway, "channels", #"{"name":"ops mail","type":"email","recipients":["ops@example.com"]}"#)
                let escalation = try await tenant.create(client, gateway: gateway, "channels", #"{"name":"on call","type":"webhook","url":"http://127.0.0.1:\#(port)/hooks/escalated"}"#)
                let policy = try await tenant.create(client, gateway: gateway, "policies", """
                    {"name":"press","levels":[{"channelIds":["\(hook)","\(mail)"]},{"channelIds":["\(escalation)"],"delaySeconds":3}]}
                    """)
                func rule(_ name: String, _ scope: String, _ condition: String, forSeconds: Int = 0) async throws -> UUID {
                    let id = try await tenant.create(client, gateway: gateway, "rules", """
                        {"name":"\(name)","scope":\(scope),"condition":\(condition),"forSeconds":\(forSeconds),"severity":"critical","notificationPolicyId":"\(policy)"}
                        """)
                    return try #require(UUID(uuidString: id))
                }
                let hot = try await rule("hot press", #"{"kind":"deviceType","deviceTypeId":"\#(tenant.typeID)"}"#,
                                         #"{"type":"threshold","metric":"temperature","comparison":"above","level":80,"hysteresis":5}"#, forSeconds: 3)
                let odd = try await rule("odd current", #"{"kind":"tag","tag":"line-1"}"#, #"{"type":"anomaly","metric":"current","level":0.9999}"#)
                let silent = try await rule("silent press", #"{"kind":"device","deviceId":"\#(tenant.deviceID)"}"#, #"{"type":"noData","seconds":20}"#)

                let publisher = try await tenant.publisher()
                defer { publisher.disconnect() }
                let start = (Date().timeIntervalSince1970 - 120).rounded(.down)
                func send(_ second: Int, temperature: Double, current: Double) async throws {
                    let time = Date(timeIntervalSince1970: start + Double(second)).formatted(.iso8601)
                    try await publisher.publish(topic: tenant.topic, payload: Array(#"{"time":"\#(time)","temperature":\#(temperature),"current":\#(current)}"#.utf8), qos: 1)
                }
                // Warm-up (20 points) with a current spike at the 6th: not scored, so no anomaly.
                var random = SystemRandomNumberGenerator()
                for second in 0..<30 { try await send(second, temperature: 50, current: second == 5 ? 30 : 20 + Double.random(in: -1...1, using: &random)) }
                // Over 80 for 5 s (the rule wants 3), then a current spike of 500.
                for second in 30..<35 { try await send(second, temperature: 90, current: 20 + Double.random(in: -1...1, using: &random)) }
                try await send(35, temperature: 91, current: 500)

                try await Self.eventually("the threshold alert's webhook") { try receiver.payloads("first").contains { $0.kind == "firing" && $0.alerts.first?.ruleId == hot } }
                let firing = try #require(try receiver.payloads("first").first { $0.kind == "firing" && $0.alerts.first?.ruleId == hot }?.alerts.first)
                // Held from second 30: the 3 s are up at 33, or, when the edge's MQTT connections
                // delivered a later point first, at the latest point seen then (at most 35).
                #expect((start + 33...start + 35).contains(firing.openedAt.timeIntervalSince1970), "\(firing.openedAt.timeIntervalSince1970 - start)")
                #expect([90, 91].contains(firing.values["temperature"]), "\(firing.values)")
                #expect(firing.deviceId?.uuidString.lowercased() == tenant.deviceID)
                let subject = "=?UTF-8?B?" + Data("hot press on \(tenant.deviceID)".utf8).base64EncodedString() + "?="
                try await Self.eventually("the e-mail") { mailbox.messages.contains { $0.contains(subject) && $0.contains("To: ops@example.com") } }
                try await Self.eventually("the escalation while unacknowledged") { try receiver.payloads("escalated").contains { $0.alerts.first?.id == firing.id } }
                try await Self.eventually("the anomaly alert") { try receiver.payloads("first").contains { $0.kind == "firing" && $0.alerts.first?.ruleId == odd } }
                let anomalies = try receiver.payloads("first").filter { $0.kind == "firing" && $0.alerts.first?.ruleId == odd }.compactMap(\.alerts.first)
                #expect(anomalies.count == 1, "the spike inside the warm-up raised nothing")
                #expect(anomalies.first?.openedAt.timeIntervalSince1970 == start + 35)
                #expect((anomalies.first?.values["current.anomalyScore"] ?? 0) > 0.9999)

                // Recovery: below 80 - 5.
                for second in 36..<40 { try await send(second, temperature: 70, current: 20 + Double.random(in: -1...1, using: &random)) }
                try await Self.eventually("the resolved notice") { try receiver.payloads("first").contains { $0.kind == "resolved" && $0.alerts.first?.id == firing.id } }
                let listed = try await PipelineTests.call(client, "GET", gateway + "/api/v1/alerts/instances?ruleId=\(hot.uuidString.lowercased())&state=resolved", token: tenant.admin)
                #expect(listed.status == 200, "\(listed.body)")
                #expect(listed.body["items"]?.array?.contains { $0["id"]?.string == firing.id.uuidString.lowercased() } == true, "\(listed.body)")

                // Silence: the no-data rule fires by the clock, 20 s after the last message.
                try await Self.eventually("the no-data alert", seconds: 90) { try receiver.payloads("first").contains { $0.kind == "firing" && $0.alerts.first?.ruleId == silent } }
                let quiet = try #require(try receiver.payloads("first").first { $0.alerts.first?.ruleId == silent }?.alerts.first)
                #expect((quiet.values["silentSeconds"] ?? 0) >= 20)
                try await send(200, temperature: 50, current: 20)
                try await Self.eventually("the no-data alert resolves with the next point") {
                    try receiver.payloads("first").contains { $0.kind == "resolved" && $0.alerts.first?.ruleId == silent }
                }
                let database = PostgresClient(configuration: .init(url: try #require(ProcessInfo.processInfo.environment["SENSORMINE_TIMESERIES_DB_URL"]), name: "stream-test"))
                defer { Task { await database.shutdown() } }
                try await StreamStateStore(database: database, group: PipelineTestStack.topicPrefix + ".stream").reset()
            }
        }
    }
}

/// StreamProcessing as a process of its own (so a test can kill it), with the pipeline stack's settings.
struct StreamProcess {
    let process: ChildProcess
    let port: Int

    static func start(port: Int, instance: String, overrides: [String: String]) throws -> StreamProcess {
        var environment = PipelineTestStack.values(port: port, overrides)
        environment["SENSORMINE_STREAM_INSTANCE_ID"] = instance
        environment["SENSORMINE_LOG_LEVEL"] = ProcessInfo.processInfo.environment["STREAM_TEST_LOG"] ?? "warning"
        environment["LD_LIBRARY_PATH"] = ProcessInfo.processInfo.environment["LD_LIBRARY_PATH"] ?? ""
        return StreamProcess(process: try ChildProcess(executable: ServiceBinaries.path("StreamProcessing"), arguments: [], environment: environment), port: port)
    }

    /// The value of an unlabelled gauge or counter on /metrics (nil while it is not published).
    func metric(_ client: HTTPClient, _ name: String) async -> Double? {
        guard let response = try? await client.get("http://127.0.0.1:\(self.port)/metrics"), response.status == 200 else { return nil }
        let text = String(decoding: response.body, as: UTF8.self)
        return text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }
}

extension StreamJourneyTests {
    /// Readings every 0.5 s of event time (step × 0.5 s), random values.
    static func readings(_ steps: Range<Int>) -> [(time: Double, value: Double)] {
        steps.map { (time: Double($0) * 0.5, value: Double(Int.random(in: 0...10_000)) / 10) }
    }

    /// Posts each device's readings (times in seconds after `base`) through the gateway, one
    /// second of each five at a time, the devices in turn: devices sharing a partition move its
    /// watermark together, never 3 s apart.
    static func sendInTurn(_ client: HTTPClient, gateway: String, base: Double, devices: [(id: String, key: String, onSite: Bool)],
                           _ points: [String: [(time: Double, value: Double)]]) async throws {
        for second in 0..<5 {
            for device in devices {
                let due = (points[device.id] ?? []).filter { Int($0.time) % 5 == second }
                if !due.isEmpty { try await Self.post(client, gateway: gateway, base: base, apiKey: device.key, due) }
            }
        }
    }

    /// Posts temperature readings (times in seconds after `base`, to the millisecond) through the gateway's ingest endpoint.
    static func post(_ client: HTTPClient, gateway: String, base: Double, apiKey: String, _ points: [(time: Double, value: Double)]) async throws {
        let body = "[" + points.map { point in
            let whole = (base + point.time).rounded(.down)
            let milliseconds = Int(((base + point.time - whole) * 1000).rounded())
            let time = String(Date(timeIntervalSince1970: whole).formatted(.iso8601).dropLast()) + ".\(String(1000 + milliseconds).dropFirst())Z"
            return #"{"time":"\#(time)","temperature":\#(point.value)}"#
        }.joined(separator: ",") + "]"
        let answer = try await PipelineTests.call(client, "POST", gateway + "/api/v1/ingest", apiKey: apiKey, json: body)
        #expect(answer.status == 202, "\(answer.body)")
    }

    /// Everything on `topic` (of this stack run) so far, read by a group of its own until it
    /// has reached the end of every partition.
    static func drain(_ topic: String) async throws -> [KafkaMessage] {
        let kafka = try KafkaSettings(reader: ConfigReader(values: PipelineTestStack.values(port: 0)))
        let consumer = try KafkaConsumer(configuration: .init(kafka: kafka.kafka, groupID: "stream-test-\(UUID().uuidString)", topics: [topic], batchSize: 5000),
                                         logger: PipelineTestStack.logger)
        var messages: [KafkaMessage] = []
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let batch = try await consumer.poll(timeout: .milliseconds(200))
            messages += batch
            if batch.isEmpty, try await consumer.assignedPartitionCount() == kafka.topics.partitions(of: topic), try await consumer.hasReachedEnd() { break }
        }
        await consumer.close()
        return messages
    }

    @Test("windows against an oracle computed from the points sent, across a kill -9 mid-window and a second member taking half the partitions; late points go to telemetry.late; usage of what was stored goes to metering.events once")
    func windowsSurviveKillAndRebalance() async throws {
        let tokens = try await AccessTokens(settings: try TokenSettings(reader: ConfigReader(values: PipelineTestStack.values(port: 0))))
        // Event times lie in the past, so a partition found idle (read to its end, nothing new for
        // the idle timeout: the local broker can hold produced messages back for tens of seconds
        // while the group rebalances) would see its watermark jump to the clock and every later
        // point arrive late. The idle rule is not what this test is about: 10 minutes, and the
        // last windows are closed by a reading of each device at the current time.
        let overrides = ["SENSORMINE_STREAM_WINDOWS": "10s,30s/10s", "SENSORMINE_STREAM_ALLOWED_LATENESS": "3s", "SENSORMINE_STREAM_IDLE_TIMEOUT": "10m",
                         "SENSORMINE_INGESTION_USAGE_INTERVAL": "1s"]
        try await PipelineTestStack.run(overrides: overrides) { gateway in
            let client = HTTPClient(configuration: .init(maximumRetries: 0))
            defer { Task { await client.shutdown() } }
            let tenant = try await StreamTenant.make(client, gateway: gateway, tokens: tokens)
            var devices: [(id: String, key: String)] = []
            for index in 0..<3 {
                let id = index == 0 ? tenant.deviceID : try #require(try await PipelineTests.call(client, "POST", gateway + "/api/v1/devices", token: tenant.admin,
                                                                                                   json: #"{"name":"press-\#(index + 1)","deviceTypeId":"\#(tenant.typeID)"}"#).body["id"]?.string).lowercased()
                let key = try #require(try await PipelineTests.call(client, "POST", gateway + "/api/v1/devices/\(id)/api-keys", token: tenant.admin, json: "{}").body["key"]?.string)
                devices.append((id, key))
            }
            var first = try StreamProcess.start(port: PipelineTestStack.ports.stream, instance: "a", overrides: overrides)
            var second: StreamProcess?
            defer {
                first.process.signal(SIGKILL)
                second?.process.signal(SIGKILL)
            }
            // 90 s of event time ending 30 s ago, every 0.5 s per device, sent in 6 parts; within a
            // part, neighbours swapped (0.5 s out of order, inside the 3 s lateness).
            let base = (Date().timeIntervalSince1970 / 10).rounded(.down) * 10 - 120
            var sent: [String: [(time: Double, value: Double)]] = [:]
            func post(_ device: (id: String, key: String), _ points: [(time: Double, value: Double)]) async throws {
                try await Self.post(client, gateway: gateway, base: base, apiKey: device.key, points)
            }
            for part in 0..<6 {
                var parts: [[(time: Double, value: Double)]] = []
                for device in devices {
                    var points = (0..<30).map { step in (time: Double(part * 15) + Double(step) * 0.5, value: Double(Int.random(in: 0...10_000)) / 10) }
                    for index in stride(from: 0, to: points.count - 1, by: 4) { points.swapAt(index, index + 1) }
                    sent[device.id, default: []] += points
                    parts.append(points)
                }
                // Devices may share a partition, whose watermark follows the newest of them: the
                // devices' readings go out 1.5 s at a time, in turn, never 3 s apart.
                for slice in stride(from: 0, to: 30, by: 3) {
                    for (device, points) in zip(devices, parts) { try await post(device, Array(points[slice..<slice + 3])) }
                }
                try await Task.sleep(for: .milliseconds(1500))
                if part == 2 {
                    // Mid-window (the 30 s windows of parts 2 and 3 are open): no goodbye, no flush;
                    // what it processed after its last save (at most a save interval's worth) is
                    // processed again by the next owner, with the same outputs.
                    try await Self.eventually("the first member processed the first three parts", seconds: 90) {
                        await first.metric(client, "sensormine_stream_points_total") == 270
                    }
                    first.process.signal(SIGKILL)
                    #expect(await first.process.waitForExit(timeout: .seconds(10)) != nil)
                    first = try StreamProcess.start(port: PipelineTestStack.ports.stream, instance: "a", overrides: overrides)
                    second = try StreamProcess.start(port: PipelineTestStack.ports.stream + 2, instance: "b", overrides: overrides)
                }
            }
            // Later than the 3 s lateness behind the watermark: reported, not counted.
            try await post(devices[0], [(time: 10.25, value: 99_999)])
            // Both members hold partitions once the group has settled.
            var shares: [Double] = []
            try await Self.eventually("both members hold partitions", seconds: 60) {
                shares = [await first.metric(client, "sensormine_stream_assigned_partitions") ?? 0, await second?.metric(client, "sensormine_stream_assigned_partitions") ?? 0]
                return shares.allSatisfy { $0 > 0 } && shares.reduce(0, +) == 6
            }

            // A reading of each device now moves every watermark past the last windows.
            for device in devices { try await post(device, [(time: Date().timeIntervalSince1970 - base, value: 1)]) }
            let kafka = try KafkaSettings(reader: ConfigReader(values: PipelineTestStack.values(port: 0)))
            var windows: [TelemetryWindow] = []
            let decoder = ContractCoding.decoder()
            try await Self.eventually("the last 10 s window of every device", seconds: 60) {
                windows = try await Self.drain(kafka.topics.telemetryWindows).compactMap { try? decoder.decode(TelemetryWindow.self, from: Data($0.value)) }
                return devices.allSatisfy { device in windows.contains { $0.deviceId.uuidString.lowercased() == device.id && $0.sizeSeconds == 10 && $0.start.timeIntervalSince1970 == base + 80 } }
            }
            var byID: [String: TelemetryWindow] = [:]
            for window in windows {
                if let earlier = byID[window.id] { #expect(earlier == window, "a window published again after the crash carries the same values") }
                byID[window.id] = window
            }
            for device in devices {
                let points = try #require(sent[device.id])
                for (size, hop) in [(10.0, 10.0), (30.0, 10.0)] {
                    var start = -size + hop
                    while start < 90 {
                        let inside = points.filter { $0.time >= start && $0.time < start + size }
                        let id = "\(tenant.tenant.uuidString.lowercased())/\(device.id)/temperature/\(Int(size))/\(Int(hop))/\(Int(base + start))"
                        if !inside.isEmpty {
                            let window = byID[id]
                            #expect(window != nil, "window \(id) missing")
                            #expect(window?.count == inside.count, "\(id)")
                            #expect(window.map { abs($0.sum - inside.reduce(0) { $0 + $1.value }) < 1e-6 } == true, "\(id)")
                            #expect(window?.min == inside.map(\.value).min() && window?.max == inside.map(\.value).max(), "\(id)")
                            #expect(window?.first == inside.min { $0.time < $1.time }?.value, "\(id)")
                            #expect(window?.last == inside.max { $0.time < $1.time }?.value, "\(id)")
                            #expect(window?.deviceTypeId?.uuidString.lowercased() == tenant.typeID.lowercased())
                        }
                        start += hop
                    }
                }
            }
            // Each partition was claimed again after the kill, and its saved position counts every message once.
            let database = PostgresClient(configuration: .init(url: try #require(ProcessInfo.processInfo.environment["SENSORMINE_TIMESERIES_DB_URL"]), name: "stream-test"))
            defer { Task { await database.shutdown() } }
            let store = StreamStateStore(database: database, group: PipelineTestStack.topicPrefix + ".stream")
            // Saved within the save interval (SENSORMINE_STREAM_SAVE_INTERVAL) of the last message.
            var positions: PostgresRow?
            try await Self.eventually("the positions of every message saved", seconds: 30) {
                positions = try await database.query("SELECT sum(next_offset) AS messages, min(epoch) AS epoch FROM stream_partitions WHERE consumer_group = $1",
                                                     [store.group]).first
                return positions?.int("messages") == 544
            }
            #expect(positions?.int("messages") == 544)
            #expect((positions?.int("epoch") ?? 0) >= 2, "claimed by the restarted or the new member")
            let late = try await Self.drain(kafka.topics.telemetryLate).compactMap { try? decoder.decode(LateTelemetryPoint.self, from: Data($0.value)) }
            #expect(late.map(\.value) == [99_999])
            #expect(late.first?.deviceId.uuidString.lowercased() == devices[0].id)
            try await store.reset()

            // Usage: what Ingestion stored, once (a point sent again is not counted), on
            // metering.events once each minute has ended.
            try await post(devices[0], [sent[devices[0].id]?.first ?? (time: 0, value: 0)])
            var usage: [UsageRecord] = []
            try await Self.eventually("the usage of every point stored", seconds: 120) {
                // Ingestion's records (the gateway meters the test's API calls too).
                usage = try await Self.drain(kafka.topics.meteringEvents).compactMap { try? decoder.decode(UsageRecord.self, from: Data($0.value)) }
                    .filter { $0.tenantId == tenant.tenant && $0.producer == "ingestion" }
                return usage.reduce(0) { $0 + (Int($1.metadata["points"] ?? "") ?? 0) } >= 544
            }
            #expect(usage.reduce(0) { $0 + (Int($1.metadata["points"] ?? "") ?? 0) } == 544)
            #expect(usage.reduce(0) { $0 + $1.quantity } == 544 * 59, "48 bytes a row plus the metric's name")
            #expect(usage.allSatisfy { $0.resource == .dataIngested && $0.unit == "bytes" })
            #expect(Set(usage.map(\.eventId)).count == usage.count)
        }
    }

    @Test("a batch repeated because one partition's enrichment failed (DeviceAPI answering 503 for its devices' asset) keeps what the other partitions applied: every window counts each point once")
    func repeatedBatchKeepsAppliedPartitions() async throws {
        let tokens = try await AccessTokens(settings: try TokenSettings(reader: ConfigReader(values: PipelineTestStack.values(port: 0))))
        let overrides = ["SENSORMINE_STREAM_WINDOWS": "10s", "SENSORMINE_STREAM_ALLOWED_LATENESS": "3s", "SENSORMINE_STREAM_IDLE_TIMEOUT": "10m"]
        try await PipelineTestStack.run(overrides: overrides) { gateway in
            let client = HTTPClient(configuration: .init(maximumRetries: 0))
            defer { Task { await client.shutdown() } }
            let tenant = try await StreamTenant.make(client, gateway: gateway, tokens: tokens)
            let site = try #require(try await PipelineTests.call(client, "POST", gateway + "/api/v1/assets", token: tenant.admin,
                                                                 json: #"{"kind":"site","name":"Plant B"}"#).body["id"]?.string).lowercased()
            // Six devices off the site, two on it: some partition holds devices off the site only
            // (all six sharing the two partitions of the others is a chance of 1 in 729).
            var created: [(id: String, key: String, onSite: Bool)] = []
            for index in 0..<8 {
                let id = try #require(try await PipelineTests.call(client, "POST", gateway + "/api/v1/devices", token: tenant.admin,
                                                                   json: #"{"name":"unit-\#(index)","deviceTypeId":"\#(tenant.typeID)"}"#).body["id"]?.string).lowercased()
                if index >= 6 {
                    #expect(try await PipelineTests.call(client, "PATCH", gateway + "/api/v1/devices/\(id)", token: tenant.admin, json: #"{"assetId":"\#(site)"}"#).status == 200)
                }
                let key = try #require(try await PipelineTests.call(client, "POST", gateway + "/api/v1/devices/\(id)/api-keys", token: tenant.admin, json: "{}").body["key"]?.string)
                created.append((id, key, index >= 6))
            }
            let proxy = DeviceAPIOutageProxy(upstream: "http://127.0.0.1:\(PipelineTestStack.ports.deviceAPI)")
            let devices = created
            try await proxy.run { port in
                try await Self.repeatBatch(client, gateway: gateway, devices: devices, site: site, proxy: proxy, proxyPort: port, overrides: overrides)
            }
            let database = PostgresClient(configuration: .init(url: try #require(ProcessInfo.processInfo.environment["SENSORMINE_TIMESERIES_DB_URL"]), name: "stream-test"))
            defer { Task { await database.shutdown() } }
            try await StreamStateStore(database: database, group: PipelineTestStack.topicPrefix + ".stream").reset()
        }
    }

    /// The body of the test above, with the proxy running on `proxyPort`.
    private static func repeatBatch(_ client: HTTPClient, gateway: String, devices: [(id: String, key: String, onSite: Bool)], site: String,
                                    proxy: DeviceAPIOutageProxy, proxyPort port: Int, overrides: [String: String]) async throws {
        let base = (Date().timeIntervalSince1970 / 10).rounded(.down) * 10 - 60
        var sent: [String: [(time: Double, value: Double)]] = [:]
        // Nothing is saved after the start (the interval is long): a partition claimed
        // again would go back to the state it was claimed with.
        var settings = overrides
        settings["SENSORMINE_DEVICE_API_URL"] = "http://127.0.0.1:\(port)"
        settings["SENSORMINE_STREAM_SAVE_INTERVAL"] = "300s"
        let member = try StreamProcess.start(port: PipelineTestStack.ports.stream, instance: "a", overrides: settings)
        defer { member.process.signal(SIGKILL) }
        let first = Dictionary(uniqueKeysWithValues: devices.filter { !$0.onSite }.map { ($0.id, Self.readings(0..<10)) })
        try await Self.sendInTurn(client, gateway: gateway, base: base, devices: devices, first)
        for (id, points) in first { sent[id, default: []] += points }
        try await Self.eventually("the first five seconds of the devices off the site", seconds: 90) {
            await member.metric(client, "sensormine_stream_points_total") == 60
        }
        // One batch: the member is stopped while the next five seconds of every device
        // off the site and one reading of each device on it are sent, so that it fetches
        // them together; the site's lookups fail until the batch has been tried again.
        proxy.fail(naming: site)
        member.process.signal(SIGSTOP)
        let second = Dictionary(uniqueKeysWithValues: devices.map { ($0.id, $0.onSite ? [(time: 5.0, value: 42.0)] : Self.readings(10..<20)) })
        try await Self.sendInTurn(client, gateway: gateway, base: base, devices: devices, second)
        for (id, points) in second { sent[id, default: []] += points }
        member.process.signal(SIGCONT)
        try await Self.eventually("the batch failed and was tried again", seconds: 30) {
            (await member.metric(client, "sensormine_stream_batch_retries_total") ?? 0) >= 2
        }
        proxy.fail(naming: nil)
        try await Self.eventually("every point of the batch applied", seconds: 60) {
            await member.metric(client, "sensormine_stream_points_total") == 122
        }
        // A reading of each device now moves every watermark past the window.
        let now = Date().timeIntervalSince1970 - base
        try await Self.sendInTurn(client, gateway: gateway, base: base, devices: devices, Dictionary(uniqueKeysWithValues: devices.map { ($0.id, [(time: now, value: 1.0)]) }))
        let kafka = try KafkaSettings(reader: ConfigReader(values: PipelineTestStack.values(port: 0)))
        let decoder = ContractCoding.decoder()
        var windows: [TelemetryWindow] = []
        try await Self.eventually("the first 10 s window of every device", seconds: 60) {
            windows = try await Self.drain(kafka.topics.telemetryWindows).compactMap { try? decoder.decode(TelemetryWindow.self, from: Data($0.value)) }
                .filter { $0.start.timeIntervalSince1970 == base && $0.sizeSeconds == 10 }
            return devices.allSatisfy { device in windows.contains { $0.deviceId.uuidString.lowercased() == device.id } }
        }
        for device in devices {
            let points = try #require(sent[device.id])
            let window = windows.first { $0.deviceId.uuidString.lowercased() == device.id }
            #expect(window?.count == points.count, "device \(device.id), on the site: \(device.onSite)")
            #expect(window.map { abs($0.sum - points.reduce(0) { $0 + $1.value }) < 1e-6 } == true, "device \(device.id)")
        }
    }

    @Test("a model registered through the gateway scores each closed window of its device type: telemetry.inferences carries its formula on the window's aggregates, a rule on ml.<name> fires, the runs are metered once; a file that is not a model is a 422 naming /model")
    func modelsScoreClosedWindows() async throws {
        let tokens = try await AccessTokens(settings: try TokenSettings(reader: ConfigReader(values: PipelineTestStack.values(port: 0))))
        let overrides = ["SENSORMINE_STREAM_WINDOWS": "10s", "SENSORMINE_STREAM_ALLOWED_LATENESS": "1s", "SENSORMINE_STREAM_IDLE_TIMEOUT": "3s",
                         "SENSORMINE_STREAM_MODEL_REFRESH": "300ms"]
        try await PipelineTestStack.run(streamInProcess: true, alerts: true, overrides: overrides) { gateway in
            let client = HTTPClient(configuration: .init(maximumRetries: 0))
            defer { Task { await client.shutdown() } }
            let tenant = try await StreamTenant.make(client, gateway: gateway, tokens: tokens)
            let key = try #require(try await PipelineTests.call(client, "POST", gateway + "/api/v1/devices/\(tenant.deviceID)/api-keys", token: tenant.admin, json: "{}").body["key"]?.string)
            func register(_ model: [UInt8]) async throws -> (status: Int, body: JSON) {
                try await PipelineTests.call(client, "POST", gateway + "/api/v1/models", token: tenant.admin, json: """
                    {"name":"risk","deviceTypeId":"\(tenant.typeID)","windowSeconds":10,
                     "features":[{"metric":"temperature","aggregate":"avg"},{"metric":"current","aggregate":"max"}],"model":"\(Data(model).base64EncodedString())"}
                    """)
            }
            let refused = try await register(Array("not an ONNX file".utf8))
            #expect(refused.status == 422)
            #expect(refused.body["errors"]?.array?.first?["pointer"]?.string == "/model", "\(refused.body)")
            let weights = [0.5, 2.0]
            let created = try await register(try TestModels.build("linear", ["0.5,2", "-10"]))
            #expect(created.status == 201, "\(created.body)")
            let modelID = try #require(created.body["id"]?.string.flatMap(UUID.init(uuidString:)))
            #expect(created.body["metrics"]?.array?.first?.string == "ml.risk")
            let listed = try await PipelineTests.call(client, "GET", gateway + "/api/v1/models", token: tenant.admin)
            #expect(listed.body["items"]?.array?.count == 1)
            let ruleID = try await tenant.create(client, gateway: gateway, "rules", """
                {"name":"risky press","scope":{"kind":"deviceType","deviceTypeId":"\(tenant.typeID)"},"condition":{"type":"threshold","metric":"ml.risk","comparison":"above","level":50},"severity":"major"}
                """)
            // Every member loads the model within the refresh interval.
            try await Task.sleep(for: .seconds(2))

            // Three 10 s windows: (temperature avg, current max) = (30, 9), (100, 1), (60, 30);
            // the model says 23, 42 and 80, and only 80 is above the rule's 50. A last point
            // without current closes them and is not scored (a feature is missing).
            let base = (Date().timeIntervalSince1970 / 10).rounded(.down) * 10 - 60
            let windows: [[(Double, Double, Double)]] = [[(1, 20, 3), (6, 40, 9)], [(12, 100, 1)], [(21, 50, 30), (25, 70, 2)]]
            func stamp(_ offset: Double) -> String { Date(timeIntervalSince1970: base + offset).formatted(.iso8601) }
            for points in windows {
                let body = "[" + points.map { #"{"time":"\#(stamp($0.0))","temperature":\#($0.1),"current":\#($0.2)}"# }.joined(separator: ",") + "]"
                #expect(try await PipelineTests.call(client, "POST", gateway + "/api/v1/ingest", apiKey: key, json: body).status == 202)
            }
            #expect(try await PipelineTests.call(client, "POST", gateway + "/api/v1/ingest", apiKey: key, json: #"[{"time":"\#(stamp(33))","temperature":1}]"#).status == 202)

            let kafka = try KafkaSettings(reader: ConfigReader(values: PipelineTestStack.values(port: 0)))
            let decoder = ContractCoding.decoder()
            var results: [TelemetryInference] = []
            try await Self.eventually("three windows scored") {
                results = try await Self.drain(kafka.topics.telemetryInferences).compactMap { try? decoder.decode(TelemetryInference.self, from: Data($0.value)) }
                    .filter { $0.tenantId == tenant.tenant }
                return results.count >= 3
            }
            results.sort { $0.start < $1.start }
            #expect(results.map { $0.start.timeIntervalSince1970 - base } == [0, 10, 20])
            let expected = [[30.0, 9], [100, 1], [60, 30]]
            for (result, features) in zip(results, expected) {
                #expect(result.features == features)
                #expect(abs((result.outputs.first ?? .nan) - TestModels.linear(features, weights: weights, bias: -10)) < 1e-3, "\(result.outputs)")
                #expect(result.modelId == modelID && result.deviceId.uuidString.lowercased() == tenant.deviceID)
            }
            var alerts: [AlertEvent] = []
            try await Self.eventually("the rule on ml.risk fires") {
                alerts = try await Self.drain(kafka.topics.alertsTriggered).compactMap { try? decoder.decode(AlertEvent.self, from: Data($0.value)) }
                    .filter { $0.ruleId?.uuidString.lowercased() == ruleID.lowercased() }
                return !alerts.isEmpty
            }
            #expect(alerts.map(\.action) == [.trigger])
            #expect(alerts.first.map { abs(($0.values["ml.risk"] ?? 0) - 80) < 1e-3 } == true, "\(alerts)")
            #expect(alerts.first?.occurredAt.timeIntervalSince1970 == base + 30)

            var usage: [UsageRecord] = []
            try await Self.eventually("three inference calls metered") {
                usage = try await Self.drain(kafka.topics.meteringEvents).compactMap { try? decoder.decode(UsageRecord.self, from: Data($0.value)) }
                    .filter { $0.tenantId == tenant.tenant && $0.resource == .mlInference }
                return usage.reduce(0) { $0 + $1.quantity } >= 3
            }
            #expect(usage.reduce(0) { $0 + $1.quantity } == 3)
            #expect(usage.allSatisfy { $0.unit == "calls" && $0.producer == "stream-processing" })
            #expect(Set(usage.map(\.eventId)).count == usage.count)

            #expect(try await PipelineTests.call(client, "DELETE", gateway + "/api/v1/models/\(modelID.uuidString.lowercased())", token: tenant.admin).status == 204)
            let database = PostgresClient(configuration: .init(url: try #require(ProcessInfo.processInfo.environment["SENSORMINE_TIMESERIES_DB_URL"]), name: "stream-test"))
            defer { Task { await database.shutdown() } }
            try await StreamStateStore(database: database, group: PipelineTestStack.topicPrefix + ".stream").reset()
        }
    }
}
