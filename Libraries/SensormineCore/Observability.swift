import Logging
import Metrics
import Prometheus

/// Logging settings shared by every service.
public struct LoggingSettings: Sendable, Equatable {
    /// Output format.
    public enum Format: String, Sendable { case json, text }
    /// Minimum level.
    public var level: Logger.Level
    /// JSON lines (production) or swift-log's plain text (local reading).
    public var format: Format

    /// Creates settings.
    public init(level: Logger.Level = .info, format: Format = .json) {
        self.level = level
        self.format = format
    }

    /// Reads `SENSORMINE_LOG_LEVEL` (trace…critical, default info) and `SENSORMINE_LOG_FORMAT` (json|text).
    /// - Throws: ``ConfigurationError``.
    public init(reader: ConfigReader) throws {
        let levelText = try reader.string("SENSORMINE_LOG_LEVEL", default: "info").lowercased()
        guard let level = Logger.Level(rawValue: levelText) else {
            throw ConfigurationError(key: "SENSORMINE_LOG_LEVEL", problem: "expected one of trace, debug, info, notice, warning, error, critical")
        }
        let formatText = try reader.string("SENSORMINE_LOG_FORMAT", default: "json").lowercased()
        guard let format = Format(rawValue: formatText) else {
            throw ConfigurationError(key: "SENSORMINE_LOG_FORMAT", problem: "expected json or text")
        }
        self.init(level: level, format: format)
    }
}

/// The process's logger and metrics registry, handed to the application builder.
public struct Observability: Sendable {
    /// The service's root logger.
    public var logger: Logger
    /// The registry GET /metrics renders.
    public let registry: PrometheusCollectorRegistry
    /// The routes the application serves and those its OpenAPI document describes.
    public let routes = RouteInventory()

    /// Creates an observability bundle without touching global state (tests).
    public init(logger: Logger, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.logger = logger
        self.registry = registry
    }

    /// Bootstraps swift-log and swift-metrics for the process. Call once, from `main` only:
    /// both libraries trap on a second bootstrap.
    public static func bootstrap(service: String, logging: LoggingSettings) -> Observability {
        switch logging.format {
        case .json:
            LoggingSystem.bootstrap { label in JSONLogHandler(label: label, service: service, level: logging.level) }
        case .text:
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardOutput(label: label)
                handler.logLevel = logging.level
                return handler
            }
        }
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10),
        ]
        MetricsSystem.bootstrap(factory)
        var logger = Logger(label: service)
        logger.logLevel = logging.level
        return Observability(logger: logger, registry: registry)
    }
}
