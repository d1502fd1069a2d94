import Foundation

/// An API key as listed: never the key itself, which is shown once when issued.
struct APIKey: Codable, Sendable, Equatable {
    var id: UUID
    var deviceId: UUID
    var name: String
    /// The first characters of the key, to tell keys apart.
    var prefix: String
    var createdAt: Date
    var revokedAt: Date?
}

/// An API key just issued: the only time `key` is ever shown.
struct IssuedAPIKey: Codable, Sendable {
    var apiKey: APIKey
    var key: String
}

/// Body of POST /api/v1/devices/{id}/api-keys.
struct CreateAPIKeyRequest: Decodable, Sendable {
    var name: String?
}

/// MQTT credentials just provisioned: the password is shown once; the broker keeps its hash.
struct IssuedMQTTCredentials: Codable, Sendable {
    var username: String
    var password: String
    /// Where the device publishes telemetry.
    var telemetryTopic: String
    /// The topic filter the device may publish under.
    var publishFilter: String
    /// The topic filter the device may subscribe to.
    var commandFilter: String
}

enum DeviceCredentials {
    /// The telemetry topic of a device (EdgeGateway subscribes to `$share/edge/tenants/+/devices/+/telemetry`).
    static func telemetryTopic(tenantID: UUID, deviceID: UUID) -> String {
        "tenants/\(tenantID.uuidString.lowercased())/devices/\(deviceID.uuidString.lowercased())/telemetry"
    }
}
