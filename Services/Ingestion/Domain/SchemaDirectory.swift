import ClientRuntime
import SensormineClients
import Curl
import Foundation
import HTTPTypes
import JSONSchema
import NIOConcurrencyHelpers
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

    private struct Entry {
        var resolution: Resolution
        var expires: ContinuousClock.Instant
    }

    private let client: HTTPClient
    private let deviceAPI: UpstreamService
    private let schemaRegistry: UpstreamService
    private let gatewayToken: String
    private let lifetime: Duration
    private let cache = NIOLockedValueBox<[String: Entry]>([:])

    init(client: HTTPClient, deviceAPI: UpstreamService, schemaRegistry: UpstreamService, gatewayToken: String, lifetime: Duration = .seconds(30)) {
        self.client = client
        self.deviceAPI = deviceAPI
        self.schemaRegistry = schemaRegistry
        self.gatewayToken = gatewayToken
        self.lifetime = lifetime
    }

    /// The resolution for one device.
    /// - Throws: ``ClientError`` when DeviceAPI or SchemaRegistry cannot answer (the batch is
    ///   retried; nothing is dead-lettered for an outage).
    func resolve(tenant: String, device: String) async throws -> Resolution {
        let key = tenant + "/" + device
        let now = ContinuousClock.now
        if let entry = self.cache.withLockedValue({ $0[key] }), entry.expires > now { return entry.resolution }
        let resolution = try await self.lookUp(tenant: tenant, device: device)
        self.cache.withLockedValue { cache in
            if cache.count > 100_000 { cache.removeAll(keepingCapacity: true) }
            cache[key] = Entry(resolution: resolution, expires: now + self.lifetime)
        }
        return resolution
    }

    private func lookUp(tenant: String, device: String) async throws -> Resolution {
        guard UUID(uuidString: tenant) != nil, UUID(uuidString: device) != nil else { return .refused("tenant or device id is not a UUID") }
        guard let deviceRecord = try await self.get(self.deviceAPI, "/api/v1/devices/\(device)", tenant: tenant) else {
            return .refused("device \(device) is not registered in tenant \(tenant)")
        }
        if deviceRecord["status"]?.string == "decommissioned" { return .refused("device \(device) is decommissioned") }
        guard let typeID = deviceRecord["deviceTypeId"]?.string else { return .refused("device \(device) has no device type") }
        guard let type = try await self.get(self.deviceAPI, "/api/v1/device-types/\(typeID.lowercased())", tenant: tenant) else {
            return .refused("device type \(typeID) of device \(device) is not visible")
        }
        guard let subject = type["schemaSubject"]?.string else { return .unvalidated }
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

    /// The JSON body of a GET, nil on 404.
    private func get(_ service: UpstreamService, _ path: String, tenant: String) async throws -> JSON? {
        let response = try await self.client.execute(HTTPClientRequest(url: service.baseURL + path, headers: [
            (HTTPField.Name.gatewayToken.rawName, self.gatewayToken),
            (HTTPField.Name.callerSubject.rawName, "service:ingestion"),
            (HTTPField.Name.callerTenant.rawName, tenant),
            (HTTPField.Name.callerRoles.rawName, Role.viewer.rawValue),
        ]))
        switch response.status {
        case 200:
            do {
                return try JSON.parse(response.body)
            } catch {
                throw ClientError(.unreachable, client: "http", "\(service.name) answered with unreadable JSON")
            }
        case 404, 403:
            return nil
        default:
            throw ClientError(.unreachable, client: "http", "\(service.name) answered \(response.status) for \(path)")
        }
    }
}
