import Foundation
import Hiredis
import NIOConcurrencyHelpers
import SensormineContracts
import Testing

@testable import ApiGateway

/// The rate limiter's local reservations against the stack's Redis, with two limiters standing
/// for two gateway replicas sharing one bucket.
@Suite("Rate-limit token reservations")
struct TokenReservationTests {
    static func redis() throws -> RedisClient {
        RedisClient(configuration: try RedisClient.Configuration(url: ProcessInfo.processInfo.environment["SENSORMINE_REDIS_URL"] ?? "redis://127.0.0.1:56379"))
    }

    @Test("batches follow the plan's rate: about 100 ms of it, a quarter of the burst at most, none for slow plans")
    func batchSizes() {
        #expect(TokenReservations.batchSize(.init(perSecond: 100, burst: 200)) == 10)
        #expect(TokenReservations.batchSize(.init(perSecond: 1_000, burst: 2_000)) == 100)
        #expect(TokenReservations.batchSize(.init(perSecond: 1_000, burst: 40)) == 10)
        #expect(TokenReservations.batchSize(.init(perSecond: 10, burst: 20)) == 1)
        #expect(TokenReservations.batchSize(.init(perSecond: 1_000_000, burst: 10_000_000)) == TokenReservations.largestBatch)
    }

    @Test("two replicas sharing a bucket never admit more than it holds, and refuse no more than the batches they hold")
    func sharedBucket() async throws {
        let redis = try Self.redis()
        let tenant = "reservations-\(UUID().uuidString.lowercased())"
        // 1,000 a second refills only a few tokens during the test: the burst is what there is.
        let limit = RateLimiter.Limit(perSecond: 100, burst: 400)
        let replicas = [RateLimiter(redis: redis, defaultLimit: limit, planLimits: [:]), RateLimiter(redis: redis, defaultLimit: limit, planLimits: [:])]
        let start = ContinuousClock.now
        let admitted = try await withThrowingTaskGroup(of: Int.self) { group in
            for worker in 0..<8 {
                let limiter = replicas[worker % 2]
                group.addTask {
                    var admitted = 0
                    for _ in 0..<100 where try await limiter.take(tenant: tenant, plan: nil).allowed { admitted += 1 }
                    return admitted
                }
            }
            return try await group.reduce(0, +)
        }
        let elapsed = start.duration(to: .now)
        let refilled = Int((Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18) * limit.perSecond) + 1
        #expect(admitted <= limit.burst + refilled, "admitted \(admitted) of 800 with a burst of \(limit.burst) and \(refilled) refilled")
        // Refusals beyond the bucket are right; what the replicas still hold is the stated error
        // (two batches each).
        #expect(admitted >= limit.burst - 4 * TokenReservations.batchSize(limit))
        _ = try await redis.command("DEL", "sensormine:ratelimit:\(tenant)")
        await redis.shutdown()
    }

    @Test("a refill takes a batch: 100 requests cost about one Redis call per half batch; a refused tenant is refused locally until its Retry-After")
    func fewRoundTrips() async throws {
        let reservations = TokenReservations()
        let calls = NIOLockedValueBox(0)
        let granted = NIOLockedValueBox(30)  // what the "bucket" still has
        let fetch: @Sendable (Int) async throws -> TokenReservations.Grant = { wanted in
            calls.withLockedValue { $0 += 1 }
            let tokens = granted.withLockedValue { left in
                let taken = min(left, wanted)
                left -= taken
                return taken
            }
            return TokenReservations.Grant(tokens: tokens, waitMilliseconds: 5_000, quota: .init())
        }
        var allowed = 0
        var refused: [Int] = []
        for _ in 0..<100 {
            let decision = try #require(try await reservations.take(key: "k", batch: 10, enforceQuota: true, fetch: fetch))
            if decision.allowed { allowed += 1 } else { refused.append(decision.retryAfterSeconds) }
        }
        #expect(allowed == 30)
        #expect(refused.count == 70)
        #expect(refused.allSatisfy { (1...5).contains($0) })
        // 30 tokens in batches of 10, and one refusal that holds for the 70 refused.
        let fetches = calls.withLockedValue { $0 }
        #expect(fetches <= 6, "\(fetches) fetches")
    }

    @Test("an organisation past its API-call quota is refused without spending tokens; devices of it still pass")
    func quotaRidesAlong() async throws {
        let reservations = TokenReservations()
        let fetch: @Sendable (Int) async throws -> TokenReservations.Grant = { wanted in
            TokenReservations.Grant(tokens: wanted, waitMilliseconds: 0,
                                    quota: .init(apiCallsRefused: true, warning: "api-calls=100%", until: 1_900_000_000))
        }
        let user = try #require(try await reservations.take(key: "q", batch: 10, enforceQuota: true, fetch: fetch))
        #expect(user.quotaRefused && !user.allowed)
        #expect(user.quotaUntil == 1_900_000_000)
        let device = try #require(try await reservations.take(key: "q", batch: 10, enforceQuota: false, fetch: fetch))
        #expect(device.allowed && !device.quotaRefused)
        #expect(device.quotaWarning == "api-calls=100%")
    }
}
