import Foundation
import Hummingbird
import SensormineContracts
import SensormineCore

/// The platform's own invoice of an organisation for one period: the authoritative one (Stripe,
/// when configured, only collects it). Amounts in integer minor units of `currency`.
struct Invoice: Codable, Sendable, Equatable, ResponseEncodable {
    /// draft → finalized → paid or void; a draft is computed again until it is finalized.
    enum Status: String, Codable, Sendable, CaseIterable {
        case draft, finalized, paid, void
    }

    var id: UUID
    var organisationId: UUID
    /// Human-readable and unique: `SM-<yyyy>-<mm>-<first 8 of the organisation id>`.
    var number: String
    var periodStart: Date
    var periodEnd: Date
    var plan: String
    var interval: Subscription.Interval
    var currency: String
    var taxRateBasisPoints: Int
    var status: Status
    var lines: [InvoiceLine]
    var subtotalMinor: Int64
    var taxMinor: Int64
    var totalMinor: Int64
    /// Each party's usage in the period (the organisation's own and each direct sub-tenant's
    /// subtree), kept with the invoice so that its allocation can be reproduced.
    var parties: [PartyUsage]
    /// The division among the parties under the organisation's chargeback settings when the
    /// invoice was last computed (nil when it has no sub-tenants).
    var allocation: Allocation?
    var createdAt: Date
    var finalizedAt: Date?
    var paidAt: Date?
    var voidedAt: Date?
    var stripeInvoiceId: String?
}

/// One line: the plan's base price, or one resource's usage against what the plan includes
/// with its overage.
struct InvoiceLine: Codable, Sendable, Equatable {
    enum Kind: String, Codable, Sendable {
        case base, usage
    }

    var kind: Kind
    var description: String
    var resource: MeteredResource?
    /// The resource's base unit (usage lines).
    var unit: String?
    /// Used in the period.
    var quantity: Double?
    /// What the plan includes (nil: unlimited).
    var included: Double?
    /// Billed units beyond what is included, in blocks of `per` base units.
    var overageUnits: Int64?
    var per: Double?
    var unitPriceMinor: Int64?
    var amountMinor: Int64
}

/// One party of an organisation's invoice and what it used: the organisation itself (its own
/// usage) or a direct sub-tenant with its subtree.
struct PartyUsage: Codable, Sendable, Equatable {
    var tenantId: UUID
    var name: String
    /// True for the organisation's own share.
    var isOrganisation: Bool
    var usage: [String: Double]

    func quantity(_ resource: MeteredResource) -> Double { max(0, self.usage[resource.rawValue] ?? 0) }
}

/// Computes an invoice from plan, subscription and usage, in integer minor units.
enum InvoiceCalculator {
    /// The lines, subtotal, tax and total of an invoice for `usage` of the period under `plan`.
    /// The yearly price is billed in the month the subscription started each year.
    /// - Throws: ``BillingError/invalid(_:_:)`` when an amount passes what 64 bits hold.
    static func lines(plan: Plan, subscription: Subscription, usage: [MeteredResource: Double], periodStart: Date, subscribedAt: Date?)
        throws(BillingError) -> (lines: [InvoiceLine], subtotal: Int64, tax: Int64, total: Int64) {
        var lines: [InvoiceLine] = []
        let month = BillingPeriod.calendar.component(.month, from: periodStart)
        let base: Int64
        let description: String
        switch subscription.interval {
        case .month:
            base = Int64(plan.monthlyPriceMinor ?? 0)
            description = "\(plan.name) plan, monthly"
        case .year:
            let startMonth = subscribedAt.map { BillingPeriod.calendar.component(.month, from: $0) } ?? month
            base = startMonth == month ? Int64(plan.yearlyPriceMinor ?? 0) : 0
            description = startMonth == month ? "\(plan.name) plan, yearly" : "\(plan.name) plan, yearly (billed in the month it started)"
        }
        lines.append(InvoiceLine(kind: .base, description: description, amountMinor: base))
        var included = plan.included
        included.merge(subscription.includedOverrides) { _, override in override }
        for resource in MeteredResource.allCases {
            let used = max(0, usage[resource] ?? 0)
            // A resource with an overage price and nothing included is billed from the first unit.
            let limit = included[resource.rawValue] ?? (plan.overage[resource.rawValue] != nil ? 0 : nil)
            var line = InvoiceLine(kind: .usage, description: resource.rawValue, resource: resource, unit: resource.unit, quantity: used, included: limit,
                                   amountMinor: 0)
            if let overage = plan.overage[resource.rawValue], overage.per > 0, let limit, used > limit {
                let blocks = ((used - limit) / overage.per).rounded(.up)
                guard blocks.isFinite, blocks < 9e15 else { throw .invalid("an amount is too large to bill", [.init(pointer: resource.rawValue, detail: "overage too large")]) }
                let units = Int64(blocks)
                let (amount, overflow) = units.multipliedReportingOverflow(by: Int64(overage.priceMinor))
                guard !overflow else { throw .invalid("an amount is too large to bill", [.init(pointer: resource.rawValue, detail: "overage too large")]) }
                line.overageUnits = units
                line.per = overage.per
                line.unitPriceMinor = Int64(overage.priceMinor)
                line.amountMinor = amount
            }
            lines.append(line)
        }
        var subtotal: Int64 = 0
        for line in lines {
            let (sum, overflow) = subtotal.addingReportingOverflow(line.amountMinor)
            guard !overflow else { throw .invalid("an amount is too large to bill", []) }
            subtotal = sum
        }
        let tax = try Self.tax(subtotal, basisPoints: subscription.taxRateBasisPoints)
        return (lines, subtotal, tax, subtotal + tax)
    }

    /// `amount` × basis points / 10,000, rounded half up.
    static func tax(_ amount: Int64, basisPoints: Int) throws(BillingError) -> Int64 {
        let (product, overflow) = amount.multipliedReportingOverflow(by: Int64(basisPoints))
        guard !overflow else { throw .invalid("an amount is too large to bill", []) }
        return (product + 5_000) / 10_000
    }
}

/// How a parent's invoice is divided among its parties (the seed's four strategies).
struct ChargebackSettings: Codable, Sendable, Equatable {
    enum Strategy: String, Codable, Sendable, CaseIterable {
        /// Each invoice line by the parties' shares of that line's resource (the base price by
        /// their active devices): each pays for what it used.
        case direct
        /// The whole invoice by one basis: devices (active devices) or data (data ingested).
        case proportional
        /// Set percentages (basis points adding up to 10,000) or set amounts (adding up to the total).
        case fixed
        /// As direct, but reported only: nothing is charged to the parties.
        case showback
    }

    enum Basis: String, Codable, Sendable {
        case devices, data
    }

    var strategy: Strategy
    var basis: Basis?
    /// Fixed: basis points per party (tenant id), adding up to 10,000.
    var percentages: [String: Int]?
    /// Fixed: minor units per party, adding up to the invoice's total.
    var amounts: [String: Int64]?

    static let `default` = ChargebackSettings(strategy: .direct, basis: nil, percentages: nil, amounts: nil)

    /// What is wrong with the settings, given the organisation's parties.
    func validationErrors(parties: Set<UUID>) -> [ProblemDetails.FieldError] {
        var errors: [ProblemDetails.FieldError] = []
        if self.strategy == .proportional, self.basis == nil {
            errors.append(.init(pointer: "/basis", detail: "proportional needs a basis: devices or data"))
        }
        if self.strategy != .proportional, self.basis != nil {
            errors.append(.init(pointer: "/basis", detail: "only proportional takes a basis"))
        }
        if self.strategy == .fixed {
            switch (self.percentages, self.amounts) {
            case (let percentages?, nil):
                errors += Self.partyErrors(percentages.keys, "/percentages", parties: parties)
                if percentages.values.contains(where: { $0 < 0 || $0 > 10_000 }) || percentages.values.reduce(0, { $0 + min(max($1, 0), 10_000) }) != 10_000 {
                    errors.append(.init(pointer: "/percentages", detail: "basis points between 0 and 10000 that add up to 10000 (100 %)"))
                }
            case (nil, let amounts?):
                errors += Self.partyErrors(amounts.keys, "/amounts", parties: parties)
                if amounts.values.contains(where: { $0 < 0 || $0 > 1_000_000_000_000_000 }) {
                    errors.append(.init(pointer: "/amounts", detail: "minor units between 0 and 1e15"))
                }
            default:
                errors.append(.init(pointer: "/percentages", detail: "fixed takes either percentages or amounts"))
            }
        } else if self.percentages != nil || self.amounts != nil {
            errors.append(.init(pointer: "/percentages", detail: "only fixed takes percentages or amounts"))
        }
        return errors
    }

    private static func partyErrors(_ keys: Dictionary<String, some Any>.Keys, _ pointer: String, parties: Set<UUID>) -> [ProblemDetails.FieldError] {
        keys.sorted().compactMap { key in
            guard let id = UUID(uuidString: key), parties.contains(id) else {
                return .init(pointer: "\(pointer)/\(key.prefix(40))", detail: "not the organisation or one of its direct sub-tenants")
            }
            return nil
        }
    }
}

/// An invoice divided among its parties: each party's share of every line, of the tax and of
/// the total; the shares of each add up to it exactly (largest remainder).
struct Allocation: Codable, Sendable, Equatable {
    struct Share: Codable, Sendable, Equatable {
        var tenantId: UUID
        var name: String
        var isOrganisation: Bool
        /// Per invoice line, in the invoice's order (empty for fixed amounts, which are not itemised).
        var lineAmountsMinor: [Int64]
        var subtotalMinor: Int64
        var taxMinor: Int64
        var totalMinor: Int64
    }

    var strategy: ChargebackSettings.Strategy
    var basis: ChargebackSettings.Basis?
    /// False for showback: reported, not charged to the parties.
    var billed: Bool
    var shares: [Share]
}

/// Divides invoices among parties.
enum Chargeback {
    /// Divides `amount` (not negative) by `weights` so the parts add up to `amount` exactly:
    /// each part is its exact share rounded down, and the minor units left go one each to the
    /// largest remainders (ties to the earlier party). Whole-number weights are divided exactly
    /// in integers; others in floating point. All weights zero: equal parts.
    static func split(_ amount: Int64, weights: [Double]) -> [Int64] {
        guard !weights.isEmpty, amount > 0 else { return Array(repeating: 0, count: weights.count) }
        var cleaned = weights.map { $0.isFinite && $0 > 0 ? $0 : 0 }
        if cleaned.allSatisfy({ $0 == 0 }) { cleaned = Array(repeating: 1, count: cleaned.count) }
        let total = cleaned.reduce(0, +)
        var parts: [Int64]
        var remainders: [Double]
        if total < 4e18, cleaned.allSatisfy({ $0.rounded() == $0 }) {
            let whole = cleaned.map { Int64($0) }
            let divisor = whole.reduce(0, +)
            parts = []
            remainders = []
            for weight in whole {
                let product = amount.multipliedFullWidth(by: weight)
                let (quotient, remainder) = divisor.dividingFullWidth(product)
                parts.append(quotient)
                remainders.append(Double(remainder))
            }
        } else {
            parts = cleaned.map { Int64((Double(amount) * $0 / total).rounded(.down)) }
            remainders = cleaned.indices.map { Double(amount) * cleaned[$0] / total - Double(parts[$0]) }
        }
        var left = amount - parts.reduce(0, +)
        let order = cleaned.indices.sorted { remainders[$0] != remainders[$1] ? remainders[$0] > remainders[$1] : $0 < $1 }
        var index = 0
        while left > 0 {
            parts[order[index % order.count]] += 1
            left -= 1
            index += 1
        }
        return parts
    }

    /// The allocation of `invoice` among its parties under `settings`.
    /// - Throws: ``BillingError/conflict(_:)`` when set amounts do not add up to the total.
    static func allocate(lines: [InvoiceLine], tax: Int64, total: Int64, parties: [PartyUsage], settings: ChargebackSettings) throws(BillingError) -> Allocation {
        func shares(_ perParty: [[Int64]], taxes: [Int64]? = nil) -> [Allocation.Share] {
            let subtotals = perParty.map { $0.reduce(0, +) }
            let taxes = taxes ?? Self.split(tax, weights: subtotals.map(Double.init))
            return parties.indices.map { index in
                Allocation.Share(tenantId: parties[index].tenantId, name: parties[index].name, isOrganisation: parties[index].isOrganisation,
                                 lineAmountsMinor: perParty[index], subtotalMinor: subtotals[index], taxMinor: taxes[index],
                                 totalMinor: subtotals[index] + taxes[index])
            }
        }
        /// Each line divided by its own weights: columns per line, turned into rows per party.
        func byLine(_ weights: (InvoiceLine) -> [Double]) -> [[Int64]] {
            var rows = Array(repeating: [Int64](), count: parties.count)
            for line in lines {
                for (index, part) in Self.split(line.amountMinor, weights: weights(line)).enumerated() { rows[index].append(part) }
            }
            return rows
        }
        let devices = parties.map { $0.quantity(.activeDevices) }
        switch settings.strategy {
        case .direct, .showback:
            let rows = byLine { line in line.resource.map { resource in parties.map { $0.quantity(resource) } } ?? devices }
            return Allocation(strategy: settings.strategy, basis: nil, billed: settings.strategy == .direct, shares: shares(rows))
        case .proportional:
            let basis = settings.basis ?? .devices
            let weights = basis == .devices ? devices : parties.map { $0.quantity(.dataIngested) }
            return Allocation(strategy: .proportional, basis: basis, billed: true, shares: shares(byLine { _ in weights }))
        case .fixed:
            if let amounts = settings.amounts {
                let set = parties.map { amounts[$0.tenantId.lowercasedString] ?? amounts[$0.tenantId.uuidString] ?? 0 }
                guard set.reduce(0, +) == total else {
                    throw .conflict("the fixed amounts add up to \(set.reduce(0, +)) minor units, the invoice's total is \(total); change them to add up")
                }
                // Set totals are not itemised by line: each party's tax is its share of the
                // invoice's tax by its amount, the rest of its amount its subtotal.
                let taxes = Self.split(tax, weights: set.map(Double.init))
                let rows = Array(repeating: [Int64](), count: parties.count)
                return Allocation(strategy: .fixed, basis: nil, billed: true, shares: parties.indices.map { index in
                    Allocation.Share(tenantId: parties[index].tenantId, name: parties[index].name, isOrganisation: parties[index].isOrganisation,
                                     lineAmountsMinor: rows[index], subtotalMinor: set[index] - taxes[index], taxMinor: taxes[index], totalMinor: set[index])
                })
            }
            let percentages = settings.percentages ?? [:]
            let weights = parties.map { Double(percentages[$0.tenantId.lowercasedString] ?? percentages[$0.tenantId.uuidString] ?? 0) }
            return Allocation(strategy: .fixed, basis: nil, billed: true, shares: shares(byLine { _ in weights }))
        }
    }
}
