import Foundation
import SensormineContracts
import SensormineCore

/// The bytes a ``DeviceState`` is saved as: a version byte, then fields in a fixed order
/// (zig-zag varints, little-endian doubles, length-prefixed strings). Compact and several times
/// cheaper than JSON, since every device touched in a batch is saved with it.
enum StateCodec {
    /// 2: rule states at rest and empty hourly baselines are left out. 3: seen message ids in
    /// the canonical UUID form take 16 bytes, and their times are deltas (the ids were two
    /// thirds of a device's saved bytes, which pushed rows past PostgreSQL's TOAST threshold).
    static let version: UInt8 = 3

    static func encode(_ state: DeviceState) -> [UInt8] {
        var writer = StateWriter()
        writer.byte(Self.version)
        writer.int(Int64(state.seen.count))
        var previous: Micros = 0
        for seen in state.seen {
            writer.int(seen.time &- previous)
            previous = seen.time
            if let uuid = UUIDText.bytes(ofLowercased: seen.id) {
                writer.int(-1)
                writer.bytes(uuid)
            } else {
                writer.string(seen.id)
            }
        }
        writer.int(state.lastArrival)
        writer.int(Int64(state.metrics.count))
        for (name, metric) in state.metrics {
            writer.string(name)
            writer.int(Int64(metric.windows.count))
            for (key, window) in metric.windows {
                writer.int(key.shape.size)
                writer.int(key.shape.hop)
                writer.int(key.start)
                writer.int(window.count)
                writer.double(window.sum)
                writer.double(window.min)
                writer.double(window.max)
                writer.int(window.firstTime)
                writer.double(window.first)
                writer.int(window.lastTime)
                writer.double(window.last)
                writer.double(window.ewmaScore)
                writer.double(window.seasonalScore)
            }
            writer.moments(metric.ewma)
            let hours = metric.seasonal.indices.filter { metric.seasonal[$0].moments.count > 0 }
            writer.int(Int64(hours.count))
            for hour in hours {
                writer.int(Int64(hour))
                writer.moments(metric.seasonal[hour].moments)
                writer.int(metric.seasonal[hour].days)
                writer.int(metric.seasonal[hour].lastDay)
            }
            writer.int(metric.lastTime)
            writer.double(metric.lastValue)
            writer.int(metric.previousTime)
            writer.double(metric.previousValue)
            writer.int(metric.lastArrival)
            writer.double(metric.lastScore)
        }
        // A rule at rest (nothing holds, nothing pending, not firing) is what a fresh state is.
        let active = state.rules.filter { !$0.value.isAtRest }
        writer.int(Int64(active.count))
        for (id, rule) in active {
            writer.uuid(id)
            writer.int(Int64(rule.truths.count))
            for (truth, value) in zip(rule.truths, rule.values) {
                writer.byte(truth ? 1 : 0)
                writer.double(value)
            }
            writer.int(rule.pendingSince ?? .min)
            writer.int(rule.evaluatedAt)
            writer.int(rule.clearedAt)
            writer.byte(rule.firing ? 1 : 0)
            writer.int(rule.lastSequence)
        }
        return writer.bytes
    }

    /// - Throws: ``StateCodecError`` for bytes this version did not write.
    static func decode(_ bytes: [UInt8]) throws(StateCodecError) -> DeviceState {
        var reader = StateReader(bytes: bytes)
        let version = try reader.byte()
        guard version == Self.version || version == 2 else { throw StateCodecError() }
        var state = DeviceState()
        var previous: Micros = 0
        for _ in 0..<(try reader.count()) {
            if version == 2 {
                state.seen.append(SeenMessage(id: try reader.string(), time: try reader.int()))
                continue
            }
            let time = previous &+ (try reader.int())
            previous = time
            let length = try reader.int()
            let id = length == -1 ? try reader.uuid().lowercasedString : try reader.string(length: length)
            state.seen.append(SeenMessage(id: id, time: time))
        }
        state.lastArrival = try reader.int()
        for _ in 0..<(try reader.count()) {
            let name = try reader.string()
            var metric = MetricState()
            for _ in 0..<(try reader.count()) {
                let key = WindowKey(shape: WindowShape(size: try reader.int(), hop: try reader.int()), start: try reader.int())
                var window = WindowAccumulator()
                window.count = try reader.int()
                window.sum = try reader.double()
                window.min = try reader.double()
                window.max = try reader.double()
                window.firstTime = try reader.int()
                window.first = try reader.double()
                window.lastTime = try reader.int()
                window.last = try reader.double()
                window.ewmaScore = try reader.double()
                window.seasonalScore = try reader.double()
                guard key.shape.size > 0, key.shape.hop > 0 else { throw StateCodecError() }
                metric.windows[key] = window
            }
            metric.ewma = try reader.moments()
            for _ in 0..<(try reader.count()) {
                let hour = try reader.int()
                guard (0..<24).contains(hour) else { throw StateCodecError() }
                if metric.seasonal.isEmpty { metric.seasonal = Array(repeating: SeasonalBucket(), count: 24) }
                metric.seasonal[Int(hour)] = SeasonalBucket(moments: try reader.moments(), days: try reader.int(), lastDay: try reader.int())
            }
            metric.lastTime = try reader.int()
            metric.lastValue = try reader.double()
            metric.previousTime = try reader.int()
            metric.previousValue = try reader.double()
            metric.lastArrival = try reader.int()
            metric.lastScore = try reader.double()
            state.metrics[name] = metric
        }
        for _ in 0..<(try reader.count()) {
            let id = try reader.uuid()
            let leaves = try reader.count()
            var rule = RuleState(leaves: leaves)
            for index in 0..<leaves {
                rule.truths[index] = try reader.byte() == 1
                rule.values[index] = try reader.double()
            }
            let pending = try reader.int()
            rule.pendingSince = pending == .min ? nil : pending
            rule.evaluatedAt = try reader.int()
            rule.clearedAt = try reader.int()
            rule.firing = try reader.byte() == 1
            rule.lastSequence = try reader.int()
            state.rules[id] = rule
        }
        guard reader.isAtEnd else { throw StateCodecError() }
        return state
    }
}

/// Saved state that this version cannot read.
struct StateCodecError: Error, CustomStringConvertible {
    var description: String { "saved stream state is truncated or of an unknown version" }
}

private struct StateWriter {
    var bytes: [UInt8] = []

    init() { self.bytes.reserveCapacity(256) }

    mutating func byte(_ value: UInt8) { self.bytes.append(value) }

    mutating func int(_ value: Int64) {
        var zigzag = UInt64(bitPattern: (value << 1) ^ (value >> 63))
        while zigzag >= 0x80 {
            self.bytes.append(UInt8(truncatingIfNeeded: zigzag) | 0x80)
            zigzag >>= 7
        }
        self.bytes.append(UInt8(zigzag))
    }

    mutating func double(_ value: Double) {
        var bits = value.bitPattern
        for _ in 0..<8 {
            self.bytes.append(UInt8(truncatingIfNeeded: bits))
            bits >>= 8
        }
    }

    mutating func string(_ value: String) {
        self.int(Int64(value.utf8.count))
        self.bytes.append(contentsOf: value.utf8)
    }

    mutating func bytes(_ value: some Sequence<UInt8>) { self.bytes.append(contentsOf: value) }

    mutating func uuid(_ value: UUID) {
        withUnsafeBytes(of: value.uuid) { self.bytes.append(contentsOf: $0) }
    }

    mutating func moments(_ value: MovingMoments) {
        self.int(value.count)
        self.double(value.mean)
        self.double(value.variance)
    }
}

private struct StateReader {
    let bytes: [UInt8]
    var index = 0

    var isAtEnd: Bool { self.index == self.bytes.count }

    mutating func byte() throws(StateCodecError) -> UInt8 {
        guard self.index < self.bytes.count else { throw StateCodecError() }
        defer { self.index += 1 }
        return self.bytes[self.index]
    }

    mutating func int() throws(StateCodecError) -> Int64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try self.byte()
            guard shift < 64 else { throw StateCodecError() }
            result |= UInt64(byte & 0x7f) << shift
            if byte < 0x80 { break }
            shift += 7
        }
        return Int64(bitPattern: result >> 1) ^ -Int64(bitPattern: result & 1)
    }

    /// A non-negative count no larger than the bytes left could hold.
    mutating func count() throws(StateCodecError) -> Int {
        let value = try self.int()
        guard value >= 0, value <= Int64(self.bytes.count - self.index) else { throw StateCodecError() }
        return Int(value)
    }

    mutating func double() throws(StateCodecError) -> Double {
        var bits: UInt64 = 0
        for shift in stride(from: 0, to: 64, by: 8) { bits |= UInt64(try self.byte()) << UInt64(shift) }
        return Double(bitPattern: bits)
    }

    mutating func string() throws(StateCodecError) -> String {
        try self.string(length: try self.int())
    }

    /// A string of `length` bytes, which must be no more than the bytes left.
    mutating func string(length: Int64) throws(StateCodecError) -> String {
        String(decoding: try self.bytes(length), as: UTF8.self)
    }

    mutating func bytes(_ length: Int64) throws(StateCodecError) -> ArraySlice<UInt8> {
        guard length >= 0, length <= Int64(self.bytes.count - self.index) else { throw StateCodecError() }
        defer { self.index += Int(length) }
        return self.bytes[self.index..<(self.index + Int(length))]
    }

    mutating func uuid() throws(StateCodecError) -> UUID {
        guard self.bytes.count - self.index >= 16 else { throw StateCodecError() }
        let b = self.bytes[self.index..<(self.index + 16)].map { $0 }
        self.index += 16
        return UUID(uuid: (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]))
    }

    mutating func moments() throws(StateCodecError) -> MovingMoments {
        MovingMoments(count: try self.int(), mean: try self.double(), variance: try self.double())
    }
}

