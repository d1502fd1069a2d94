import NIOConcurrencyHelpers

/// Values kept until each one's expiry; the whole cache is cleared when it reaches `capacity`
/// (simple, bounded, and the callers refill cheaply). Expiry instants are `ContinuousClock`
/// instants or any other comparable time the caller chooses.
public final class ExpiringCache<Key: Hashable & Sendable, Value: Sendable, Instant: Comparable & Sendable>: Sendable {
    private struct Entry {
        var value: Value
        var expires: Instant
    }

    private let entries = NIOLockedValueBox<[Key: Entry]>([:])
    private let capacity: Int
    /// Keys whose value is being recomputed ahead of its expiry (one recomputation each).
    private let refreshing = NIOLockedValueBox<Set<Key>>([])

    /// Creates an empty cache holding at most `capacity` entries.
    public init(capacity: Int) {
        self.capacity = capacity
    }

    /// The value for `key` if it has not expired at `now`; an expired entry is dropped.
    public func value(for key: Key, now: Instant) -> Value? {
        self.entries.withLockedValue { entries in
            guard let entry = entries[key] else { return nil }
            guard entry.expires > now else {
                entries[key] = nil
                return nil
            }
            return entry.value
        }
    }

    /// Drops every entry (when what they were computed from changed).
    public func removeAll() {
        self.entries.withLockedValue { $0.removeAll(keepingCapacity: true) }
    }

    /// Drops the entry for `key`, if any.
    public func remove(_ key: Key) {
        self.entries.withLockedValue { _ = $0.removeValue(forKey: key) }
    }

    /// Keeps `value` for `key` until `expires`.
    public func insert(_ value: Value, for key: Key, expires: Instant) {
        self.entries.withLockedValue { entries in
            if entries.count >= self.capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = Entry(value: value, expires: expires)
        }
    }
}

extension ExpiringCache where Instant == ContinuousClock.Instant {
    /// The cached value, or what `compute` returns, then kept for `lifetime`.
    /// - Throws: what `compute` throws; nothing is cached then.
    public func value(for key: Key, lifetime: Duration, _ compute: () async throws -> Value) async throws -> Value {
        let now = ContinuousClock.now
        if let value = self.value(for: key, now: now) { return value }
        let value = try await compute()
        self.insert(value, for: key, expires: now + lifetime)
        return value
    }

    /// Of `keys`, those with no value or in the last quarter of their `lifetime`, not already
    /// being recomputed: marked as being recomputed until ``endRefresh(_:)``, so callers that
    /// fetch many values at once (one call for a batch's devices) fetch each once.
    public func claimRefresh(_ keys: [Key], lifetime: Duration) -> [Key] {
        let now = ContinuousClock.now
        let due = self.entries.withLockedValue { entries in
            keys.filter { key in entries[key].map { $0.expires - lifetime / 4 <= now } ?? true }
        }
        return self.refreshing.withLockedValue { refreshing in due.filter { refreshing.insert($0).inserted } }
    }

    /// Ends the recomputation ``claimRefresh(_:lifetime:)`` marked.
    public func endRefresh(_ keys: [Key]) {
        self.refreshing.withLockedValue { refreshing in
            for key in keys { refreshing.remove(key) }
        }
    }

    /// Like ``value(for:lifetime:_:)``, but in the last quarter of an entry's lifetime the cached
    /// value is still returned while one background `compute` replaces it: values cached
    /// together (a fleet's devices, seen in one batch) then do not all expire under one request
    /// and stall it. No value is returned past its expiry.
    /// - Throws: what `compute` throws when nothing is cached; a failed refresh leaves the entry
    ///   to expire.
    public func refreshingValue(for key: Key, lifetime: Duration, _ compute: @escaping @Sendable () async throws -> Value) async throws -> Value {
        let now = ContinuousClock.now
        if let entry = self.entries.withLockedValue({ $0[key] }), entry.expires > now {
            if entry.expires - lifetime / 4 <= now, self.refreshing.withLockedValue({ $0.insert(key).inserted }) {
                Task {
                    defer { _ = self.refreshing.withLockedValue { $0.remove(key) } }
                    if let value = try? await compute() { self.insert(value, for: key, expires: ContinuousClock.now + lifetime) }
                }
            }
            return entry.value
        }
        return try await self.value(for: key, lifetime: lifetime, compute)
    }
}
