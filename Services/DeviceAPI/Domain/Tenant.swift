import Foundation
import SensormineCore

/// What a tenant is in the hierarchy: organisations at the root, sites and departments below.
enum TenantKind: String, Codable, Sendable {
    case organisation, site, department
}

/// Settings a tenant may set; anything left unset is inherited from its parent.
struct TenantSettings: Codable, Sendable, Equatable {
    /// Branding shown in the web UI.
    struct Branding: Codable, Sendable, Equatable {
        var displayName: String?
        var primaryColor: String?
    }

    var plan: String?
    var retentionDays: Int?
    /// Telemetry in tables of the tenant's own (set by a platform-admin; see ADR 11).
    var dedicatedStorage: Bool?
    var features: [String: Bool]?
    var branding: Branding?

    /// These settings over `parent`'s effective ones: own values win, feature flags and branding
    /// merge key by key.
    func inheriting(from parent: TenantSettings) -> TenantSettings {
        var result = parent
        if let plan { result.plan = plan }
        if let retentionDays { result.retentionDays = retentionDays }
        if let dedicatedStorage { result.dedicatedStorage = dedicatedStorage }
        if let features { result.features = (parent.features ?? [:]).merging(features) { $1 } }
        if let branding {
            var merged = parent.branding ?? Branding()
            if let displayName = branding.displayName { merged.displayName = displayName }
            if let primaryColor = branding.primaryColor { merged.primaryColor = primaryColor }
            result.branding = merged
        }
        return result
    }

    /// Field errors, as JSON pointers under `prefix`.
    func validationErrors(prefix: String = "/settings") -> [ProblemDetails.FieldError] {
        var errors: [ProblemDetails.FieldError] = []
        if let plan, plan.isEmpty || plan.count > 40 || !plan.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "-" }) {
            errors.append(.init(pointer: "\(prefix)/plan", detail: "must be 1–40 lower-case letters, digits or dashes"))
        }
        if let retentionDays, !(1...3650).contains(retentionDays) {
            errors.append(.init(pointer: "\(prefix)/retentionDays", detail: "must be between 1 and 3650"))
        }
        if let features {
            for key in features.keys where key.isEmpty || key.count > 64 {
                errors.append(.init(pointer: "\(prefix)/features", detail: "flag names must be 1–64 characters"))
            }
        }
        if let name = branding?.displayName, name.count > 100 {
            errors.append(.init(pointer: "\(prefix)/branding/displayName", detail: "must be at most 100 characters"))
        }
        if let color = branding?.primaryColor,
           !(color.count == 7 && color.first == "#" && color.dropFirst().allSatisfy(\.isHexDigit)) {
            errors.append(.init(pointer: "\(prefix)/branding/primaryColor", detail: "must be a colour such as #1a2b3c"))
        }
        return errors
    }
}

/// A tenant as the API shows it.
struct Tenant: Codable, Sendable, Equatable {
    var id: UUID
    var parentId: UUID?
    var name: String
    var kind: TenantKind
    /// What this tenant sets itself.
    var settings: TenantSettings
    /// What applies to it: its own settings over its ancestors'.
    var effectiveSettings: TenantSettings
    var createdAt: Date
    var updatedAt: Date
}

/// Body of POST /api/v1/tenants.
struct CreateTenantRequest: Decodable, Sendable {
    var name: String
    var kind: TenantKind
    var parentId: UUID?
    var settings: TenantSettings?
}

/// Body of PATCH /api/v1/tenants/{id}.
struct UpdateTenantRequest: Decodable, Sendable {
    var name: String?
    var settings: TenantSettings?
}

/// Failures of tenant operations, mapped to problem+json at the controller.
enum TenantError: ProblemConvertible, Equatable {
    case invalid([ProblemDetails.FieldError])
    case notFound(UUID)
    case forbidden(String)
    case nameTaken(String)
    case hasChildren(UUID)

    var apiError: APIError {
        switch self {
        case .invalid(let errors): .validationFailed("the tenant is invalid", errors: errors)
        case .notFound(let id): .notFound("no tenant \(id) is visible to the caller")
        case .forbidden(let reason): .forbidden(reason)
        case .nameTaken(let name): .conflict("a sibling tenant is already called '\(name)'")
        case .hasChildren(let id): .conflict("tenant \(id) still has sub-tenants; delete them first")
        }
    }
}

/// The rules of the tenant hierarchy, free of HTTP and SQL.
struct TenantPolicy {
    static let maximumDepth = 5

    /// Checks a creation request against the caller and the depth of the parent it names (already
    /// fetched under the caller's visibility).
    static func checkCreate(_ request: CreateTenantRequest, parentDepth: Int, parentSettings: TenantSettings?, caller: CallerIdentity) throws(TenantError) {
        var errors = request.settings?.validationErrors() ?? []
        let name = request.name.trimmingCharacters(in: .whitespacesAndNewlines)
        if name.isEmpty || name.count > 200 { errors.append(.init(pointer: "/name", detail: "must be 1–200 characters")) }
        if request.parentId == nil, request.kind != .organisation {
            errors.append(.init(pointer: "/kind", detail: "a tenant without a parent must be an organisation"))
        }
        if request.parentId != nil, request.kind == .organisation {
            errors.append(.init(pointer: "/kind", detail: "organisations have no parent; use site or department"))
        }
        if parentDepth >= maximumDepth { errors.append(.init(pointer: "/parentId", detail: "the hierarchy is at most \(maximumDepth) levels deep")) }
        guard errors.isEmpty else { throw .invalid(errors) }
        try Self.checkStoragePlacement(request.settings, caller: caller)
        try Self.checkLimits(request.settings, parent: parentSettings, caller: caller)
        if request.parentId == nil {
            guard caller.isPlatformAdmin else { throw .forbidden("only a platform-admin creates organisations") }
        } else {
            guard caller.has(atLeast: .tenantAdmin) else { throw .forbidden("creating sub-tenants needs the tenant-admin role") }
        }
    }

    /// Checks an update against the caller.
    static func checkUpdate(_ request: UpdateTenantRequest, caller: CallerIdentity) throws(TenantError) {
        var errors = request.settings?.validationErrors() ?? []
        if let name = request.name?.trimmingCharacters(in: .whitespacesAndNewlines), name.isEmpty || name.count > 200 {
            errors.append(.init(pointer: "/name", detail: "must be 1–200 characters"))
        }
        guard errors.isEmpty else { throw .invalid(errors) }
        guard caller.has(atLeast: .tenantAdmin) else { throw .forbidden("changing a tenant needs the tenant-admin role") }
        try Self.checkStoragePlacement(request.settings, caller: caller)
    }

    /// The settings that cost the platform (plan, retention, storage placement) are not the
    /// tenant's own to raise: a plan only a platform-admin sets (Billing owns plans); a
    /// tenant-admin sets a sub-tenant's retention up to the parent's, never its own tenant's.
    /// `parent` is the effective settings the tenant inherits (nil for an organisation).
    static func checkLimits(_ settings: TenantSettings?, parent: TenantSettings?, caller: CallerIdentity, isOwnTenant: Bool = false) throws(TenantError) {
        guard let settings else { return }
        if settings.plan != nil { throw .forbidden("a plan is set through Billing (PUT /api/v1/billing/subscriptions/{tenantId}, platform-admin), which owns plans") }
        guard !caller.isPlatformAdmin else { return }
        guard let days = settings.retentionDays else { return }
        if isOwnTenant { throw .forbidden("a tenant-admin cannot change their own tenant's retentionDays; a platform-admin or a parent tenant's admin can") }
        guard let limit = parent?.retentionDays else {
            throw .forbidden("the parent tenant has no retentionDays of its own to stay within; a platform-admin sets this one")
        }
        guard days <= limit else { throw .forbidden("retentionDays may be at most the parent tenant's \(limit)") }
    }

    /// What an update may leave unchanged that the caller may not change: a platform-admin's
    /// settings replace the stored ones; anyone else's keep the stored plan and storage
    /// placement, and the stored retention unless they set one.
    static func merged(_ settings: TenantSettings, over stored: TenantSettings, caller: CallerIdentity) -> TenantSettings {
        var merged = settings
        if merged.dedicatedStorage == nil { merged.dedicatedStorage = stored.dedicatedStorage }
        merged.plan = stored.plan
        guard !caller.isPlatformAdmin else { return merged }
        if merged.retentionDays == nil { merged.retentionDays = stored.retentionDays }
        return merged
    }

    /// Where a tenant's telemetry lives is an operator's decision, not the tenant's.
    private static func checkStoragePlacement(_ settings: TenantSettings?, caller: CallerIdentity) throws(TenantError) {
        guard settings?.dedicatedStorage == nil || caller.isPlatformAdmin else {
            throw .forbidden("only a platform-admin sets dedicatedStorage")
        }
    }

    /// Checks a deletion against the caller: nobody below platform-admin deletes their own tenant.
    static func checkDelete(_ id: UUID, caller: CallerIdentity) throws(TenantError) {
        guard caller.has(atLeast: .tenantAdmin) else { throw .forbidden("deleting a tenant needs the tenant-admin role") }
        guard caller.isPlatformAdmin || id != caller.tenantID else { throw .forbidden("a tenant-admin cannot delete their own tenant") }
    }
}
