import Foundation
import Hummingbird
import SensormineContracts
import SensormineCore

/// An organisation's subscription: its plan, what a platform-admin changed of it, and how it
/// is billed. An organisation without a stored one is on Free.
struct Subscription: Codable, Sendable, Equatable {
    /// How often the base price is charged.
    enum Interval: String, Codable, Sendable {
        case month, year
    }

    /// Whether the subscription is paid up: `grace` after a failed payment or a cancellation,
    /// `lapsed` when the grace ended (the organisation then has Free's limits).
    enum Status: String, Codable, Sendable {
        case active, grace, lapsed
    }

    var organisationId: UUID
    var plan: String
    var interval: Interval
    /// Replaces the plan's included quantity per resource (base units).
    var includedOverrides: [String: Double]
    /// Replaces the plan's hard-limited resources (nil: the plan's).
    var hardLimits: [String]?
    var currency: String
    /// Tax on invoices in basis points (1 % = 100).
    var taxRateBasisPoints: Int
    var status: Status
    var graceUntil: Date?
    /// False for the implicit Free subscription of an organisation without one.
    var stored: Bool
    /// Stripe's customer and subscription, when Stripe is configured and synchronised.
    var stripeCustomerId: String?
    var stripeSubscriptionId: String?
    /// Why Stripe last refused a change (e.g. no payment method), until one succeeds.
    var stripeSyncError: String?

    /// The subscription of an organisation that has none.
    static func free(_ organisation: UUID) -> Subscription {
        Subscription(organisationId: organisation, plan: "free", interval: .month, includedOverrides: [:], hardLimits: nil, currency: "USD",
                     taxRateBasisPoints: 0, status: .active, graceUntil: nil, stored: false)
    }
}

/// PUT /api/v1/billing/subscriptions/{tenantId}: a platform-admin's change of an organisation's
/// subscription. Fields left out keep their stored value (or the default).
struct SubscriptionRequest: Decodable, Sendable {
    var plan: String
    var interval: Subscription.Interval?
    var includedOverrides: [String: Double]?
    var hardLimits: [String]?
    var currency: String?
    var taxRateBasisPoints: Int?

    /// What is wrong with the request, given the catalogue's plan ids.
    func validationErrors(plans: [String]) -> [ProblemDetails.FieldError] {
        var errors: [ProblemDetails.FieldError] = []
        if !plans.contains(self.plan) {
            errors.append(.init(pointer: "/plan", detail: "no plan '\(self.plan.prefix(40))'; the catalogue has \(plans.joined(separator: ", "))"))
        }
        let resources = Set(MeteredResource.allCases.map(\.rawValue))
        for (resource, quantity) in (self.includedOverrides ?? [:]).sorted(by: { $0.key < $1.key }) {
            if !resources.contains(resource) {
                errors.append(.init(pointer: "/includedOverrides/\(resource.prefix(40))", detail: "not a metered resource"))
            } else if !quantity.isFinite || quantity < 0 || quantity > 1e18 {
                errors.append(.init(pointer: "/includedOverrides/\(resource)", detail: "must be between 0 and 1e18"))
            }
        }
        for (index, resource) in (self.hardLimits ?? []).enumerated() where !resources.contains(resource) {
            errors.append(.init(pointer: "/hardLimits/\(index)", detail: "not a metered resource"))
        }
        if let currency = self.currency, currency.count != 3 || !currency.allSatisfy({ $0.isASCII && $0.isUppercase }) {
            errors.append(.init(pointer: "/currency", detail: "an ISO 4217 code of three capital letters, e.g. EUR"))
        }
        if let rate = self.taxRateBasisPoints, !(0...10_000).contains(rate) {
            errors.append(.init(pointer: "/taxRateBasisPoints", detail: "between 0 and 10000 (100 %)"))
        }
        return errors
    }

    /// `stored` changed as the request says.
    func applied(to stored: Subscription) -> Subscription {
        var result = stored
        result.plan = self.plan
        if let interval = self.interval { result.interval = interval }
        if let overrides = self.includedOverrides { result.includedOverrides = overrides }
        if let hardLimits = self.hardLimits { result.hardLimits = Array(Set(hardLimits)).sorted() }
        if let currency = self.currency { result.currency = currency }
        if let rate = self.taxRateBasisPoints { result.taxRateBasisPoints = rate }
        result.stored = true
        return result
    }
}

/// A subscription with its current quota state, as GET and PUT answer.
struct SubscriptionView: Codable, Sendable, ResponseEncodable {
    var subscription: Subscription
    var quota: QuotaState
}

/// The calendar month (UTC) Billing's periods follow.
enum BillingPeriod {
    static let calendar: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        return calendar
    }()

    /// The month holding `date`: its start and the next month's start.
    static func month(containing date: Date) -> (start: Date, end: Date) {
        guard let interval = Self.calendar.dateInterval(of: .month, for: date) else { return (date, date.addingTimeInterval(86_400)) }
        return (interval.start, interval.end)
    }
}

/// An organisation's quota state from its subscription, the plan catalogue and its usage.
enum QuotaCalculator {
    /// What Billing knows of one organisation for its quota.
    struct Inputs: Sendable {
        var organisation: UUID
        var tenants: [UUID]
        var subscription: Subscription
        /// Usage in the current period per resource.
        var usage: [MeteredResource: Double]
        /// Devices registered in the organisation's subtree (what the device limit counts).
        var devices: Int
        /// The subtree's time-series storage: each tenant's latest daily snapshot, in bytes
        /// (storage is a level; the month's usage records sum byte-months for the invoice).
        var storageBytes: Double = 0
    }

    /// The state for `inputs` in the period [start, end); a lapsed subscription has Free's
    /// limits, and an unknown plan Free's too (the catalogue is data; it must not fail open).
    static func state(_ inputs: Inputs, plans: [String: Plan], period: (start: Date, end: Date), now: Date) -> QuotaState {
        let subscription = inputs.subscription
        let lapsed = subscription.status == .lapsed
        let plan = (lapsed ? nil : plans[subscription.plan]) ?? plans["free"]
        var included = plan?.included ?? [:]
        var hard = Set(plan?.hardLimits ?? [])
        if !lapsed, plan?.id == subscription.plan {
            included.merge(subscription.includedOverrides) { _, override in override }
            if let overridden = subscription.hardLimits { hard = Set(overridden) }
        }
        var resources: [String: ResourceQuota] = [:]
        for resource in MeteredResource.allCases {
            guard let quantity = included[resource.rawValue] else { continue }
            let used = switch resource {
            case .activeDevices: Double(inputs.devices)
            case .timeseriesStorage: inputs.storageBytes
            default: inputs.usage[resource] ?? 0
            }
            resources[resource.rawValue] = ResourceQuota(included: quantity, used: used, hardLimit: hard.contains(resource.rawValue))
        }
        return QuotaState(organisationId: inputs.organisation, tenants: inputs.tenants.sorted { $0.uuidString < $1.uuidString }, plan: plan?.id ?? "free",
                          periodStart: period.start, periodEnd: period.end, resources: resources, computedAt: now)
    }
}
