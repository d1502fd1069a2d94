import Foundation
import SensormineCore
import SensormineContracts

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
