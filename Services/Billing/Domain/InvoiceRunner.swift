import Foundation
import Logging
import Metrics
import ServiceLifecycle

/// At each period's end (plus a delay for usage still on its way), computes and finalises the
/// previous month's invoice of every organisation with a paying subscription that has none past
/// draft. Safe on every replica: an invoice is one row per organisation and month, and a
/// finalised one is never computed again.
struct InvoiceRunner: Service {
    let invoices: InvoiceStore
    let interval: Duration
    /// How long after a period's end its usage is taken as complete.
    let delay: Duration
    let logger: Logger
    private let issued = Counter(label: "sensormine_billing_invoices_finalized_total")

    init(invoices: InvoiceStore, interval: Duration, delay: Duration, logger: Logger) {
        self.invoices = invoices
        self.interval = interval
        self.delay = delay
        self.logger = logger
    }

    func run() async throws {
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            do {
                try await self.runOnce()
            } catch {
                self.logger.warning("invoice run failed; retrying next interval", metadata: ["error": "\(error)"])
            }
            _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
        }
    }

    /// Invoices the month before the current one, once its usage is taken as complete.
    func runOnce(now: Date = Date()) async throws {
        let current = BillingPeriod.month(containing: now)
        let previous = BillingPeriod.month(containing: current.start.addingTimeInterval(-1))
        guard now.timeIntervalSince(previous.end) >= Double(self.delay.components.seconds) else { return }
        for organisation in try await self.invoices.due(periodStart: previous.start) {
            do {
                let draft = try await self.invoices.computeDraft(organisation, periodStart: previous.start, now: now)
                _ = try await self.invoices.transition(draft.id, to: .finalized, now: now)
                self.issued.increment()
                self.logger.info("invoice finalised", metadata: ["invoice": "\(draft.number)", "total": "\(draft.totalMinor) \(draft.currency)"])
            } catch {
                self.logger.warning("invoice not issued", metadata: ["organisation": "\(organisation)", "error": "\(error)"])
            }
        }
    }
}
