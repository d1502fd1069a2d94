import Foundation
import Logging
import SensormineTelemetry
import Testing

@testable import EdgeGateway

@Suite("EdgeGateway spool")
struct SpoolTests {
    static func envelope(_ index: Int, json: Bool = true) -> TelemetryEnvelope {
        TelemetryEnvelope(messageID: "m-\(index)", tenantID: "t", deviceID: "d-\(index % 3)", source: index % 2 == 0 ? .mqtt : .http,
                          receivedAt: 1_700_000_000_000_000 + Int64(index), payload: Array(#"{"v":\#(index)}"#.utf8), payloadIsJSON: json)
    }

    static func directory() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("spool-test-\(UUID().uuidString)")
    }

    @Test("envelopes come back in order across segments and restarts; drained segments are deleted")
    func order() async throws {
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let logger = Logger(label: "spool-test")
        let spool = try Spool(directory: directory, maximumBytes: 1 << 20, segmentBytes: 512, logger: logger)
        for start in stride(from: 0, to: 60, by: 6) { try await spool.append((start..<(start + 6)).map { Self.envelope($0) }) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).count > 1)
        // A new process finds what the last one left.
        let reopened = try Spool(directory: directory, maximumBytes: 1 << 20, segmentBytes: 512, logger: logger)
        let seen = SeenEnvelopes()
        while try await reopened.drainOldest(batch: 4, forward: { await seen.add($0) }) {}
        #expect(await seen.all == (0..<60).map { Self.envelope($0) })
        #expect(reopened.isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
    }

    @Test("a failed replay keeps the segment; the bound refuses appends; a torn last record is dropped")
    func failuresAndBounds() async throws {
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let spool = try Spool(directory: directory, maximumBytes: 300, logger: Logger(label: "spool-test"))
        try await spool.append([Self.envelope(1), Self.envelope(2, json: false)])
        await #expect(throws: Spool.Full.self) { try await spool.append((3..<20).map { Self.envelope($0) }) }
        struct KafkaDown: Error {}
        await #expect(throws: KafkaDown.self) { _ = try await spool.drainOldest(forward: { _ in throw KafkaDown() }) }
        #expect(!spool.isEmpty)

        var bytes: [UInt8] = []
        EnvelopeFraming.encode(Self.envelope(7), into: &bytes)
        let whole = bytes.count
        EnvelopeFraming.encode(Self.envelope(8), into: &bytes)
        #expect(EnvelopeFraming.decodeRecords(bytes[..<(whole + 9)]).envelopes == [Self.envelope(7)])
        #expect(EnvelopeFraming.decodeRecords(bytes[...]).envelopes == [Self.envelope(7), Self.envelope(8)])
    }

    @Test("a torn record (full disk, crash mid-append) costs only itself: the records after it are read")
    func tornRecordInTheMiddle() {
        var bytes = EnvelopeFraming.header
        EnvelopeFraming.encode(Self.envelope(1), into: &bytes)
        var torn: [UInt8] = []
        EnvelopeFraming.encode(Self.envelope(2), into: &torn)
        bytes += torn.prefix(torn.count / 2)  // half of record 2, as a failed write leaves it
        EnvelopeFraming.encode(Self.envelope(3), into: &bytes)
        EnvelopeFraming.encode(Self.envelope(4), into: &bytes)
        let decoded = EnvelopeFraming.decode(bytes)
        #expect(decoded.envelopes == [Self.envelope(1), Self.envelope(3), Self.envelope(4)])
        #expect(decoded.tornBytes == torn.count / 2)
        // A flipped bit fails the checksum instead of producing a wrong envelope.
        var flipped = EnvelopeFraming.header
        EnvelopeFraming.encode(Self.envelope(5), into: &flipped)
        flipped[flipped.count - 3] ^= 0x01
        EnvelopeFraming.encode(Self.envelope(6), into: &flipped)
        #expect(EnvelopeFraming.decode(flipped).envelopes == [Self.envelope(6)])
    }

    @Test("a segment that cannot be read is kept and retried, never deleted; segments of the earlier format still replay")
    func unreadableAndEarlierSegments() async throws {
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // The earlier format: u32 length, then the record's content, no header.
        var earlier: [UInt8] = []
        for index in 0..<3 {
            var framed: [UInt8] = []
            EnvelopeFraming.encode(Self.envelope(index), into: &framed)
            let content = framed[EnvelopeFraming.framing...]
            withUnsafeBytes(of: UInt32(content.count).bigEndian) { earlier.append(contentsOf: $0) }
            earlier += content
        }
        try Data(earlier).write(to: directory.appendingPathComponent("000000000001.spool"))
        // A directory where a segment should be: open succeeds, read fails.
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("000000000002.spool"), withIntermediateDirectories: false)
        let spool = try Spool(directory: directory, maximumBytes: 1 << 20, logger: Logger(label: "spool-test"))
        let seen = SeenEnvelopes()
        #expect(try await spool.drainOldest(forward: { await seen.add($0) }))
        #expect(await seen.all == (0..<3).map { Self.envelope($0) })
        await #expect(throws: Spool.IOFailure.self) { _ = try await spool.drainOldest(forward: { await seen.add($0) }) }
        #expect(!spool.isEmpty)
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("000000000002.spool").path))
        await spool.shutdown()
    }
}

actor SeenEnvelopes {
    var all: [TelemetryEnvelope] = []
    func add(_ envelopes: [TelemetryEnvelope]) { self.all += envelopes }
}
