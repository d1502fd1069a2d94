import Hummingbird
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle
import UnixSignals

/// HTTP listener settings shared by every service.
public struct HTTPSettings: Sendable, Equatable {
    /// Address to bind.
    public var host: String
    /// Port to bind (0 picks a free one; tests use that).
    public var port: Int
    /// How long in-flight work may take to drain after SIGTERM before it is cancelled.
    public var shutdownTimeout: Duration

    /// Creates settings.
    public init(host: String = "127.0.0.1", port: Int, shutdownTimeout: Duration = .seconds(20)) {
        self.host = host
        self.port = port
        self.shutdownTimeout = shutdownTimeout
    }

    /// Reads `SENSORMINE_HTTP_HOST` (default 0.0.0.0), `SENSORMINE_HTTP_PORT` (default: the
    /// service's port) and `SENSORMINE_SHUTDOWN_TIMEOUT` (default 20s).
    /// - Throws: ``ConfigurationError``.
    public init(reader: ConfigReader, defaultPort: Int) throws {
        self.init(
            host: try reader.string("SENSORMINE_HTTP_HOST", default: "0.0.0.0"),
            port: try reader.int("SENSORMINE_HTTP_PORT", default: defaultPort, range: 0...65535),
            shutdownTimeout: try reader.duration("SENSORMINE_SHUTDOWN_TIMEOUT", default: .seconds(20))
        )
    }
}

/// What identifies a service: its name, purpose and default port (ARCHITECTURE.md's table).
public struct ServiceDescriptor: Sendable {
    /// Executable name, e.g. "DeviceAPI".
    public let name: String
    /// One-line purpose, shown by --help and in the OpenAPI document.
    public let summary: String
    /// Default HTTP port.
    public let defaultPort: Int

    /// Creates a descriptor.
    public init(name: String, summary: String, defaultPort: Int) {
        self.name = name
        self.summary = summary
        self.defaultPort = defaultPort
    }
}

/// The application type every service builds.
public typealias ServiceApplication = Application<RouterResponder<SensormineRequestContext>>

/// Builds a service's HTTP application: the standard middleware (metrics, request identity,
/// problem+json), the standard routes (/health, /health/ready, /metrics, /openapi.yaml), the
/// service's own routes, and its long-running clients as services that start before the server
/// and stop after it.
public struct ServiceApplicationBuilder {
    /// The service being built.
    public let descriptor: ServiceDescriptor
    /// Listener settings.
    public var http: HTTPSettings
    /// Logger and metrics registry.
    public var observability: Observability
    /// Dependencies checked by /health/ready.
    public var readinessChecks: [ReadinessCheck] = []
    /// Long-running clients and workers, in dependency order.
    public var services: [any Service] = []
    /// One-off start-up work (migrations, topic creation), run before the server accepts traffic.
    public var beforeServerStarts: [@Sendable () async throws -> Void] = []
    /// The service's own OpenAPI paths (YAML, indented 2); the standard paths are merged in.
    public var openAPIPaths: String = ""
    /// The service's own OpenAPI schemas (YAML, indented 4 under `components.schemas`).
    public var openAPISchemas: String = ""
    /// Handlers put in each connection's pipeline between HTTP decoding and the router: they
    /// see every request first and may answer it themselves (the gateway's event-loop path).
    public var channelHandlers: @Sendable () -> [any RemovableChannelHandler] = { [] }

    /// Creates a builder.
    public init(descriptor: ServiceDescriptor, http: HTTPSettings, observability: Observability) {
        self.descriptor = descriptor
        self.http = http
        self.observability = observability
    }

    /// Builds the application; `routes` adds the service's own endpoints.
    public func build(routes: (Router<SensormineRequestContext>) -> Void = { _ in }) -> ServiceApplication {
        let router = Router(context: SensormineRequestContext.self)
        router.add(middleware: RequestMetricsMiddleware())
        router.add(middleware: RequestIdentityMiddleware())
        router.add(middleware: ProblemMiddleware())
        HealthController(checks: self.readinessChecks).addRoutes(to: router)
        let registry = self.observability.registry
        router.get("/metrics") { _, _ -> Response in
            var buffer: [UInt8] = []
            buffer.reserveCapacity(16 * 1024)
            registry.emit(into: &buffer)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: buffer)))
        }
        let document = OpenAPIDocument.render(descriptor: self.descriptor, servicePaths: self.openAPIPaths, serviceSchemas: self.openAPISchemas)
        router.get("/openapi.yaml") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "application/yaml"], body: ResponseBody(byteBuffer: ByteBuffer(string: document)))
        }
        routes(router)
        let served = Set(router.routes.map { "\($0.method.rawValue) \($0.path.description)" })
        self.observability.routes.record(served: served, documented: OpenAPIDocument.operations(in: document))
        let undocumented = self.observability.routes.undocumented.filter { !$0.contains("*") }
        if !undocumented.isEmpty {
            self.observability.logger.warning("routes missing from /openapi.yaml", metadata: ["routes": "\(undocumented.sorted())"])
        }
        let channelHandlers = self.channelHandlers
        var app = Application(
            router: router,
            server: .http1(configuration: .init(additionalChannelHandlers: channelHandlers())),
            configuration: ApplicationConfiguration(address: .hostname(self.http.host, port: self.http.port), serverName: self.descriptor.name),
            services: self.services,
            logger: self.observability.logger
        )
        for work in self.beforeServerStarts { app.beforeServerStarts(perform: work) }
        return app
    }
}

/// Runs an application until SIGTERM/SIGINT, then drains for at most `shutdownTimeout` before
/// cancelling what is left, so the process always exits within a bounded time.
public enum ServiceRunner {
    /// Runs `app` (and its services) under a service group with graceful shutdown.
    /// - Throws: what a service throws.
    public static func run(_ app: some ApplicationProtocol & Service, http: HTTPSettings, logger: Logger) async throws {
        var configuration = ServiceGroupConfiguration(
            services: [.init(service: app)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        configuration.maximumGracefulShutdownDuration = http.shutdownTimeout
        configuration.maximumCancellationDuration = .seconds(5)
        try await ServiceGroup(configuration: configuration).run()
        logger.info("stopped")
    }
}
