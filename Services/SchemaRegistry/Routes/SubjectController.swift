import Foundation
import Hummingbird
import JSONSchema
import SensormineCore
import SensormineJSON

/// /api/v1/schemas: subjects, versions, compatibility and validation, per tenant.
struct SubjectController: Sendable {
    let repository: SubjectRepository
    let compiled: CompiledSchemas
    let defaultMode: CompatibilityMode
    let maximumBatch = 1_000

    func addRoutes(to group: RouterGroup<SensormineRequestContext>) {
        group.post("subjects", use: self.createSubject)
        group.get("subjects", use: self.listSubjects)
        group.get("subjects/{subject}", use: self.getSubject)
        group.patch("subjects/{subject}", use: self.updateSubject)
        group.delete("subjects/{subject}", use: self.deleteSubject)
        group.post("subjects/{subject}/versions", use: self.register)
        group.get("subjects/{subject}/versions", use: self.listVersions)
        group.get("subjects/{subject}/versions/{version}", use: self.getVersion)
        group.delete("subjects/{subject}/versions/{version}", use: self.deleteVersion)
        group.post("subjects/{subject}/versions/{version}/deprecate", use: self.deprecate)
        group.post("subjects/{subject}/versions/{version}/validate", use: self.validate)
    }

    /// The tenant acted on: the caller's own, or any (`tenantId`) for a platform-admin.
    private func tenant(_ request: Request, _ caller: CallerIdentity) throws -> UUID {
        guard let text = request.uri.queryParameters["tenantId"].map(String.init) else { return caller.tenantID }
        guard let id = UUID(uuidString: text) else { throw APIError.badRequest("tenantId must be a UUID", errors: [.init(pointer: "tenantId", detail: "not a UUID")]) }
        guard caller.isPlatformAdmin || id == caller.tenantID else { throw RegistryError.forbidden("only a platform-admin acts on another tenant's schemas") }
        return id
    }

    private func subjectName(_ context: SensormineRequestContext) throws -> String {
        let name = context.parameters.get("subject") ?? ""
        try RegistryPolicy.checkName(name)
        return name
    }

    /// The version path parameter: a positive number or `latest` (nil).
    private func versionNumber(_ context: SensormineRequestContext) throws -> Int? {
        let text = context.parameters.get("version") ?? ""
        if text == "latest" { return nil }
        guard let number = Int(text), number > 0 else {
            throw APIError.badRequest("the version must be a positive integer or 'latest'", errors: [.init(pointer: "version", detail: "not a version")])
        }
        return number
    }

    @Sendable func createSubject(_ request: Request, context: SensormineRequestContext) async throws -> EditedResponse<Subject> {
        let caller = try context.requireIdentity()
        try RegistryPolicy.checkWrite(caller)
        let body = try await request.decode(as: SubjectRequest.self, context: context)
        let name = body.name ?? ""
        try RegistryPolicy.checkName(name)
        let subject = try await self.repository.createSubject(tenantID: try self.tenant(request, caller), name: name, compatibility: body.compatibility ?? self.defaultMode,
                                                               description: body.description ?? "", caller: caller)
        return EditedResponse(status: .created, headers: [.location: "/api/v1/schemas/subjects/\(name)"], response: subject)
    }

    @Sendable func listSubjects(_ request: Request, context: SensormineRequestContext) async throws -> SubjectList {
        let caller = try context.requireIdentity()
        try RegistryPolicy.checkRead(caller)
        return SubjectList(items: try await self.repository.listSubjects(tenantID: try self.tenant(request, caller), caller: caller))
    }

    @Sendable func getSubject(_ request: Request, context: SensormineRequestContext) async throws -> Subject {
        let caller = try context.requireIdentity()
        try RegistryPolicy.checkRead(caller)
        return try await self.repository.subject(tenantID: try self.tenant(request, caller), name: try self.subjectName(context), caller: caller)
    }

    @Sendable func updateSubject(_ request: Request, context: SensormineRequestContext) async throws -> Subject {
        let caller = try context.requireIdentity()
        try RegistryPolicy.checkWrite(caller)
        let body = try await request.decode(as: SubjectRequest.self, context: context)
        return try await self.repository.updateSubject(tenantID: try self.tenant(request, caller), name: try self.subjectName(context), body, caller: caller)
    }

    @Sendable func deleteSubject(_ request: Request, context: SensormineRequestContext) async throws -> Response {
        let caller = try context.requireIdentity()
        try RegistryPolicy.checkWrite(caller)
        try await self.repository.deleteSubject(tenantID: try self.tenant(request, caller), name: try self.subjectName(context), caller: caller)
        return Response(status: .noContent)
    }

    /// POST versions: 201 for a new version, 200 when an equal schema is already registered,
    /// 422 listing every breaking change when the subject's compatibility mode refuses it.
    @Sendable func register(_ request: Request, context: SensormineRequestContext) async throws -> EditedResponse<RegisterResponse> {
        let caller = try context.requireIdentity()
        try RegistryPolicy.checkWrite(caller)
        let name = try self.subjectName(context)
        let body = try await request.decode(as: RegisterRequest.self, context: context)
        _ = try RegistryPolicy.compile(body.schema, options: self.compiled.options)
        let canonical = RegistryPolicy.canonical(body.schema)
        let schema = body.schema
        let result = try await self.repository.register(
            tenantID: try self.tenant(request, caller), subject: name, schema: schema, canonical: canonical, defaultMode: self.defaultMode, caller: caller
        ) { mode, versions in
            let changes = CompatibilityChecker.check(schema, against: versions, mode: mode)
            guard changes.isEmpty else { throw RegistryError.incompatible(changes) }
        }
        return EditedResponse(status: result.existing ? .ok : .created, response: result)
    }

    @Sendable func listVersions(_ request: Request, context: SensormineRequestContext) async throws -> VersionList {
        let caller = try context.requireIdentity()
        try RegistryPolicy.checkRead(caller)
        return VersionList(items: try await self.repository.versions(tenantID: try self.tenant(request, caller), subject: try self.subjectName(context), caller: caller))
    }

    @Sendable func getVersion(_ request: Request, context: SensormineRequestContext) async throws -> SchemaVersion {
        let caller = try context.requireIdentity()
        try RegistryPolicy.checkRead(caller)
        return try await self.repository.version(tenantID: try self.tenant(request, caller), subject: try self.subjectName(context),
                                                 version: try self.versionNumber(context), caller: caller)
    }

    @Sendable func deleteVersion(_ request: Request, context: SensormineRequestContext) async throws -> Response {
        let caller = try context.requireIdentity()
        try RegistryPolicy.checkWrite(caller)
        guard let version = try self.versionNumber(context) else { throw APIError.badRequest("name the version to delete; 'latest' is not allowed here") }
        try await self.repository.deleteVersion(tenantID: try self.tenant(request, caller), subject: try self.subjectName(context), version: version, caller: caller)
        return Response(status: .noContent)
    }

    @Sendable func deprecate(_ request: Request, context: SensormineRequestContext) async throws -> SchemaVersion {
        let caller = try context.requireIdentity()
        try RegistryPolicy.checkWrite(caller)
        guard let version = try self.versionNumber(context) else { throw APIError.badRequest("name the version to deprecate; 'latest' is not allowed here") }
        return try await self.repository.deprecate(tenantID: try self.tenant(request, caller), subject: try self.subjectName(context), version: version, caller: caller)
    }

    /// POST validate: every violation of each payload, with instance location, keyword and
    /// schema location.
    @Sendable func validate(_ request: Request, context: SensormineRequestContext) async throws -> ValidateResponse {
        let caller = try context.requireIdentity()
        try RegistryPolicy.checkRead(caller)
        let body = try await request.decode(as: ValidateRequest.self, context: context)
        let payloads = body.payloads ?? (body.payload.map { [$0] } ?? [])
        guard !payloads.isEmpty, payloads.count <= self.maximumBatch else {
            throw RegistryError.invalid("send 'payload' or 1–\(self.maximumBatch) 'payloads'", [.init(pointer: "/payloads", detail: "between 1 and \(self.maximumBatch) payloads")])
        }
        let version = try await self.repository.version(tenantID: try self.tenant(request, caller), subject: try self.subjectName(context),
                                                        version: try self.versionNumber(context), caller: caller)
        let schema = try self.compiled.schema(for: version)
        let results = payloads.map { payload in
            let violations = schema.validate(payload)
            return ValidationOutcome(valid: violations.isEmpty, violations: violations)
        }
        return ValidateResponse(subject: version.subject, version: version.version, results: results)
    }
}

/// A list of subjects.
struct SubjectList: ResponseCodable, Sendable { var items: [Subject] }
/// A list of versions.
struct VersionList: ResponseCodable, Sendable { var items: [SchemaVersion] }

extension Subject: ResponseCodable {}
extension SchemaVersion: ResponseCodable {}
extension RegisterResponse: ResponseCodable {}
extension ValidateResponse: ResponseCodable {}
