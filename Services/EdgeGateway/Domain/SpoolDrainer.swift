import ClientRuntime
import Logging
import ServiceLifecycle

/// Replays the spool to Kafka, oldest segment first, whenever it holds anything.
struct SpoolDrainer: Service {
    let spool: Spool
    let forwarder: TelemetryForwarder
    let logger: Logger

    func run() async throws {
        let backoff = Backoff(base: .milliseconds(200), maximum: .seconds(5))
        var attempt = 0
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            let forwarder = self.forwarder
            do {
                if try await self.spool.drainOldest(forward: { try await forwarder.forward($0) }) {
                    attempt = 0
                    self.logger.info("spool segment replayed to Kafka")
                    continue
                }
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(200)) }
            } catch {
                if attempt % 10 == 0 { self.logger.warning("spool replay waits for Kafka", metadata: ["error": "\(error)"]) }
                let delay = backoff.delay(attempt: attempt)
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
                attempt += 1
            }
        }
    }
}
