import Foundation
import SensormineCore

/// The level of an asset in a tenant's plant hierarchy: site → area → machine.
enum AssetKind: String, Codable, Sendable {
    case site, area, machine

    /// The kind an asset of this kind must hang under; nil for the top.
    var parentKind: AssetKind? {
        switch self {
        case .site: nil
        case .area: .site
        case .machine: .area
        }
    }
}

/// A place or machine devices attach to.
struct Asset: Codable, Sendable, Equatable {
    var id: UUID
    var tenantId: UUID
    var parentId: UUID?
    var kind: AssetKind
    var name: String
    var attributes: [String: String]
    var createdAt: Date
    var updatedAt: Date
}

/// Body of POST /api/v1/assets.
struct CreateAssetRequest: Decodable, Sendable {
    var tenantId: UUID?
    var parentId: UUID?
    var kind: AssetKind
    var name: String
    var attributes: [String: String]?
}

/// Body of PATCH /api/v1/assets/{id}.
struct UpdateAssetRequest: Decodable, Sendable {
    var name: String?
    var attributes: [String: String]?
}

/// What an asset event says happened.
enum AssetEventType: String, Codable, Sendable {
    case created = "asset.created"
    case updated = "asset.updated"
    case deleted = "asset.deleted"
}

/// The envelope published on `asset.updates`.
struct AssetEvent: Codable, Sendable {
    var messageId: UUID
    var type: AssetEventType
    var tenantId: UUID
    var assetId: UUID
    var eventTime: Date
    var asset: Asset
}

extension CatalogPolicy {
    /// Checks a new asset against the kind of the parent it names (nil when it names none).
    static func checkCreate(_ request: CreateAssetRequest, parentKind: AssetKind?) throws(CatalogError) {
        var errors = Self.nameErrors(request.name) + Self.metadataErrors(request.attributes).map {
            ProblemDetails.FieldError(pointer: $0.pointer.replacingOccurrences(of: "/metadata", with: "/attributes"), detail: $0.detail)
        }
        if request.kind.parentKind != parentKind {
            let detail = request.kind.parentKind.map { "a \(request.kind.rawValue) belongs under a \($0.rawValue)" } ?? "a site has no parent asset"
            errors.append(.init(pointer: "/parentId", detail: detail))
        }
        guard errors.isEmpty else { throw .invalid("asset", errors) }
    }

    static func checkUpdate(_ request: UpdateAssetRequest) throws(CatalogError) {
        let errors = Self.nameErrors(request.name) + Self.metadataErrors(request.attributes)
        guard errors.isEmpty else { throw .invalid("asset", errors) }
    }
}
