import Hiredis

/// Per-tenant token buckets in Redis, decided atomically by one Lua script using the server's
/// clock, so every gateway replica shares the same buckets.
struct RateLimiter: Sendable {
    /// A bucket's size and refill rate.
    struct Limit: Sendable, Equatable {
        var perSecond: Int
        var burst: Int
    }

    /// The verdict for one request.
    struct Decision: Sendable, Equatable {
        var allowed: Bool
        /// Seconds until a token is available (for Retry-After), when refused.
        var retryAfterSeconds: Int
        var remaining: Int
    }

    static let script = RedisScript(
        """
        local rate = tonumber(ARGV[1])
        local burst = tonumber(ARGV[2])
        local clock = redis.call('TIME')
        local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
        local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
        local tokens = tonumber(state[1]) or burst
        local ts = tonumber(state[2]) or now
        tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
        local allowed = 0
        local wait = 0
        if tokens >= 1 then
          tokens = tokens - 1
          allowed = 1
        else
          wait = math.ceil((1 - tokens) * 1000 / rate)
        end
        redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
        redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
        return {allowed, wait, math.floor(tokens)}
        """
    )

    let redis: RedisClient
    let limit: Limit

    /// Takes one token from `tenant`'s bucket.
    /// - Throws: `ClientError` when Redis is unreachable.
    func take(tenant: String) async throws -> Decision {
        let reply = try await self.redis.eval(Self.script, keys: ["sensormine:ratelimit:\(tenant)"],
                                              arguments: [String(self.limit.perSecond), String(self.limit.burst)])
        guard case .array(let values) = reply, values.count == 3 else {
            return Decision(allowed: true, retryAfterSeconds: 0, remaining: 0)
        }
        let waitMilliseconds = values[1].int ?? 0
        return Decision(allowed: values[0].int == 1, retryAfterSeconds: max(1, (waitMilliseconds + 999) / 1000), remaining: values[2].int ?? 0)
    }
}
