import Foundation

/// JSON Pointer (RFC 6901) escaping and parsing, including the URI-fragment percent-encoding.
public enum JSONPointer {
    /// Escapes one reference token.
    public static func escape(_ token: String) -> String {
        token.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }

    /// The unescaped reference tokens of a pointer (percent-decoded first, as in a URI fragment).
    public static func tokens(_ pointer: String) -> [String] {
        let decoded = pointer.removingPercentEncoding ?? pointer
        guard !decoded.isEmpty else { return [] }
        return decoded.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map {
            $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
        }
    }
}
