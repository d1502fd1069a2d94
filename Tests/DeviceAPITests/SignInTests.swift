import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import SensormineAuth
import SensormineCore
import Testing

@testable import DeviceAPI

@Suite("DeviceAPI users and sign-in")
struct SignInTests {
    let platformAdmin = CallerIdentity(subject: "root", tenantID: UUID(), roles: [.platformAdmin])

    func tokens() async throws -> AccessTokens {
        try await AccessTokens(settings: try DeviceAPITestApp.configuration().tokens)
    }

    func signIn(_ client: some TestClientProtocol, _ json: String) async throws -> TestResponse {
        try await client.call(.post, "/api/v1/auth/token", as: nil, json: json)
    }

    @Test("the bootstrap platform-admin signs in and gets a platform-admin token")
    func bootstrapAdmin() async throws {
        let configuration = try DeviceAPITestApp.configuration()
        let password = try #require(configuration.bootstrapAdminPassword, "make test sets SENSORMINE_BOOTSTRAP_ADMIN_PASSWORD")
        var logger = Logger(label: "migrate")
        logger.logLevel = .warning
        try await DeviceAPIService.migrate(configuration, logger: logger)
        try await DeviceAPIService.migrate(configuration, logger: logger)  // idempotent
        let app = try await DeviceAPITestApp.make()
        try await app.test(.live) { client in
            let response = try await signIn(client, #"{"grant_type":"password","username":"\#(configuration.bootstrapAdminEmail)","password":"\#(password)"}"#)
            #expect(response.status == .ok)
            let issued = try DeviceAPITestApp.decode(TokenResponse.self, response)
            #expect(issued.token_type == "Bearer")
            let identity = try await tokens().verify(issued.access_token)
            #expect(identity.roles == [.platformAdmin])
        }
    }

    @Test("a tenant-admin is onboarded, signs in, refreshes once; bad passwords and replays are refused")
    func onboarding() async throws {
        let app = try await DeviceAPITestApp.make()
        try await app.test(.live) { client in
            let org = try await client.createTenant(#"{"name":"Onboard \#(UUID().uuidString.prefix(8))","kind":"organisation"}"#, as: platformAdmin)
            let email = "admin-\(UUID().uuidString.prefix(8).lowercased())@example.com"
            let created = try await client.call(.post, "/api/v1/tenants/\(org.id)/users", as: platformAdmin,
                                                json: #"{"email":"\#(email)","password":"correct horse battery","roles":["tenant-admin"]}"#)
            #expect(created.status == .created)
            #expect(!String(buffer: created.body).contains("correct horse"))
            #expect(!String(buffer: created.body).contains("scrypt"))

            let response = try await signIn(client, #"{"grant_type":"password","username":"\#(email.uppercased())","password":"correct horse battery"}"#)
            #expect(response.status == .ok)
            let issued = try DeviceAPITestApp.decode(TokenResponse.self, response)
            let identity = try await tokens().verify(issued.access_token)
            #expect(identity.tenantID == org.id)
            #expect(identity.organisationID == org.id)
            #expect(identity.roles == [.tenantAdmin])

            let refreshed = try await signIn(client, #"{"grant_type":"refresh_token","refresh_token":"\#(issued.refresh_token)"}"#)
            #expect(refreshed.status == .ok)
            #expect(try await signIn(client, #"{"grant_type":"refresh_token","refresh_token":"\#(issued.refresh_token)"}"#).status == .badRequest)
            #expect(try await signIn(client, #"{"grant_type":"password","username":"\#(email)","password":"wrong password!"}"#).status == .badRequest)
            #expect(try await signIn(client, #"{"grant_type":"password","username":"nobody@example.com","password":"whatever12345"}"#).status == .badRequest)
            #expect(try await signIn(client, #"{"grant_type":"client_credentials"}"#).status == .unprocessableContent)

            // What the new tenant-admin may and may not do.
            let tenantAdmin = identity
            #expect(try await client.call(.post, "/api/v1/tenants/\(org.id)/users", as: tenantAdmin,
                                          json: #"{"email":"x-\#(email)","password":"long enough password","roles":["platform-admin"]}"#).status == .forbidden)
            #expect(try await client.call(.post, "/api/v1/tenants/\(org.id)/users", as: tenantAdmin,
                                          json: #"{"email":"op-\#(email)","password":"short","roles":["operator"]}"#).status == .unprocessableContent)
            #expect(try await client.call(.post, "/api/v1/tenants/\(org.id)/users", as: tenantAdmin,
                                          json: #"{"email":"op-\#(email)","password":"long enough password","roles":["operator"]}"#).status == .created)
            #expect(try await client.call(.post, "/api/v1/tenants/\(org.id)/users", as: tenantAdmin,
                                          json: #"{"email":"OP-\#(email)","password":"long enough password","roles":["viewer"]}"#).status == .conflict)
            let listed = try DeviceAPITestApp.decode(UserList.self, try await client.call(.get, "/api/v1/tenants/\(org.id)/users", as: tenantAdmin))
            #expect(listed.items.map(\.email).sorted() == [email, "op-\(email)"].sorted())
            let stranger = CallerIdentity(subject: "s", tenantID: UUID(), roles: [.tenantAdmin])
            #expect(try await client.call(.get, "/api/v1/tenants/\(org.id)/users", as: stranger).status == .notFound)

            // The token endpoint answers only through the gateway.
            var direct = HTTPFields()
            direct[.contentType] = "application/json"
            #expect(try await client.execute(uri: "/api/v1/auth/token", method: .post, headers: direct,
                                             body: .init(string: #"{"grant_type":"password","username":"\#(email)","password":"correct horse battery"}"#)).status == .unauthorized)
        }
    }
}
