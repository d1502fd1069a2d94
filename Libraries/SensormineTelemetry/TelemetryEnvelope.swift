import Foundation
import SensormineJSON

/// What the EdgeGateway puts on `device.telemetry`: one device message with the tenant and the
/// device taken from the authenticated channel (MQTT topic or API key), never from the payload.
///
/// Wire form (JSON): `{"messageId","tenantId","deviceId","source","receivedAt",` then
/// `"payload"` (the device's JSON, verbatim) or `"payloadBase64"` (bytes that are not JSON,
/// which Ingestion dead-letters with the reason). `receivedAt` is microseconds since 1970.
public struct TelemetryEnvelope: Sendable, Equatable {
    /// How the message reached the platform.
    public enum Source: String, Sendable {
        case mqtt, http
    }

    /// Unique per message (the device's `messageId` when it sends one).
    public var messageID: String
    /// Owning tenant, lower-case UUID.
    public var tenantID: String
    /// Sending device, lower-case UUID.
    public var deviceID: String
    /// Channel it came in on.
    public var source: Source
    /// When the edge received it, in microseconds since 1970.
    public var receivedAt: Int64
    /// The device's payload bytes.
    public var payload: [UInt8]
    /// Whether `payload` parsed as JSON at the edge (it is then embedded verbatim).
    public var payloadIsJSON: Bool

    /// Creates an envelope.
    public init(messageID: String, tenantID: String, deviceID: String, source: Source, receivedAt: Int64, payload: [UInt8], payloadIsJSON: Bool) {
        self.messageID = messageID
        self.tenantID = tenantID
        self.deviceID = deviceID
        self.source = source
        self.receivedAt = receivedAt
        self.payload = payload
        self.payloadIsJSON = payloadIsJSON
    }

    /// The JSON bytes of the envelope.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(self.payload.count + 200)
        out.append(contentsOf: #"{"messageId":"#.utf8)
        Self.appendString(self.messageID, to: &out)
        out.append(contentsOf: #","tenantId":"#.utf8)
        Self.appendString(self.tenantID, to: &out)
        out.append(contentsOf: #","deviceId":"#.utf8)
        Self.appendString(self.deviceID, to: &out)
        out.append(contentsOf: #","source":""#.utf8)
        out.append(contentsOf: self.source.rawValue.utf8)
        out.append(contentsOf: #"","receivedAt":"#.utf8)
        out.append(contentsOf: String(self.receivedAt).utf8)
        if self.payloadIsJSON {
            out.append(contentsOf: #","payload":"#.utf8)
            out.append(contentsOf: self.payload)
        } else {
            out.append(contentsOf: #","payloadBase64":""#.utf8)
            out.append(contentsOf: Data(self.payload).base64EncodedString().utf8)
            out.append(UInt8(ascii: "\""))
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// An envelope read back, with its payload parsed (nil when the payload is not JSON).
    public struct Decoded: Sendable {
        /// The envelope's fields; `payload` holds the bytes only when they are not JSON (the
        /// parsed form is ``payload``, and the original message is the Kafka record itself).
        public var envelope: TelemetryEnvelope
        /// The parsed payload, when it is JSON.
        public var payload: JSON?
    }

    /// Reads an envelope from Kafka.
    /// - Throws: ``TelemetryError`` naming what is missing or malformed.
    public static func decode(_ bytes: some Collection<UInt8>) throws(TelemetryError) -> Decoded {
        let document: JSON
        do {
            document = try JSON.parse(bytes)
        } catch {
            throw TelemetryError("the envelope is not JSON: \(error)")
        }
        guard case .object(let members) = document else { throw TelemetryError("the envelope is not a JSON object") }
        func text(_ key: String) throws(TelemetryError) -> String {
            guard case .string(let value)? = members[key], !value.isEmpty else { throw TelemetryError("the envelope has no \(key)") }
            return value
        }
        let source = Source(rawValue: (try? text("source")) ?? "") ?? .mqtt
        // Microseconds within ±292,000 years: anything else is not a time (and would trap as Int64).
        guard case .number(let received)? = members["receivedAt"], received.isFinite, abs(received) < 9e18 else {
            throw TelemetryError("the envelope has no receivedAt in microseconds")
        }
        var envelope = TelemetryEnvelope(messageID: try text("messageId"), tenantID: try text("tenantId"), deviceID: try text("deviceId"),
                                          source: source, receivedAt: Int64(received), payload: [], payloadIsJSON: false)
        if let payload = members["payload"] {
            envelope.payloadIsJSON = true
            return Decoded(envelope: envelope, payload: payload)
        }
        if case .string(let base64)? = members["payloadBase64"], let data = Data(base64Encoded: base64) {
            envelope.payload = Array(data)
            return Decoded(envelope: envelope, payload: nil)
        }
        throw TelemetryError("the envelope has no payload")
    }

    private static func appendString(_ value: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        // Ids need no escapes: copied whole after one scan instead of byte by byte.
        guard value.utf8.contains(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") || $0 < 0x20 }) else {
            out.append(contentsOf: value.utf8)
            out.append(UInt8(ascii: "\""))
            return
        }
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): out.append(contentsOf: #"\\"#.utf8)
            case 0..<0x20: out.append(contentsOf: String(format: "\\u%04x", byte).utf8)
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

/// Why telemetry could not be read; the text is what a dead letter's reason says.
public struct TelemetryError: Error, Equatable, CustomStringConvertible {
    /// The reason.
    public let reason: String
    /// Creates an error.
    public init(_ reason: String) { self.reason = reason }
    public var description: String { self.reason }
}
