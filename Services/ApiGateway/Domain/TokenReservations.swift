import NIOConcurrencyHelpers

/// Each tenant's tokens taken from its shared Redis bucket in batches and spent locally, so a
/// request costs no Redis round trip in the common case (ADR 30). A batch is refilled in the
/// background when half of it is spent; what a replica holds lapses after ``leaseLifetime``, and
/// the organisation's quota state arrives with every batch, so it is never older than that.
///
/// The limit still holds across replicas: every admitted request spent a token the Redis bucket
/// granted, so no tenant is ever admitted past its bucket. The error is the other way: a replica
/// may refuse while others hold up to two batches each (one held, one being refilled), about
/// 200 ms of the plan's rate, which they spend or let lapse within ``leaseLifetime``.
final class TokenReservations: Sendable {
    /// What a batch brought back from Redis.
    struct Grant: Sendable {
        var tokens: Int
        /// Milliseconds until the bucket has a token again, when `tokens` is 0.
        var waitMilliseconds: Int
        var quota: QuotaSnapshot
    }

    /// The organisation's quota state as Billing wrote it.
    struct QuotaSnapshot: Sendable {
        var apiCallsRefused = false
        var warning: String?
        var until: Int?
    }

    private struct Reservation {
        var tokens = 0
        var expires: ContinuousClock.Instant
        var refusedUntil: ContinuousClock.Instant?
        var quota = QuotaSnapshot()
        var refill: Task<Void, any Error>?
    }

    private enum Step {
        case decided(RateLimiter.Decision)
        case wait(Task<Void, any Error>)
    }

    /// How long tokens and the quota state fetched with them are trusted.
    static let leaseLifetime = Duration.seconds(1)
    /// The most tokens one batch takes.
    static let largestBatch = 1_000

    private let reservations = NIOLockedValueBox<[String: Reservation]>([:])
    private let clock = ContinuousClock()

    /// The batch for a bucket: about 100 ms of its rate and at most a quarter of its burst; 1
    /// (no reservation, one round trip per request) for slow buckets, where batching gains nothing.
    static func batchSize(_ limit: RateLimiter.Limit) -> Int {
        let tokens = min(Double(limit.burst) / 4, limit.perSecond / 10, Double(Self.largestBatch))
        return max(1, Int(tokens))
    }

    /// Spends one of `key`'s tokens, fetching a batch with `fetch` when none is held.
    /// - Parameter fetch: takes up to the given number of tokens from the shared bucket.
    /// - Throws: what `fetch` throws (Redis unreachable).
    func take(key: String, batch: Int, enforceQuota: Bool, fetch: @escaping @Sendable (Int) async throws -> Grant) async throws -> RateLimiter.Decision? {
        // Each round either decides or waits for a batch; a batch either brings tokens or a
        // refusal, so a few rounds suffice unless other requests keep taking what arrives.
        for _ in 0..<16 {
            let step = self.reservations.withLockedValue { reservations in
                self.step(&reservations, key: key, batch: batch, enforceQuota: enforceQuota, fetch: fetch)
            }
            switch step {
            case .decided(let decision):
                return decision
            case .wait(let refill):
                try await refill.value
            }
        }
        return nil
    }

    /// Spends one of `key`'s tokens if the reservation decides at once (tokens held, or a
    /// refusal still running); nil when it must wait for a batch, which it has then asked for.
    func takeNow(key: String, batch: Int, enforceQuota: Bool, fetch: @escaping @Sendable (Int) async throws -> Grant) -> RateLimiter.Decision? {
        let step = self.reservations.withLockedValue { reservations in
            self.step(&reservations, key: key, batch: batch, enforceQuota: enforceQuota, fetch: fetch)
        }
        if case .decided(let decision) = step { return decision }
        return nil
    }

    private func step(_ reservations: inout [String: Reservation], key: String, batch: Int, enforceQuota: Bool,
                      fetch: @escaping @Sendable (Int) async throws -> Grant) -> Step {
        let now = self.clock.now
        var reservation = reservations[key] ?? Reservation(expires: now)
        defer { reservations[key] = reservation }
        guard reservation.expires > now else {
            reservation.tokens = 0
            reservation.refusedUntil = nil
            if reservations.count > 10_000 { Self.forgetLapsed(&reservations, now: now) }
            return .wait(reservation.refill ?? self.startRefill(&reservation, key: key, batch: batch, fetch: fetch))
        }
        let quota = reservation.quota
        if enforceQuota && quota.apiCallsRefused {
            return .decided(RateLimiter.Decision(allowed: false, retryAfterSeconds: 0, remaining: 0, quotaRefused: true,
                                                 quotaWarning: quota.warning, quotaUntil: quota.until))
        }
        if reservation.tokens > 0 {
            reservation.tokens -= 1
            // Not while the bucket's last answer (empty, wait) still holds: asking again before
            // then would cost a round trip per request for nothing.
            if reservation.tokens * 2 <= batch, reservation.refill == nil, reservation.refusedUntil.map({ $0 <= now }) ?? true {
                _ = self.startRefill(&reservation, key: key, batch: batch, fetch: fetch)
            }
            return .decided(RateLimiter.Decision(allowed: true, retryAfterSeconds: 0, remaining: reservation.tokens,
                                                 quotaWarning: quota.warning, quotaUntil: quota.until))
        }
        if let refusedUntil = reservation.refusedUntil, refusedUntil > now {
            let wait = now.duration(to: refusedUntil)
            let seconds = Int(wait.components.seconds) + (wait.components.attoseconds > 0 ? 1 : 0)
            return .decided(RateLimiter.Decision(allowed: false, retryAfterSeconds: max(1, seconds), remaining: 0,
                                                 quotaWarning: quota.warning, quotaUntil: quota.until))
        }
        return .wait(reservation.refill ?? self.startRefill(&reservation, key: key, batch: batch, fetch: fetch))
    }

    private func startRefill(_ reservation: inout Reservation, key: String, batch: Int, fetch: @escaping @Sendable (Int) async throws -> Grant) -> Task<Void, any Error> {
        let task = Task<Void, any Error> {
            let grant: Grant
            do {
                grant = try await fetch(batch)
            } catch {
                self.reservations.withLockedValue { $0[key]?.refill = nil }
                throw error
            }
            self.reservations.withLockedValue { reservations in
                let now = self.clock.now
                var reservation = reservations[key] ?? Reservation(expires: now)
                if reservation.expires <= now { reservation.tokens = 0 }
                reservation.tokens += grant.tokens
                reservation.expires = now + Self.leaseLifetime
                reservation.quota = grant.quota
                reservation.refusedUntil = grant.tokens == 0 ? now + .milliseconds(max(1, grant.waitMilliseconds)) : nil
                reservation.refill = nil
                reservations[key] = reservation
            }
        }
        reservation.refill = task
        return task
    }

    private static func forgetLapsed(_ reservations: inout [String: Reservation], now: ContinuousClock.Instant) {
        reservations = reservations.filter { $0.value.expires > now || $0.value.refill != nil }
    }
}
