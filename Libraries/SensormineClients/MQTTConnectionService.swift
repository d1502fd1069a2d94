import ClientRuntime
import Logging
import Mosquitto
import ServiceLifecycle

/// Keeps an ``MQTTClient`` connected for the life of the service: connects with backoff until
/// the broker answers (the service starts, unready, while the broker is down), lets libmosquitto
/// reconnect afterwards, and disconnects on shutdown.
public struct MQTTConnectionService: Service, CustomStringConvertible {
    /// The client kept connected.
    public let client: MQTTClient
    private let backoff: Backoff
    private let logger: Logger
    public var description: String { "MQTTConnectionService" }

    /// Creates the service.
    public init(client: MQTTClient, backoff: Backoff = Backoff(base: .milliseconds(200), maximum: .seconds(5)), logger: Logger) {
        self.client = client
        self.backoff = backoff
        self.logger = logger
    }

    public func run() async throws {
        var attempt = 0
        while !Task.isCancelledOrShuttingDown {
            do {
                try await self.client.connect()
                self.logger.info("mqtt connected")
                break
            } catch {
                self.logger.warning("mqtt connect failed; retrying", metadata: ["error": "\(error)"])
                let delay = self.backoff.delay(attempt: attempt)
                _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
                attempt += 1
            }
        }
        try? await gracefulShutdown()
        self.client.disconnect()
    }
}

extension Task where Success == Never, Failure == Never {
    static var isCancelledOrShuttingDown: Bool { Task.isCancelled || Task.isShuttingDownGracefully }
}
