import Foundation
import SensormineContracts
import Testing

@testable import Billing

@Suite("Billing quota states")
struct QuotaTests {
    static let plans: [String: Plan] = [
        "free": Plan(id: "free", name: "Free", currency: "USD", monthlyPriceMinor: 0, yearlyPriceMinor: 0,
                     included: ["active-devices": 10, "api-calls": 10_000, "data-ingested": 1e9], overage: [:],
                     hardLimits: ["active-devices", "api-calls", "data-ingested"]),
        "pro": Plan(id: "pro", name: "Pro", currency: "USD", monthlyPriceMinor: 9900, yearlyPriceMinor: 99000,
                    included: ["active-devices": 100, "api-calls": 1_000_000], overage: ["api-calls": .init(per: 1000, priceMinor: 10)], hardLimits: []),
    ]
    static let period = BillingPeriod.month(containing: Date(timeIntervalSince1970: 1_796_300_000))

    static func state(_ subscription: Subscription, usage: [MeteredResource: Double] = [:], devices: Int = 0) -> QuotaState {
        QuotaCalculator.state(.init(organisation: subscription.organisationId, tenants: [subscription.organisationId], subscription: subscription,
                                    usage: usage, devices: devices),
                              plans: plans, period: period, now: period.start)
    }

    @Test("levels: below 80 % ok, from 80 % a warning, from 100 % exceeded; nothing included is exceeded by any use")
    func levels() {
        #expect(QuotaLevel.of(used: 7999, included: 10_000) == .ok)
        #expect(QuotaLevel.of(used: 8000, included: 10_000) == .warning)
        #expect(QuotaLevel.of(used: 9999.9, included: 10_000) == .warning)
        #expect(QuotaLevel.of(used: 10_000, included: 10_000) == .exceeded)
        #expect(QuotaLevel.of(used: 0, included: 0) == .ok)
        #expect(QuotaLevel.of(used: 1, included: 0) == .exceeded)
        #expect(ResourceQuota(included: 3, used: .greatestFiniteMagnitude, hardLimit: true).percent == 1_000_000)
    }

    @Test("a state from plan, overrides and usage: hard limits refuse, overage resources only warn; the warning header lists every resource past 80 %")
    func stateFromPlan() {
        let organisation = UUID()
        var subscription = Subscription.free(organisation)
        subscription.includedOverrides = ["api-calls": 50]
        let state = Self.state(subscription, usage: [.apiCalls: 50, .dataIngested: 8e8], devices: 3)
        #expect(state.plan == "free")
        #expect(state[.apiCalls] == ResourceQuota(included: 50, used: 50, hardLimit: true))
        #expect(state.refuses(.apiCalls))
        #expect(!state.refusesTelemetry)
        #expect(state[.activeDevices]?.used == 3)
        #expect(state[.mlInference] == nil)
        #expect(state.warningHeader == "data-ingested=80%, api-calls=100%")
        #expect(state.periodStart == Self.period.start && state.periodEnd == Self.period.end)

        var pro = subscription
        pro.plan = "pro"
        pro.includedOverrides = [:]
        let overage = Self.state(pro, usage: [.apiCalls: 2_000_000])
        #expect(overage[.apiCalls]?.level == .exceeded)
        #expect(!overage.refuses(.apiCalls))
        #expect(overage.signature != state.signature)
        // Only levels, limits, plan and period make a new signature, not every call.
        #expect(Self.state(pro, usage: [.apiCalls: 2_000_001]).signature == overage.signature)
    }

    @Test("a lapsed subscription and an unknown plan have Free's limits, without the overrides")
    func lapsedAndUnknown() {
        var subscription = Subscription.free(UUID())
        subscription.plan = "pro"
        subscription.includedOverrides = ["api-calls": 5]
        subscription.status = .lapsed
        let lapsed = Self.state(subscription, usage: [.apiCalls: 20_000])
        #expect(lapsed.plan == "free")
        #expect(lapsed[.apiCalls]?.included == 10_000)
        #expect(lapsed.refuses(.apiCalls))
        subscription.status = .active
        subscription.plan = "gone"
        #expect(Self.state(subscription)[.apiCalls]?.included == 10_000)
    }

    @Test("a subscription request names each invalid field")
    func validation() {
        let request = SubscriptionRequest(plan: "platinum", interval: .year, includedOverrides: ["api-calls": -1, "bogus": 3, "ml-inference": .infinity],
                                          hardLimits: ["api-calls", "nope"], currency: "eur", taxRateBasisPoints: 10_001)
        let pointers = request.validationErrors(plans: ["free", "pro"]).map(\.pointer)
        #expect(pointers == ["/plan", "/includedOverrides/api-calls", "/includedOverrides/bogus", "/includedOverrides/ml-inference", "/hardLimits/1", "/currency",
                             "/taxRateBasisPoints"])
        let good = SubscriptionRequest(plan: "pro", interval: nil, includedOverrides: ["api-calls": 5], hardLimits: ["api-calls", "api-calls"], currency: "EUR",
                                       taxRateBasisPoints: 2000)
        #expect(good.validationErrors(plans: ["free", "pro"]).isEmpty)
        let applied = good.applied(to: .free(UUID()))
        #expect(applied.plan == "pro" && applied.hardLimits == ["api-calls"] && applied.currency == "EUR" && applied.taxRateBasisPoints == 2000 && applied.stored)
    }
}
