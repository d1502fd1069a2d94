/// The request paths the gateway forwards. A path is decided on (public or not, which service)
/// and forwarded exactly as it arrived, so it must mean the same to every server behind the
/// gateway: dot segments, encoded slashes or dots, backslashes, empty segments and NULs, which
/// servers normalise differently (`/api/v1/auth/../devices`), are refused rather than guessed at.
enum PathGuard {
    /// Why `path` is refused, or nil when it is plain.
    static func refusal(_ path: String) -> String? {
        guard path.hasPrefix("/") else { return "the path must start with /" }
        let lowered = path.lowercased()
        for encoded in ["%2f", "%5c", "%2e", "%00"] where lowered.contains(encoded) {
            return "the path contains an encoded '/', '\\', '.' or NUL (\(encoded))"
        }
        if path.contains("\\") { return "the path contains a backslash" }
        let segments = path.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        for (index, segment) in segments.enumerated() {
            if segment == "." || segment == ".." { return "the path contains a '\(segment)' segment" }
            // A trailing slash is an empty last segment and harmless; '//' inside is not.
            if segment.isEmpty && index < segments.count - 1 { return "the path contains an empty segment ('//')" }
        }
        return nil
    }

    /// Whether `path` lies under `prefix` on whole segments (`/api/v1/auth` covers
    /// `/api/v1/auth/token`, not `/api/v1/authx`); a prefix given with a trailing slash means
    /// the same.
    static func isUnder(_ path: String, prefix: String) -> Bool {
        var base = prefix
        while base.count > 1 && base.hasSuffix("/") { base.removeLast() }
        return path == base || path.hasPrefix(base + "/")
    }
}
