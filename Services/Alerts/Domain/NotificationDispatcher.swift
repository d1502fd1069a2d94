import ClientRuntime
import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers
import ServiceLifecycle

/// Works the notification queue: carries out due escalation steps, then takes due notices,
/// groups them (one message per channel, group and transition), sends them and records each
/// attempt. A failed delivery comes due again after an exponential backoff with jitter, until
/// the notice is older than the maximum age and is recorded as failed. Every replica runs one;
/// `SKIP LOCKED` and claim leases divide the work.
struct NotificationDispatcher: Service {
    let queue: NotificationQueue
    let senders: NotificationSenders
    let settings: Settings
    let nudge: DispatchNudge
    let logger: Logger
    private let delivered = Counter(label: "sensormine_alerts_notifications_delivered_total")
    private let failedAttempts = Counter(label: "sensormine_alerts_notification_attempts_failed_total")
    private let givenUp = Counter(label: "sensormine_alerts_notifications_failed_total")
    private let silenced = Counter(label: "sensormine_alerts_notifications_silenced_total")
    /// The rest of `sensormine_alerts_stage_seconds`: a notice's wait from when it came due
    /// to its claim (`queue`), a message's sending (`deliver`) and the attempts' recording (`record`).
    private let queueStage = Metrics.Timer(label: "sensormine_alerts_stage_seconds", dimensions: [("stage", "queue")], preferredDisplayUnit: .seconds)
    private let deliverStage = Metrics.Timer(label: "sensormine_alerts_stage_seconds", dimensions: [("stage", "deliver")], preferredDisplayUnit: .seconds)
    private let recordStage = Metrics.Timer(label: "sensormine_alerts_stage_seconds", dimensions: [("stage", "record")], preferredDisplayUnit: .seconds)

    /// How the queue is worked.
    struct Settings: Sendable {
        /// How often the queue is looked at when it was empty.
        var interval: Duration = .milliseconds(500)
        /// Retry backoff of a failed delivery.
        var retry = Backoff(base: .seconds(2), maximum: .seconds(300))
        /// A notice not delivered within this time of its creation is given up.
        var maximumAge: Duration = .seconds(3600)
        /// How long a claimed notice is held by this dispatcher.
        var lease: Duration = .seconds(60)
        /// Messages sent at once.
        var concurrency = 16
    }

    init(queue: NotificationQueue, senders: NotificationSenders, settings: Settings, nudge: DispatchNudge, logger: Logger) {
        self.queue = queue
        self.senders = senders
        self.settings = settings
        self.nudge = nudge
        self.logger = logger
    }

    func run() async throws {
        let backoff = Backoff(base: .milliseconds(500), maximum: .seconds(10))
        var failures = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let escalated = try await self.queue.escalateDue()
                let sent = try await self.dispatchDue()
                failures = 0
                if escalated == 0 && sent == 0 {
                    _ = try? await cancelWhenGracefulShutdown { try await self.nudge.sleep(upTo: self.settings.interval) }
                }
            } catch is CancellationError {
                return
            } catch {
                failures += 1
                if failures % 10 == 1 { self.logger.warning("notification queue not worked; retrying", metadata: ["error": "\(error)"]) }
                let pause = backoff.delay(attempt: failures)
                _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) }
            }
        }
    }

    /// Sends what is due once; returns how many notices were taken.
    @discardableResult
    func dispatchDue() async throws -> Int {
        let claimed = try await self.queue.claimDue(limit: 200, lease: self.settings.lease)
        guard !claimed.isEmpty else { return 0 }
        let now = Date()
        for item in claimed {
            // From when it came due: a group wait or a retry's backoff is policy, not queueing.
            let waited = now.timeIntervalSince(max(item.createdAt, item.dueAt))
            self.queueStage.recordNanoseconds(Int64(min(max(0, waited), 86_400) * 1_000_000_000))
        }
        var outcomes: [(id: Int64, result: NotificationQueue.Result)] = []
        var messages: [NotificationMessage] = []
        var byGroup: [String: Int] = [:]
        for item in claimed {
            if let silence = item.silencedBy {
                outcomes.append((item.id, .silenced(by: silence)))
                self.silenced.increment()
                continue
            }
            let key = "\(item.channel.id)|\(item.groupKey)|\(item.kind)"
            if let index = byGroup[key] {
                messages[index].items.append(item)
            } else {
                byGroup[key] = messages.count
                messages.append(NotificationMessage(kind: item.kind, channel: item.channel, items: [item]))
            }
        }
        let settings = self.settings
        try await withThrowingTaskGroup(of: [(id: Int64, result: NotificationQueue.Result)].self) { group in
            var running = 0
            for message in messages {
                if running >= settings.concurrency, let done = try await group.next() {
                    outcomes += done
                    running -= 1
                }
                running += 1
                group.addTask { await self.deliver(message) }
            }
            while let done = try await group.next() { outcomes += done }
        }
        let recording = ContinuousClock.now
        try await self.queue.record(outcomes)
        self.recordStage.recordInterval(since: recording)
        return claimed.count
    }

    private func deliver(_ message: NotificationMessage) async -> [(id: Int64, result: NotificationQueue.Result)] {
        let started = ContinuousClock.now
        let outcome = await self.senders.send(message)
        let elapsed = ContinuousClock.now - started
        self.deliverStage.recordInterval(since: started)
        let milliseconds = Int(clamping: elapsed.milliseconds)
        if outcome.delivered {
            self.delivered.increment(by: Int64(message.items.count))
            return message.items.map { ($0.id, .delivered(detail: outcome.detail, milliseconds: milliseconds)) }
        }
        self.failedAttempts.increment()
        self.logger.info("notification not delivered", metadata: ["channel": "\(message.channel.id)", "kind": "\(message.channel.kind.rawValue)",
                                                               "detail": "\(outcome.detail.prefix(200))"])
        let now = Date()
        return message.items.map { item in
            let retryAt = now.addingTimeInterval(Double(self.settings.retry.delay(attempt: item.attempts).milliseconds) / 1000)
            if retryAt.timeIntervalSince(item.createdAt) > Double(self.settings.maximumAge.milliseconds) / 1000 {
                self.givenUp.increment()
                return (item.id, .failed(detail: outcome.detail, milliseconds: milliseconds, retryAt: nil))
            }
            return (item.id, .failed(detail: outcome.detail, milliseconds: milliseconds, retryAt: retryAt))
        }
    }
}

/// Wakes the dispatcher as soon as the event consumer has opened or resolved alerts, instead of
/// leaving their first notices to its next poll (the poll still finds what other replicas queued).
final class DispatchNudge: Sendable {
    private struct State {
        /// A nudge came while nobody slept: the next sleep returns at once.
        var pending = false
        /// A sleep is under way (its waiter may not have registered yet).
        var sleeping = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = NIOLockedValueBox(State())

    /// There is work: a sleeping dispatcher wakes now, a busy one looks again before it sleeps.
    func nudge() {
        let waiter = self.state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.pending = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    /// Sleeps up to `interval`, less when nudged.
    /// - Throws: `CancellationError` when the task is cancelled.
    func sleep(upTo interval: Duration) async throws {
        let nudged = self.state.withLockedValue { state in
            defer { state.pending = false }
            state.sleeping = !state.pending
            return state.pending
        }
        if nudged { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let now = self.state.withLockedValue { state in
                        // The sleep already ended: a nudge since then stays pending for the next one.
                        guard state.sleeping else { return true }
                        if state.pending {
                            state.pending = false
                            return true
                        }
                        state.waiter = continuation
                        return false
                    }
                    if now { continuation.resume() }
                }
            }
            group.addTask { try? await Task.sleep(for: interval) }
            await group.next()
            // Whichever finished first, the other ends now: the waiter is resumed (or, not yet
            // registered, finds the sleep over), the timer is cancelled.
            let waiter = self.state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
                state.sleeping = false
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
            group.cancelAll()
        }
        try Task.checkCancellation()
    }
}
