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
        Spool.encode(Self.envelope(7), into: &bytes)
        let whole = bytes.count
        Spool.encode(Self.envelope(8), into: &bytes)
        #expect(Spool.decode(Array(bytes[..<(whole + 9)])) == [Self.envelope(7)])
        #expect(Spool.decode(bytes) == [Self.envelope(7), Self.envelope(8)])
    }
}

actor SeenEnvelopes {
    var all: [TelemetryEnvelope] = []
    func add(_ envelopes: [TelemetryEnvelope]) { self.all += envelopes }
}
