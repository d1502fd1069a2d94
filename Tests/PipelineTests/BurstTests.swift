import Curl
import Foundation
import Mosquitto
import SensormineAuth
import SensormineCore
import SensormineJSON
import NIOConcurrencyHelpers
import Testing

/// The broker's own counters (`$SYS/broker/publish/messages/*`), as last published.
///
/// Mosquitto publishes a counter only once it changes, so one never published is zero.
final class BrokerCounters: Sendable {
    private let values = NIOLockedValueBox<[String: Int]>([:])
    private let client: MQTTClient
    private let reader: Task<Void, Never>

    init() async throws {
        let environment = ProcessInfo.processInfo.environment
        self.client = try MQTTClient(configuration: .init(
            host: environment["SENSORMINE_MQTT_HOST"] ?? "127.0.0.1", port: Int(environment["SENSORMINE_MQTT_PORT"] ?? "") ?? 1883,
            clientID: "burst-observer-\(UUID().uuidString.prefix(8))",
            username: environment["SENSORMINE_MQTT_USERNAME"], password: environment["SENSORMINE_MQTT_PASSWORD"]),
            logger: PipelineTestStack.logger)
        try await self.client.connect()
        let client = self.client
        let values = self.values
        self.reader = Task {
            for await message in client.messages {
                let name = String(message.topic.split(separator: "/").last ?? "")
                if let value = Int(String(decoding: message.payload, as: UTF8.self)) { values.withLockedValue { $0[name] = value } }
            }
        }
        try await self.client.subscribe("$SYS/broker/publish/messages/+", qos: 0)
    }

    /// The counter's latest value (`received`, `sent`, `dropped`).
    func value(_ name: String) -> Int { self.values.withLockedValue { $0[name] ?? 0 } }

    func close() {
        self.client.disconnect()
        self.reader.cancel()
    }
}

extension PipelineTests {
    /// The issue's burst: 10,000 devices publish 15 QoS 1 messages each as fast as the broker
    /// takes them. The stack's Mosquitto is configured for it (`max_queued_messages`,
    /// `max_inflight_messages` in scripts/stack/up.sh): its own dropped-message counter must
    /// stay where it was, and storage must end with exactly one point per message.
    @Test("a burst of 150,000 QoS 1 messages from 10,000 devices: the broker drops none and each is stored exactly once")
    func mqttBurst() async throws {
        let deviceCount = 10_000
        let messagesPerDevice = 15
        let publishers = 20
        let tokens = try await AccessTokens(settings: try TokenSettings(reader: ConfigReader(values: PipelineTestStack.values(port: 0))))
        // Devices do not change during the burst; a short cache would only re-read 10,000 of them.
        try await PipelineTestStack.run(overrides: ["SENSORMINE_INGESTION_SCHEMA_CACHE_SECONDS": "600"]) { gateway in
            let client = HTTPClient(configuration: .init(timeout: .seconds(60), maximumRetries: 0))
            let admin = try await tokens.issue(for: CallerIdentity(subject: "root", tenantID: UUID(), roles: [.platformAdmin])).token
            let org = try await PipelineTests.call(client, "POST", gateway + "/api/v1/tenants", token: admin,
                                                   json: #"{"name":"Burst \#(UUID().uuidString.prefix(8))","kind":"organisation"}"#)
            let tenant = try #require(org.body["id"]?.string).lowercased()
            let tenantID = try #require(UUID(uuidString: tenant))
            let orgAdmin = try await tokens.issue(for: CallerIdentity(subject: "ops", tenantID: tenantID, roles: [.tenantAdmin])).token
            let viewer = try await tokens.issue(for: CallerIdentity(subject: "viewer", tenantID: tenantID, roles: [.viewer])).token
            let type = try await PipelineTests.call(client, "POST", gateway + "/api/v1/device-types", token: orgAdmin, json: #"{"name":"Burst sensor"}"#)
            let typeID = try #require(type.body["id"]?.string)

            let registered = Date()
            let devices = try await withThrowingTaskGroup(of: [String].self) { group in
                for worker in 0..<32 {
                    group.addTask {
                        var ids: [String] = []
                        for index in stride(from: worker, to: deviceCount, by: 32) {
                            let answer = try await PipelineTests.call(client, "POST", gateway + "/api/v1/devices", token: orgAdmin,
                                                                      json: #"{"name":"burst-\#(index)","deviceTypeId":"\#(typeID)"}"#)
                            ids.append(try #require(answer.body["id"]?.string, "registration answered \(answer.status)").lowercased())
                        }
                        return ids
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(devices.count == deviceCount)
            print("burst: registered \(deviceCount) devices in \(Int(Date().timeIntervalSince(registered))) s")

            let counters = try await BrokerCounters()
            try await Task.sleep(for: .seconds(3))
            let droppedBefore = counters.value("dropped")
            let receivedBefore = counters.value("received")

            // Each publisher connection owns a slice of the devices and keeps up to 500 QoS 1
            // messages awaiting PUBACK; a message counts as published once the broker acknowledged it.
            let environment = ProcessInfo.processInfo.environment
            let base = Date().addingTimeInterval(-1800)
            let format = ISO8601DateFormatter()
            format.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            let from = format.string(from: base.addingTimeInterval(-60))
            let times = (0..<messagesPerDevice).map { format.string(from: base.addingTimeInterval(Double($0))) }
            let began = ContinuousClock.now
            let acknowledged = try await withThrowingTaskGroup(of: Int.self) { group in
                for publisher in 0..<publishers {
                    group.addTask {
                        let connection = try MQTTClient(configuration: .init(
                            host: environment["SENSORMINE_MQTT_HOST"] ?? "127.0.0.1", port: Int(environment["SENSORMINE_MQTT_PORT"] ?? "") ?? 1883,
                            clientID: "burst-\(publisher)-\(UUID().uuidString.prefix(8))",
                            username: environment["SENSORMINE_MQTT_USERNAME"], password: environment["SENSORMINE_MQTT_PASSWORD"]),
                            logger: PipelineTestStack.logger)
                        try await connection.connect()
                        defer { connection.disconnect() }
                        let mine = stride(from: publisher, to: deviceCount, by: publishers).map { devices[$0] }
                        return try await withThrowingTaskGroup(of: Void.self) { sends in
                            var outstanding = 0
                            var acknowledged = 0
                            for sequence in 0..<messagesPerDevice {
                                let time = times[sequence]
                                for device in mine {
                                    if outstanding == 500 {
                                        try await sends.next()
                                        outstanding -= 1
                                        acknowledged += 1
                                    }
                                    let payload = Array(#"{"time":"\#(time)","level":\#(sequence)}"#.utf8)
                                    sends.addTask { try await connection.publish(topic: "tenants/\(tenant)/devices/\(device)/telemetry", payload: payload, qos: 1) }
                                    outstanding += 1
                                }
                            }
                            while try await sends.next() != nil { acknowledged += 1 }
                            return acknowledged
                        }
                    }
                }
                return try await group.reduce(0, +)
            }
            let published = ContinuousClock.now - began
            #expect(acknowledged == deviceCount * messagesPerDevice)

            var stored = 0
            for _ in 0..<1800 where stored < acknowledged {
                let answer = try? await PipelineTests.call(client, "GET", gateway + "/api/v1/telemetry/aggregate?metric=level&fn=count&bucket=1d&from=\(from)", token: viewer)
                stored = Int(answer?.body["buckets"]?.array?.compactMap { $0["count"]?.number }.reduce(0, +) ?? 0)
                if stored < acknowledged { try await Task.sleep(for: .milliseconds(200)) }
            }
            let drained = ContinuousClock.now - began
            // The broker's counters are published every `sys_interval` (2 s on the local stack).
            try await Task.sleep(for: .seconds(3))
            let dropped = counters.value("dropped") - droppedBefore
            let brokerReceived = counters.value("received") - receivedBefore
            counters.close()
            print("burst: \(acknowledged) messages acknowledged by the broker in \(published); broker received \(brokerReceived), dropped \(dropped); \(stored) points stored after \(drained)")
            #expect(dropped == 0)
            #expect(brokerReceived >= acknowledged)
            #expect(stored == acknowledged)
            await client.shutdown()
        }
    }
}
