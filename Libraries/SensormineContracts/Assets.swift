import Foundation

/// The level of an asset in a tenant's plant hierarchy: site → area → machine.
public enum AssetKind: String, Codable, Sendable {
    case site, area, machine

    /// The kind an asset of this kind must hang under; nil for the top.
    public var parentKind: AssetKind? {
        switch self {
        case .site: nil
        case .area: .site
        case .machine: .area
        }
    }
}

/// A place or machine devices attach to, as DeviceAPI serves it and publishes it on
/// `asset.updates`.
public struct Asset: Codable, Sendable, Equatable {
    public var id: UUID
    public var tenantId: UUID
    public var parentId: UUID?
    public var kind: AssetKind
    public var name: String
    public var attributes: [String: String]
    public var createdAt: Date
    public var updatedAt: Date

    /// Creates an asset.
    public init(id: UUID, tenantId: UUID, parentId: UUID?, kind: AssetKind, name: String, attributes: [String: String], createdAt: Date, updatedAt: Date) {
        self.id = id
        self.tenantId = tenantId
        self.parentId = parentId
        self.kind = kind
        self.name = name
        self.attributes = attributes
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// What an asset event says happened.
public enum AssetEventType: String, Codable, Sendable {
    case created = "asset.created"
    case updated = "asset.updated"
    case deleted = "asset.deleted"
}

/// The envelope published on `asset.updates`, keyed by asset id.
public struct AssetEvent: Codable, Sendable {
    public var messageId: UUID
    public var type: AssetEventType
    public var tenantId: UUID
    public var assetId: UUID
    public var eventTime: Date
    public var asset: Asset

    /// Creates an event.
    public init(messageId: UUID, type: AssetEventType, tenantId: UUID, assetId: UUID, eventTime: Date, asset: Asset) {
        self.messageId = messageId
        self.type = type
        self.tenantId = tenantId
        self.assetId = assetId
        self.eventTime = eventTime
        self.asset = asset
    }
}
