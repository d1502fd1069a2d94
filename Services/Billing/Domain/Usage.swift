import Foundation
import Hummingbird
import SensormineContracts
import SensormineCore

/// A plan of the catalogue: its prices and what it includes per resource.
struct Plan: Codable, Sendable, Equatable, ResponseEncodable {
    /// The price of usage beyond what a plan includes: `priceMinor` per `per` base units.
    struct Overage: Codable, Sendable, Equatable {
        var per: Double
        var priceMinor: Int
    }

    var id: String
    var name: String
    var currency: String
    /// Minor units (cents); nil when negotiated.
    var monthlyPriceMinor: Int?
    var yearlyPriceMinor: Int?
    /// Included quantity per resource, in its base unit; a resource not listed is unlimited.
    var included: [String: Double]
    var overage: [String: Overage]
    /// The resources refused past what is included (the others are billed as overage).
    var hardLimits: [String]
}

/// One resource's usage over a period against what the plan includes.
struct ResourceUsage: Codable, Sendable, Equatable {
    var resource: MeteredResource
    var unit: String
    var quantity: Double
    /// What the plan includes (nil: unlimited, or no plan known).
    var included: Double?
    /// quantity / included × 100, when something is included.
    var percentOfPlan: Double?
}

/// A tenant's usage over a period, per resource, with its sub-tenants' shares.
struct UsageReport: Codable, Sendable, Equatable, ResponseEncodable {
    /// One sub-tenant's usage (its own subtree's).
    struct SubTenant: Codable, Sendable, Equatable {
        var tenantId: UUID
        var name: String
        var resources: [ResourceUsage]
    }

    var tenantId: UUID
    var from: Date
    var to: Date
    /// The tenant's effective plan, as its settings say (nil: none set).
    var plan: String?
    /// The whole subtree's usage: the tenant's own and its sub-tenants'.
    var resources: [ResourceUsage]
    var subTenants: [SubTenant]

    /// Every resource, in the catalogue's order, from the quantities per resource (missing: 0).
    static func resources(_ quantities: [MeteredResource: Double], plan: Plan?) -> [ResourceUsage] {
        MeteredResource.allCases.map { resource in
            let quantity = quantities[resource] ?? 0
            let included = plan?.included[resource.rawValue]
            return ResourceUsage(resource: resource, unit: resource.unit, quantity: quantity, included: included,
                                 percentOfPlan: included.flatMap { $0 > 0 ? quantity / $0 * 100 : nil })
        }
    }

    /// The report as CSV: one line per (tenant, resource), the tenant's whole subtree first.
    var csv: String {
        var lines = ["tenant_id,scope,resource,unit,quantity,included,percent_of_plan"]
        func add(_ tenant: UUID, _ scope: String, _ resources: [ResourceUsage]) {
            for usage in resources {
                lines.append([tenant.lowercasedString, scope, usage.resource.rawValue, usage.unit, Self.number(usage.quantity),
                              usage.included.map(Self.number) ?? "", usage.percentOfPlan.map { String(format: "%.2f", $0) } ?? ""].joined(separator: ","))
            }
        }
        add(self.tenantId, "total", self.resources)
        for sub in self.subTenants { add(sub.tenantId, "sub-tenant", sub.resources) }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func number(_ value: Double) -> String {
        value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}

/// A tenant's subtree's levels per day, from the daily snapshots.
struct DailyUsage: Codable, Sendable, Equatable, ResponseEncodable {
    /// One day's levels, summed over the subtree's tenants with a snapshot that day.
    struct Day: Codable, Sendable, Equatable {
        /// `yyyy-mm-dd` (UTC).
        var day: String
        /// Devices that sent telemetry in the month up to this day.
        var activeDevices: Int
        /// Time-series storage in bytes (estimated in the shared table).
        var storageBytes: Int
        /// Tenants with a snapshot that day.
        var tenants: Int
        /// Whether every tenant's raw storage was measured on a table of its own.
        var rawStorageExact: Bool
    }

    var tenantId: UUID
    var from: Date
    var to: Date
    var items: [Day]
}

/// Billing's domain failures.
typealias BillingError = ServiceError
