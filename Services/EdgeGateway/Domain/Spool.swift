import ClientRuntime
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
/// Files are segments (`{sequence}.spool`) in ``EnvelopeFraming``: records framed by a marker,
/// their length and a CRC-32, so a torn record (a crash or a full disk mid-append) costs only
/// itself: reading resynchronises at the next whole record. A segment is deleted
/// only after every record in it was handed to Kafka, and a segment that cannot be read stays
/// (and is counted) until it can. Every file operation runs on the spool's own thread, in the
/// order asked, never on Swift's cooperative pool.
final class Spool: Sendable {
    /// Why an append was refused.
    struct Full: Error, CustomStringConvertible {
        var description: String { "the spool is full" }
    }

    /// A file operation failed; nothing was lost, the operation can be retried.
    struct IOFailure: Error, CustomStringConvertible {
        let description: String
    }

    /// What the spool's thread owns.
    private struct State {
        var segments: [Int] = []  // sequence numbers, oldest first
        var bytes = 0
        var writer: Int32 = -1
        var writerSequence = -1
        var writerBytes = 0
        var oldest: Date?
    }

    private let directory: URL
    private let maximumBytes: Int
    private let segmentBytes: Int
    private let logger: Logger
    private let io = BlockingExecutor(threads: 1)
    private let state: NIOLockedValueBox<State>
    /// Mirrors `!segments.isEmpty` so the delivery path can ask without a thread hop.
    private let holdsEnvelopes = NIOLockedValueBox(false)
    private let sizeGauge = Gauge(label: "sensormine_edge_spool_bytes")
    private let ageGauge = Gauge(label: "sensormine_edge_spool_oldest_seconds")
    private let spooled = Counter(label: "sensormine_edge_spooled_messages_total")
    private let readErrors = Counter(label: "sensormine_edge_spool_read_errors_total")
    private let tornBytes = Counter(label: "sensormine_edge_spool_torn_bytes_total")

    init(directory: URL, maximumBytes: Int, segmentBytes: Int = 16 << 20, logger: Logger) throws {
        self.directory = directory
        self.maximumBytes = maximumBytes
        self.segmentBytes = segmentBytes
        self.logger = logger
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        var state = State()
        state.segments = names.compactMap { $0.hasSuffix(".spool") ? Int($0.dropLast(6)) : nil }.sorted()
        for sequence in state.segments {
            let attributes = try? FileManager.default.attributesOfItem(atPath: Self.path(directory, sequence).path)
            state.bytes += (attributes?[.size] as? Int) ?? 0
            if state.oldest == nil { state.oldest = attributes?[.modificationDate] as? Date }
        }
        if !state.segments.isEmpty {
            logger.warning("spool holds envelopes from before a restart; replaying", metadata: ["segments": "\(state.segments.count)", "bytes": "\(state.bytes)"])
        }
        self.sizeGauge.record(state.bytes)
        self.holdsEnvelopes.withLockedValue { $0 = !state.segments.isEmpty }
        self.state = NIOLockedValueBox(state)
    }

    /// Whether nothing waits in the spool (otherwise new envelopes must queue behind it); read
    /// on every delivery, so it is a lock, not a thread hop.
    var isEmpty: Bool { !self.holdsEnvelopes.withLockedValue { $0 } }

    /// Appends and fsyncs envelopes.
    /// - Throws: ``Full`` past the size bound, or ``IOFailure``; nothing is then kept (a
    ///   partly written record is cut off again, or left torn where even that fails).
    func append(_ envelopes: [TelemetryEnvelope]) async throws {
        var encoded: [UInt8] = []
        for envelope in envelopes { EnvelopeFraming.encode(envelope, into: &encoded) }
        let record = encoded
        try await self.io.run { try self.appendNow(record) }
        self.spooled.increment(by: Int64(envelopes.count))
    }

    private func appendNow(_ record: [UInt8]) throws {
        try self.state.withLockedValue { state in
            guard state.bytes + record.count <= self.maximumBytes else { throw Full() }
            if state.writer < 0 || state.writerBytes + record.count > self.segmentBytes { try self.rotate(&state) }
            let written = Self.writeAll(state.writer, record)
            guard written == record.count, fsync(state.writer) == 0 else {
                let failure = IOFailure(description: "spool write failed (errno \(errno))")
                // Cut the partial record off; if even that fails, the next append starts a new
                // segment and the reader skips the torn bytes.
                if ftruncate(state.writer, off_t(state.writerBytes)) != 0 || fsync(state.writer) != 0 { self.closeWriter(&state) }
                throw failure
            }
            state.writerBytes += record.count
            state.bytes += record.count
            if state.oldest == nil { state.oldest = Date() }
            self.publish(state)
        }
    }

    /// Hands the oldest segment to `forward` in order, in slices of `batch`, and deletes it once
    /// all of it was taken. Returns whether a segment was drained.
    /// - Throws: what `forward` throws, or ``IOFailure`` when the segment cannot be read; the
    ///   segment then stays for the next attempt.
    func drainOldest(batch: Int = 500, forward: @Sendable ([TelemetryEnvelope]) async throws -> Void) async throws -> Bool {
        guard let (sequence, bytes) = try await self.io.run({ try self.readOldest() }) else { return false }
        let (envelopes, torn) = EnvelopeFraming.decode(bytes)
        if torn > 0 {
            self.tornBytes.increment(by: Int64(torn))
            self.logger.error("spool segment held torn records; the whole records around them are replayed", metadata: ["segment": "\(sequence)", "tornBytes": "\(torn)"])
        }
        var start = 0
        while start < envelopes.count {
            let end = min(start + batch, envelopes.count)
            try await forward(Array(envelopes[start..<end]))
            start = end
        }
        try await self.io.run { self.remove(sequence, size: bytes.count) }
        return true
    }

    /// The oldest segment's sequence and bytes (its writer closed first).
    private func readOldest() throws -> (Int, [UInt8])? {
        try self.state.withLockedValue { state in
            guard let sequence = state.segments.first else { return nil }
            if sequence == state.writerSequence { self.closeWriter(&state) }
            let path = Self.path(self.directory, sequence).path
            do {
                return (sequence, try Self.readAll(path))
            } catch {
                self.readErrors.increment()
                self.logger.error("spool segment cannot be read; it is kept and retried", metadata: ["segment": "\(path)", "error": "\(error)"])
                throw error
            }
        }
    }

    private func remove(_ sequence: Int, size: Int) {
        self.state.withLockedValue { state in
            unlink(Self.path(self.directory, sequence).path)
            state.segments.removeAll { $0 == sequence }
            state.bytes = max(0, state.bytes - size)
            state.oldest = state.segments.first.flatMap {
                (try? FileManager.default.attributesOfItem(atPath: Self.path(self.directory, $0).path))?[.modificationDate] as? Date
            }
            self.publish(state)
        }
    }

    /// Starts a new segment whose header and directory entry are on disk before it is used.
    private func rotate(_ state: inout State) throws {
        self.closeWriter(&state)
        let sequence = (state.segments.last ?? 0) + 1
        let path = Self.path(self.directory, sequence).path
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw IOFailure(description: "cannot create spool segment \(path) (errno \(errno))") }
        guard Self.writeAll(descriptor, EnvelopeFraming.header) == EnvelopeFraming.header.count, fsync(descriptor) == 0 else {
            close(descriptor)
            unlink(path)
            throw IOFailure(description: "cannot write spool segment \(path) (errno \(errno))")
        }
        let directory = open(self.directory.path, O_RDONLY | O_CLOEXEC)
        if directory >= 0 {
            fsync(directory)
            close(directory)
        }
        state.writer = descriptor
        state.writerSequence = sequence
        state.writerBytes = EnvelopeFraming.header.count
        state.bytes += EnvelopeFraming.header.count
        state.segments.append(sequence)
    }

    private func closeWriter(_ state: inout State) {
        if state.writer >= 0 { close(state.writer) }
        state.writer = -1
        state.writerSequence = -1
        state.writerBytes = 0
    }

    private func publish(_ state: State) {
        let holds = !state.segments.isEmpty
        self.holdsEnvelopes.withLockedValue { $0 = holds }
        self.sizeGauge.record(state.bytes)
        self.ageGauge.record(state.oldest.map { Date().timeIntervalSince($0) } ?? 0)
    }

    /// Stops the spool's thread once its current operation is done.
    func shutdown() async {
        self.state.withLockedValue { self.closeWriter(&$0) }
        await self.io.shutdown()
    }

    private static func path(_ directory: URL, _ sequence: Int) -> URL {
        directory.appendingPathComponent(String(format: "%012d.spool", sequence))
    }

    private static func writeAll(_ descriptor: Int32, _ bytes: [UInt8]) -> Int {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer -> Int in
                guard let base = buffer.baseAddress else { return 0 }
                return write(descriptor, base + offset, buffer.count - offset)
            }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { break }
            offset += written
        }
        return offset
    }

    private static func readAll(_ path: String) throws -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw IOFailure(description: "cannot open \(path) (errno \(errno))") }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw IOFailure(description: "cannot read \(path) (errno \(errno))") }
            if count == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<count])
        }
    }
}
