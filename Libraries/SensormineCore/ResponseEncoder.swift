import Foundation
import Hummingbird

/// Encodes response bodies like Hummingbird's JSONEncoder (ISO 8601 dates), with every UUID in
/// the canonical lower-case form of RFC 9562: `UUID`'s own Codable writes upper case, and one
/// service's answer must compare equal to another's without case folding.
public struct SensormineResponseEncoder: ResponseEncoder {
    /// Creates the encoder.
    public init() {}

    public func encode(_ value: some Encodable, from request: Request, context: some RequestContext) throws -> Response {
        var bytes = [UInt8](try Self.encoder.encode(value))
        Self.lowercaseUUIDs(in: &bytes)
        return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8", .contentLength: String(bytes.count)],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()

    /// Lower-cases the hex digits of every JSON string that is exactly a UUID
    /// (`"XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX"`); other strings are left alone.
    static func lowercaseUUIDs(in bytes: inout [UInt8]) {
        let quote = UInt8(ascii: "\""), dash = UInt8(ascii: "-")
        var index = 0
        while index + 37 < bytes.count {
            guard bytes[index] == quote, bytes[index + 37] == quote else {
                index += 1
                continue
            }
            var isUUID = true
            var hasUpper = false
            for offset in 1...36 {
                let byte = bytes[index + offset]
                if [9, 14, 19, 24].contains(offset) {
                    if byte != dash { isUUID = false; break }
                } else if (0x41...0x46).contains(byte) {
                    hasUpper = true
                } else if !((0x30...0x39).contains(byte) || (0x61...0x66).contains(byte)) {
                    isUUID = false
                    break
                }
            }
            if isUUID {
                if hasUpper {
                    for offset in 1...36 where (0x41...0x46).contains(bytes[index + offset]) { bytes[index + offset] += 0x20 }
                }
                index += 38
            } else {
                index += 1
            }
        }
    }
}

extension SensormineRequestContext {
    /// JSON responses with UUIDs in lower case.
    public var responseEncoder: SensormineResponseEncoder { SensormineResponseEncoder() }
}
