import NIOCore

/// The MQTT 5 packets a subscribing or QoS 1 publishing client writes and reads (OASIS MQTT
/// 5.0, section 3), and nothing more: CONNECT, SUBSCRIBE, PUBLISH, PUBACK, PINGREQ and
/// DISCONNECT out; CONNACK, SUBACK, PUBLISH, PUBACK, PINGRESP and DISCONNECT in. Reading never traps on hostile bytes: whatever does not
/// parse is a ``MQTTProtocolError``.
public enum MQTTPacket {
    /// A packet read from the broker.
    public enum Inbound: Sendable, Equatable {
        /// CONNACK: whether the broker resumed a session, and its reason code (0 = accepted).
        case connectionAcknowledged(sessionPresent: Bool, reason: UInt8)
        /// SUBACK: the reason code per filter (0–2 = granted QoS, ≥ 0x80 = refused).
        case subscriptionAcknowledged(packetID: UInt16, reasons: [UInt8])
        /// PUBLISH: a message; `packetID` is set for QoS 1 and 2.
        case publish(Publish)
        /// PUBACK: the broker has taken our QoS 1 message (reason < 0x80) or refused it.
        case publishAcknowledged(packetID: UInt16, reason: UInt8)
        /// PINGRESP.
        case pingResponse
        /// DISCONNECT from the broker, with its reason code.
        case disconnect(reason: UInt8)
        /// Any other packet type, ignored by a subscriber.
        case other(type: UInt8)
    }

    /// A received PUBLISH.
    public struct Publish: Sendable, Equatable {
        public var topic: String
        public var packetID: UInt16?
        public var qos: Int
        public var duplicate: Bool
        public var retained: Bool
        public var payload: [UInt8]
        /// When the client read it off the connection (microseconds since 1970; 0 when not
        /// stamped), so that a wait before its handler runs is counted as the edge's.
        public var receivedAt: Int64 = 0

        /// Creates a message.
        public init(topic: String, packetID: UInt16?, qos: Int, duplicate: Bool, retained: Bool, payload: [UInt8]) {
            self.topic = topic
            self.packetID = packetID
            self.qos = qos
            self.duplicate = duplicate
            self.retained = retained
            self.payload = payload
        }
    }

    /// The largest packet a reader accepts (remaining length), whatever the broker sends.
    public static let maximumPacketBytes = 16 << 20

    // MARK: Writing

    /// CONNECT (MQTT 5) with a session expiry and a receive maximum.
    public static func connect(clientID: String, username: String?, password: String?, keepAlive: UInt16, cleanStart: Bool,
                               sessionExpirySeconds: UInt32, receiveMaximum: UInt16) -> ByteBuffer {
        var body = ByteBuffer()
        writeString("MQTT", into: &body)
        body.writeInteger(UInt8(5))
        var flags: UInt8 = cleanStart ? 0x02 : 0
        if username != nil { flags |= 0x80 }
        if password != nil { flags |= 0x40 }
        body.writeInteger(flags)
        body.writeInteger(keepAlive)
        var properties = ByteBuffer()
        properties.writeInteger(UInt8(0x11))  // session expiry interval
        properties.writeInteger(sessionExpirySeconds)
        properties.writeInteger(UInt8(0x21))  // receive maximum
        properties.writeInteger(receiveMaximum)
        writeVariableInteger(properties.readableBytes, into: &body)
        body.writeBuffer(&properties)
        writeString(clientID, into: &body)
        if let username { writeString(username, into: &body) }
        if let password { writeString(password, into: &body) }
        return frame(type: 0x10, body: &body)
    }

    /// SUBSCRIBE to one filter at `qos`.
    public static func subscribe(packetID: UInt16, filter: String, qos: UInt8) -> ByteBuffer {
        var body = ByteBuffer()
        body.writeInteger(packetID)
        writeVariableInteger(0, into: &body)
        writeString(filter, into: &body)
        body.writeInteger(qos & 0x03)
        return frame(type: 0x82, body: &body)
    }

    /// PUBLISH at QoS 1 with no properties, appended to `buffer` (several go out in one write).
    /// - Throws: ``MQTTProtocolError`` for a topic longer than 65,535 bytes or a packet longer
    ///   than MQTT's 256 MiB.
    public static func publish(topic: String, packetID: UInt16, payload: [UInt8], into buffer: inout ByteBuffer) throws(MQTTProtocolError) {
        let topicBytes = topic.utf8.count
        guard topicBytes <= Int(UInt16.max) else { throw MQTTProtocolError("a topic of \(topicBytes) bytes is longer than MQTT allows") }
        guard payload.count <= 268_435_455 - 5 - topicBytes else { throw MQTTProtocolError("a payload of \(payload.count) bytes is longer than MQTT allows") }
        buffer.writeInteger(UInt8(0x32))
        writeVariableInteger(2 + topicBytes + 2 + 1 + payload.count, into: &buffer)
        buffer.writeInteger(UInt16(topicBytes))
        buffer.writeString(topic)
        buffer.writeInteger(packetID)
        buffer.writeInteger(UInt8(0))
        buffer.writeBytes(payload)
    }

    /// PUBACK, success.
    public static func publishAcknowledgement(packetID: UInt16, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(0x40))
        buffer.writeInteger(UInt8(2))
        buffer.writeInteger(packetID)
    }

    /// PINGREQ.
    public static func pingRequest() -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeBytes([0xC0, 0x00])
        return buffer
    }

    /// DISCONNECT, normal (the session stays for its expiry).
    public static func disconnect() -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeBytes([0xE0, 0x00])
        return buffer
    }

    // MARK: Reading

    /// Reads one whole packet from the front of `buffer`; nil when it is not all there yet.
    /// - Throws: ``MQTTProtocolError`` for a malformed packet or one beyond ``maximumPacketBytes``.
    public static func read(from buffer: inout ByteBuffer) throws(MQTTProtocolError) -> Inbound? {
        var peek = buffer
        guard let header = peek.readInteger(as: UInt8.self) else { return nil }
        guard let length = try readVariableInteger(from: &peek) else { return nil }
        guard length <= maximumPacketBytes else { throw MQTTProtocolError("a packet of \(length) bytes exceeds the limit") }
        guard var body = peek.readSlice(length: length) else { return nil }
        buffer = peek
        return try parse(header: header, body: &body)
    }

    static func parse(header: UInt8, body: inout ByteBuffer) throws(MQTTProtocolError) -> Inbound {
        switch header >> 4 {
        case 2:
            guard let flags = body.readInteger(as: UInt8.self), let reason = body.readInteger(as: UInt8.self) else {
                throw MQTTProtocolError("truncated CONNACK")
            }
            return .connectionAcknowledged(sessionPresent: flags & 0x01 == 1, reason: reason)
        case 9:
            guard let packetID = body.readInteger(as: UInt16.self) else { throw MQTTProtocolError("truncated SUBACK") }
            try skipProperties(&body)
            return .subscriptionAcknowledged(packetID: packetID, reasons: body.readBytes(length: body.readableBytes) ?? [])
        case 3:
            let qos = Int((header >> 1) & 0x03)
            guard qos < 3 else { throw MQTTProtocolError("PUBLISH with QoS 3") }
            let topic = try readString(from: &body)
            var packetID: UInt16?
            if qos > 0 {
                guard let id = body.readInteger(as: UInt16.self), id != 0 else { throw MQTTProtocolError("PUBLISH without a packet id") }
                packetID = id
            }
            try skipProperties(&body)
            return .publish(Publish(topic: topic, packetID: packetID, qos: qos, duplicate: header & 0x08 != 0, retained: header & 0x01 != 0,
                                    payload: body.readBytes(length: body.readableBytes) ?? []))
        case 4:
            guard let packetID = body.readInteger(as: UInt16.self) else { throw MQTTProtocolError("truncated PUBACK") }
            // Without a reason code the broker means success (MQTT 5, 3.4.2.1).
            return .publishAcknowledged(packetID: packetID, reason: body.readInteger(as: UInt8.self) ?? 0)
        case 13:
            return .pingResponse
        case 14:
            return .disconnect(reason: body.readInteger(as: UInt8.self) ?? 0)
        default:
            return .other(type: header >> 4)
        }
    }

    // MARK: Encoding helpers

    private static func frame(type: UInt8, body: inout ByteBuffer) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(type)
        writeVariableInteger(body.readableBytes, into: &buffer)
        buffer.writeBuffer(&body)
        return buffer
    }

    static func writeVariableInteger(_ value: Int, into buffer: inout ByteBuffer) {
        var remaining = value
        repeat {
            var byte = UInt8(remaining & 0x7F)
            remaining >>= 7
            if remaining > 0 { byte |= 0x80 }
            buffer.writeInteger(byte)
        } while remaining > 0
    }

    private static func writeString(_ text: String, into buffer: inout ByteBuffer) {
        let bytes = Array(text.utf8.prefix(Int(UInt16.max)))
        buffer.writeInteger(UInt16(bytes.count))
        buffer.writeBytes(bytes)
    }

    /// A variable byte integer (at most four bytes); nil when more bytes are needed.
    static func readVariableInteger(from buffer: inout ByteBuffer) throws(MQTTProtocolError) -> Int? {
        var value = 0
        for index in 0..<4 {
            guard let byte = buffer.readInteger(as: UInt8.self) else { return nil }
            value |= Int(byte & 0x7F) << (7 * index)
            if byte & 0x80 == 0 { return value }
        }
        throw MQTTProtocolError("a variable byte integer longer than four bytes")
    }

    private static func readString(from buffer: inout ByteBuffer) throws(MQTTProtocolError) -> String {
        guard let length = buffer.readInteger(as: UInt16.self), let bytes = buffer.readBytes(length: Int(length)) else {
            throw MQTTProtocolError("truncated string")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw MQTTProtocolError("a string that is not UTF-8") }
        return text
    }

    private static func skipProperties(_ buffer: inout ByteBuffer) throws(MQTTProtocolError) {
        guard let length = try readVariableInteger(from: &buffer) else { throw MQTTProtocolError("truncated properties") }
        guard buffer.readSlice(length: length) != nil else { throw MQTTProtocolError("truncated properties") }
    }
}

/// The broker sent bytes that are not the MQTT 5 a subscriber expects.
public struct MQTTProtocolError: Error, CustomStringConvertible, Sendable, Equatable {
    public let description: String
    init(_ description: String) { self.description = description }
}
