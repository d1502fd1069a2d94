import Foundation

/// A kind of device (a gas turbine, a rotor): what its telemetry looks like. DeviceAPI serves it;
/// Ingestion reads it to find the schema subject.
public struct DeviceType: Codable, Sendable, Equatable {
    public var id: UUID
    /// The tenant that owns it (an organisation's types serve its sites' devices).
    public var tenantId: UUID
    public var name: String
    public var description: String
    /// The SchemaRegistry subject its telemetry is validated against, when set.
    public var schemaSubject: String?
    public var createdAt: Date
    public var updatedAt: Date

    /// Creates a device type.
    public init(id: UUID, tenantId: UUID, name: String, description: String, schemaSubject: String?, createdAt: Date, updatedAt: Date) {
        self.id = id
        self.tenantId = tenantId
        self.name = name
        self.description = description
        self.schemaSubject = schemaSubject
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// Whether a device may still connect.
public enum DeviceStatus: String, Codable, Sendable {
    case active, decommissioned
}

/// Whether the platform has heard from a device recently (telemetry keeps it current).
public enum Connectivity: String, Codable, Sendable {
    case online, offline
}

/// A registered device, as DeviceAPI serves it and publishes it on `device.events`.
public struct Device: Codable, Sendable, Equatable {
    public var id: UUID
    public var tenantId: UUID
    public var deviceTypeId: UUID
    public var assetId: UUID?
    public var name: String
    public var tags: [String]
    public var metadata: [String: String]
    public var status: DeviceStatus
    public var connectivity: Connectivity
    public var lastSeenAt: Date?
    public var createdAt: Date
    public var updatedAt: Date
    public var decommissionedAt: Date?

    /// Creates a device.
    public init(id: UUID, tenantId: UUID, deviceTypeId: UUID, assetId: UUID?, name: String, tags: [String], metadata: [String: String],
                status: DeviceStatus, connectivity: Connectivity, lastSeenAt: Date?, createdAt: Date, updatedAt: Date, decommissionedAt: Date?) {
        self.id = id
        self.tenantId = tenantId
        self.deviceTypeId = deviceTypeId
        self.assetId = assetId
        self.name = name
        self.tags = tags
        self.metadata = metadata
        self.status = status
        self.connectivity = connectivity
        self.lastSeenAt = lastSeenAt
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.decommissionedAt = decommissionedAt
    }
}

/// What a device event says happened.
public enum DeviceEventType: String, Codable, Sendable {
    case registered = "device.registered"
    case updated = "device.updated"
    case decommissioned = "device.decommissioned"
    case credentialsChanged = "device.credentials-changed"
}

/// The envelope published on `device.events`, keyed by device id (ARCHITECTURE.md: tenant,
/// device, event time, message id).
public struct DeviceEvent: Codable, Sendable {
    public var messageId: UUID
    public var type: DeviceEventType
    public var tenantId: UUID
    public var deviceId: UUID
    public var eventTime: Date
    public var device: Device

    /// Creates an event.
    public init(messageId: UUID, type: DeviceEventType, tenantId: UUID, deviceId: UUID, eventTime: Date, device: Device) {
        self.messageId = messageId
        self.type = type
        self.tenantId = tenantId
        self.deviceId = deviceId
        self.eventTime = eventTime
        self.device = device
    }
}

/// Body of DeviceAPI's `POST /api/v1/devices/activity`: when devices of one tenant were last
/// heard from. EdgeGateway sends it in batches of at most ``maximumDevices``.
public struct DeviceActivity: Codable, Sendable, Equatable {
    /// The most devices one report may carry.
    public static let maximumDevices = 5000

    /// One device's latest message time.
    public struct Seen: Codable, Sendable, Equatable {
        public var id: UUID
        public var lastSeenAt: Date

        /// Creates an entry.
        public init(id: UUID, lastSeenAt: Date) {
            self.id = id
            self.lastSeenAt = lastSeenAt
        }
    }

    public var devices: [Seen]

    /// Creates a report.
    public init(devices: [Seen]) { self.devices = devices }
}

/// One page of `GET /api/v1/devices` and the cursor for the next.
public struct DevicePage: Codable, Sendable {
    /// The most ids one `ids` filter may name.
    public static let maximumIDs = 100

    public var items: [Device]
    /// Pass as `after` for the next page; absent on the last page.
    public var nextCursor: UUID?

    /// Creates a page.
    public init(items: [Device], nextCursor: UUID?) {
        self.items = items
        self.nextCursor = nextCursor
    }
}
