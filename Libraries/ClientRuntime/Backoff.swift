/// Exponential backoff with full jitter: the delay before retry `n` is a random value in
/// `0...min(maximum, base * 2^n)`.
///
/// Pure value: the random source is injected so tests can pin it.
public struct Backoff: Sendable, Equatable {
    /// Delay cap for the first retry.
    public var base: Duration
    /// Upper bound for any single delay.
    public var maximum: Duration

    /// Creates a backoff policy.
    public init(base: Duration = .milliseconds(100), maximum: Duration = .seconds(10)) {
        self.base = base
        self.maximum = maximum
    }

    /// The upper bound of the delay before retry `attempt` (0-based), without jitter.
    public func ceiling(attempt: Int) -> Duration {
        let exponent = min(max(attempt, 0), 30)
        let grown = self.base * (1 << exponent)
        return grown > self.maximum ? self.maximum : grown
    }

    /// The delay before retry `attempt` (0-based), with full jitter taken from `fraction`.
    /// - Parameter fraction: a value in `0...1`, random in production.
    public func delay(attempt: Int, fraction: Double = Double.random(in: 0...1)) -> Duration {
        self.ceiling(attempt: attempt) * min(max(fraction, 0), 1)
    }

    /// Runs `operation` until it succeeds, sleeping `delay(attempt:)` between attempts and
    /// telling `failed` about each failure (attempt number from 0); after a failure, `giveUp`
    /// may end the retries.
    /// - Throws: `CancellationError`, when the task is cancelled while it waits, or the last
    ///   failure once `giveUp` answers true.
    public func retryingUntilSuccess<Result: Sendable>(
        _ operation: () async throws -> Result, failed: (Int, any Error) -> Void, giveUp: () -> Bool = { false }
    ) async throws -> Result {
        var attempt = 0
        while true {
            do {
                return try await operation()
            } catch {
                if giveUp() { throw error }
                failed(attempt, error)
                try await Task.sleep(for: self.delay(attempt: attempt))
                attempt += 1
            }
        }
    }
}
