import ClientRuntime
import SensormineClients
import Curl
import Foundation
import HTTPTypes
import JSONSchema
import NIOConcurrencyHelpers
import SensormineContracts
import SensormineCore
import SensormineJSON

/// Which schema a device's telemetry must satisfy: device → device type (DeviceAPI) → subject →
/// latest version (SchemaRegistry), compiled once and cached for `lifetime`.
///
/// Ingestion calls both services directly, presenting the gateway's shared secret and acting as
/// a viewer of the device's tenant (see the README's trust model).
final class SchemaDirectory: Sendable {
    /// What a device's messages are checked against.
    enum Resolution: Sendable {
        /// Validate with this schema.
        case schema(CompiledSchema, subject: String, version: Int)
        /// The device type names no schema: store without validation.
        case unvalidated
        /// Dead-letter every message with this reason (unknown or decommissioned device…).
        case refused(String)
    }

    private let client: HTTPClient
    private let deviceAPI: UpstreamService
    private let schemaRegistry: UpstreamService
    private let serviceToken: String
    // Three levels, so a thousand devices of four types cost four schema fetches and compiles.
    private let deviceTypes = ExpiringCache<String, Result<String, Refusal>, ContinuousClock.Instant>(capacity: 100_000)
    private let typeSubjects = ExpiringCache<String, Result<OwnedSubject?, Refusal>, ContinuousClock.Instant>(capacity: 100_000)
    private let schemas = ExpiringCache<String, Resolution, ContinuousClock.Instant>(capacity: 100_000)
    private let tenantStorage = ExpiringCache<String, TenantStorageSettings, ContinuousClock.Instant>(capacity: 100_000)
    private let lifetime: Duration

    private struct Refusal: Error {
        var reason: String
    }

    init(client: HTTPClient, deviceAPI: UpstreamService, schemaRegistry: UpstreamService, serviceToken: String, lifetime: Duration = .seconds(30)) {
        self.client = client
        self.deviceAPI = deviceAPI
        self.schemaRegistry = schemaRegistry
        self.serviceToken = serviceToken
        self.lifetime = lifetime
    }

    /// The resolution for one device.
    /// - Throws: ``ClientError`` when DeviceAPI or SchemaRegistry cannot answer (the batch is
    ///   retried; nothing is dead-lettered for an outage).
    func resolve(tenant: String, device: String) async throws -> Resolution {
        guard UUID(uuidString: tenant) != nil, UUID(uuidString: device) != nil else { return .refused("tenant or device id is not a UUID") }
        let type = try await self.deviceTypes.value(for: tenant + "/" + device, lifetime: self.lifetime) { try await self.lookUpType(tenant: tenant, device: device) }
        guard case .success(let typeID) = type else {
            if case .failure(let refusal) = type { return .refused(refusal.reason) }
            return .unvalidated
        }
        let subject = try await self.typeSubjects.value(for: tenant + "/" + typeID, lifetime: self.lifetime) { try await self.lookUpSubject(tenant: tenant, typeID: typeID, device: device) }
        switch subject {
        case .failure(let refusal): return .refused(refusal.reason)
        case .success(nil): return .unvalidated
        case .success(let owned?):
            // The subject lives in the registry of the type's owner: an organisation's type and
            // schema serve its sites' devices.
            return try await self.schemas.value(for: owned.owner + "/" + owned.subject, lifetime: self.lifetime) {
                try await self.lookUpSchema(tenant: owned.owner, subject: owned.subject, typeID: typeID)
            }
        }
    }

    private func lookUpType(tenant: String, device: String) async throws -> Result<String, Refusal> {
        guard let record = try await self.get(Device.self, from: self.deviceAPI, "/api/v1/devices/\(device)", tenant: tenant) else {
            return .failure(Refusal(reason: "device \(device) is not registered in tenant \(tenant)"))
        }
        if record.status == .decommissioned { return .failure(Refusal(reason: "device \(device) is decommissioned")) }
        return .success(record.deviceTypeId.uuidString.lowercased())
    }

    /// The device type's schema subject and the tenant that owns the type (the device's own, or
    /// an ancestor's).
    private func lookUpSubject(tenant: String, typeID: String, device: String) async throws -> Result<OwnedSubject?, Refusal> {
        guard let type = try await self.get(DeviceType.self, from: self.deviceAPI, "/api/v1/device-types/\(typeID)", tenant: tenant) else {
            return .failure(Refusal(reason: "device type \(typeID) of device \(device) is not visible"))
        }
        guard let subject = type.schemaSubject else { return .success(nil) }
        return .success(OwnedSubject(subject: subject, owner: type.tenantId.uuidString.lowercased()))
    }

    private func lookUpSchema(tenant: String, subject: String, typeID: String) async throws -> Resolution {
        let escaped = subject.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? subject
        guard let version = try await self.get(self.schemaRegistry, "/api/v1/schemas/subjects/\(escaped)/versions/latest", tenant: tenant),
              let schema = version["schema"], case .number(let number)? = version["version"] else {
            return .refused("schema subject '\(subject)' of device type \(typeID) has no version")
        }
        do {
            let compiled = try CompiledSchema(schema, uri: "sensormine:schema:\(tenant):\(subject):\(Int(number))")
            return .schema(compiled, subject: subject, version: Int(number))
        } catch {
            return .refused("schema '\(subject)' version \(Int(number)) does not compile: \(error)")
        }
    }

    /// What a tenant's effective settings (its own, or inherited from its parents) say about its
    /// telemetry's storage; the defaults when the tenant no longer exists.
    /// - Throws: ``ClientError`` when DeviceAPI cannot answer.
    func storageSettings(tenant: String) async throws -> TenantStorageSettings {
        try await self.tenantStorage.value(for: tenant, lifetime: self.lifetime) {
            guard UUID(uuidString: tenant) != nil,
                  let settings = try await self.get(self.deviceAPI, "/api/v1/tenants/\(tenant)", tenant: tenant)?["effectiveSettings"] else {
                return TenantStorageSettings(dedicated: false, retentionDays: nil)
            }
            var result = TenantStorageSettings(dedicated: false, retentionDays: nil)
            if case .number(let days)? = settings["retentionDays"] { result.retentionDays = Int(days) }
            if case .bool(true)? = settings["dedicatedStorage"] { result.dedicated = true }
            return result
        }
    }

    /// A contract type from another service; nil when it answers that the caller cannot see it.
    private func get<Value: Decodable>(_ type: Value.Type, from service: UpstreamService, _ path: String, tenant: String) async throws -> Value? {
        guard let body = try await self.fetch(service, path, tenant: tenant) else { return nil }
        do {
            return try ContractCoding.decoder().decode(Value.self, from: Data(body))
        } catch {
            throw ClientError(.unreachable, client: "http", "\(service.name) answered \(path) with a body that is not a \(Value.self): \(error)")
        }
    }

    private func get(_ service: UpstreamService, _ path: String, tenant: String) async throws -> JSON? {
        guard let body = try await self.fetch(service, path, tenant: tenant) else { return nil }
        do {
            return try JSON.parse(body)
        } catch {
            throw ClientError(.unreachable, client: "http", "\(service.name) answered with unreadable JSON")
        }
    }

    private func fetch(_ service: UpstreamService, _ path: String, tenant: String) async throws -> [UInt8]? {
        let response = try await self.client.execute(HTTPClientRequest(url: service.baseURL + path, headers: [
            (HTTPField.Name.gatewayToken.rawName, self.serviceToken),
            (HTTPField.Name.callerSubject.rawName, "service:ingestion"),
            (HTTPField.Name.callerTenant.rawName, tenant),
            (HTTPField.Name.callerRoles.rawName, Role.viewer.rawValue),
        ]))
        switch response.status {
        case 200: return response.body
        case 404, 403: return nil
        default: throw ClientError(.unreachable, client: "http", "\(service.name) answered \(response.status) for \(path)")
        }
    }
}

/// A device type's schema subject and the tenant whose registry holds it.
struct OwnedSubject: Sendable {
    var subject: String
    var owner: String
}

/// A tenant's storage settings, from DeviceAPI.
struct TenantStorageSettings: Sendable {
    /// Telemetry goes to tables of the tenant's own.
    var dedicated: Bool
    /// Days raw points are kept; nil for the platform's default.
    var retentionDays: Int?

    /// Whether the tenant's raw points go to a table of its own: it asked for dedicated storage,
    /// or it keeps them longer than the shared table does (ADR 11).
    func ownsTable(sharedMaximumDays: Int) -> Bool {
        self.dedicated || (self.retentionDays.map { $0 > sharedMaximumDays } ?? false)
    }
}
