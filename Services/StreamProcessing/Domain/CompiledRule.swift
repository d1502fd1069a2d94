import Foundation
import SensormineContracts

/// What StreamProcessing knows about a device beyond its telemetry (from DeviceAPI, cached).
struct DeviceProfile: Equatable, Sendable {
    var tenantId: UUID
    var deviceId: UUID
    var deviceTypeId: UUID?
    var tags: [String]
    /// Root first: the site, then the area, then the machine the device sits on.
    var assetPath: [UUID]
    var siteId: UUID?
    /// The device's tenant and its ancestors, the device's own first.
    var tenantPath: [UUID]

    /// A profile with nothing but the ids (DeviceAPI could not say more).
    static func bare(tenant: UUID, device: UUID) -> DeviceProfile {
        DeviceProfile(tenantId: tenant, deviceId: device, deviceTypeId: nil, tags: [], assetPath: [], siteId: nil, tenantPath: [tenant])
    }
}

/// One comparison of a rule's condition, ready to evaluate.
enum RuleLeaf: Equatable, Sendable {
    case threshold(metric: String, comparison: AlertComparison, level: Double, hysteresis: Double)
    /// `perMicros` converts a change per microsecond into the rule's unit.
    case rate(metric: String, comparison: AlertComparison, level: Double, perMicros: Double)
    case noData(metric: String?, after: Micros)
    case window(metric: String, aggregate: AlertAggregate, shape: WindowShape, comparison: AlertComparison, level: Double)
    case anomaly(metric: String, level: Double)

    /// The metric whose points update this comparison (nil: any metric, for no-data).
    var metric: String? {
        switch self {
        case .threshold(let metric, _, _, _), .rate(let metric, _, _, _), .window(let metric, _, _, _, _), .anomaly(let metric, _): metric
        case .noData(let metric, _): metric
        }
    }

    /// The name the value of this comparison has in an alert's values.
    var valueName: String {
        switch self {
        case .threshold(let metric, _, _, _): metric
        case .rate(let metric, _, _, _): metric + ".rate"
        case .noData(let metric, _): (metric.map { $0 + "." } ?? "") + "silentSeconds"
        case .window(let metric, let aggregate, let shape, _, _): "\(metric).\(aggregate.rawValue)\(shape.size / 60_000_000)m"
        case .anomaly(let metric, _): metric + ".anomalyScore"
        }
    }
}

/// How a condition's comparisons combine.
indirect enum RuleNode: Equatable, Sendable {
    case leaf(Int)
    case all([RuleNode])
    case any([RuleNode])

    func holds(_ truths: [Bool]) -> Bool {
        switch self {
        case .leaf(let index): truths[index]
        case .all(let nodes): nodes.allSatisfy { $0.holds(truths) }
        case .any(let nodes): nodes.contains { $0.holds(truths) }
        }
    }
}

/// An alert rule as StreamProcessing evaluates it: its comparisons flattened, with the metrics
/// and window shapes they need. A class: each device's rule list shares one copy.
final class CompiledRule: Sendable {
    let rule: AlertRule
    let leaves: [RuleLeaf]
    let root: RuleNode
    /// The window shapes its windowed comparisons need.
    let windowShapes: Set<WindowShape>
    let watchesSilence: Bool

    init(_ rule: AlertRule) {
        var leaves: [RuleLeaf] = []
        func compile(_ condition: AlertCondition) -> RuleNode {
            switch condition {
            case let .threshold(metric, comparison, level, hysteresis):
                leaves.append(.threshold(metric: metric, comparison: comparison, level: level, hysteresis: hysteresis))
            case let .rate(metric, comparison, level, unit):
                leaves.append(.rate(metric: metric, comparison: comparison, level: level, perMicros: unit == .perSecond ? 1e6 : 6e7))
            case let .noData(metric, seconds):
                leaves.append(.noData(metric: metric, after: Micros(seconds) * 1_000_000))
            case let .window(metric, aggregate, minutes, comparison, level):
                // "Over the last N minutes", checked every minute (or every N when shorter).
                let size = Micros(minutes) * 60_000_000
                leaves.append(.window(metric: metric, aggregate: aggregate, shape: WindowShape(size: size, hop: Swift.min(size, 60_000_000)),
                                      comparison: comparison, level: level))
            case let .anomaly(metric, level):
                leaves.append(.anomaly(metric: metric, level: level))
            case .all(let conditions):
                return .all(conditions.map(compile))
            case .any(let conditions):
                return .any(conditions.map(compile))
            }
            return .leaf(leaves.count - 1)
        }
        self.rule = rule
        self.root = compile(rule.condition)
        self.leaves = leaves
        self.windowShapes = Set(leaves.compactMap { if case .window(_, _, let shape, _, _) = $0 { shape } else { nil } })
        self.watchesSilence = leaves.contains { if case .noData = $0 { true } else { false } }
    }

    /// Whether the rule covers `device`: its tenant owns the device (or is an ancestor of the
    /// device's tenant and the rule applies to sub-tenants) and its scope selects it.
    func covers(_ device: DeviceProfile) -> Bool {
        guard self.rule.enabled else { return false }
        if self.rule.tenantId != device.tenantId {
            guard self.rule.appliesToSubTenants, device.tenantPath.contains(self.rule.tenantId) else { return false }
        }
        let scope = self.rule.scope
        switch scope.kind {
        case .device: return scope.deviceId == device.deviceId
        case .deviceType: return scope.deviceTypeId != nil && scope.deviceTypeId == device.deviceTypeId
        case .asset: return scope.assetId.map { device.assetPath.contains($0) } ?? false
        case .tag: return scope.tag.map { device.tags.contains($0) } ?? false
        }
    }
}

/// The rules in force, rebuilt from `alerts.rules`; indexed by tenant, so a device finds the
/// rules of its tenant and of its ancestors.
struct RuleBook: Sendable {
    private(set) var byTenant: [UUID: [UUID: CompiledRule]] = [:]
    private var tenantOf: [UUID: UUID] = [:]
    /// Increases with every change, so cached per-device rule lists know they are stale.
    private(set) var generation = 0

    /// Applies one record of `alerts.rules`: a rule, or a tombstone (nil) for a deleted one.
    /// A copy older than the one held (by revision) changes nothing.
    mutating func apply(id: UUID, rule: AlertRule?) {
        if let rule {
            if let held = self.byTenant[rule.tenantId]?[id], held.rule.revision > rule.revision { return }
            if let previous = self.tenantOf[id], previous != rule.tenantId { self.byTenant[previous]?[id] = nil }
            self.byTenant[rule.tenantId, default: [:]][id] = CompiledRule(rule)
            self.tenantOf[id] = rule.tenantId
        } else if let tenant = self.tenantOf.removeValue(forKey: id) {
            self.byTenant[tenant]?[id] = nil
        }
        self.generation += 1
    }

    /// The rules that cover `device`.
    func rules(for device: DeviceProfile) -> [CompiledRule] {
        var result: [CompiledRule] = []
        for tenant in device.tenantPath {
            guard let rules = self.byTenant[tenant] else { continue }
            for rule in rules.values where rule.covers(device) { result.append(rule) }
        }
        return result
    }

    var count: Int { self.tenantOf.count }
}
