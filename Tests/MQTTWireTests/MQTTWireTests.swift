import ClientRuntime
import Foundation
import Logging
import MQTTWire
import Mosquitto
import NIOConcurrencyHelpers
import NIOCore
import Testing

@Suite("MQTT wire codec")
struct MQTTPacketTests {
    /// A PUBLISH as a broker writes it: QoS 1, packet id, empty properties.
    static func publish(topic: String, id: UInt16, payload: [UInt8], duplicate: Bool = false) -> [UInt8] {
        var body: [UInt8] = [UInt8(topic.utf8.count >> 8), UInt8(topic.utf8.count & 0xFF)] + Array(topic.utf8)
        body += [UInt8(id >> 8), UInt8(id & 0xFF), 0x00] + payload
        var packet: [UInt8] = [0x32 | (duplicate ? 0x08 : 0)]
        var length = body.count
        repeat {
            var byte = UInt8(length & 0x7F)
            length >>= 7
            if length > 0 { byte |= 0x80 }
            packet.append(byte)
        } while length > 0
        return packet + body
    }

    @Test("a QoS 1 PUBLISH is read whole, with its topic, packet id, flags and payload")
    func readsPublish() throws {
        var buffer = ByteBuffer(bytes: Self.publish(topic: "tenants/a/devices/b/telemetry", id: 513, payload: Array(#"{"t":1}"#.utf8), duplicate: true))
        let packet = try MQTTPacket.read(from: &buffer)
        #expect(packet == .publish(.init(topic: "tenants/a/devices/b/telemetry", packetID: 513, qos: 1, duplicate: true, retained: false,
                                         payload: Array(#"{"t":1}"#.utf8))))
        #expect(buffer.readableBytes == 0)
    }

    @Test("a packet split across reads is read once all of it is there, and not before")
    func readsSplitPackets() throws {
        let bytes = Self.publish(topic: "t", id: 7, payload: Array(repeating: 0x41, count: 300)) + [0xD0, 0x00]
        var buffer = ByteBuffer()
        var packets: [MQTTPacket.Inbound] = []
        for byte in bytes {
            buffer.writeInteger(byte)
            while let packet = try MQTTPacket.read(from: &buffer) { packets.append(packet) }
        }
        #expect(packets.count == 2)
        #expect(packets.last == .pingResponse)
        guard case .publish(let message)? = packets.first else { Issue.record("no PUBLISH read"); return }
        #expect(message.payload.count == 300)
        #expect(message.packetID == 7)
    }

    @Test("hostile packets are refused, never trapped on", arguments: [
        [0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],             // a five-byte length
        [0x30, 0x81, 0x80, 0x80, 0x08],                   // 16 MiB and a byte
        [0x36, 0x05, 0x00, 0x01, 0x74, 0x00, 0x01],       // QoS 3
        [0x32, 0x05, 0x00, 0x01, 0x74, 0x00, 0x00],       // packet id 0
        [0x30, 0x04, 0x00, 0x02, 0xC3, 0x28],             // a topic that is not UTF-8
        [0x30, 0x03, 0x00, 0x09, 0x74],                   // a topic longer than the packet
        [0x32, 0x06, 0x00, 0x01, 0x74, 0x00, 0x01, 0x05], // properties longer than the packet
        [0x20, 0x01, 0x00],                               // a CONNACK without its reason
    ] as [[UInt8]])
    func refusesHostilePackets(bytes: [UInt8]) {
        var buffer = ByteBuffer(bytes: bytes)
        #expect(throws: MQTTProtocolError.self) { _ = try MQTTPacket.read(from: &buffer) }
    }

    @Test("random bytes end in a packet, a wait for more, or a protocol error; never a trap")
    func randomBytes() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let count = Int.random(in: 0...64, using: &generator)
            var buffer = ByteBuffer(bytes: (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) })
            _ = try? MQTTPacket.read(from: &buffer)
        }
    }

    @Test("CONNECT carries MQTT 5, a persistent session, its expiry, the receive maximum and the credentials")
    func writesConnect() {
        let buffer = MQTTPacket.connect(clientID: "edge-0", username: "u", password: "p", keepAlive: 30, cleanStart: false,
                                        sessionExpirySeconds: 3600, receiveMaximum: 1000)
        let bytes = Array(buffer.readableBytesView)
        #expect(bytes[0] == 0x10)
        #expect(Int(bytes[1]) == bytes.count - 2)
        #expect(Array(bytes[2..<9]) == [0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x05])  // "MQTT", level 5
        #expect(bytes[9] == 0xC0)                                                   // username and password, no clean start
        #expect(Array(bytes[10..<12]) == [0x00, 30])
        #expect(Array(bytes[12..<21]) == [0x08, 0x11, 0x00, 0x00, 0x0E, 0x10, 0x21, 0x03, 0xE8])
        #expect(Array(bytes[21...]) == [0x00, 0x06] + Array("edge-0".utf8) + [0x00, 0x01, 0x75, 0x00, 0x01, 0x70])
    }

    @Test("a QoS 1 PUBLISH is written as a broker writes one and read back the same; PUBACK is read with or without its reason")
    func writesPublishReadsPublishAcknowledgement() throws {
        let payload = Array(repeating: UInt8(ascii: "x"), count: 200)  // a two-byte remaining length
        var buffer = ByteBuffer()
        try MQTTPacket.publish(topic: "tenants/a/devices/b/telemetry", packetID: 513, payload: payload, into: &buffer)
        #expect(Array(buffer.readableBytesView) == Self.publish(topic: "tenants/a/devices/b/telemetry", id: 513, payload: payload))
        #expect(try MQTTPacket.read(from: &buffer) == .publish(.init(topic: "tenants/a/devices/b/telemetry", packetID: 513, qos: 1, duplicate: false,
                                                                      retained: false, payload: payload)))
        var acknowledgements = ByteBuffer(bytes: [0x40, 0x02, 0x02, 0x01, 0x40, 0x03, 0x00, 0x07, 0x87])
        #expect(try MQTTPacket.read(from: &acknowledgements) == .publishAcknowledged(packetID: 513, reason: 0))
        #expect(try MQTTPacket.read(from: &acknowledgements) == .publishAcknowledged(packetID: 7, reason: 0x87))
        var truncated = ByteBuffer(bytes: [0x40, 0x01, 0x02])
        #expect(throws: MQTTProtocolError.self) { _ = try MQTTPacket.read(from: &truncated) }
        var unwritten = ByteBuffer()
        #expect(throws: MQTTProtocolError.self) {
            try MQTTPacket.publish(topic: String(repeating: "t", count: 65_536), packetID: 1, payload: [], into: &unwritten)
        }
        #expect(unwritten.readableBytes == 0)
    }
}

/// Against the local stack's Mosquitto.
@Suite("MQTT windowed publisher")
struct WindowedPublisherTests {
    static var environment: [String: String] { ProcessInfo.processInfo.environment }
    static var host: String { environment["SENSORMINE_MQTT_HOST"] ?? "127.0.0.1" }
    static var port: Int { Int(environment["SENSORMINE_MQTT_PORT"] ?? "") ?? 1883 }

    static func connect(password: String? = environment["SENSORMINE_MQTT_PASSWORD"]) async throws -> WindowedPublisher {
        try await WindowedPublisher.connect(host: host, port: port, clientID: "wire-win-\(UUID().uuidString.prefix(8))",
                                            username: environment["SENSORMINE_MQTT_USERNAME"], password: password)
    }

    @Test("every publish of a window of 16 is acknowledged and arrives once, in order, with its payload")
    func publishesInOrder() async throws {
        let topic = "wire-test/\(UUID().uuidString.prefix(8))"
        let received = NIOLockedValueBox<[String]>([])
        let stamps = NIOLockedValueBox<[Int64]>([])
        let subscriber = AcknowledgingSubscriberTests.subscriber(clientID: "wire-sub-\(UUID().uuidString.prefix(8))", topic: topic) { batch in
            received.withLockedValue { $0 += batch.map { String(decoding: $0.payload, as: UTF8.self) } }
            stamps.withLockedValue { $0 += batch.map(\.receivedAt) }
            return true
        }
        let before = Int64(Date().timeIntervalSince1970 * 1_000_000)
        let running = Task { try await subscriber.run() }
        try await AcknowledgingSubscriberTests.waitUntil { subscriber.isSubscribed }
        #expect(subscriber.isSubscribed)

        let publisher = try await Self.connect()
        var window: [EventLoopFuture<Void>] = []
        var mostInFlight = 0
        for index in 0..<500 {
            if window.count == 16 { try await window.removeFirst().get() }
            window.append(publisher.publish(topic: "\(topic)/d", payload: Array("m\(index)".utf8)))
            mostInFlight = max(mostInFlight, try await publisher.inFlight)
        }
        for published in window { try await published.get() }
        #expect(try await publisher.inFlight == 0)
        // The window was used: more than one publish awaited its PUBACK at a time.
        #expect(mostInFlight > 1 && mostInFlight <= 16)
        await publisher.close()

        try await AcknowledgingSubscriberTests.waitUntil { received.withLockedValue { $0.count } >= 500 }
        running.cancel()
        _ = try? await running.value
        #expect(received.withLockedValue { $0 } == (0..<500).map { "m\($0)" })
        // The subscriber stamps each message when it reads it, on the wall clock.
        let after = Int64(Date().timeIntervalSince1970 * 1_000_000)
        #expect(stamps.withLockedValue { $0.count == 500 && $0.allSatisfy { (before...after).contains($0) } })
    }

    @Test("wrong credentials are refused as not authorized; after close a publish fails instead of waiting")
    func refusesAndFails() async throws {
        let error = await #expect(throws: ClientError.self) { _ = try await Self.connect(password: "not-the-password") }
        #expect(error?.code == .notAuthorized)
        let publisher = try await Self.connect()
        await publisher.close()
        await #expect(throws: ClientError.self) { try await publisher.publish(topic: "wire-test/closed", payload: [1]).get() }
    }
}

/// Against the local stack's Mosquitto.
@Suite("MQTT acknowledging subscriber")
struct AcknowledgingSubscriberTests {
    static var environment: [String: String] { ProcessInfo.processInfo.environment }
    static var logger: Logger {
        var logger = Logger(label: "mqtt-wire-tests")
        logger.logLevel = .critical
        return logger
    }

    static func subscriber(clientID: String, topic: String, batchesInFlight: Int = 1,
                           handler: @escaping AcknowledgingSubscriber.Handler) -> AcknowledgingSubscriber {
        AcknowledgingSubscriber(configuration: .init(
            host: environment["SENSORMINE_MQTT_HOST"] ?? "127.0.0.1", port: Int(environment["SENSORMINE_MQTT_PORT"] ?? "") ?? 1883,
            clientID: clientID, username: environment["SENSORMINE_MQTT_USERNAME"], password: environment["SENSORMINE_MQTT_PASSWORD"],
            sessionExpiry: .seconds(30), receiveMaximum: 200, filter: topic + "/#", maximumBatch: 100, batchesInFlight: batchesInFlight),
            logger: logger, handler: handler)
    }

    static func index(_ message: MQTTPacket.Publish) -> Int { Int(String(decoding: message.payload.dropFirst(), as: UTF8.self)) ?? -1 }

    static func publisher() async throws -> MQTTClient {
        let client = try MQTTClient(configuration: .init(
            host: environment["SENSORMINE_MQTT_HOST"] ?? "127.0.0.1", port: Int(environment["SENSORMINE_MQTT_PORT"] ?? "") ?? 1883,
            clientID: "wire-pub-\(UUID().uuidString.prefix(8))", username: environment["SENSORMINE_MQTT_USERNAME"],
            password: environment["SENSORMINE_MQTT_PASSWORD"]), logger: logger)
        try await client.connect()
        return client
    }

    static func waitUntil(_ condition: () -> Bool) async throws {
        for _ in 0..<200 where !condition() { try await Task.sleep(for: .milliseconds(50)) }
    }

    @Test("messages arrive in order; what the handler refuses is redelivered to the same session, not lost")
    func acknowledgesOnlyWhatIsSafe() async throws {
        let topic = "wire-test/\(UUID().uuidString.prefix(8))"
        let clientID = "wire-sub-\(UUID().uuidString.prefix(8))"
        let taken = NIOLockedValueBox<[String]>([])
        // First life: takes whole batches until it holds 150 messages, then refuses every batch.
        let first = Self.subscriber(clientID: clientID, topic: topic) { batch in
            taken.withLockedValue { taken in
                guard taken.count < 150 else { return false }
                taken += batch.map { String(decoding: $0.payload, as: UTF8.self) }
                return true
            }
        }
        let running = Task { try await first.run() }
        try await Self.waitUntil { first.isSubscribed }
        #expect(first.isSubscribed)
        let publisher = try await Self.publisher()
        for index in 0..<400 {
            try await publisher.publish(topic: "\(topic)/\(index % 7)", payload: Array("m\(index)".utf8), qos: 1)
        }
        try await Self.waitUntil { taken.withLockedValue { $0.count } >= 150 }
        try await Task.sleep(for: .milliseconds(300))
        running.cancel()
        _ = try? await running.value

        // Second life, same client id: every message not acknowledged comes back.
        let second = Self.subscriber(clientID: clientID, topic: topic) { batch in
            taken.withLockedValue { $0 += batch.map { String(decoding: $0.payload, as: UTF8.self) } }
            return true
        }
        let again = Task { try await second.run() }
        try await Self.waitUntil { Set(taken.withLockedValue { $0 }).count >= 400 }
        again.cancel()
        _ = try? await again.value
        publisher.disconnect()

        // Each message exactly once and in publishing order: the refused ones were held back,
        // neither acknowledged nor lost, and the broker redelivered them to the session.
        #expect(taken.withLockedValue { $0 } == (0..<400).map { "m\($0)" })
    }

    @Test("with batches in flight at once, only the front of the line that is safe is acknowledged, in order; the rest comes back")
    func acknowledgesTheSafePrefixOfConcurrentBatches() async throws {
        let topic = "wire-test/\(UUID().uuidString.prefix(8))"
        let clientID = "wire-sub-\(UUID().uuidString.prefix(8))"
        struct Call { var indices: [Int]; var safe: Bool }
        let calls = NIOLockedValueBox<[Call]>([])
        let running = NIOLockedValueBox((now: 0, most: 0))
        let accepted = NIOLockedValueBox(0)
        // First life: every third batch takes longer, so later batches finish before earlier
        // ones; batches are refused once 150 messages were accepted.
        let first = Self.subscriber(clientID: clientID, topic: topic, batchesInFlight: 4) { batch in
            let number = running.withLockedValue { running in
                running.now += 1
                running.most = max(running.most, running.now)
                return running.now
            }
            try? await Task.sleep(for: .milliseconds(number % 3 == 0 ? 40 : 5))
            running.withLockedValue { $0.now -= 1 }
            let safe = accepted.withLockedValue { accepted in
                guard accepted < 150 else { return false }
                accepted += batch.count
                return true
            }
            calls.withLockedValue { $0.append(Call(indices: batch.map(Self.index), safe: safe)) }
            return safe
        }
        let firstRun = Task { try await first.run() }
        try await Self.waitUntil { first.isSubscribed }
        #expect(first.isSubscribed)
        let publisher = try await Self.publisher()
        for index in 0..<400 {
            try await publisher.publish(topic: "\(topic)/\(index % 7)", payload: Array("m\(index)".utf8), qos: 1)
        }
        try await Self.waitUntil { calls.withLockedValue { $0.contains { !$0.safe } } }
        try await Task.sleep(for: .milliseconds(300))
        firstRun.cancel()
        _ = try? await firstRun.value

        // What the first life acknowledged: its batches in arrival order (each a run of the
        // publishing order) up to the first that was not safe.
        let firstCalls = calls.withLockedValue { $0 }.sorted { ($0.indices.first ?? 0) < ($1.indices.first ?? 0) }
        let acknowledged = Set(firstCalls.prefix { $0.safe }.flatMap(\.indices))
        #expect(running.withLockedValue { $0.most } > 1, "batches should have been in the handler at once")
        #expect(!acknowledged.isEmpty && acknowledged.count < 400)

        // Second life, same client id: exactly what was not acknowledged comes back, in order,
        // including batches that were safe but finished behind the refused one.
        let again = NIOLockedValueBox<[Int]>([])
        let second = Self.subscriber(clientID: clientID, topic: topic) { batch in
            again.withLockedValue { $0 += batch.map(Self.index) }
            return true
        }
        let secondRun = Task { try await second.run() }
        try await Self.waitUntil { again.withLockedValue { $0.count } >= 400 - acknowledged.count }
        try await Task.sleep(for: .milliseconds(300))
        secondRun.cancel()
        _ = try? await secondRun.value
        publisher.disconnect()
        #expect(again.withLockedValue { $0 } == (0..<400).filter { !acknowledged.contains($0) })
    }
}
