import Crypto
import Foundation
import JSONSchema
import SensormineAuth
import SensormineCore
import SensormineJSON

/// A named line of schema versions in one tenant (usually one per device type).
struct Subject: Codable, Sendable, Equatable {
    var tenantId: UUID
    var name: String
    var compatibility: CompatibilityMode
    var description: String
    var latestVersion: Int?
    var createdAt: Date
    var updatedAt: Date
}

/// One immutable version of a subject's schema, in canonical form.
struct SchemaVersion: Codable, Sendable, Equatable {
    var subject: String
    var version: Int
    var schema: JSON
    /// SHA-256 of the canonical text: equal schemas share it.
    var contentHash: String
    var deprecated: Bool
    var createdAt: Date
}

/// Body of POST /api/v1/schemas/subjects and PATCH …/subjects/{subject}.
struct SubjectRequest: Decodable, Sendable {
    var name: String?
    var compatibility: CompatibilityMode?
    var description: String?
}

/// Body of POST …/versions.
struct RegisterRequest: Decodable, Sendable {
    var schema: JSON
}

/// The answer to a registration: the version, and whether it already existed.
struct RegisterResponse: Codable, Sendable {
    var version: SchemaVersion
    var existing: Bool
}

/// Body of POST …/validate: one payload or a batch.
struct ValidateRequest: Decodable, Sendable {
    var payload: JSON?
    var payloads: [JSON]?
}

/// The verdict on one payload.
struct ValidationOutcome: Codable, Sendable {
    var valid: Bool
    var violations: [SchemaViolation]
}

/// The verdicts of a validation request, in payload order.
struct ValidateResponse: Codable, Sendable {
    var subject: String
    var version: Int
    var results: [ValidationOutcome]
}

/// Failures of registry operations.
enum RegistryError: ProblemConvertible {
    case invalid(String, [ProblemDetails.FieldError])
    case notFound(String)
    case forbidden(String)
    case conflict(String)
    case incompatible([BreakingChange])

    var apiError: APIError {
        switch self {
        case .invalid(let detail, let errors): .validationFailed(detail, errors: errors)
        case .notFound(let detail): .notFound(detail)
        case .forbidden(let detail): .forbidden(detail)
        case .conflict(let detail): .conflict(detail)
        case .incompatible(let changes):
            .validationFailed("the schema is not compatible with earlier versions (\(changes.count) breaking change(s))",
                              errors: changes.map { .init(pointer: $0.pointer, detail: "\($0.direction) vs v\($0.version): \($0.message) [\($0.kind)]") })
        }
    }
}

/// The rules of subjects and versions, free of HTTP and SQL.
enum RegistryPolicy {
    static func checkRead(_ caller: CallerIdentity) throws(RegistryError) {
        guard caller.has(atLeast: .viewer) else { throw .forbidden("reading schemas needs the viewer role") }
    }

    static func checkWrite(_ caller: CallerIdentity) throws(RegistryError) {
        guard caller.has(atLeast: .tenantAdmin) else { throw .forbidden("changing schemas needs the tenant-admin role") }
    }

    static func checkName(_ name: String) throws(RegistryError) {
        guard !name.isEmpty, name.count <= 200, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
            throw .invalid("the subject name is invalid", [.init(pointer: "/name", detail: "1–200 letters, digits, - _ or .")])
        }
    }

    /// Compiles the schema to prove it is one; a compilation error names the place.
    static func compile(_ schema: JSON, options: SchemaOptions) throws(RegistryError) -> CompiledSchema {
        do {
            return try CompiledSchema(schema, options: options)
        } catch let error as SchemaCompilationError {
            throw .invalid("the schema is not a valid JSON Schema", [.init(pointer: "/schema" + (error.location.split(separator: "#", maxSplits: 1).last.map(String.init) ?? ""), detail: error.reason)])
        } catch {
            throw .invalid("the schema is not a valid JSON Schema", [.init(pointer: "/schema", detail: "\(error)")])
        }
    }

    /// The canonical text and its SHA-256.
    static func canonical(_ schema: JSON) -> (text: String, hash: String) {
        let text = schema.canonicalText
        return (text, OpaqueSecret.hex(SHA256.hash(data: Array(text.utf8))))
    }
}
