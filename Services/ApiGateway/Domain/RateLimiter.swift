import Foundation
import Hiredis
import SensormineCore

/// Per-tenant token buckets in Redis, decided atomically by one Lua script using the server's
/// clock, so every gateway replica shares the same buckets. The same script reads the
/// organisation's quota state that Billing writes (``QuotaState/redisKey(_:)``), so checking
/// the quota costs no round trip of its own.
struct RateLimiter: Sendable {
    /// A bucket's size and refill rate.
    struct Limit: Sendable, Equatable {
        /// Tokens added per second (fractions allowed: 10 a minute is 1/6).
        var perSecond: Double
        var burst: Int
    }

    /// The verdict for one request.
    struct Decision: Sendable, Equatable {
        var allowed: Bool
        /// Seconds until a token is available (for Retry-After), when refused.
        var retryAfterSeconds: Int
        var remaining: Int
        /// The organisation's API calls are refused for the rest of the period (no token taken).
        var quotaRefused = false
        /// The `Sensormine-Quota-Warning` value Billing wrote, when some resource is past 80 %.
        var quotaWarning: String?
        /// When the quota's period ends (Unix seconds), for Retry-After.
        var quotaUntil: Int?
    }

    /// KEYS[1] the bucket; KEYS[2], optional, the quota hash; ARGV: rate, burst, how many tokens
    /// to take at most, and "1" when the quota's api-calls refusal applies (then no token is
    /// taken from a refused organisation). Answers the tokens granted (0 when the bucket is
    /// empty), the milliseconds until one is there, the tokens left, the quota state, and 1 when
    /// refused by the quota.
    static let script = RedisScript(
        """
        local refused, warning, ends = '', '', ''
        if KEYS[2] then
          local quota = redis.call('HMGET', KEYS[2], 'refused', 'warning', 'until')
          refused, warning, ends = quota[1] or '', quota[2] or '', quota[3] or ''
          if ARGV[4] == '1' and string.find(',' .. refused .. ',', ',api-calls,', 1, true) then
            return {0, 0, 0, refused, warning, ends, 1}
          end
        end
        local rate = tonumber(ARGV[1])
        local burst = tonumber(ARGV[2])
        local wanted = tonumber(ARGV[3])
        local clock = redis.call('TIME')
        local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
        local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
        local tokens = tonumber(state[1]) or burst
        local ts = tonumber(state[2]) or now
        tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
        local granted = math.min(wanted, math.floor(tokens))
        local wait = 0
        tokens = tokens - granted
        if granted == 0 then wait = math.ceil((1 - tokens) * 1000 / rate) end
        redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
        redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
        return {granted, wait, math.floor(tokens), refused, warning, ends, 0}
        """
    )

    let redis: RedisClient
    /// Tenants' tokens held locally, taken from their buckets in batches.
    let reservations = TokenReservations()
    /// The limit of tenants whose plan has none of its own.
    let defaultLimit: Limit
    /// Limits by plan name.
    let planLimits: [String: Limit]

    /// The limit that applies to a tenant on `plan`.
    func limit(plan: String?) -> Limit {
        plan.flatMap { self.planLimits[$0] } ?? self.defaultLimit
    }

    /// Takes one token from `tenant`'s bucket, sized by its plan; with `quota` (the
    /// organisation's quota hash) also reads its state, and refuses without taking a token when
    /// `enforceQuota` and the organisation's API calls are used up.
    /// - Throws: `ClientError` when Redis is unreachable.
    /// Tokens come from the local reservation (``TokenReservations``) when the plan's rate is
    /// high enough for batches, else straight from Redis.
    func take(tenant: String, plan: String?, quota: String? = nil, enforceQuota: Bool = false) async throws -> Decision {
        let key = Self.bucketKey(tenant)
        let limit = self.limit(plan: plan)
        let batch = TokenReservations.batchSize(limit)
        if batch > 1, let decision = try await self.reservations.take(key: key, batch: batch, enforceQuota: enforceQuota, fetch: { [self] wanted in
            try await self.takeBatch(key: key, limit: limit, quota: quota, wanted: wanted)
        }) {
            return decision
        }
        return try await self.take(key: key, limit: limit, quota: quota, enforceQuota: enforceQuota)
    }

    /// The Redis key of a tenant's token bucket.
    static func bucketKey(_ tenant: String) -> String { "sensormine:ratelimit:\(tenant)" }

    /// ``take(tenant:plan:quota:enforceQuota:)`` when it needs no Redis round trip: the local
    /// reservation's decision, or nil (nothing spent) when it has none to give now.
    func takeNow(tenant: String, plan: String?, quota: String? = nil, enforceQuota: Bool = false) -> Decision? {
        let key = Self.bucketKey(tenant)
        let limit = self.limit(plan: plan)
        let batch = TokenReservations.batchSize(limit)
        guard batch > 1 else { return nil }
        return self.reservations.takeNow(key: key, batch: batch, enforceQuota: enforceQuota, fetch: { [self] wanted in
            try await self.takeBatch(key: key, limit: limit, quota: quota, wanted: wanted)
        })
    }

    /// Takes up to `wanted` tokens from the bucket under `key`, with the quota state.
    /// - Throws: `ClientError` when Redis is unreachable.
    func takeBatch(key: String, limit: Limit, quota: String?, wanted: Int) async throws -> TokenReservations.Grant {
        let reply = try await self.eval(key: key, limit: limit, quota: quota, wanted: wanted, enforceQuota: false)
        return TokenReservations.Grant(tokens: reply.granted, waitMilliseconds: reply.waitMilliseconds, quota: reply.quota)
    }

    /// Takes one token from the bucket under `key`.
    /// - Throws: `ClientError` when Redis is unreachable.
    func take(key: String, limit: Limit, quota: String? = nil, enforceQuota: Bool = false) async throws -> Decision {
        let reply = try await self.eval(key: key, limit: limit, quota: quota, wanted: 1, enforceQuota: enforceQuota)
        return Decision(allowed: reply.granted == 1, retryAfterSeconds: max(1, (reply.waitMilliseconds + 999) / 1000), remaining: reply.remaining,
                        quotaRefused: reply.quotaRefused, quotaWarning: reply.quota.warning, quotaUntil: reply.quota.until)
    }

    private func eval(key: String, limit: Limit, quota: String?, wanted: Int, enforceQuota: Bool)
        async throws -> (granted: Int, waitMilliseconds: Int, remaining: Int, quota: TokenReservations.QuotaSnapshot, quotaRefused: Bool) {
        let reply = try await self.redis.eval(Self.script, keys: quota.map { [key, $0] } ?? [key],
                                              arguments: [String(limit.perSecond), String(limit.burst), String(wanted), enforceQuota ? "1" : "0"])
        guard case .array(let values) = reply, values.count == 7 else {
            // An unexpected reply lets traffic through, as an unreachable Redis does.
            return (wanted, 0, 0, .init(), false)
        }
        let refused = values[3].string ?? ""
        let warning = values[4].string ?? ""
        let snapshot = TokenReservations.QuotaSnapshot(apiCallsRefused: refused.split(separator: ",").contains("api-calls"),
                                                       warning: warning.isEmpty ? nil : warning, until: values[5].int)
        return (values[0].int ?? 0, values[1].int ?? 0, values[2].int ?? 0, snapshot, values[6].int == 1)
    }
}

extension RateLimiter.Limit {
    /// Parses `plan=perSecond/burst[,…]`, e.g. `free=10/20,enterprise=1000/2000`.
    /// - Throws: ``ConfigurationError`` naming `key`.
    static func parsePlans(_ text: String, key: String) throws -> [String: RateLimiter.Limit] {
        var limits: [String: RateLimiter.Limit] = [:]
        for entry in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !entry.isEmpty {
            let parts = entry.split(separator: "=", maxSplits: 1)
            let numbers = parts.count == 2 ? parts[1].split(separator: "/").compactMap { Int($0) } : []
            guard parts.count == 2, !parts[0].isEmpty, numbers.count == 2, numbers[0] > 0, numbers[1] > 0 else {
                throw ConfigurationError(key: key, problem: "'\(entry)' is not plan=perSecond/burst")
            }
            limits[String(parts[0])] = RateLimiter.Limit(perSecond: Double(numbers[0]), burst: numbers[1])
        }
        return limits
    }
}

extension RateLimiter.Limit {
    /// Parses `perMinute/burst`, e.g. `10/10`.
    /// - Throws: ``ConfigurationError`` naming `key`.
    static func parsePerMinute(_ text: String, key: String) throws -> RateLimiter.Limit {
        let numbers = text.split(separator: "/").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard numbers.count == 2, (1...1_000_000).contains(numbers[0]), (1...1_000_000).contains(numbers[1]) else {
            throw ConfigurationError(key: key, problem: "'\(text.prefix(40))' is not perMinute/burst, e.g. 10/10")
        }
        return RateLimiter.Limit(perSecond: Double(numbers[0]) / 60, burst: numbers[1])
    }
}
