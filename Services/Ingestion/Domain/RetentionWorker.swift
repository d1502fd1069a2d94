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
    /// The longest retention the shared table serves: a tenant kept longer has a table of its
    /// own, so that its retention never holds the shared table's chunks back.
    var sharedMaximumDays: Int
    /// Time between passes.
    var interval: Duration
}

/// What one retention pass removed.
struct RetentionReport: Sendable, Equatable {
    var droppedChunks: Int
    /// Points copied out of the shared table into their tenant's own table before a drop.
    var movedPoints: Int = 0
    var deletedPoints: Int
    /// Rollup chunks dropped (TimescaleDB) or rollup rows deleted (plain PostgreSQL).
    var removedRollups: Int
}

/// Applies each tenant's retention to raw telemetry and the platform's to rollups, once per
/// `interval`.
///
/// Chunks (or partitions) of the shared table hold every tenant's points for a time range, so a
/// chunk goes only when the longest-kept tenant of that table no longer needs it; tenants with
/// shorter retention lose their older points there by bounded deletes. A tenant kept longer than
/// `sharedMaximumDays`, or with dedicated storage, has a table of its own that loses whole chunks
/// at its own retention; before the shared table drops chunks such a tenant still needs, its
/// points in them are copied to its own table. So one tenant's long retention never turns the
/// others' retention into deletes. A pass changes nothing unless every tenant's retention could
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
                        "droppedChunks": "\(report.droppedChunks)", "movedPoints": "\(report.movedPoints)", "deletedPoints": "\(report.deletedPoints)",
                        "removedRollups": "\(report.removedRollups)",
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
        let ownTables = try await self.store.dedicatedTables()
        // The shared table serves the tenants that write to it: no own table, retention within
        // the shared maximum (the writer sends the others' points to their own tables).
        let sharedDays = days.filter { ownTables[$0.key] == nil && $0.value <= self.policy.sharedMaximumDays }.values.max()
            ?? min(self.policy.defaultDays, self.policy.sharedMaximumDays)
        let sharedCutoff = Self.cutoff(now, days: sharedDays)
        var moved = 0
        for (tenant, kept) in days where kept > sharedDays {
            moved += try await self.store.evacuate(tenant: tenant, from: Self.cutoff(now, days: kept), before: sharedCutoff, layout: layout)
        }
        var dropped = try await self.store.dropRaw(before: sharedCutoff, layout: layout)
        // A tenant's own table goes by whole chunks at exactly its retention.
        for (tenant, table) in try await self.store.dedicatedTables() {
            dropped += try await self.store.dropRaw(table: table, before: Self.cutoff(now, days: days[tenant] ?? self.policy.defaultDays), layout: layout)
        }
        var deleted = 0
        for (tenant, kept) in days where kept < sharedDays {
            deleted += try await self.store.deleteRaw(tenant: tenant, before: Self.cutoff(now, days: kept))
        }
        let rollups = try await self.store.dropRollups(before: Self.cutoff(now, days: max(self.policy.rollupDays, longest)), layout: layout)
        self.droppedChunks.increment(by: dropped)
        self.deletedPoints.increment(by: deleted)
        return RetentionReport(droppedChunks: dropped, movedPoints: moved, deletedPoints: deleted, removedRollups: rollups)
    }

    static func cutoff(_ now: Date, days: Int) -> Date {
        now.addingTimeInterval(-Double(days) * 86_400)
    }
}
