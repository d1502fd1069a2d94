import Foundation
import Logging
import Metrics
import ServiceLifecycle

/// How long telemetry is kept.
struct RetentionPolicy: Sendable {
    /// Raw points of a tenant whose plan sets no `retentionDays`.
    var defaultDays: Int
    /// Hourly rollups (never less than the longest raw retention).
    var rollupDays: Int
    /// Time between passes.
    var interval: Duration
}

/// What one retention pass removed.
struct RetentionReport: Sendable, Equatable {
    var droppedChunks: Int
    var deletedPoints: Int
    /// Rollup chunks dropped (TimescaleDB) or rollup rows deleted (plain PostgreSQL).
    var removedRollups: Int
}

/// Applies each tenant's retention to raw telemetry and the platform's to rollups, once per
/// `interval`.
///
/// Chunks (or partitions) of the shared table hold every tenant's points for a time range, so a
/// chunk goes only when the longest-kept tenant no longer needs it; tenants with shorter
/// retention lose their older points there by bounded deletes. A dedicated tenant's own table
/// loses whole chunks at its own retention. A pass changes nothing unless every tenant's retention could
/// be read: an unreadable plan must never shorten anyone's data. Passes are idempotent, so two
/// replicas running them at once only repeat work.
struct RetentionWorker: Service {
    let store: RetentionStore
    let policy: RetentionPolicy
    /// A tenant's retention in days from its plan; nil when it sets none.
    let tenantRetention: @Sendable (UUID) async throws -> Int?
    let logger: Logger
    private let droppedChunks = Counter(label: "sensormine_retention_dropped_chunks_total")
    private let deletedPoints = Counter(label: "sensormine_retention_deleted_points_total")

    init(store: RetentionStore, policy: RetentionPolicy, tenantRetention: @escaping @Sendable (UUID) async throws -> Int?, logger: Logger) {
        self.store = store
        self.policy = policy
        self.tenantRetention = tenantRetention
        self.logger = logger
    }

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let report = try await self.apply(now: Date())
                if report != RetentionReport(droppedChunks: 0, deletedPoints: 0, removedRollups: 0) {
                    self.logger.info("retention applied", metadata: [
                        "droppedChunks": "\(report.droppedChunks)", "deletedPoints": "\(report.deletedPoints)", "removedRollups": "\(report.removedRollups)",
                    ])
                }
            } catch {
                self.logger.warning("retention pass failed; retrying next interval", metadata: ["error": "\(error)"])
            }
            _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.policy.interval) }
        }
    }

    /// One pass as of `now`.
    func apply(now: Date) async throws -> RetentionReport {
        let layout = try await self.store.layout()
        var days: [UUID: Int] = [:]
        for tenant in try await self.store.tenants() {
            days[tenant] = try await self.tenantRetention(tenant) ?? self.policy.defaultDays
        }
        let longest = days.values.max() ?? self.policy.defaultDays
        var dropped = try await self.store.dropRaw(before: Self.cutoff(now, days: longest), layout: layout)
        // A dedicated tenant's own table goes by whole chunks at exactly its retention.
        for (tenant, table) in try await self.store.dedicatedTables() {
            dropped += try await self.store.dropRaw(table: table, before: Self.cutoff(now, days: days[tenant] ?? self.policy.defaultDays), layout: layout)
        }
        var deleted = 0
        for (tenant, kept) in days where kept < longest {
            deleted += try await self.store.deleteRaw(tenant: tenant, before: Self.cutoff(now, days: kept))
        }
        let rollups = try await self.store.dropRollups(before: Self.cutoff(now, days: max(self.policy.rollupDays, longest)), layout: layout)
        self.droppedChunks.increment(by: dropped)
        self.deletedPoints.increment(by: deleted)
        return RetentionReport(droppedChunks: dropped, deletedPoints: deleted, removedRollups: rollups)
    }

    static func cutoff(_ now: Date, days: Int) -> Date {
        now.addingTimeInterval(-Double(days) * 86_400)
    }
}
