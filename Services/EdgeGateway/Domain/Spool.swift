import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers
import SensormineTelemetry
#if canImport(Glibc)
import Glibc
#endif

/// A bounded, append-only store on disk for envelopes Kafka could not take: every append is
/// fsync'd before it counts as accepted, and envelopes come back out in the order they went in.
///
/// Files are segments (`{sequence}.spool`) of length-prefixed records; a segment is deleted only
/// after every record in it was handed to Kafka, so a crash replays at most one segment (storage
/// absorbs the repeats).
actor Spool {
    /// Why an append was refused.
    struct Full: Error, CustomStringConvertible {
        var description: String { "the spool is full" }
    }

    private let directory: URL
    private let maximumBytes: Int
    private let segmentBytes: Int
    private let logger: Logger
    private var segments: [Int] = []  // sequence numbers, oldest first
    private var bytes = 0
    private var writer: FileHandle?
    private var writerSequence = -1
    private var writerBytes = 0
    private var oldest: Date?
    /// Mirrors `!segments.isEmpty` so the delivery path can ask without an actor hop.
    private nonisolated let holdsEnvelopes = NIOLockedValueBox(false)
    private let sizeGauge = Gauge(label: "sensormine_edge_spool_bytes")
    private let ageGauge = Gauge(label: "sensormine_edge_spool_oldest_seconds")
    private let spooled = Counter(label: "sensormine_edge_spooled_messages_total")

    init(directory: URL, maximumBytes: Int, segmentBytes: Int = 16 << 20, logger: Logger) throws {
        self.directory = directory
        self.maximumBytes = maximumBytes
        self.segmentBytes = segmentBytes
        self.logger = logger
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        let segments = names.compactMap { $0.hasSuffix(".spool") ? Int($0.dropLast(6)) : nil }.sorted()
        var bytes = 0
        var oldest: Date?
        for sequence in segments {
            let attributes = try? FileManager.default.attributesOfItem(atPath: Self.path(directory, sequence).path)
            bytes += (attributes?[.size] as? Int) ?? 0
            if oldest == nil { oldest = attributes?[.modificationDate] as? Date }
        }
        self.segments = segments
        self.bytes = bytes
        self.oldest = oldest
        if !segments.isEmpty {
            logger.warning("spool holds envelopes from before a restart; replaying", metadata: ["segments": "\(segments.count)", "bytes": "\(bytes)"])
        }
        self.sizeGauge.record(bytes)
        self.holdsEnvelopes.withLockedValue { $0 = !segments.isEmpty }
    }

    /// Whether nothing waits in the spool (otherwise new envelopes must queue behind it); read
    /// on every delivery, so it is a lock, not an actor hop.
    nonisolated var isEmpty: Bool { !self.holdsEnvelopes.withLockedValue { $0 } }

    /// Appends and fsyncs envelopes.
    /// - Throws: ``Full`` past the size bound, or the file system's error; nothing is then kept.
    func append(_ envelopes: [TelemetryEnvelope]) throws {
        var record: [UInt8] = []
        for envelope in envelopes { Self.encode(envelope, into: &record) }
        guard self.bytes + record.count <= self.maximumBytes else { throw Full() }
        if self.writer == nil || self.writerBytes + record.count > self.segmentBytes { try self.rotate() }
        guard let writer = self.writer else { throw Full() }
        try writer.write(contentsOf: record)
        try writer.synchronize()
        self.writerBytes += record.count
        self.bytes += record.count
        if self.oldest == nil { self.oldest = Date() }
        self.spooled.increment(by: Int64(envelopes.count))
        self.publish()
    }

    /// Hands the oldest segment to `forward` in order, in slices of `batch`, and deletes it once
    /// all of it was taken. Returns whether a segment was drained.
    /// - Throws: what `forward` throws; the segment then stays for the next attempt.
    func drainOldest(batch: Int = 500, forward: @Sendable ([TelemetryEnvelope]) async throws -> Void) async throws -> Bool {
        guard let sequence = self.segments.first else { return false }
        if sequence == self.writerSequence { try self.closeWriter() }
        let path = Self.path(self.directory, sequence)
        let data = (try? Data(contentsOf: path)) ?? Data()
        let envelopes = Self.decode([UInt8](data))
        var start = 0
        while start < envelopes.count {
            let end = min(start + batch, envelopes.count)
            try await forward(Array(envelopes[start..<end]))
            start = end
        }
        try? FileManager.default.removeItem(at: path)
        self.segments.removeFirst()
        self.bytes = max(0, self.bytes - data.count)
        if self.segments.isEmpty { self.oldest = nil } else {
            self.oldest = (try? FileManager.default.attributesOfItem(atPath: Self.path(self.directory, self.segments[0]).path))?[.modificationDate] as? Date
        }
        self.publish()
        return true
    }

    private func rotate() throws {
        try self.closeWriter()
        let sequence = (self.segments.last ?? 0) + 1
        let path = Self.path(self.directory, sequence)
        guard FileManager.default.createFile(atPath: path.path, contents: nil) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path.path])
        }
        self.writer = try FileHandle(forWritingTo: path)
        self.writerSequence = sequence
        self.writerBytes = 0
        self.segments.append(sequence)
        // The new file's directory entry must survive a crash too.
        let descriptor = open(self.directory.path, O_RDONLY)
        if descriptor >= 0 {
            fsync(descriptor)
            close(descriptor)
        }
    }

    private func closeWriter() throws {
        try self.writer?.close()
        self.writer = nil
        self.writerSequence = -1
        self.writerBytes = 0
    }

    private func publish() {
        let holds = !self.segments.isEmpty
        self.holdsEnvelopes.withLockedValue { $0 = holds }
        self.sizeGauge.record(self.bytes)
        self.ageGauge.record(self.oldest.map { Date().timeIntervalSince($0) } ?? 0)
    }

    private static func path(_ directory: URL, _ sequence: Int) -> URL {
        directory.appendingPathComponent(String(format: "%012d.spool", sequence))
    }

    // Record: u32 length of the rest, then u16-prefixed message id, tenant, device, a source byte,
    // i64 receivedAt, a JSON flag byte, and the payload.
    static func encode(_ envelope: TelemetryEnvelope, into out: inout [UInt8]) {
        var body: [UInt8] = []
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
        withUnsafeBytes(of: UInt32(body.count).bigEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: body)
    }

    /// Every whole record; a torn last record (crash mid-write, before its fsync) is dropped,
    /// which is safe because its append never returned.
    static func decode(_ bytes: [UInt8]) -> [TelemetryEnvelope] {
        var envelopes: [TelemetryEnvelope] = []
        var offset = 0
        func integer(_ at: Int, _ width: Int) -> Int {
            var value = 0
            for index in at..<(at + width) { value = value << 8 | Int(bytes[index]) }
            return value
        }
        while offset + 4 <= bytes.count {
            let length = integer(offset, 4)
            let end = offset + 4 + length
            guard end <= bytes.count else { break }
            var cursor = offset + 4
            var texts: [String] = []
            var valid = true
            for _ in 0..<3 {
                guard cursor + 2 <= end else { valid = false; break }
                let count = integer(cursor, 2)
                guard cursor + 2 + count <= end else { valid = false; break }
                texts.append(String(decoding: bytes[(cursor + 2)..<(cursor + 2 + count)], as: UTF8.self))
                cursor += 2 + count
            }
            guard valid, cursor + 10 <= end else { break }
            let source: TelemetryEnvelope.Source = bytes[cursor] == 0 ? .mqtt : .http
            var received: Int64 = 0
            for index in (cursor + 1)..<(cursor + 9) { received = received << 8 | Int64(bytes[index]) }
            let isJSON = bytes[cursor + 9] == 1
            envelopes.append(TelemetryEnvelope(messageID: texts[0], tenantID: texts[1], deviceID: texts[2], source: source,
                                               receivedAt: received, payload: Array(bytes[(cursor + 10)..<end]), payloadIsJSON: isJSON))
            offset = end
        }
        return envelopes
    }
}
