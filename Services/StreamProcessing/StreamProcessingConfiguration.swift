import Foundation
import LibPQ
import SensormineClients
import SensormineCore
import TelemetryIntake

/// StreamProcessing's settings, read once at start-up; see `StreamProcessing --help` for every key.
struct StreamProcessingConfiguration: ServiceConfiguration {
    /// Listener and shutdown settings.
    var http: HTTPSettings
    /// Log level and format.
    var logging: LoggingSettings
    /// The sensormine_timeseries database (stream state).
    var timeseriesDatabase: PostgresClient.Configuration
    /// Kafka brokers and topic names.
    var kafka: KafkaSettings
    /// The SchemaRegistry and DeviceAPI, for schemas and device profiles.
    var schemaRegistry: UpstreamService
    var deviceAPI: UpstreamService
    /// StreamProcessing's own token, presented to DeviceAPI and the SchemaRegistry.
    var serviceToken: String
    /// The callers whose identity headers are trusted (the ApiGateway's token), for the model registry.
    var callers: TrustedCallers
    /// The `stream` consumer group of `device.telemetry`.
    var consumer: ConsumerGroupSettings
    /// Windows, lateness, idle timeout, anomaly detection.
    var stream: StreamSettings
    /// Event times accepted (the same keys as Ingestion's, so both accept the same points).
    var eventTimes: EventTimeWindow
    /// How long a device's schema is cached.
    var schemaCacheLifetime: Duration
    /// How long a device profile is cached (device.events and asset.updates refresh it sooner).
    var profileCacheLifetime: Duration
    /// Longest wait for `alerts.rules` to be read before telemetry is evaluated anyway.
    var rulesWait: Duration
    /// Least time between the starts of two state saves.
    var saveInterval: Duration
    /// The ONNX Runtime library to load (nil: model inference is off).
    var onnxRuntimeLibrary: String?
    /// How often each member looks for new, replaced or deleted models.
    var modelRefresh: Duration

    init(reader: ConfigReader) throws {
        self.http = try HTTPSettings(reader: reader, defaultPort: StreamProcessingService.descriptor.defaultPort)
        self.logging = try LoggingSettings(reader: reader)
        self.timeseriesDatabase = try PostgresClient.Configuration(reader: reader, role: .timeseries)
        self.kafka = try KafkaSettings(reader: reader)
        self.schemaRegistry = try UpstreamService(reader: reader, key: "SENSORMINE_SCHEMA_REGISTRY_URL", name: "schema-registry")
        self.deviceAPI = try UpstreamService(reader: reader, key: "SENSORMINE_DEVICE_API_URL", name: "device-api")
        self.serviceToken = try GatewaySettings.token(reader: reader, caller: .streamProcessing)
        self.callers = try TrustedCallers(reader: reader)
        self.consumer = try ConsumerGroupSettings(reader: reader, service: "STREAM", defaultGroup: "stream", defaultBatch: 5000)
        self.eventTimes = try EventTimeWindow(reader: reader)
        var stream = StreamSettings()
        stream.windowShapes = try Self.windowShapes(reader.list("SENSORMINE_STREAM_WINDOWS", default: ["1m", "5m", "1h"]))
        stream.allowedLateness = try Self.micros(reader.duration("SENSORMINE_STREAM_ALLOWED_LATENESS", default: .seconds(30)))
        stream.idleTimeout = try Self.micros(reader.duration("SENSORMINE_STREAM_IDLE_TIMEOUT", default: .seconds(30)))
        stream.detector.alpha = Double(try reader.int("SENSORMINE_STREAM_ANOMALY_MEMORY", default: 40, range: 2...100_000)).reciprocal
        stream.detector.warmUp = Int64(try reader.int("SENSORMINE_STREAM_ANOMALY_WARMUP", default: 30, range: 2...1_000_000))
        stream.detector.seasonalWarmUp = Int64(try reader.int("SENSORMINE_STREAM_SEASONAL_WARMUP_DAYS", default: 3, range: 1...365))
        // Sent in base64 inside a JSON body, which the HTTP layer limits to 2 MiB.
        stream.models.maximumBytes = try reader.int("SENSORMINE_STREAM_MODEL_MAX_BYTES", default: 1 << 20, range: 1024...1_500_000)
        stream.models.maximumPerTenant = try reader.int("SENSORMINE_STREAM_MODELS_PER_TENANT", default: 20, range: 1...10_000)
        stream.models.runTimeout = try reader.duration("SENSORMINE_STREAM_MODEL_TIMEOUT", default: .milliseconds(100))
        stream.models.budgetPerMinute = try reader.duration("SENSORMINE_STREAM_MODEL_BUDGET", default: .seconds(5))
        guard stream.models.runTimeout > .zero, stream.models.runTimeout <= .seconds(60) else {
            throw ConfigurationError(key: "SENSORMINE_STREAM_MODEL_TIMEOUT", problem: "between 1ms and 60s")
        }
        self.stream = stream
        self.schemaCacheLifetime = .seconds(try reader.int("SENSORMINE_STREAM_SCHEMA_CACHE_SECONDS", default: 30, range: 1...3600))
        self.profileCacheLifetime = .seconds(try reader.int("SENSORMINE_STREAM_PROFILE_CACHE_SECONDS", default: 300, range: 1...86_400))
        self.rulesWait = try reader.duration("SENSORMINE_STREAM_RULES_WAIT", default: .seconds(30))
        self.saveInterval = try reader.duration("SENSORMINE_STREAM_SAVE_INTERVAL", default: .seconds(2))
        guard self.saveInterval <= .seconds(300) else {
            throw ConfigurationError(key: "SENSORMINE_STREAM_SAVE_INTERVAL", problem: "at most 300s (a crash repeats what was processed since the last save)")
        }
        let library = try reader.string("SENSORMINE_STREAM_ONNXRUNTIME", default: "libonnxruntime.so.1")
        self.onnxRuntimeLibrary = library == "none" ? nil : library
        self.modelRefresh = try reader.duration("SENSORMINE_STREAM_MODEL_REFRESH", default: .seconds(5))
    }

    private static func micros(_ duration: Duration) -> Micros {
        let (seconds, attoseconds) = duration.components
        return seconds.multipliedReportingOverflow(by: 1_000_000).partialValue + attoseconds / 1_000_000_000_000
    }

    /// `1m`, `5m`, `1h` (tumbling) or `10m/1m` (hopping: size/hop); whole seconds, the hop at
    /// most the size and dividing it, at most a day.
    static func windowShapes(_ items: [String]) throws -> [WindowShape] {
        let key = "SENSORMINE_STREAM_WINDOWS"
        var shapes: [WindowShape] = []
        for item in items {
            let parts = item.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard (1...2).contains(parts.count), let size = ConfigReader.parseDuration(parts[0]).map(Self.micros),
                  let hop = (parts.count == 2 ? ConfigReader.parseDuration(parts[1]) : ConfigReader.parseDuration(parts[0])).map(Self.micros) else {
                throw ConfigurationError(key: key, problem: "expected sizes such as 1m, 5m, 1h or size/hop such as 10m/1m, got '\(item.prefix(64))'")
            }
            guard size % 1_000_000 == 0, hop % 1_000_000 == 0, hop > 0, hop <= size, size % hop == 0, size <= 86_400_000_000 else {
                throw ConfigurationError(key: key, problem: "'\(item.prefix(64))': whole seconds, a hop that divides the size, at most 1d")
            }
            shapes.append(WindowShape(size: size, hop: hop))
        }
        return Array(Set(shapes)).sorted { ($0.size, $0.hop) < ($1.size, $1.hop) }
    }
}

extension Double {
    fileprivate var reciprocal: Double { 1 / self }
}
