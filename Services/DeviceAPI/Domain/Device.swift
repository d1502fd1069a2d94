import Foundation
import SensormineCore
import SensormineContracts

/// Body of POST /api/v1/device-types and PATCH /api/v1/device-types/{id}.
struct DeviceTypeRequest: Decodable, Sendable {
    var tenantId: UUID?
    var name: String?
    var description: String?
    var schemaSubject: String?
}

/// Body of POST /api/v1/devices.
struct CreateDeviceRequest: Decodable, Sendable {
    var tenantId: UUID?
    var deviceTypeId: UUID
    var assetId: UUID?
    var name: String
    var tags: [String]?
    var metadata: [String: String]?
}

/// Body of PATCH /api/v1/devices/{id}; `assetId: null` detaches the device.
struct UpdateDeviceRequest: Decodable, Sendable {
    var name: String?
    var tags: [String]?
    var metadata: [String: String]?
    var assetId: UUID?
    var detachAsset: Bool

    enum CodingKeys: String, CodingKey { case name, tags, metadata, assetId }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.name = try container.decodeIfPresent(String.self, forKey: .name)
        self.tags = try container.decodeIfPresent([String].self, forKey: .tags)
        self.metadata = try container.decodeIfPresent([String: String].self, forKey: .metadata)
        self.assetId = try container.decodeIfPresent(UUID.self, forKey: .assetId)
        self.detachAsset = container.contains(.assetId) && self.assetId == nil
    }
}

/// Filters of GET /api/v1/devices.
struct DeviceFilter: Sendable {
    var tenantID: UUID?
    var deviceTypeID: UUID?
    var assetID: UUID?
    var status: DeviceStatus?
    var tag: String?
    /// Only these devices (at most ``DevicePage/maximumIDs``): how the telemetry consumers read a
    /// batch's devices in one call.
    var ids: [UUID]?
    /// Page after this id (ids are the sort order).
    var after: UUID?
    var limit: Int
}

/// Failures of device, device-type and asset operations.
enum CatalogError: ProblemConvertible, Equatable {
    case invalid(String, [ProblemDetails.FieldError])
    case notFound(String)
    case forbidden(String)
    case conflict(String)
    case unavailable(String)

    var apiError: APIError {
        switch self {
        case .invalid(let what, let errors): .validationFailed("the \(what) is invalid", errors: errors)
        case .notFound(let detail): .notFound(detail)
        case .forbidden(let reason): .forbidden(reason)
        case .conflict(let detail): .conflict(detail)
        case .unavailable(let detail): .serviceUnavailable(detail)
        }
    }
}

/// Who may do what with devices, device types, assets and credentials, and what a valid
/// request looks like; free of HTTP and SQL.
enum CatalogPolicy {
    static let maximumTags = 32

    /// Reading needs viewer; devices (API keys) never read the control plane.
    static func checkRead(_ caller: CallerIdentity) throws(CatalogError) {
        guard caller.has(atLeast: .viewer) else { throw .forbidden("reading needs the viewer role") }
    }

    /// Registering, changing and decommissioning devices and their credentials, and editing
    /// assets, needs operator.
    static func checkOperate(_ caller: CallerIdentity) throws(CatalogError) {
        guard caller.has(atLeast: .operator) else { throw .forbidden("this needs the operator role") }
    }

    /// Defining device types needs tenant-admin.
    static func checkAdminister(_ caller: CallerIdentity) throws(CatalogError) {
        guard caller.has(atLeast: .tenantAdmin) else { throw .forbidden("this needs the tenant-admin role") }
    }

    static func nameErrors(_ name: String?, pointer: String = "/name", maximum: Int = 200) -> [ProblemDetails.FieldError] {
        guard let name else { return [] }
        let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.isEmpty || trimmed.count > maximum ? [.init(pointer: pointer, detail: "must be 1–\(maximum) characters")] : []
    }

    static func tagErrors(_ tags: [String]?) -> [ProblemDetails.FieldError] {
        guard let tags else { return [] }
        var errors: [ProblemDetails.FieldError] = []
        if tags.count > maximumTags { errors.append(.init(pointer: "/tags", detail: "at most \(maximumTags) tags")) }
        for (index, tag) in tags.enumerated()
        where tag.isEmpty || tag.count > 64 || !tag.allSatisfy({ $0.isLetter || $0.isNumber || "-_.:=/".contains($0) }) {
            errors.append(.init(pointer: "/tags/\(index)", detail: "1–64 letters, digits or - _ . : = /"))
        }
        return errors
    }

    static func metadataErrors(_ metadata: [String: String]?) -> [ProblemDetails.FieldError] {
        guard let metadata else { return [] }
        var errors: [ProblemDetails.FieldError] = []
        if metadata.count > 64 { errors.append(.init(pointer: "/metadata", detail: "at most 64 entries")) }
        for (key, value) in metadata where key.isEmpty || key.count > 64 || value.count > 1024 {
            errors.append(.init(pointer: "/metadata/\(key)", detail: "keys 1–64 characters, values at most 1024"))
        }
        return errors
    }

    static func checkCreate(_ request: CreateDeviceRequest) throws(CatalogError) {
        let errors = Self.nameErrors(request.name) + Self.tagErrors(request.tags) + Self.metadataErrors(request.metadata)
        guard errors.isEmpty else { throw .invalid("device", errors) }
    }

    static func checkUpdate(_ request: UpdateDeviceRequest) throws(CatalogError) {
        let errors = Self.nameErrors(request.name) + Self.tagErrors(request.tags) + Self.metadataErrors(request.metadata)
        guard errors.isEmpty else { throw .invalid("device", errors) }
    }

    static func checkDeviceType(_ request: DeviceTypeRequest, creating: Bool) throws(CatalogError) {
        var errors = Self.nameErrors(request.name, maximum: 100)
        if creating, request.name == nil { errors.append(.init(pointer: "/name", detail: "is required")) }
        if let description = request.description, description.count > 2000 {
            errors.append(.init(pointer: "/description", detail: "at most 2000 characters"))
        }
        if let subject = request.schemaSubject,
           subject.isEmpty || subject.count > 200 || !subject.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) {
            errors.append(.init(pointer: "/schemaSubject", detail: "1–200 letters, digits, - _ or ."))
        }
        guard errors.isEmpty else { throw .invalid("device type", errors) }
    }
}

