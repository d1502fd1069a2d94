import ClientRuntime
import Curl
import Foundation
import HTTPTypes
import SensormineClients
import SensormineContracts
import SensormineCore
import SensormineJSON

/// Reads another service's API directly, presenting this service's own token and acting as a
/// viewer of one tenant (the trust model in the README): what the telemetry consumers need to
/// know about devices, types, assets, tenants and schemas.
public struct ServiceReader: Sendable {
    private let client: HTTPClient
    private let serviceToken: String
    private let subject: String

    /// Creates a reader that calls as `subject` (e.g. `service:ingestion`) with `serviceToken`.
    public init(client: HTTPClient, serviceToken: String, subject: String) {
        self.client = client
        self.serviceToken = serviceToken
        self.subject = subject
    }

    /// A contract type from `service`; nil when it answers that the tenant cannot see it.
    /// - Throws: ``ClientError`` `unreachable` when the service is down, answers another status
    ///   or a body that is not a `Value`.
    public func get<Value: Decodable>(_ type: Value.Type, from service: UpstreamService, _ path: String, tenant: String) async throws -> Value? {
        guard let body = try await self.fetch(service, path, tenant: tenant) else { return nil }
        do {
            return try ContractCoding.decoder().decode(Value.self, from: Data(body))
        } catch {
            throw ClientError(.unreachable, client: "http", "\(service.name) answered \(path) with a body that is not a \(Value.self): \(error)")
        }
    }

    /// A JSON document from `service`; nil when it answers that the tenant cannot see it.
    /// - Throws: ``ClientError`` `unreachable` when the service is down or answers unreadable JSON.
    public func get(_ service: UpstreamService, _ path: String, tenant: String) async throws -> JSON? {
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
            (HTTPField.Name.callerSubject.rawName, self.subject),
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
