/// The request paths the gateway forwards. A path is decided on (public or not, which service)
/// and forwarded exactly as it arrived, so it must mean the same to every server behind the
/// gateway: dot segments, encoded slashes or dots, backslashes, empty segments and NULs, which
/// servers normalise differently (`/api/v1/auth/../devices`), are refused rather than guessed at.
enum PathGuard {
    /// Why `path` is refused, or nil when it is plain. One pass over the bytes, without
    /// Foundation: this runs for every request the gateway forwards.
    static func refusal(_ path: String) -> String? {
        if let refusal = path.utf8.withContiguousStorageIfAvailable({ Self.refusal(bytes: $0) }) { return refusal }
        return Self.refusal(bytes: Array(path.utf8))
    }

    private static func refusal<Bytes: RandomAccessCollection<UInt8>>(bytes: Bytes) -> String? where Bytes.Index == Int {
        guard bytes.first == UInt8(ascii: "/") else { return "the path must start with /" }
        var segmentStart = bytes.startIndex + 1
        for index in segmentStart..<bytes.endIndex {
            switch bytes[index] {
            case UInt8(ascii: "/"):
                // A trailing slash is an empty last segment and harmless; '//' inside is not.
                if index == segmentStart { return "the path contains an empty segment ('//')" }
                if let refusal = Self.dotSegment(bytes[segmentStart..<index]) { return refusal }
                segmentStart = index + 1
            case UInt8(ascii: "\\"):
                return "the path contains a backslash"
            case UInt8(ascii: "%") where index + 2 < bytes.endIndex:
                let first = bytes[index + 1] | 0x20, second = bytes[index + 2] | 0x20  // lower-cased (digits keep their value)
                let forbidden = (first == UInt8(ascii: "2") && (second == UInt8(ascii: "f") || second == UInt8(ascii: "e")))
                    || (first == UInt8(ascii: "5") && second == UInt8(ascii: "c"))
                    || (first == UInt8(ascii: "0") && second == UInt8(ascii: "0"))
                if forbidden {
                    return "the path contains an encoded '/', '\\', '.' or NUL (%\(Character(UnicodeScalar(first)))\(Character(UnicodeScalar(second))))"
                }
            default:
                break
            }
        }
        return Self.dotSegment(bytes[segmentStart..<bytes.endIndex])
    }

    /// Refuses a `.` or `..` segment.
    private static func dotSegment<Segment: Collection<UInt8>>(_ segment: Segment) -> String? {
        guard (1...2).contains(segment.count), segment.allSatisfy({ $0 == UInt8(ascii: ".") }) else { return nil }
        return "the path contains a '\(segment.count == 1 ? "." : "..")' segment"
    }

    /// Whether `path` lies under `prefix` on whole segments (`/api/v1/auth` covers
    /// `/api/v1/auth/token`, not `/api/v1/authx`); a prefix given with a trailing slash means
    /// the same.
    static func isUnder(_ path: String, prefix: String) -> Bool {
        var base = prefix.utf8[...]
        while base.count > 1 && base.last == UInt8(ascii: "/") { base = base.dropLast() }
        guard path.utf8.starts(with: base) else { return false }
        let rest = path.utf8.dropFirst(base.count)
        return rest.isEmpty || rest.first == UInt8(ascii: "/")
    }
}
