import ClientRuntime
import Logging
import Metrics
import ServiceLifecycle

/// Folds the partial hourly aggregates that stored batches append into `telemetry_hourly`, once
/// per `interval` (ADR 32). Readers see pending and folded rows together, so the interval bounds
/// how many partial rows accumulate, not how fresh a rollup reads. Replicas fold in turn under an
/// advisory lock; one that finds it taken leaves the work to the holder.
struct RollupFolder: Service {
    let store: TelemetryStore
    let interval: Duration
    let logger: Logger
    private let folded = Counter(label: "sensormine_rollup_folded_rows_total")

    init(store: TelemetryStore, interval: Duration, logger: Logger) {
        self.store = store
        self.interval = interval
        self.logger = logger
    }

    func run() async throws {
        let backoff = Backoff(base: .milliseconds(500), maximum: .seconds(30))
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            try await backoff.retryingUntilSuccess({ try await self.foldOnce() }, failed: { attempt, error in
                if attempt % 10 == 0 { self.logger.warning("rollups not folded; retrying", metadata: ["error": "\(error)"]) }
            })
            _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
        }
    }

    /// One fold. - Throws: when the database is unavailable; the partials then stay pending.
    func foldOnce() async throws {
        if let rows = try await self.store.foldPendingRollups() { self.folded.increment(by: rows) }
    }
}
