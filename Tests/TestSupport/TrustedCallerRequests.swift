import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SensormineCore
import SensormineJSON

/// Requests to a service app as the ApiGateway sends them: its token, and the caller's identity
/// in the headers it asserts.
public enum TrustedCallerRequests {
    /// The headers of a request from `caller` (none: the token alone); `token` replaces the
    /// gateway token of the environment.
    public static func headers(_ caller: CallerIdentity?, token: String? = nil, via service: ServiceCaller = .gateway) throws -> HTTPFields {
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        fields[.gatewayToken] = try token ?? GatewaySettings.token(reader: ConfigReader(values: ProcessInfo.processInfo.environment), caller: service)
        if let caller {
            fields[.callerSubject] = caller.subject
            fields[.callerTenant] = caller.tenantID.uuidString
            fields[.callerRoles] = caller.roles.map(\.rawValue).sorted().joined(separator: ",")
        }
        return fields
    }
}

extension TestClientProtocol {
    /// Calls `uri` as `caller` through the gateway's trust (or another service's); the status
    /// and the body as JSON (null when empty).
    public func call(_ method: HTTPRequest.Method, _ uri: String, as caller: CallerIdentity, json: String? = nil,
                     via service: ServiceCaller = .gateway) async throws -> (HTTPResponse.Status, JSON) {
        let response = try await self.execute(uri: uri, method: method, headers: try TrustedCallerRequests.headers(caller, via: service),
                                              body: json.map { ByteBuffer(string: $0) })
        let text = String(buffer: response.body)
        return (response.status, text.isEmpty ? .null : try JSON.parse(text))
    }
}
