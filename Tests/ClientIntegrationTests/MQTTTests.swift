import ClientRuntime
import Foundation
import Mosquitto
import Testing

@Suite("MQTT client (libmosquitto)")
struct MQTTTests {
    func client(_ name: String, host: String? = nil, port: Int? = nil, username: String? = nil, password: String? = nil) throws -> MQTTClient {
        try MQTTClient(
            configuration: .init(
                host: try host ?? TestStack.mqttHost, port: try port ?? TestStack.mqttPort, clientID: TestStack.unique(name),
                username: username, password: password
            ),
            logger: TestStack.logger
        )
    }

    func serviceClient(_ name: String) throws -> MQTTClient {
        try client(name, username: try TestStack.mqttUsername, password: try TestStack.mqttPassword)
    }

    /// Collects `count` messages from `client`, or fails after `timeout`.
    func collect(_ count: Int, from client: MQTTClient, timeout: Duration = .seconds(10)) async throws -> [MQTTMessage] {
        try await withThrowingTaskGroup(of: [MQTTMessage].self) { group in
            group.addTask {
                var messages: [MQTTMessage] = []
                for await message in client.messages {
                    messages.append(message)
                    if messages.count == count { break }
                }
                return messages
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return []
            }
            defer { group.cancelAll() }
            return try await group.next() ?? []
        }
    }

    @Test("QoS 1 publishes are acknowledged and delivered in order")
    func roundTrip() async throws {
        let topic = "it/\(TestStack.unique("mqtt"))"
        let subscriber = try serviceClient("sub")
        try await subscriber.connect()
        try await subscriber.subscribe("\(topic)/#", qos: 1)
        let publisher = try serviceClient("pub")
        try await publisher.connect()
        for index in 0..<20 {
            try await publisher.publish(topic: "\(topic)/d1", payload: Array("m\(index)".utf8), qos: 1)
        }
        try await publisher.publish(topic: "\(topic)/d1", payload: Array("qos0".utf8), qos: 0)
        let messages = try await collect(21, from: subscriber)
        #expect(messages.map { String(decoding: $0.payload, as: UTF8.self) } == (0..<20).map { "m\($0)" } + ["qos0"])
        #expect(messages.first?.topic == "\(topic)/d1")
        publisher.disconnect()
        subscriber.disconnect()
    }

    @Test("a shared subscription splits messages across its members, each delivered once")
    func sharedSubscription() async throws {
        let topic = "it/\(TestStack.unique("shared"))/telemetry"
        let members = [try serviceClient("member-a"), try serviceClient("member-b")]
        for member in members {
            try await member.connect()
            try await member.subscribe("$share/it-group/\(topic)", qos: 1)
        }
        let publisher = try serviceClient("pub")
        try await publisher.connect()
        for index in 0..<40 { try await publisher.publish(topic: topic, payload: Array("\(index)".utf8), qos: 1) }
        let counts = await withTaskGroup(of: [String].self) { group in
            for member in members {
                group.addTask {
                    // Collect for three seconds: long enough for all 40, and proof that no extra copies follow.
                    await withTaskGroup(of: [String]?.self) { inner in
                        inner.addTask {
                            try? await Task.sleep(for: .seconds(3))
                            return nil
                        }
                        inner.addTask {
                            var seen: [String] = []
                            for await message in member.messages { seen.append(String(decoding: message.payload, as: UTF8.self)) }
                            return seen
                        }
                        _ = await inner.next()
                        inner.cancelAll()
                        var seen: [String] = []
                        for await value in inner { if let value { seen = value } }
                        return seen
                    }
                }
            }
            return await group.reduce(into: [[String]]()) { $0.append($1) }
        }
        let all = counts.flatMap { $0 }
        #expect(all.count == 40)
        #expect(Set(all) == Set((0..<40).map(String.init)))
        #expect(counts.allSatisfy { !$0.isEmpty })
        publisher.disconnect()
        for member in members { member.disconnect() }
    }

    @Test("wrong credentials are refused by the broker")
    func refusedCredentials() async throws {
        let intruder = try client("intruder", username: try TestStack.mqttUsername, password: "wrong")
        let error = await #expect(throws: ClientError.self) { try await intruder.connect(timeout: .seconds(3)) }
        #expect(error?.code == .notAuthorized)
        intruder.disconnect()
    }

    @Test("an unreachable broker gives a clear error")
    func unreachable() async throws {
        let client = try client("nobody", host: "127.0.0.1", port: 1)
        let error = await #expect(throws: ClientError.self) { try await client.connect(timeout: .seconds(2)) }
        #expect(error?.code == .unreachable)
        #expect(error?.description.contains("127.0.0.1:1") == true)
        let publish = await #expect(throws: ClientError.self) { try await client.publish(topic: "x", payload: [1]) }
        #expect(publish?.code == .unreachable)
    }

    @Test("after a broker restart the client reconnects and resubscribes by itself")
    func survivesRestart() async throws {
        let port = ScratchPort.mosquitto
        try await TestStack.scratch("start", "mosquitto", port: port)
        let client = try client("restart", host: "127.0.0.1", port: port)
        try await client.connect()
        try await client.subscribe("restart/#", qos: 1)
        try await TestStack.scratch("stop", "mosquitto", port: port)
        try await TestStack.eventually(timeout: .seconds(5)) { if client.isConnected { throw ClientError(.timeout, client: "test", "still connected") } }
        try await TestStack.scratch("start", "mosquitto", port: port)
        try await TestStack.eventually(timeout: .seconds(20)) { if !client.isConnected { throw ClientError(.timeout, client: "test", "not reconnected") } }
        try await TestStack.eventually(timeout: .seconds(5)) { try await client.publish(topic: "restart/x", payload: Array("after".utf8), qos: 1) }
        let messages = try await collect(1, from: client)
        #expect(messages.map { String(decoding: $0.payload, as: UTF8.self) } == ["after"])
        client.disconnect()
        try await TestStack.scratch("stop", "mosquitto", port: port)
    }
}
