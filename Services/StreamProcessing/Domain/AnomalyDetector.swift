import Foundation

/// The anomaly scores of one point, by detector; nil while a detector warms up.
struct AnomalyScores: Equatable, Sendable {
    var ewma: Double?
    var seasonal: Double?

    /// What a rule compares: the higher of the two (either detector may see what the other misses).
    var combined: Double { Swift.max(self.ewma ?? 0, self.seasonal ?? 0) }
}

/// Scores each point of a metric against what the metric has done so far: an exponentially
/// weighted mean and variance (the z-score of the point against them, mapped to 0…1 as the
/// share of a normal distribution closer to the mean), and the same per hour of the day, which
/// knows what is usual at that hour. The moving detector says nothing until it has seen
/// `warmUp` points; the seasonal one scores an hour of the day once it has seen it on
/// `seasonalWarmUp` days.
struct AnomalyDetector: Sendable, Equatable {
    /// Weight of the newest point (0.05: about the last 40 points matter).
    var alpha: Double = 0.05
    var warmUp: Int64 = 30
    var seasonalWarmUp: Int64 = 3

    /// Scores `value` at `time`, then lets it update the baselines.
    func observe(_ value: Double, at time: Micros, in metric: inout MetricState) -> AnomalyScores {
        if metric.seasonal.isEmpty { metric.seasonal = Array(repeating: SeasonalBucket(), count: 24) }
        let hours = time.floorDivided(by: 3_600_000_000)
        let hour = Int(hours.floorModulo(24))
        let day = hours.floorDivided(by: 24)
        let bucket = metric.seasonal[hour]
        let scores = AnomalyScores(ewma: Self.score(value, against: metric.ewma, after: self.warmUp),
                                   seasonal: bucket.days >= self.seasonalWarmUp ? Self.score(value, against: bucket.moments, after: 1) : nil)
        self.update(&metric.ewma, with: value)
        self.update(&metric.seasonal[hour].moments, with: value)
        if day != bucket.lastDay {
            metric.seasonal[hour].days += 1
            metric.seasonal[hour].lastDay = day
        }
        metric.lastScore = scores.combined
        return scores
    }

    private static func score(_ value: Double, against moments: MovingMoments, after warmUp: Int64) -> Double? {
        guard moments.count >= warmUp else { return nil }
        let deviation = abs(value - moments.mean)
        guard moments.variance > 1e-12 else { return deviation < 1e-9 ? 0 : 1 }
        let z = deviation / moments.variance.squareRoot()
        return erf(z / 2.0.squareRoot())
    }

    /// West's incremental update; the weight starts at 1/n so the first points give their plain
    /// mean and variance rather than one point's.
    private func update(_ moments: inout MovingMoments, with value: Double) {
        moments.count += 1
        let weight = Swift.max(self.alpha, 1 / Double(moments.count))
        let difference = value - moments.mean
        let increment = weight * difference
        moments.mean += increment
        moments.variance = (1 - weight) * (moments.variance + difference * increment)
    }
}

extension Int64 {
    /// The remainder with the sign of the divisor.
    func floorModulo(_ divisor: Int64) -> Int64 {
        let remainder = self % divisor
        return remainder < 0 ? remainder + divisor : remainder
    }
}
