import NIOConcurrencyHelpers
import Testing

@testable import ClientRuntime

@Suite("Expiring cache")
struct ExpiringCacheTests {
    @Test("in an entry's last quarter the cached value is served while one background refresh replaces it")
    func refreshAhead() async throws {
        let cache = ExpiringCache<String, Int, ContinuousClock.Instant>(capacity: 10)
        let computed = NIOLockedValueBox(0)
        let refreshReleased = NIOLockedValueBox(false)
        let lifetime = Duration.seconds(4)
        // The refresh (every computation after the first) is held until the test releases it,
        // so the callers in the last quarter are served while it is still running, however
        // quickly the scheduler would otherwise have finished it; held 10 s at most, never hung.
        @Sendable func compute() async throws -> Int {
            let value = computed.withLockedValue { $0 += 1; return $0 }
            let heldUntil = ContinuousClock.now + .seconds(10)
            while value > 1, !refreshReleased.withLockedValue({ $0 }), ContinuousClock.now < heldUntil {
                try await Task.sleep(for: .milliseconds(5))
            }
            return value
        }

        #expect(try await cache.refreshingValue(for: "device", lifetime: lifetime, compute) == 1)
        // Before the last quarter: the cached value, nothing recomputed.
        #expect(try await cache.refreshingValue(for: "device", lifetime: lifetime, compute) == 1)
        #expect(computed.withLockedValue { $0 } == 1)

        // In the last quarter (3.2 s of 4): still the cached value, and one refresh however many ask.
        try await Task.sleep(for: .milliseconds(3200))
        for _ in 0..<5 { #expect(try await cache.refreshingValue(for: "device", lifetime: lifetime, compute) == 1) }
        refreshReleased.withLockedValue { $0 = true }
        let deadline = ContinuousClock.now + .seconds(5)
        while cache.value(for: "device", now: .now) != 2, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(cache.value(for: "device", now: .now) == 2)
        #expect(computed.withLockedValue { $0 } == 2)
        // The refreshed entry has a lifetime of its own: served without recomputing.
        #expect(try await cache.refreshingValue(for: "device", lifetime: lifetime, compute) == 2)
        #expect(computed.withLockedValue { $0 } == 2)
    }

    @Test("an expired entry is never served: the caller waits for a fresh value")
    func expiredIsRecomputed() async throws {
        let cache = ExpiringCache<String, Int, ContinuousClock.Instant>(capacity: 10)
        let computed = NIOLockedValueBox(0)
        @Sendable func compute() async throws -> Int { computed.withLockedValue { $0 += 1; return $0 } }
        #expect(try await cache.refreshingValue(for: "device", lifetime: .milliseconds(50), compute) == 1)
        try await Task.sleep(for: .milliseconds(120))
        #expect(try await cache.refreshingValue(for: "device", lifetime: .milliseconds(50), compute) == 2)
    }

    @Test("a batch claims the keys missing or due for refresh, each once until it ends its refresh")
    func claimedRefresh() async throws {
        let cache = ExpiringCache<String, Int, ContinuousClock.Instant>(capacity: 10)
        let lifetime = Duration.seconds(4)
        cache.insert(1, for: "fresh", expires: .now + lifetime)
        cache.insert(2, for: "due", expires: .now + .milliseconds(500))
        let claimed = cache.claimRefresh(["fresh", "due", "missing"], lifetime: lifetime)
        #expect(Set(claimed) == ["due", "missing"])
        // A second batch meanwhile finds nothing to read; the due entry is still served.
        #expect(cache.claimRefresh(["fresh", "due", "missing"], lifetime: lifetime).isEmpty)
        #expect(cache.value(for: "due", now: .now) == 2)
        cache.insert(3, for: "missing", expires: .now + lifetime)
        cache.endRefresh(claimed)
        // Once ended, what is still due may be claimed again; what was refilled is not.
        #expect(cache.claimRefresh(["fresh", "due", "missing"], lifetime: lifetime) == ["due"])
    }
}
