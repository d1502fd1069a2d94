import Crypto
import Foundation

/// Ids derived from names, so what is produced again after a crash carries the id it had.
enum StableID {
    /// A version-5-style UUID (SHA-256 rather than SHA-1) of `name`.
    static func uuid(_ name: String) -> UUID {
        var bytes = Array(SHA256.hash(data: Array(name.utf8)).prefix(16))
        bytes[6] = (bytes[6] & 0x0f) | 0x50
        bytes[8] = (bytes[8] & 0x3f) | 0x80
        return UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                           bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
    }
}
