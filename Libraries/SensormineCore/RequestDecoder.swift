import Foundation
import Hummingbird
import NIOFoundationCompat
import SensormineJSON

/// Decodes JSON request bodies like Hummingbird's JSONDecoder, after refusing U+0000 in any
/// string or member name with a 400 that names the field: PostgreSQL text and jsonb cannot hold
/// it, and the check here keeps every route of every service from meeting it in SQL.
public struct SensormineRequestDecoder: RequestDecoder {
    /// Creates the decoder.
    public init() {}

    public func decode<T: Decodable>(_ type: T.Type, from request: Request, context: some RequestContext) async throws -> T {
        let buffer = try await request.body.collect(upTo: context.maxUploadSize)
        // Only a body that spells the escape is parsed twice; JSON text cannot hold a raw NUL.
        if Self.containsNULEscape(buffer.readableBytesView), let document = try? JSON.parse(buffer.readableBytesView),
           let pointer = Self.pointerToNUL(in: document, at: "") {
            throw APIError.badRequest("text cannot contain U+0000", errors: [
                .init(pointer: pointer.isEmpty ? "/" : pointer, detail: "contains U+0000 (NUL), which cannot be stored; remove it"),
            ])
        }
        return try Self.decoder.decode(T.self, from: buffer)
    }

    // As Hummingbird's own request decoder: dates in ISO 8601.
    private static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()

    static func containsNULEscape(_ bytes: some Collection<UInt8>) -> Bool {
        let escape: [UInt8] = Array(#"\u0000"#.utf8)
        var matched = 0
        for byte in bytes {
            if byte == escape[matched] {
                matched += 1
                if matched == escape.count { return true }
            } else {
                matched = byte == escape[0] ? 1 : 0
            }
        }
        return false
    }

    /// The JSON pointer of the first member name or string holding U+0000.
    static func pointerToNUL(in value: JSON, at pointer: String) -> String? {
        switch value {
        case .string(let text):
            return text.utf8.contains(0) ? pointer : nil
        case .array(let items):
            for (index, item) in items.enumerated() {
                if let found = self.pointerToNUL(in: item, at: pointer + "/\(index)") { return found }
            }
            return nil
        case .object(let members):
            for (name, member) in members.sorted(by: { $0.key < $1.key }) {
                let escaped = JSONPointer.escape(name)
                if name.utf8.contains(0) { return pointer + "/" + escaped }
                if let found = self.pointerToNUL(in: member, at: pointer + "/" + escaped) { return found }
            }
            return nil
        default:
            return nil
        }
    }
}

extension SensormineRequestContext {
    /// JSON bodies are decoded with U+0000 refused up front.
    public var requestDecoder: SensormineRequestDecoder { SensormineRequestDecoder() }
}
