/// The textual form of a UUID, checked without Foundation: `UUID(uuidString:)` on Linux parses
/// with sscanf, which cost Ingestion a few percent of its CPU where it only checks each
/// message's tenant and device ids.
public enum UUIDText {
    /// Whether `text` is a UUID: 8-4-4-4-12 hex digits of either case, exactly. (Foundation's
    /// parser also takes a sign or a space where a group's first digit belongs, which PostgreSQL
    /// refuses and no service writes.)
    public static func isValid(_ text: String) -> Bool {
        Self.isValid(bytes: text.utf8)
    }

    /// Whether `bytes` spell a UUID, as ``isValid(_:)`` reads one.
    public static func isValid(bytes: some Collection<UInt8>) -> Bool {
        guard bytes.count == 36 else { return false }
        var index = 0
        for byte in bytes {
            defer { index += 1 }
            switch index {
            case 8, 13, 18, 23:
                guard byte == UInt8(ascii: "-") else { return false }
            default:
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"), UInt8(ascii: "A")...UInt8(ascii: "F"): continue
                default: return false
                }
            }
        }
        return true
    }

    /// The UUID `bytes` spell, in lower case as every id is written; nil when they spell none.
    public static func lowercased(bytes: some Collection<UInt8>) -> String? {
        guard Self.isValid(bytes: bytes) else { return nil }
        return String(unsafeUninitializedCapacity: 36) { buffer in
            var written = 0
            for byte in bytes {
                buffer[written] = (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte) ? byte | 0x20 : byte
                written += 1
            }
            return written
        }
    }

    /// The 16 bytes of `text` when it is a UUID written exactly as ``lowercased(bytes:)`` writes
    /// one (lower case, hyphenated), so that formatting them gives `text` back; nil otherwise.
    public static func bytes(ofLowercased text: String) -> [UInt8]? {
        guard text.utf8.count == 36 else { return nil }
        var bytes = [UInt8](repeating: 0, count: 16)
        var nibbles = 0
        for (index, character) in text.utf8.enumerated() {
            let value: UInt8
            switch (index, character) {
            case (8, _), (13, _), (18, _), (23, _):
                guard character == UInt8(ascii: "-") else { return nil }
                continue
            case (_, UInt8(ascii: "0")...UInt8(ascii: "9")): value = character - UInt8(ascii: "0")
            case (_, UInt8(ascii: "a")...UInt8(ascii: "f")): value = character - UInt8(ascii: "a") + 10
            default: return nil
            }
            bytes[nibbles / 2] |= nibbles % 2 == 0 ? value << 4 : value
            nibbles += 1
        }
        return bytes
    }
}
