import Foundation

/// How every contract type is written and read between services: ISO 8601 dates; UUIDs in any
/// case on the way in (RFC 9562).
public enum ContractCoding {
    /// An encoder for contract types (ISO 8601 dates, sorted keys).
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = .sortedKeys
        return encoder
    }

    /// A decoder for contract types (ISO 8601 dates).
    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
