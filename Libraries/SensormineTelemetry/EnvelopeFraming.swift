/// The on-disk form of envelopes in EdgeGateway's spool segments: a file header, then records
/// of a marker, the content's length and CRC-32, and the content. A reader skips bytes that do
/// not start a whole checksummed record, so a torn record costs only itself.
public enum EnvelopeFraming {
    /// The first bytes of a segment file in this format.
    public static let header: [UInt8] = Array("SMSPOOL2".utf8)
    static let marker: [UInt8] = [0xA5, 0x5A]
    /// Bytes of framing before a record's content: marker, length, CRC-32.
    public static let framing = 10

    /// Appends one record: marker, u32 length of the content, u32 CRC-32 of the content, then
    /// the content: u16-prefixed message id, tenant, device, a source byte, i64 receivedAt, a
    /// JSON flag byte and the payload.
    public static func encode(_ envelope: TelemetryEnvelope, into out: inout [UInt8]) {
        var body: [UInt8] = []
        body.reserveCapacity(envelope.payload.count + 120)
        for text in [envelope.messageID, envelope.tenantID, envelope.deviceID] {
            let utf8 = Array(text.utf8.prefix(Int(UInt16.max)))
            body.append(UInt8(utf8.count >> 8))
            body.append(UInt8(utf8.count & 0xFF))
            body.append(contentsOf: utf8)
        }
        body.append(envelope.source == .mqtt ? 0 : 1)
        withUnsafeBytes(of: envelope.receivedAt.bigEndian) { body.append(contentsOf: $0) }
        body.append(envelope.payloadIsJSON ? 1 : 0)
        body.append(contentsOf: envelope.payload)
        out.append(contentsOf: Self.marker)
        withUnsafeBytes(of: UInt32(body.count).bigEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: CRC32.checksum(body[...]).bigEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: body)
    }

    /// A segment file's envelopes and how many bytes were skipped as torn. Files without the
    /// header are segments of the earlier format (unframed records), read as before.
    public static func decode(_ file: [UInt8]) -> (envelopes: [TelemetryEnvelope], tornBytes: Int) {
        guard file.starts(with: Self.header) else { return (Self.decodeUnframed(file[...]), 0) }
        return Self.decodeRecords(file[Self.header.count...])
    }

    /// Framed records; bytes that do not start a whole, checksummed record are skipped until
    /// one does.
    public static func decodeRecords(_ bytes: ArraySlice<UInt8>) -> (envelopes: [TelemetryEnvelope], tornBytes: Int) {
        var envelopes: [TelemetryEnvelope] = []
        var torn = 0
        var offset = bytes.startIndex
        while offset < bytes.endIndex {
            if let (envelope, end) = Self.record(at: offset, in: bytes) {
                envelopes.append(envelope)
                offset = end
            } else {
                torn += 1
                offset += 1
            }
        }
        return (envelopes, torn)
    }

    /// The whole record starting at `offset`, with where it ends; nil unless marker, length,
    /// checksum and content all hold.
    static func record(at offset: Int, in bytes: ArraySlice<UInt8>) -> (TelemetryEnvelope, Int)? {
        guard bytes.endIndex - offset >= Self.framing, bytes[offset] == Self.marker[0], bytes[offset + 1] == Self.marker[1] else { return nil }
        let length = Self.integer(bytes, offset + 2, 4)
        let start = offset + Self.framing
        guard length <= bytes.endIndex - start else { return nil }
        let end = start + length
        guard UInt32(Self.integer(bytes, offset + 6, 4)) == CRC32.checksum(bytes[start..<end]),
              let envelope = Self.envelope(bytes[start..<end]) else { return nil }
        return (envelope, end)
    }

    /// One record's content.
    static func envelope(_ body: ArraySlice<UInt8>) -> TelemetryEnvelope? {
        var cursor = body.startIndex
        var texts: [String] = []
        for _ in 0..<3 {
            guard body.endIndex - cursor >= 2 else { return nil }
            let count = Self.integer(body, cursor, 2)
            guard body.endIndex - cursor - 2 >= count else { return nil }
            texts.append(String(decoding: body[(cursor + 2)..<(cursor + 2 + count)], as: UTF8.self))
            cursor += 2 + count
        }
        guard body.endIndex - cursor >= 10 else { return nil }
        var received: Int64 = 0
        for index in (cursor + 1)..<(cursor + 9) { received = received << 8 | Int64(body[index]) }
        return TelemetryEnvelope(messageID: texts[0], tenantID: texts[1], deviceID: texts[2], source: body[cursor] == 0 ? .mqtt : .http,
                                 receivedAt: received, payload: Array(body[(cursor + 10)...]), payloadIsJSON: body[cursor + 9] == 1)
    }

    /// The earlier format: u32 length and content, no marker or checksum; a torn last record is dropped.
    static func decodeUnframed(_ bytes: ArraySlice<UInt8>) -> [TelemetryEnvelope] {
        var envelopes: [TelemetryEnvelope] = []
        var offset = bytes.startIndex
        while bytes.endIndex - offset >= 4 {
            let length = Self.integer(bytes, offset, 4)
            guard length <= bytes.endIndex - offset - 4, let envelope = Self.envelope(bytes[(offset + 4)..<(offset + 4 + length)]) else { break }
            envelopes.append(envelope)
            offset += 4 + length
        }
        return envelopes
    }

    static func integer(_ bytes: ArraySlice<UInt8>, _ at: Int, _ width: Int) -> Int {
        var value = 0
        for index in at..<(at + width) { value = value << 8 | Int(bytes[index]) }
        return value
    }
}

/// CRC-32 (IEEE 802.3, as zlib computes it).
public enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 { value = value & 1 == 1 ? 0xEDB8_8320 ^ (value >> 1) : value >> 1 }
        return value
    }

    /// The checksum of `bytes`.
    public static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = Self.table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}
