import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SensormineCore
import Testing
import SensormineContracts

@testable import DeviceAPI

@Suite("DeviceAPI role × endpoint matrix")
struct RoleMatrixTests {
    /// One endpoint: how to prepare a fresh target, and the weakest role allowed to call it.
    struct Endpoint: Sendable {
        var name: String
        var weakest: Role
        var success: HTTPResponse.Status
        var request: @Sendable (DeviceFixture, any TestClientProtocol) async throws -> (HTTPRequest.Method, String, String?)
    }

    static let endpoints: [Endpoint] = [
        Endpoint(name: "GET tenants", weakest: .viewer, success: .ok) { f, _ in (.get, "/api/v1/tenants", nil) },
        Endpoint(name: "GET tenant", weakest: .viewer, success: .ok) { f, _ in (.get, "/api/v1/tenants/\(f.organisation.id)", nil) },
        Endpoint(name: "POST sub-tenant", weakest: .tenantAdmin, success: .created) { f, _ in
            (.post, "/api/v1/tenants", #"{"name":"S \#(UUID().uuidString.prefix(8))","kind":"site","parentId":"\#(f.organisation.id)"}"#)
        },
        Endpoint(name: "PATCH tenant", weakest: .tenantAdmin, success: .ok) { f, _ in (.patch, "/api/v1/tenants/\(f.organisation.id)", #"{"settings":{"branding":{"displayName":"Renamed"}}}"#) },
        Endpoint(name: "DELETE sub-tenant", weakest: .tenantAdmin, success: .noContent) { f, client in
            let site = try await client.createTenant(#"{"name":"D \#(UUID().uuidString.prefix(8))","kind":"site","parentId":"\#(f.organisation.id)"}"#, as: f.admin)
            return (.delete, "/api/v1/tenants/\(site.id)", nil)
        },
        Endpoint(name: "GET users", weakest: .tenantAdmin, success: .ok) { f, _ in (.get, "/api/v1/tenants/\(f.organisation.id)/users", nil) },
        Endpoint(name: "POST user", weakest: .tenantAdmin, success: .created) { f, _ in
            (.post, "/api/v1/tenants/\(f.organisation.id)/users", #"{"email":"u-\#(UUID().uuidString.prefix(8))@example.com","password":"a long enough password","roles":["viewer"]}"#)
        },
        Endpoint(name: "GET device types", weakest: .viewer, success: .ok) { _, _ in (.get, "/api/v1/device-types", nil) },
        Endpoint(name: "GET device type", weakest: .viewer, success: .ok) { f, _ in (.get, "/api/v1/device-types/\(f.deviceType.id)", nil) },
        Endpoint(name: "POST device type", weakest: .tenantAdmin, success: .created) { f, _ in
            (.post, "/api/v1/device-types", #"{"name":"T \#(UUID().uuidString.prefix(8))","tenantId":"\#(f.organisation.id)"}"#)
        },
        Endpoint(name: "PATCH device type", weakest: .tenantAdmin, success: .ok) { f, _ in (.patch, "/api/v1/device-types/\(f.deviceType.id)", #"{"description":"changed"}"#) },
        Endpoint(name: "DELETE device type", weakest: .tenantAdmin, success: .noContent) { f, client in
            let type = try await client.created(DeviceType.self, .post, "/api/v1/device-types", as: f.admin, json: #"{"name":"Tmp \#(UUID().uuidString.prefix(8))"}"#)
            return (.delete, "/api/v1/device-types/\(type.id)", nil)
        },
        Endpoint(name: "GET assets", weakest: .viewer, success: .ok) { _, _ in (.get, "/api/v1/assets", nil) },
        Endpoint(name: "GET asset", weakest: .viewer, success: .ok) { f, _ in (.get, "/api/v1/assets/\(f.machine.id)", nil) },
        Endpoint(name: "POST asset", weakest: .operator, success: .created) { f, _ in
            (.post, "/api/v1/assets", #"{"kind":"site","name":"Site \#(UUID().uuidString.prefix(8))","tenantId":"\#(f.organisation.id)"}"#)
        },
        Endpoint(name: "PATCH asset", weakest: .operator, success: .ok) { f, _ in (.patch, "/api/v1/assets/\(f.machine.id)", #"{"attributes":{"k":"v"}}"#) },
        Endpoint(name: "DELETE asset", weakest: .operator, success: .noContent) { f, client in
            let site = try await client.created(Asset.self, .post, "/api/v1/assets", as: f.admin, json: #"{"kind":"site","name":"Tmp \#(UUID().uuidString.prefix(8))"}"#)
            return (.delete, "/api/v1/assets/\(site.id)", nil)
        },
        Endpoint(name: "GET devices", weakest: .viewer, success: .ok) { _, _ in (.get, "/api/v1/devices", nil) },
        Endpoint(name: "GET device", weakest: .viewer, success: .ok) { f, client in
            (.get, "/api/v1/devices/\(try await f.registerDevice(client, name: "m-\(UUID().uuidString.prefix(8))").id)", nil)
        },
        Endpoint(name: "POST device", weakest: .operator, success: .created) { f, _ in
            (.post, "/api/v1/devices", #"{"name":"m-\#(UUID().uuidString.prefix(8))","deviceTypeId":"\#(f.deviceType.id)","tenantId":"\#(f.organisation.id)"}"#)
        },
        Endpoint(name: "POST device activity", weakest: .operator, success: .ok) { f, client in
            let device = try await f.registerDevice(client, name: "a-\(UUID().uuidString.prefix(8))")
            return (.post, "/api/v1/devices/activity", #"{"devices":[{"id":"\#(device.id)","lastSeenAt":"2026-01-01T00:00:00Z"}]}"#)
        },
        Endpoint(name: "PATCH device", weakest: .operator, success: .ok) { f, client in
            (.patch, "/api/v1/devices/\(try await f.registerDevice(client, name: "m-\(UUID().uuidString.prefix(8))").id)", #"{"tags":["x"]}"#)
        },
        Endpoint(name: "DELETE device", weakest: .operator, success: .ok) { f, client in
            (.delete, "/api/v1/devices/\(try await f.registerDevice(client, name: "m-\(UUID().uuidString.prefix(8))").id)", nil)
        },
        Endpoint(name: "POST api key", weakest: .operator, success: .created) { f, client in
            (.post, "/api/v1/devices/\(try await f.registerDevice(client, name: "m-\(UUID().uuidString.prefix(8))").id)/api-keys", "{}")
        },
        Endpoint(name: "GET api keys", weakest: .viewer, success: .ok) { f, client in
            (.get, "/api/v1/devices/\(try await f.registerDevice(client, name: "m-\(UUID().uuidString.prefix(8))").id)/api-keys", nil)
        },
        Endpoint(name: "DELETE api key", weakest: .operator, success: .noContent) { f, client in
            let device = try await f.registerDevice(client, name: "m-\(UUID().uuidString.prefix(8))")
            let key = try await client.created(IssuedAPIKey.self, .post, "/api/v1/devices/\(device.id)/api-keys", as: f.admin, json: "{}")
            return (.delete, "/api/v1/devices/\(device.id)/api-keys/\(key.apiKey.id)", nil)
        },
        Endpoint(name: "rotate api key", weakest: .operator, success: .created) { f, client in
            let device = try await f.registerDevice(client, name: "m-\(UUID().uuidString.prefix(8))")
            let key = try await client.created(IssuedAPIKey.self, .post, "/api/v1/devices/\(device.id)/api-keys", as: f.admin, json: "{}")
            return (.post, "/api/v1/devices/\(device.id)/api-keys/\(key.apiKey.id)/rotate", "{}")
        },
        Endpoint(name: "PUT mqtt credentials", weakest: .operator, success: .ok) { f, client in
            (.put, "/api/v1/devices/\(try await f.registerDevice(client, name: "m-\(UUID().uuidString.prefix(8))").id)/mqtt-credentials", nil)
        },
    ]

    @Test("each role is allowed exactly the endpoints its rank permits; devices are allowed none")
    func matrix() async throws {
        let app = try await DeviceAPITestApp.make()
        try await app.test(.live) { client in
            let fixture = try await DeviceFixture.make(client)
            let roles: [Role] = [.platformAdmin, .tenantAdmin, .operator, .viewer, .device]
            var checked = 0
            for endpoint in Self.endpoints {
                for role in roles {
                    let tenant = role == .platformAdmin ? UUID() : fixture.organisation.id
                    let caller = CallerIdentity(subject: "matrix-\(role.rawValue)", tenantID: tenant, roles: [role])
                    let (method, uri, body) = try await endpoint.request(fixture, client)
                    var response = try await client.call(method, uri, as: caller, json: body)
                    // The broker connection may still be coming up on the first MQTT call.
                    for _ in 0..<50 where response.status == .serviceUnavailable {
                        try await Task.sleep(for: .milliseconds(100))
                        response = try await client.call(method, uri, as: caller, json: body)
                    }
                    let allowed = role >= endpoint.weakest
                    let expected: HTTPResponse.Status = allowed ? endpoint.success : .forbidden
                    #expect(response.status == expected, "\(role.rawValue) \(endpoint.name): \(response.status) \(String(buffer: response.body))")
                    checked += 1
                }
            }
            #expect(checked == Self.endpoints.count * roles.count)
            // Leave no broker accounts behind: decommission what the matrix provisioned.
            let page = try await client.ok(DevicePage.self, .get, "/api/v1/devices?limit=1000&status=active&tenantId=\(fixture.organisation.id)", as: fixture.viewer)
            for device in page.items { _ = try await client.call(.delete, "/api/v1/devices/\(device.id)", as: fixture.admin) }
        }
    }
}
