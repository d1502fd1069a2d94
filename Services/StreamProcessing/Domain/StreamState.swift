import Foundation

/// Event and processing times in StreamProcessing: microseconds since 1970, as the telemetry
/// envelope carries them.
typealias Micros = Int64

/// One window shape: its length and the step between starts (tumbling when they are equal).
struct WindowShape: Hashable, Sendable, CustomStringConvertible {
    var size: Micros
    var hop: Micros

    /// A tumbling window of `seconds`.
    static func tumbling(seconds: Int) -> WindowShape { WindowShape(size: Micros(seconds) * 1_000_000, hop: Micros(seconds) * 1_000_000) }

    /// Calls `body` with the start of each window of this shape that contains `time`, latest first.
    func forEachStart(containing time: Micros, _ body: (Micros) -> Void) {
        var start = time.floorDivided(by: self.hop) * self.hop
        while start > time - self.size {
            body(start)
            start -= self.hop
        }
    }

    var description: String {
        self.size == self.hop ? "\(self.size / 1_000_000)s" : "\(self.size / 1_000_000)s/\(self.hop / 1_000_000)s"
    }
}

extension Int64 {
    /// Division rounding towards minus infinity (window starts before 1970 stay aligned).
    func floorDivided(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }
}

/// One open window of one metric: count, sum, extremes, first and last values, and the highest
/// anomaly scores of its points.
struct WindowAccumulator: Equatable, Sendable {
    var count: Int64 = 0
    var sum: Double = 0
    var min: Double = .infinity
    var max: Double = -.infinity
    var firstTime: Micros = .max
    var first: Double = 0
    var lastTime: Micros = .min
    var last: Double = 0
    /// -1 while the detector warms up.
    var ewmaScore: Double = -1
    var seasonalScore: Double = -1

    mutating func add(time: Micros, value: Double, scores: AnomalyScores) {
        self.count += 1
        self.sum += value
        self.min = Swift.min(self.min, value)
        self.max = Swift.max(self.max, value)
        if time < self.firstTime {
            self.firstTime = time
            self.first = value
        }
        if time >= self.lastTime {
            self.lastTime = time
            self.last = value
        }
        if let ewma = scores.ewma { self.ewmaScore = Swift.max(self.ewmaScore, ewma) }
        if let seasonal = scores.seasonal { self.seasonalScore = Swift.max(self.seasonalScore, seasonal) }
    }

    var average: Double { self.count > 0 ? self.sum / Double(self.count) : 0 }
}

/// An open window's identity within a metric.
struct WindowKey: Hashable, Sendable {
    var shape: WindowShape
    var start: Micros

    var end: Micros { self.start + self.shape.size }
}

/// A mean and variance that follow a stream, weighting recent values more (exponentially).
struct MovingMoments: Equatable, Sendable {
    var count: Int64 = 0
    var mean: Double = 0
    var variance: Double = 0
}

/// The baseline of one hour of the day: its moments, and on how many days it saw points.
struct SeasonalBucket: Equatable, Sendable {
    var moments = MovingMoments()
    var days: Int64 = 0
    var lastDay: Int64 = .min
}

/// What StreamProcessing keeps per metric of a device.
struct MetricState: Equatable, Sendable {
    var windows: [WindowKey: WindowAccumulator] = [:]
    var ewma = MovingMoments()
    /// One baseline per hour of the day (UTC), empty until the metric's first point.
    var seasonal: [SeasonalBucket] = []
    /// The latest point by event time, and the one before it (rate of change).
    var lastTime: Micros = .min
    var lastValue: Double = 0
    var previousTime: Micros = .min
    var previousValue: Double = 0
    /// When (processing time) a point of this metric last arrived.
    var lastArrival: Micros = .min
    /// The latest anomaly score, for rules.
    var lastScore: Double = 0
}

/// What a rule knows about one device: each condition's latest truth and value, and whether
/// the alert is pending or firing.
struct RuleState: Equatable, Sendable {
    var truths: [Bool]
    var values: [Double]
    /// When the whole condition started to hold (nil: it does not).
    var pendingSince: Micros?
    /// The latest event time the rule was evaluated at, and the latest at which it did not hold:
    /// a message that arrives out of order may move `pendingSince` back, never past `clearedAt`.
    var evaluatedAt: Micros = .min
    var clearedAt: Micros = .min
    var firing = false
    /// The sequence of the last event emitted for this key.
    var lastSequence: Int64 = 0

    init(leaves: Int) {
        self.truths = Array(repeating: false, count: leaves)
        self.values = Array(repeating: .nan, count: leaves)
    }

    /// Starts afresh (keeping whether it fires and its sequence) when the rule's shape changed.
    mutating func conform(to leaves: Int) {
        guard self.truths.count != leaves else { return }
        var fresh = RuleState(leaves: leaves)
        fresh.firing = self.firing
        fresh.lastSequence = self.lastSequence
        self = fresh
    }

    /// Nothing holds, nothing is pending and no event was ever emitted: saving it adds nothing
    /// a fresh state would not know.
    var isAtRest: Bool { self.lastSequence == 0 && !self.firing && self.pendingSince == nil && !self.truths.contains(true) }
}

/// A message id seen recently (redeliveries within the allowed lateness are ignored).
struct SeenMessage: Equatable, Sendable {
    var id: String
    var time: Micros
}

/// Everything StreamProcessing keeps about one device; it lives with the device's partition
/// and is saved with that partition's offset.
struct DeviceState: Equatable, Sendable {
    var seen: [SeenMessage] = []
    var metrics: [String: MetricState] = [:]
    /// When (processing time) any point of the device last arrived.
    var lastArrival: Micros = .min
    var rules: [UUID: RuleState] = [:]
}
