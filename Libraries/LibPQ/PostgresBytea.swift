/// bytea as text: the hex format libpq's text protocol reads and writes (`\x0a1b…`).
public enum PostgresBytea {
    /// bytea's hex digits, lowercase as PostgreSQL writes them.
    static let hexDigits = Array("0123456789abcdef".utf8)

    /// bytea's hex input format.
    public static func text(_ bytes: [UInt8]) -> String {
        var text = [UInt8](repeating: 0, count: 2 + bytes.count * 2)
        text[0] = UInt8(ascii: "\\")
        text[1] = UInt8(ascii: "x")
        for (index, byte) in bytes.enumerated() {
            text[2 + index * 2] = Self.hexDigits[Int(byte >> 4)]
            text[3 + index * 2] = Self.hexDigits[Int(byte & 0x0f)]
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// bytea's hex output format (`\x…`).
    public static func bytes(fromText text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count >= 2, utf8[0] == UInt8(ascii: "\\"), utf8[1] == UInt8(ascii: "x"), utf8.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            default: nil
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity((utf8.count - 2) / 2)
        var index = 2
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }
}
