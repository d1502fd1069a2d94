import Foundation

extension UUID {
    /// The UUID in lower case (`0f1e…`), the form ids take in keys, topics and headers.
    /// Written directly: `uuidString.lowercased()` formats through `snprintf` and then copies
    /// the string again, which showed in the gateway's profile at three ids per request.
    public var lowercasedString: String {
        let bytes = self.uuid
        return String(unsafeUninitializedCapacity: 36) { buffer in
            withUnsafeBytes(of: bytes) { raw in
                var written = 0
                for (index, byte) in raw.enumerated() {
                    if index == 4 || index == 6 || index == 8 || index == 10 {
                        buffer[written] = UInt8(ascii: "-")
                        written += 1
                    }
                    buffer[written] = UUIDText.digits[Int(byte >> 4)]
                    buffer[written + 1] = UUIDText.digits[Int(byte & 0x0F)]
                    written += 2
                }
                return written
            }
        }
    }
}

private enum UUIDText {
    static let digits: [UInt8] = Array("0123456789abcdef".utf8)
}
