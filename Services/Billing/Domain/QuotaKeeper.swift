import ClientRuntime
import Foundation
import Hiredis
import Logging
import Metrics
import NIOConcurrencyHelpers
import SensormineContracts
import ServiceLifecycle

/// Keeps every organisation's quota state current, as the only writer of it: after each stored
/// batch of usage for the organisations it touched, at once after a subscription changes, and in
/// a sweep of all organisations every interval (a new period, devices registered, a Redis that
/// lost its data). Each state goes to Redis (the gateway and DeviceAPI read it per request) and,
/// when its plan, limits or levels change, to `billing.quotas` with its notices (``QuotaStore``).
final class QuotaKeeper: Service, Sendable {
    private let subscriptions: SubscriptionStore
    private let quotas: QuotaStore
    private let plans: PlanStore
    /// Ends grace periods that are over, before each sweep.
    private let stripeEvents: StripeEventStore
    private let redis: RedisClient
    private let interval: Duration
    private let logger: Logger
    /// The signature this member last recorded per organisation (saves the database a write
    /// per batch while nothing but the used quantities changes).
    private let recorded = NIOLockedValueBox<[UUID: String]>([:])
    private let failures = Counter(label: "sensormine_billing_quota_failures_total")
    private let evaluated = Counter(label: "sensormine_billing_quota_evaluations_total")

    init(subscriptions: SubscriptionStore, quotas: QuotaStore, plans: PlanStore, stripeEvents: StripeEventStore, redis: RedisClient, interval: Duration,
         logger: Logger) {
        self.subscriptions = subscriptions
        self.quotas = quotas
        self.plans = plans
        self.stripeEvents = stripeEvents
        self.redis = redis
        self.interval = interval
        self.logger = logger
    }

    /// The current states of `organisations`, computed without recording them.
    func states(_ organisations: [UUID], now: Date = Date()) async throws -> [QuotaState] {
        let period = BillingPeriod.month(containing: now)
        let inputs = try await self.subscriptions.quotaInputs(organisations, periodStart: period.start)
        return try await self.states(inputs, period: period, now: now)
    }

    /// Computes, records and publishes the states of `organisations`.
    /// - Throws: ``ClientError`` when PostgreSQL or Redis fails; a later sweep catches up.
    @discardableResult
    func evaluate(_ organisations: [UUID]) async throws -> [QuotaState] {
        guard !organisations.isEmpty else { return [] }
        let states = try await self.states(organisations)
        try await self.publish(states)
        return states
    }

    func run() async throws {
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            do {
                try await self.sweep()
            } catch {
                self.failures.increment()
                self.logger.warning("quota sweep failed; retrying next interval", metadata: ["error": "\(error)"])
            }
            _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
        }
    }

    /// Every organisation, a page at a time, after ending the grace periods that are over.
    func sweep() async throws {
        let lapsed = try await self.stripeEvents.lapseExpired()
        if !lapsed.isEmpty { self.logger.notice("grace periods ended: Free's limits apply", metadata: ["organisations": "\(lapsed.count)"]) }
        let now = Date()
        let period = BillingPeriod.month(containing: now)
        var after: UUID?
        while true {
            let inputs = try await self.subscriptions.quotaInputs(nil, after: after, limit: 500, periodStart: period.start)
            guard let last = inputs.last else { return }
            try await self.publish(try await self.states(inputs, period: period, now: now))
            after = last.organisation
        }
    }

    private func states(_ inputs: [QuotaCalculator.Inputs], period: (start: Date, end: Date), now: Date) async throws -> [QuotaState] {
        guard !inputs.isEmpty else { return [] }
        let catalogue = Dictionary(try await self.plans.list().map { ($0.id, $0) }) { first, _ in first }
        return inputs.map { QuotaCalculator.state($0, plans: catalogue, period: period, now: now) }
    }

    /// Records the states whose signature changed, then writes all of them to Redis.
    private func publish(_ states: [QuotaState]) async throws {
        for state in states where self.recorded.withLockedValue({ $0[state.organisationId] }) != state.signature {
            _ = try await self.quotas.record(state)
            self.recorded.withLockedValue { $0[state.organisationId] = state.signature }
        }
        guard !states.isEmpty else { return }
        let encoder = ContractCoding.encoder()
        var commands: [[String]] = []
        commands.reserveCapacity(states.count)
        for state in states {
            let refused = MeteredResource.allCases.filter { state.refuses($0) }.map(\.rawValue).joined(separator: ",")
            commands.append(["HSET", QuotaState.redisKey(state.organisationId), "state", String(decoding: try encoder.encode(state), as: UTF8.self),
                             "refused", refused, "warning", state.warningHeader ?? "", "until", String(Int64(state.periodEnd.timeIntervalSince1970))])
        }
        for reply in try await self.redis.pipeline(commands) {
            if case .error(let message) = reply { throw ClientError(.unreachable, client: "redis", "HSET of a quota state failed: \(message)") }
        }
        self.evaluated.increment(by: Int64(states.count))
    }
}
