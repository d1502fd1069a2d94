import ClientRuntime
import Foundation
import LibPQ
import Logging
import Metrics
import RdKafka
import SensormineContracts
import ServiceLifecycle

/// Consumes `alerts.triggered` as the `alerts` consumer group: checks each event, applies a
/// batch in one transaction, and only then commits the batch's offsets. A crash replays the
/// batch, which the per-key sequence absorbs (an event already applied is not newer than the
/// key's last sequence). An event that cannot be read or fails its checks is logged and counted,
/// never retried; a database that is down is retried until it answers.
struct AlertEventConsumer: Service {
    let consumer: KafkaConsumer
    let repository: AlertRepository
    /// Told when alerts opened or resolved, so their notices go out at once.
    let nudge: DispatchNudge?
    /// How often held resolves of flapping alerts are looked at.
    let flappingSweepInterval: Duration
    let logger: Logger
    private let applied = Counter(label: "sensormine_alerts_events_applied_total")
    private let rejected = Counter(label: "sensormine_alerts_events_rejected_total")
    private let stale = Counter(label: "sensormine_alerts_events_stale_total")
    private let opened = Counter(label: "sensormine_alerts_opened_total")
    private let resolved = Counter(label: "sensormine_alerts_resolved_total")
    /// Where an alert event's time goes until its notices are queued: produced → polled
    /// (`kafka`) and a batch applied, retries included (`apply`); the dispatcher records the rest.
    private let kafkaStage = Metrics.Timer(label: "sensormine_alerts_stage_seconds", dimensions: [("stage", "kafka")], preferredDisplayUnit: .seconds)
    private let applyStage = Metrics.Timer(label: "sensormine_alerts_stage_seconds", dimensions: [("stage", "apply")], preferredDisplayUnit: .seconds)

    init(consumer: KafkaConsumer, repository: AlertRepository, nudge: DispatchNudge? = nil, flappingSweepInterval: Duration = .seconds(5), logger: Logger) {
        self.consumer = consumer
        self.repository = repository
        self.nudge = nudge
        self.flappingSweepInterval = flappingSweepInterval
        self.logger = logger
    }

    private static let backoff = Backoff(base: .milliseconds(200), maximum: .seconds(10))

    func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await self.sweepFlapping() }
            for try await batch in self.consumer.batches.cancelOnGracefulShutdown() {
                self.kafkaStage.recordWaitSinceProduced(batch)
                let applying = ContinuousClock.now
                let events = self.readable(batch)
                let outcome = try await Self.backoff.retryingUntilSuccess({ try await self.apply(events[...]) }, failed: { attempt, error in
                    if attempt % 10 == 0 { self.logger.error("alert events not applied; retrying", metadata: ["error": "\(error)", "events": "\(events.count)"]) }
                })
                self.applyStage.recordInterval(since: applying)
                self.applied.increment(by: Int64(events.count - outcome.stale - outcome.unknown))
                self.stale.increment(by: Int64(outcome.stale))
                self.rejected.increment(by: Int64(outcome.unknown))
                self.opened.increment(by: Int64(outcome.opened))
                self.resolved.increment(by: Int64(outcome.resolved))
                if outcome.opened + outcome.resolved > 0 { self.nudge?.nudge() }
                try await self.consumer.commitRetrying(batch, backoff: Self.backoff)
            }
            group.cancelAll()
        }
        await self.consumer.close()
    }

    /// Applies `events`; where the database refuses data among them, halves the batch until the
    /// refused event stands alone and drops it with the database's reason.
    private func apply(_ events: ArraySlice<AlertEvent>) async throws -> AlertRepository.Outcome {
        do {
            return try await self.repository.apply(Array(events))
        } catch where SQLState.isDataRefusal(error) {
            if events.count == 1, let event = events.first {
                self.logger.warning("alert event refused by the database; dropped", metadata: ["event": "\(event.eventId)", "error": "\(error)"])
                return AlertRepository.Outcome(unknown: 1)
            }
            let middle = events.startIndex + events.count / 2
            let first = try await self.apply(events[..<middle])
            let second = try await self.apply(events[middle...])
            return AlertRepository.Outcome(opened: first.opened + second.opened, resolved: first.resolved + second.resolved, joined: first.joined + second.joined,
                                           stale: first.stale + second.stale, unknown: first.unknown + second.unknown)
        }
    }

    /// The batch's events that decode and pass their checks; the rest are logged and counted.
    private func readable(_ batch: [KafkaMessage]) -> [AlertEvent] {
        let decoder = ContractCoding.decoder()
        var events: [AlertEvent] = []
        events.reserveCapacity(batch.count)
        for message in batch {
            let problem: String
            do {
                let event = try decoder.decode(AlertEvent.self, from: Data(message.value))
                guard let found = AlertEventCheck.problem(event) else {
                    events.append(event)
                    continue
                }
                problem = found
            } catch {
                problem = "not an alert event: \(error)"
            }
            self.rejected.increment()
            self.logger.warning("alert event rejected", metadata: ["reason": "\(problem.prefix(300))", "offset": "\(message.partition)/\(message.offset)"])
        }
        return events
    }

    private func sweepFlapping() async {
        while !Task.isCancelled {
            do {
                let released = try await self.repository.releaseSettledFlapping()
                if released > 0 { self.resolved.increment(by: Int64(released)) }
            } catch {
                if !(error is CancellationError) { self.logger.debug("flapping sweep failed", metadata: ["error": "\(error)"]) }
            }
            try? await Task.sleep(for: self.flappingSweepInterval)
        }
    }
}
