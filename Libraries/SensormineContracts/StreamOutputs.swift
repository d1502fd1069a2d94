import Foundation

/// A closed window of one metric of one device, as StreamProcessing publishes it on
/// `telemetry.windows` (Kafka key: the device id). A window is published once it closes; a
/// redelivery after a crash repeats it with the same ``id``.
public struct TelemetryWindow: Codable, Sendable, Equatable {
    /// `tenant/device/metric/size/hop/start-epoch-seconds`: the same window always has the same id.
    public var id: String
    public var tenantId: UUID
    public var deviceId: UUID
    /// The device's type, tags, asset path (root first) and site, when DeviceAPI knew them.
    public var deviceTypeId: UUID?
    public var tags: [String]
    public var assetPath: [UUID]
    public var siteId: UUID?
    public var metric: String
    /// Window length and the step between window starts (equal for a tumbling window).
    public var sizeSeconds: Int
    public var hopSeconds: Int
    /// The window covers event times in [start, end).
    public var start: Date
    public var end: Date
    public var count: Int
    public var sum: Double
    public var min: Double
    public var max: Double
    public var avg: Double
    /// The values with the earliest and the latest event time in the window.
    public var first: Double
    public var last: Double
    /// The highest anomaly score (0 to 1) of the window's points, by detector (`ewma`,
    /// `seasonal`); a detector still warming up is absent.
    public var anomalyScores: [String: Double]

    /// Creates a window.
    public init(id: String, tenantId: UUID, deviceId: UUID, deviceTypeId: UUID?, tags: [String], assetPath: [UUID], siteId: UUID?, metric: String,
                sizeSeconds: Int, hopSeconds: Int, start: Date, end: Date, count: Int, sum: Double, min: Double, max: Double, avg: Double,
                first: Double, last: Double, anomalyScores: [String: Double]) {
        self.id = id
        self.tenantId = tenantId
        self.deviceId = deviceId
        self.deviceTypeId = deviceTypeId
        self.tags = tags
        self.assetPath = assetPath
        self.siteId = siteId
        self.metric = metric
        self.sizeSeconds = sizeSeconds
        self.hopSeconds = hopSeconds
        self.start = start
        self.end = end
        self.count = count
        self.sum = sum
        self.min = min
        self.max = max
        self.avg = avg
        self.first = first
        self.last = last
        self.anomalyScores = anomalyScores
    }
}

/// A point that arrived after its windows had closed (later than the allowed lateness behind
/// its partition's watermark), published on `telemetry.late` (Kafka key: the device id) instead
/// of being dropped. It is stored by Ingestion like any other point; only the windows miss it.
public struct LateTelemetryPoint: Codable, Sendable, Equatable {
    public var tenantId: UUID
    public var deviceId: UUID
    public var messageId: String
    public var metric: String
    public var value: Double
    /// The point's event time, in microseconds since 1970 (exact; dates in contracts are whole seconds).
    public var timeMicros: Int64
    /// The partition's watermark when it arrived, in microseconds since 1970.
    public var watermarkMicros: Int64
    /// The allowed lateness it missed, in seconds.
    public var allowedLatenessSeconds: Int

    /// Creates a late point.
    public init(tenantId: UUID, deviceId: UUID, messageId: String, metric: String, value: Double, timeMicros: Int64, watermarkMicros: Int64,
                allowedLatenessSeconds: Int) {
        self.tenantId = tenantId
        self.deviceId = deviceId
        self.messageId = messageId
        self.metric = metric
        self.value = value
        self.timeMicros = timeMicros
        self.watermarkMicros = watermarkMicros
        self.allowedLatenessSeconds = allowedLatenessSeconds
    }
}

/// A model's result on one closed window of a device, published on `telemetry.inferences`
/// (Kafka key: the device id). Rules see each output as the metric named in `metrics`.
public struct TelemetryInference: Codable, Sendable, Equatable {
    /// Deterministic: tenant/device/model/revision/size/hop/start (a repeat after a crash has the same id).
    public var id: String
    public var tenantId: UUID
    public var deviceId: UUID
    public var deviceTypeId: UUID?
    public var modelId: UUID
    public var modelName: String
    /// The model's revision (it goes up when the model is replaced).
    public var modelRevision: Int
    public var sizeSeconds: Int
    public var hopSeconds: Int
    public var start: Date
    public var end: Date
    /// The features the model was given, in its order.
    public var features: [Double]
    /// The model's first output for this window.
    public var outputs: [Double]
    /// The metric each output is known by in rules (`ml.<model>`, or `ml.<model>.<index>`).
    public var metrics: [String]

    /// Creates an inference record.
    public init(id: String, tenantId: UUID, deviceId: UUID, deviceTypeId: UUID?, modelId: UUID, modelName: String, modelRevision: Int,
                sizeSeconds: Int, hopSeconds: Int, start: Date, end: Date, features: [Double], outputs: [Double], metrics: [String]) {
        self.id = id
        self.tenantId = tenantId
        self.deviceId = deviceId
        self.deviceTypeId = deviceTypeId
        self.modelId = modelId
        self.modelName = modelName
        self.modelRevision = modelRevision
        self.sizeSeconds = sizeSeconds
        self.hopSeconds = hopSeconds
        self.start = start
        self.end = end
        self.features = features
        self.outputs = outputs
        self.metrics = metrics
    }
}

/// What the platform meters, with the unit its quantities are in (the seed's eight resources;
/// those not produced yet are metered as zero through the same path).
public enum MeteredResource: String, Codable, Sendable, CaseIterable {
    case activeDevices = "active-devices"
    case dataIngested = "data-ingested"
    case apiCalls = "api-calls"
    case timeseriesStorage = "timeseries-storage"
    case objectStorage = "object-storage"
    case videoProcessing = "video-processing"
    case mlInference = "ml-inference"
    case dataEgress = "data-egress"

    /// The unit of a record's quantity: base units, which Billing converts to its prices' units.
    public var unit: String {
        switch self {
        case .activeDevices: "devices"
        case .dataIngested, .dataEgress: "bytes"
        case .apiCalls, .mlInference: "calls"
        case .timeseriesStorage, .objectStorage: "byte-months"
        case .videoProcessing: "seconds"
        }
    }
}

/// One usage record on `metering.events` (Kafka key: the tenant id). Usage is idempotent by
/// ``eventId``: a consumer counts a redelivered record once.
public struct UsageRecord: Codable, Sendable, Equatable {
    /// Deterministic where the producer can make it so (e.g. tenant, minute and resource), so a
    /// record produced again after a crash carries the same id.
    public var eventId: String
    public var tenantId: UUID
    /// The start of the period the quantity covers.
    public var time: Date
    public var resource: MeteredResource
    public var quantity: Double
    /// ``MeteredResource/unit`` of `resource`.
    public var unit: String
    /// Detail a consumer may show (e.g. `points` for data ingested, `model` for an inference).
    public var metadata: [String: String]
    /// The service that measured it.
    public var producer: String

    /// Creates a record in `resource`'s unit.
    public init(eventId: String, tenantId: UUID, time: Date, resource: MeteredResource, quantity: Double, metadata: [String: String] = [:], producer: String) {
        self.eventId = eventId
        self.tenantId = tenantId
        self.time = time
        self.resource = resource
        self.quantity = quantity
        self.unit = resource.unit
        self.metadata = metadata
        self.producer = producer
    }
}

extension UsageRecord {
    /// Metadata keys of a daily snapshot's records (Ingestion's active devices and storage per
    /// tenant and day), which Billing also keeps as levels in `tenant_usage_snapshots`.
    public enum SnapshotKey {
        /// Marks a snapshot's record; its value is ``daily``.
        public static let kind = "snapshot"
        public static let daily = "daily"
        /// Devices that sent telemetry in the month up to the record's day (its quantity is
        /// those first seen that day, so a month's records add up to this).
        public static let activeDevicesInMonth = "activeDevicesInMonth"
        /// The tenant's time-series storage on the record's day, in bytes (its quantity is the
        /// day's share of a month, in byte-months).
        public static let storageBytes = "storageBytes"
        /// `true` when the raw points were measured on the tenant's own table, `false` when
        /// estimated from the shared table's bytes per point.
        public static let rawStorageExact = "rawStorageExact"
    }

    /// False for a snapshot's record whose levels are not non-negative integers (or a flag not
    /// `true`/`false`), which a consumer must not store; true for every other record.
    public var snapshotIsReadable: Bool {
        guard self.metadata[SnapshotKey.kind] == SnapshotKey.daily else { return true }
        for key in [SnapshotKey.activeDevicesInMonth, SnapshotKey.storageBytes] {
            if let text = self.metadata[key], !(text.utf8.count <= 19 && text.utf8.allSatisfy { (48...57).contains($0) } && Int64(text) != nil) { return false }
        }
        if let exact = self.metadata[SnapshotKey.rawStorageExact], exact != "true", exact != "false" { return false }
        return true
    }
}
