import ServiceLifecycle

/// A service that does nothing until graceful shutdown, then runs `close`: how a pooled client
/// (PostgreSQL, Redis, HTTP) joins the service group so it closes after the server stops.
public struct ClosingService: Service, CustomStringConvertible {
    /// Name shown in lifecycle logs.
    public let description: String
    private let close: @Sendable () async -> Void

    /// Creates a service that runs `close` on shutdown.
    public init(_ name: String, close: @escaping @Sendable () async -> Void) {
        self.description = name
        self.close = close
    }

    public func run() async throws {
        try? await gracefulShutdown()
        await self.close()
    }
}
