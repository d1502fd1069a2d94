import Curl
import Foundation
import Hummingbird
import Logging
import Mosquitto
import RdKafka
import SensormineAuth
import SensormineClients
import SensormineCore
import SensormineJSON
import ServiceLifecycle
import Testing

@testable import Alerts
@testable import ApiGateway
@testable import Billing
@testable import Console
@testable import DeviceAPI
@testable import EdgeGateway
@testable import Ingestion
@testable import QueryAPI
@testable import SchemaRegistry
@testable import StreamProcessing

/// The telemetry path with every service in this process, on ports of its own, against the
/// real local stack: gateway → DeviceAPI / SchemaRegistry / EdgeGateway / QueryAPI, and
/// MQTT → EdgeGateway → Kafka → Ingestion → TimescaleDB.
enum PipelineTestStack {
    static let ports = (gateway: 18480, deviceAPI: 18481, schemaRegistry: 18482, queryAPI: 18483, ingestion: 18484, edge: 18485, stream: 18486, alerts: 18487, billing: 18488,
                        console: 18490)

    static var logger: Logger {
        var logger = Logger(label: "pipeline-tests")
        logger.logLevel = ProcessInfo.processInfo.environment["PIPELINE_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        return logger
    }

    /// Topics, a consumer group and a spool of each stack run's own (`{prefix}.device.telemetry`,
    /// …): earlier tests' telemetry stays out, and a member of an earlier test's group that the
    /// broker still counts (until its session expires) cannot hold this one's rebalance up.
    @TaskLocal static var topicPrefix = "pipeline-\(UUID().uuidString.prefix(8).lowercased())"
    static var spoolDirectory: String { FileManager.default.temporaryDirectory.appendingPathComponent(topicPrefix + "-spool").path }

    static func values(port: Int, _ overrides: [String: String] = [:]) -> [String: String] {
        var values = ProcessInfo.processInfo.environment.filter { $0.key.hasPrefix("SENSORMINE_") }
        values["SENSORMINE_HTTP_PORT"] = String(port)
        values["SENSORMINE_HTTP_HOST"] = "127.0.0.1"
        values["SENSORMINE_DEVICE_API_URL"] = "http://127.0.0.1:\(ports.deviceAPI)"
        values["SENSORMINE_SCHEMA_REGISTRY_URL"] = "http://127.0.0.1:\(ports.schemaRegistry)"
        values["SENSORMINE_GATEWAY_ROUTES"] = [
            "/api/v1/tenants", "/api/v1/devices", "/api/v1/device-types", "/api/v1/auth", "/api/v1/assets",
        ].map { "\($0)=http://127.0.0.1:\(ports.deviceAPI)" }.joined(separator: ",")
            + ",/api/v1/deadletters=http://127.0.0.1:\(ports.ingestion)"
            + ",/api/v1/schemas=http://127.0.0.1:\(ports.schemaRegistry),/api/v1/telemetry=http://127.0.0.1:\(ports.queryAPI),/api/v1/ingest=http://127.0.0.1:\(ports.edge)"
            + ",/api/v1/alerts=http://127.0.0.1:\(ports.alerts),/api/v1/models=http://127.0.0.1:\(ports.stream),/api/v1/billing=http://127.0.0.1:\(ports.billing)"
            + ",/console=http://127.0.0.1:\(ports.console)"
        values["SENSORMINE_GATEWAY_RATE_PER_SECOND"] = "100000"
        values["SENSORMINE_GATEWAY_RATE_BURST"] = "100000"
        values["SENSORMINE_INGESTION_SCHEMA_CACHE_SECONDS"] = "1"
        values["SENSORMINE_KAFKA_TOPIC_PREFIX"] = topicPrefix
        values["SENSORMINE_INGESTION_GROUP"] = topicPrefix + ".ingestion"
        values["SENSORMINE_STREAM_GROUP"] = topicPrefix + ".stream"
        values["SENSORMINE_STREAM_SCHEMA_CACHE_SECONDS"] = "1"
        values["SENSORMINE_ALERTS_GROUP"] = topicPrefix + ".alerts"
        values["SENSORMINE_BILLING_GROUP"] = topicPrefix + ".billing"
        values["SENSORMINE_EDGE_SPOOL_DIR"] = spoolDirectory
        // Sessions and a share group of the stack run's own: an earlier run's sessions, which the
        // broker keeps for a while, must not take a share of this run's messages.
        values["SENSORMINE_EDGE_MQTT_SHARE_GROUP"] = topicPrefix
        values["SENSORMINE_EDGE_MQTT_CLIENT_ID"] = topicPrefix + "-edge"
        values["SENSORMINE_EDGE_MQTT_SESSION_EXPIRY"] = "30s"
        values["SENSORMINE_EDGE_MQTT_CONNECTIONS"] = "4"
        values["SENSORMINE_EDGE_KAFKA_TIMEOUT"] = "2s"
        values["SENSORMINE_EDGE_ACTIVITY_INTERVAL"] = "500ms"
        values["SENSORMINE_DEVICE_OFFLINE_AFTER"] = "4s"
        values.merge(overrides) { $1 }
        return values
    }

    /// Runs the telemetry services while `body` runs (Ingestion only when `ingestionInProcess`,
    /// EdgeGateway only when `edgeInProcess`; else the test runs it as a process of its own;
    /// StreamProcessing when `streamInProcess`, Alerts when `alerts`, Billing when `billing`, the
    /// Console when `console`);
    /// `body` gets the gateway's base URL.
    static func run<Result: Sendable>(ingestionInProcess: Bool = true, edgeInProcess: Bool = true, streamInProcess: Bool = false, alerts: Bool = false,
                                      billing: Bool = false, console: Bool = false, overrides: [String: String] = [:],
                                      _ body: @Sendable (String) async throws -> Result) async throws -> Result {
        try await $topicPrefix.withValue("pipeline-\(UUID().uuidString.prefix(8).lowercased())") {
            try await self.runStack(ingestionInProcess: ingestionInProcess, edgeInProcess: edgeInProcess, streamInProcess: streamInProcess, alerts: alerts,
                                    billing: billing, console: console, overrides: overrides, body)
        }
    }

    private static func runStack<Result: Sendable>(ingestionInProcess: Bool, edgeInProcess: Bool, streamInProcess: Bool, alerts: Bool, billing: Bool, console: Bool,
                                                   overrides: [String: String], _ body: @Sendable (String) async throws -> Result) async throws -> Result {
        defer { try? FileManager.default.removeItem(atPath: spoolDirectory) }
        func values(port: Int) -> [String: String] { Self.values(port: port, overrides) }
        let observability = Observability(logger: logger)
        let kafka = try KafkaSettings(reader: ConfigReader(values: values(port: 0)))
        try await kafka.createTopics(kafka.topics.all, logger: logger)
        var apps: [ServiceApplication] = [
            try await DeviceAPIService.buildApplication(try DeviceAPIConfiguration(reader: ConfigReader(values: values(port: ports.deviceAPI))), observability: observability),
            try await SchemaRegistryService.buildApplication(try SchemaRegistryConfiguration(reader: ConfigReader(values: values(port: ports.schemaRegistry))), observability: observability),
            try await QueryAPIService.buildApplication(try QueryAPIConfiguration(reader: ConfigReader(values: values(port: ports.queryAPI))), observability: observability),
            try await ApiGatewayService.buildApplication(try ApiGatewayConfiguration(reader: ConfigReader(values: values(port: ports.gateway))), observability: observability),
        ]
        if edgeInProcess {
            apps.append(try await EdgeGatewayService.buildApplication(try EdgeGatewayConfiguration(reader: ConfigReader(values: values(port: ports.edge))), observability: observability))
        }
        if ingestionInProcess {
            apps.append(try await IngestionService.buildApplication(try IngestionConfiguration(reader: ConfigReader(values: values(port: ports.ingestion))), observability: observability))
        }
        if streamInProcess {
            apps.append(try await StreamProcessingService.buildApplication(try StreamProcessingConfiguration(reader: ConfigReader(values: values(port: ports.stream))),
                                                                           observability: observability))
        }
        if alerts {
            apps.append(try await AlertsService.buildApplication(try AlertsConfiguration(reader: ConfigReader(values: values(port: ports.alerts))), observability: observability))
        }
        if billing {
            let configuration = try BillingConfiguration(reader: ConfigReader(values: values(port: ports.billing)))
            try await BillingService.migrate(configuration, logger: logger)
            apps.append(try await BillingService.buildApplication(configuration, observability: observability))
        }
        if console {
            apps.append(try await ConsoleService.buildApplication(try ConsoleConfiguration(reader: ConfigReader(values: values(port: ports.console))), observability: observability))
        }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            for app in apps { group.addTask { try await app.run() } }
            defer { group.cancelAll() }
            let client = HTTPClient(configuration: .init(maximumRetries: 0))
            defer { Task { await client.shutdown() } }
            let services = [ports.deviceAPI, ports.schemaRegistry, ports.queryAPI, ports.gateway] + (ingestionInProcess ? [ports.ingestion] : []) + (edgeInProcess ? [ports.edge] : [])
                + (streamInProcess ? [ports.stream] : []) + (alerts ? [ports.alerts] : []) + (billing ? [ports.billing] : []) + (console ? [ports.console] : [])
            for port in services {
                var ready = false
                for _ in 0..<300 where !ready {
                    ready = (try? await client.get("http://127.0.0.1:\(port)/health/ready"))?.status == 200
                    if !ready { try await Task.sleep(for: .milliseconds(100)) }
                }
                guard ready else { throw PipelineTestError("service on port \(port) never became ready") }
            }
            return try await body("http://127.0.0.1:\(ports.gateway)")
        }
    }
}

struct PipelineTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

@Suite("Telemetry pipeline")
struct PipelineTests {
    /// A JSON request through the gateway; returns status and parsed body.
    static func call(_ client: HTTPClient, _ method: String, _ url: String, token: String? = nil, apiKey: String? = nil, json: String? = nil) async throws -> (status: Int, body: JSON) {
        var headers: [(name: String, value: String)] = [("Content-Type", "application/json")]
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        if let apiKey { headers.append(("X-API-Key", apiKey)) }
        let response = try await client.execute(HTTPClientRequest(method: method, url: url, headers: headers, body: json.map { Array($0.utf8) }))
        let body = (try? JSON.parse(response.body)) ?? .null
        return (response.status, body)
    }

    @Test("points sent over HTTP and MQTT come back from QueryAPI through the gateway; an invalid payload is dead-lettered with its reason")
    func endToEnd() async throws {
        let tokens = try await AccessTokens(settings: try TokenSettings(reader: ConfigReader(values: PipelineTestStack.values(port: 0))))
        try await PipelineTestStack.run { gateway in
            let client = HTTPClient(configuration: .init(maximumRetries: 0))
            let admin = try await tokens.issue(for: CallerIdentity(subject: "root", tenantID: UUID(), roles: [.platformAdmin])).token
            let org = try await Self.call(client, "POST", gateway + "/api/v1/tenants", token: admin,
                                          json: #"{"name":"Pipeline \#(UUID().uuidString.prefix(8))","kind":"organisation"}"#)
            #expect(org.status == 201)
            let tenant = try #require(org.body["id"]?.string).lowercased()
            let orgAdmin = try await tokens.issue(for: CallerIdentity(subject: "ops", tenantID: try #require(UUID(uuidString: tenant)), roles: [.tenantAdmin])).token

            let subject = "turbine-\(UUID().uuidString.prefix(8).lowercased())"
            let schema = #"{"type":"object","required":["rpm"],"properties":{"rpm":{"type":"number","minimum":0},"temperature":{"type":"number"}}}"#
            #expect(try await Self.call(client, "POST", gateway + "/api/v1/schemas/subjects", token: orgAdmin, json: #"{"name":"\#(subject)"}"#).status == 201)
            #expect(try await Self.call(client, "POST", gateway + "/api/v1/schemas/subjects/\(subject)/versions", token: orgAdmin, json: #"{"schema":\#(schema)}"#).status == 201)
            let type = try await Self.call(client, "POST", gateway + "/api/v1/device-types", token: orgAdmin, json: #"{"name":"Gas turbine","schemaSubject":"\#(subject)"}"#)
            #expect(type.status == 201)
            let typeID = try #require(type.body["id"]?.string)
            let device = try await Self.call(client, "POST", gateway + "/api/v1/devices", token: orgAdmin, json: #"{"name":"gt-1","deviceTypeId":"\#(typeID)"}"#)
            let deviceID = try #require(device.body["id"]?.string).lowercased()
            let key = try #require(try await Self.call(client, "POST", gateway + "/api/v1/devices/\(deviceID)/api-keys", token: orgAdmin, json: "{}").body["key"]?.string)
            let mqtt = try await Self.call(client, "PUT", gateway + "/api/v1/devices/\(deviceID)/mqtt-credentials", token: orgAdmin, json: "{}")
            let username = try #require(mqtt.body["username"]?.string)
            let password = try #require(mqtt.body["password"]?.string)
            let topic = try #require(mqtt.body["telemetryTopic"]?.string)

            // HTTP: a batch of two, with explicit times.
            let base = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 / 60).rounded(.down) * 60 - 600)
            let format = ISO8601DateFormatter()
            let http = try await Self.call(client, "POST", gateway + "/api/v1/ingest", apiKey: key, json: """
                [{"time":"\(format.string(from: base))","rpm":3000,"temperature":71.5},
                 {"time":"\(format.string(from: base.addingTimeInterval(1)))","rpm":3010,"temperature":71.7}]
                """)
            #expect(http.status == 202, "\(http.body)")
            #expect(http.body["accepted"]?.number == 2)
            // The same points again: stored once.
            #expect(try await Self.call(client, "POST", gateway + "/api/v1/ingest", apiKey: key, json: """
                {"time":"\(format.string(from: base))","rpm":3000,"temperature":71.5}
                """).status == 202)
            // Not JSON over HTTP is the client's mistake.
            #expect(try await Self.call(client, "POST", gateway + "/api/v1/ingest", apiKey: key, json: "rpm=3").status == 400)

            // MQTT with the device's own credentials: one valid point, one that breaks the schema.
            let publisher = try MQTTClient(configuration: .init(
                host: ProcessInfo.processInfo.environment["SENSORMINE_MQTT_HOST"] ?? "127.0.0.1",
                port: Int(ProcessInfo.processInfo.environment["SENSORMINE_MQTT_PORT"] ?? "") ?? 1883,
                clientID: "pipeline-\(UUID().uuidString.prefix(8))", username: username, password: password), logger: PipelineTestStack.logger)
            try await publisher.connect()
            let marker = UUID().uuidString.lowercased()
            try await publisher.publish(topic: topic, payload: Array(#"{"time":"\#(format.string(from: base.addingTimeInterval(2)))","rpm":3020,"temperature":72.0}"#.utf8), qos: 1)
            try await publisher.publish(topic: topic, payload: Array(#"{"time":"\#(format.string(from: base.addingTimeInterval(3)))","rpm":-5,"messageId":"\#(marker)"}"#.utf8), qos: 1)
            publisher.disconnect()
            // The edge told DeviceAPI it heard from the device; silence turns it offline again.
            var connectivity = ""
            for _ in 0..<50 where connectivity != "online" {
                connectivity = try await Self.call(client, "GET", gateway + "/api/v1/devices/\(deviceID)", token: orgAdmin).body["connectivity"]?.string ?? ""
                if connectivity != "online" { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(connectivity == "online")
            #expect(try await Self.call(client, "GET", gateway + "/api/v1/devices/\(deviceID)", token: orgAdmin).body["lastSeenAt"]?.string != nil)

            // Through the gateway, as a viewer of the tenant: three rpm points, in order.
            let viewer = try await tokens.issue(for: CallerIdentity(subject: "viewer", tenantID: try #require(UUID(uuidString: tenant)), roles: [.viewer])).token
            let from = format.string(from: base.addingTimeInterval(-60))
            var values: [Double] = []
            for _ in 0..<150 {
                let page = try await Self.call(client, "GET", gateway + "/api/v1/telemetry/devices/\(deviceID)/points?metric=rpm&from=\(from)", token: viewer)
                values = page.body["points"]?.array?.compactMap { $0["value"]?.number } ?? []
                if values.count >= 3 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(values == [3000, 3010, 3020])
            let latest = try await Self.call(client, "GET", gateway + "/api/v1/telemetry/latest?devices=\(deviceID)", token: viewer)
            #expect(latest.body["devices"]?.array?.first?["metrics"]?["temperature"]?["value"]?.number == 72.0)
            let aggregate = try await Self.call(client, "GET", gateway + "/api/v1/telemetry/aggregate?metric=rpm&bucket=1m&fn=max&from=\(from)", token: viewer)
            #expect(aggregate.body["buckets"]?.array?.compactMap { $0["value"]?.number }.max() == 3020)
            #expect(aggregate.body["buckets"]?.array?.compactMap { $0["count"]?.number }.reduce(0, +) == 3)
            let csv = try await client.get(gateway + "/api/v1/telemetry/devices/\(deviceID)/points?metric=rpm&from=\(from)&format=csv",
                                           headers: [("Authorization", "Bearer \(viewer)")])
            #expect(String(decoding: csv.body, as: UTF8.self).hasPrefix("time,value\r\n"))
            // Another tenant sees none of it.
            let stranger = try await tokens.issue(for: CallerIdentity(subject: "s", tenantID: UUID(), roles: [.viewer])).token
            let hidden = try await Self.call(client, "GET", gateway + "/api/v1/telemetry/devices/\(deviceID)/points?metric=rpm&from=\(from)", token: stranger)
            #expect(hidden.body["points"]?.array?.isEmpty == true)

            // The rejected message is on the dead-letter topic with its reason and original bytes.
            let kafka = try KafkaSettings(reader: ConfigReader(values: PipelineTestStack.values(port: 0)))
            let consumer = try KafkaConsumer(configuration: .init(kafka: kafka.kafka, groupID: "pipeline-test-\(UUID().uuidString)",
                                                                  topics: [kafka.topics.telemetryDeadLetter]), logger: PipelineTestStack.logger)
            var reason: String?
            for _ in 0..<100 where reason == nil {
                for message in try await consumer.poll(timeout: .milliseconds(200)) where String(decoding: message.value, as: UTF8.self).contains(marker) {
                    reason = message.header("dlq-reason")
                    #expect(message.header("tenant") == tenant)
                }
            }
            await consumer.close()
            let deadReason = try #require(reason)
            #expect(deadReason.contains("schema \(subject) v1"))
            #expect(deadReason.contains("/rpm"))

            // The tenant sees its dead letter, fixes the schema and replays it, once.
            let operatorToken = try await tokens.issue(for: CallerIdentity(subject: "op", tenantID: try #require(UUID(uuidString: tenant)), roles: [.operator])).token
            let listed = try await Self.call(client, "GET", gateway + "/api/v1/deadletters?device=\(deviceID)&replayed=false", token: viewer)
            #expect(listed.status == 200)
            let items = listed.body["items"]?.array ?? []
            #expect(items.count == 1)
            #expect(items.first?["reason"]?.string == deadReason)
            #expect(items.first?["messageId"]?.string == marker)
            let deadID = try #require(items.first?["id"]?.number)
            #expect(try await Self.call(client, "GET", gateway + "/api/v1/deadletters", token: stranger).body["items"]?.array?.isEmpty == true)
            #expect(try await Self.call(client, "POST", gateway + "/api/v1/deadletters/replay", token: viewer, json: #"{"all":true}"#).status == 403)
            let relaxed = #"{"type":"object","required":["rpm"],"properties":{"rpm":{"type":"number"},"temperature":{"type":"number"}}}"#
            #expect(try await Self.call(client, "POST", gateway + "/api/v1/schemas/subjects/\(subject)/versions", token: orgAdmin, json: #"{"schema":\#(relaxed)}"#).status == 201)
            try await Task.sleep(for: .milliseconds(1200))  // the schema cache lifetime set above
            let replay = try await Self.call(client, "POST", gateway + "/api/v1/deadletters/replay", token: operatorToken, json: #"{"ids":[\#(Int(deadID))]}"#)
            #expect(replay.body["replayed"]?.number == 1)
            #expect(try await Self.call(client, "POST", gateway + "/api/v1/deadletters/replay", token: operatorToken, json: #"{"all":true}"#).body["replayed"]?.number == 0)
            for _ in 0..<150 {
                let page = try await Self.call(client, "GET", gateway + "/api/v1/telemetry/devices/\(deviceID)/points?metric=rpm&from=\(from)", token: viewer)
                values = page.body["points"]?.array?.compactMap { $0["value"]?.number } ?? []
                if values.count >= 4 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(values == [3000, 3010, 3020, -5])
            #expect(try await Self.call(client, "GET", gateway + "/api/v1/deadletters?replayed=false", token: viewer).body["items"]?.array?.isEmpty == true)
            for _ in 0..<100 where connectivity != "offline" {
                connectivity = try await Self.call(client, "GET", gateway + "/api/v1/devices/\(deviceID)", token: orgAdmin).body["connectivity"]?.string ?? ""
                if connectivity != "offline" { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(connectivity == "offline")
            await client.shutdown()
        }
    }
}
