@testable import MQTTWire
import NIOCore
import NIOEmbedded
import Testing

@Suite("MQTT packets handed on a socket read at a time")
struct PacketsPerReadTests {
    static func channel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(MQTTPacketDecoder()))
        try channel.pipeline.syncOperations.addHandler(PacketsPerRead())
        return channel
    }

    static func publish(_ id: UInt16) -> [UInt8] {
        let topic = Array("tenants/a/devices/b/telemetry".utf8)
        let payload = Array(#"{"n":\#(id)}"#.utf8)
        let body = [UInt8(topic.count >> 8), UInt8(topic.count & 0xFF)] + topic + [UInt8(id >> 8), UInt8(id & 0xFF), 0x00] + payload
        return [0x32, UInt8(body.count)] + body
    }

    @Test("one read's packets arrive as one array, in order, each message stamped with its read; a split packet waits for its rest")
    func oneArrayPerRead() throws {
        let channel = try Self.channel()
        let before = AcknowledgingSubscriber.microsecondsSince1970()
        try channel.writeInbound(ByteBuffer(bytes: Self.publish(1) + Self.publish(2) + [0xD0, 0x00] + Self.publish(3) + Self.publish(4).prefix(5)))
        let first = try #require(try channel.readInbound(as: [MQTTPacket.Inbound].self))
        #expect(first.count == 4)
        #expect(first[2] == .pingResponse)
        let ids = first.compactMap { packet -> UInt16? in
            guard case .publish(let message) = packet else { return nil }
            #expect(message.receivedAt >= before)
            return message.packetID
        }
        #expect(ids == [1, 2, 3])
        #expect(try channel.readInbound(as: [MQTTPacket.Inbound].self) == nil)

        try channel.writeInbound(ByteBuffer(bytes: Self.publish(4).dropFirst(5)))
        let second = try #require(try channel.readInbound(as: [MQTTPacket.Inbound].self))
        guard case .publish(let message)? = second.first, second.count == 1 else {
            Issue.record("expected the rest of publish 4 alone, got \(second)")
            return
        }
        #expect(message.packetID == 4)
        #expect(message.payload == Array(#"{"n":4}"#.utf8))
        _ = try channel.finish()
    }

    @Test("packets read without a completed read are handed on before the connection's end")
    func flushedAtTheEnd() throws {
        let channel = try Self.channel()
        channel.pipeline.fireChannelRead(NIOAny(ByteBuffer(bytes: Self.publish(9))))
        #expect(try channel.readInbound(as: [MQTTPacket.Inbound].self) == nil)
        _ = try channel.finish(acceptAlreadyClosed: true)
        let last = try #require(try channel.readInbound(as: [MQTTPacket.Inbound].self))
        guard case .publish(let message)? = last.first else {
            Issue.record("expected publish 9, got \(last)")
            return
        }
        #expect(message.packetID == 9)
    }
}
