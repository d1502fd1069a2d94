import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LibPQ
import Logging
import SensormineCore
import Testing

@testable import DeviceAPI

/// Builds the real DeviceAPI against the local stack, as `make test` exports it.
enum DeviceAPITestApp {
    static func configuration() throws -> DeviceAPIConfiguration {
        var values = ProcessInfo.processInfo.environment.filter { $0.key.hasPrefix("SENSORMINE_") }
        values["SENSORMINE_HTTP_PORT"] = "0"
        values["SENSORMINE_HTTP_HOST"] = "127.0.0.1"
        return try DeviceAPIConfiguration(reader: ConfigReader(values: values))
    }

    static func make() async throws -> ServiceApplication {
        var logger = Logger(label: "device-api-tests")
        logger.logLevel = .warning
        return try await DeviceAPIService.buildApplication(try configuration(), observability: Observability(logger: logger))
    }

    static func headers(_ caller: CallerIdentity?, token: String? = nil, via service: ServiceCaller = .gateway) throws -> HTTPFields {
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

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()

    static func decode<Value: Decodable>(_ type: Value.Type, _ response: TestResponse) throws -> Value {
        try decoder.decode(type, from: Data(String(buffer: response.body).utf8))
    }
}

extension TestClientProtocol {
    /// Sends a JSON request as `caller` and returns the response.
    func call(_ method: HTTPRequest.Method, _ uri: String, as caller: CallerIdentity?, json: String? = nil, via service: ServiceCaller = .gateway) async throws -> TestResponse {
        try await self.execute(uri: uri, method: method, headers: try DeviceAPITestApp.headers(caller, via: service), body: json.map { ByteBuffer(string: $0) })
    }

    /// Creates a tenant and returns it, failing the test on any other answer than 201.
    func createTenant(_ json: String, as caller: CallerIdentity) async throws -> Tenant {
        let response = try await self.call(.post, "/api/v1/tenants", as: caller, json: json)
        #expect(response.status == .created, "\(String(buffer: response.body))")
        return try DeviceAPITestApp.decode(Tenant.self, response)
    }
}

@Suite("DeviceAPI tenants")
struct TenantTests {
    let platformAdmin = CallerIdentity(subject: "root", tenantID: UUID(), roles: [.platformAdmin])

    @Test("a tenant tree: each role sees its own subtree, settings inherit, changes flow down")
    func hierarchy() async throws {
        let app = try await DeviceAPITestApp.make()
        try await app.test(.live) { client in
            let orgName = "Org \(UUID().uuidString.prefix(8))"
            // A plan is Billing's to set, not even a platform-admin's through DeviceAPI.
            #expect(try await client.call(.post, "/api/v1/tenants", as: platformAdmin,
                                          json: #"{"name":"\#(orgName)","kind":"organisation","settings":{"plan":"enterprise"}}"#).status == .forbidden)
            var org = try await client.createTenant(
                #"{"name":"\#(orgName)","kind":"organisation","settings":{"retentionDays":365,"features":{"alerts":true},"branding":{"displayName":"Acme"}}}"#,
                as: platformAdmin
            )
            #expect(try await client.call(.put, "/api/v1/tenants/\(org.id)/plan", as: platformAdmin, json: #"{"plan":"enterprise"}"#).status == .forbidden)
            org = try DeviceAPITestApp.decode(Tenant.self, try await client.call(.put, "/api/v1/tenants/\(org.id)/plan", as: platformAdmin,
                                                                                json: #"{"plan":"enterprise"}"#, via: .billing))
            #expect(org.settings.plan == "enterprise")
            let orgAdmin = CallerIdentity(subject: "org-admin", tenantID: org.id, roles: [.tenantAdmin])
            let siteA = try await client.createTenant(
                #"{"name":"Site A","kind":"site","parentId":"\#(org.id)","settings":{"retentionDays":30,"features":{"export":true}}}"#, as: orgAdmin)
            let siteB = try await client.createTenant(#"{"name":"Site B","kind":"site","parentId":"\#(org.id)"}"#, as: orgAdmin)
            #expect(siteA.effectiveSettings == TenantSettings(plan: "enterprise", retentionDays: 30, features: ["alerts": true, "export": true],
                                                             branding: .init(displayName: "Acme")))
            #expect(siteB.effectiveSettings == org.effectiveSettings)

            let operatorA = CallerIdentity(subject: "op-a", tenantID: siteA.id, roles: [.operator])
            let viewerB = CallerIdentity(subject: "viewer-b", tenantID: siteB.id, roles: [.viewer])
            let seenByA = try DeviceAPITestApp.decode(TenantPage.self, try await client.call(.get, "/api/v1/tenants", as: operatorA))
            #expect(seenByA.items.map(\.id) == [siteA.id])
            let children = try DeviceAPITestApp.decode(TenantPage.self, try await client.call(.get, "/api/v1/tenants?parentId=\(org.id)", as: orgAdmin))
            #expect(Set(children.items.map(\.id)) == [siteA.id, siteB.id])
            #expect(try await client.call(.get, "/api/v1/tenants/\(siteA.id)", as: viewerB).status == .notFound)
            #expect(try await client.call(.get, "/api/v1/tenants/\(org.id)", as: operatorA).status == .notFound)
            #expect(try await client.call(.get, "/api/v1/tenants/\(siteA.id)", as: orgAdmin).status == .ok)

            // A tenant-admin cannot raise its own limits; a branding change keeps the plan and retention.
            for json in [#"{"settings":{"plan":"standard"}}"#, #"{"settings":{"retentionDays":3650}}"#, #"{"settings":{"plan":"enterprise","retentionDays":3650}}"#] {
                #expect(try await client.call(.patch, "/api/v1/tenants/\(org.id)", as: orgAdmin, json: json).status == .forbidden)
            }
            let rebranded = try DeviceAPITestApp.decode(Tenant.self, try await client.call(.patch, "/api/v1/tenants/\(org.id)", as: orgAdmin,
                                                                                            json: #"{"settings":{"branding":{"displayName":"Acme Two"}}}"#))
            #expect(rebranded.settings.plan == "enterprise")
            #expect(rebranded.settings.retentionDays == 365)
            // A sub-tenant's retention stays within its parent's; its plan is a platform-admin's.
            #expect(try await client.call(.patch, "/api/v1/tenants/\(siteA.id)", as: orgAdmin, json: #"{"settings":{"retentionDays":366}}"#).status == .forbidden)
            #expect(try await client.call(.patch, "/api/v1/tenants/\(siteA.id)", as: orgAdmin, json: #"{"settings":{"plan":"enterprise"}}"#).status == .forbidden)
            #expect(try await client.call(.post, "/api/v1/tenants", as: orgAdmin,
                                          json: #"{"name":"Greedy","kind":"site","parentId":"\#(org.id)","settings":{"retentionDays":3650}}"#).status == .forbidden)
            let siteAAdmin = CallerIdentity(subject: "admin-a", tenantID: siteA.id, roles: [.tenantAdmin])
            #expect(try await client.call(.patch, "/api/v1/tenants/\(siteA.id)", as: siteAAdmin, json: #"{"settings":{"retentionDays":20}}"#).status == .forbidden)

            // A parent's change reaches what its children inherit, but not what they override;
            // a platform-admin's settings keep the plan Billing set.
            #expect(try await client.call(.patch, "/api/v1/tenants/\(org.id)", as: platformAdmin, json: #"{"settings":{"plan":"standard"}}"#).status == .forbidden)
            #expect(try await client.call(.put, "/api/v1/tenants/\(siteA.id)/plan", as: platformAdmin, json: #"{"plan":"standard"}"#, via: .billing).status == .unprocessableContent)
            #expect(try await client.call(.put, "/api/v1/tenants/\(org.id)/plan", as: platformAdmin, json: #"{"plan":"standard"}"#, via: .billing).status == .ok)
            let patched = try await client.call(.patch, "/api/v1/tenants/\(org.id)", as: platformAdmin,
                                                json: #"{"settings":{"retentionDays":90,"branding":{"displayName":"Acme"}}}"#)
            #expect(patched.status == .ok)
            let siteANow = try DeviceAPITestApp.decode(Tenant.self, try await client.call(.get, "/api/v1/tenants/\(siteA.id)", as: operatorA))
            #expect(siteANow.effectiveSettings.plan == "standard")
            #expect(siteANow.effectiveSettings.retentionDays == 30)

            // Roles: operators and viewers change nothing; only a platform-admin creates organisations.
            #expect(try await client.call(.post, "/api/v1/tenants", as: operatorA, json: #"{"name":"x","kind":"department","parentId":"\#(siteA.id)"}"#).status == .forbidden)
            #expect(try await client.call(.patch, "/api/v1/tenants/\(siteB.id)", as: viewerB, json: #"{"name":"y"}"#).status == .forbidden)
            #expect(try await client.call(.post, "/api/v1/tenants", as: orgAdmin, json: #"{"name":"Rogue","kind":"organisation"}"#).status == .forbidden)
            // Writes into a sibling are refused as if it did not exist.
            let siteAdminB = CallerIdentity(subject: "admin-b", tenantID: siteB.id, roles: [.tenantAdmin])
            #expect(try await client.call(.patch, "/api/v1/tenants/\(siteA.id)", as: siteAdminB, json: #"{"name":"Mine"}"#).status == .notFound)
            #expect(try await client.call(.post, "/api/v1/tenants", as: siteAdminB, json: #"{"name":"Sneaky","kind":"department","parentId":"\#(siteA.id)"}"#).status == .notFound)

            // Deletion: never your own tenant, never one with children.
            #expect(try await client.call(.delete, "/api/v1/tenants/\(org.id)", as: orgAdmin).status == .forbidden)
            #expect(try await client.call(.delete, "/api/v1/tenants/\(org.id)", as: platformAdmin).status == .conflict)
            #expect(try await client.call(.post, "/api/v1/tenants", as: orgAdmin, json: #"{"name":"site a","kind":"site","parentId":"\#(org.id)"}"#).status == .conflict)
            #expect(try await client.call(.delete, "/api/v1/tenants/\(siteA.id)", as: orgAdmin).status == .noContent)
            #expect(try await client.call(.get, "/api/v1/tenants/\(siteA.id)", as: orgAdmin).status == .notFound)
            #expect(try await client.call(.delete, "/api/v1/tenants/\(siteB.id)", as: platformAdmin).status == .noContent)
            #expect(try await client.call(.delete, "/api/v1/tenants/\(org.id)", as: platformAdmin).status == .noContent)
        }
    }

    @Test("row-level security alone confines a session to its tenant's subtree")
    func rowLevelSecurity() async throws {
        let app = try await DeviceAPITestApp.make()
        try await app.test(.live) { client in
            let org = try await client.createTenant(#"{"name":"RLS \#(UUID().uuidString.prefix(8))","kind":"organisation"}"#, as: platformAdmin)
            let orgAdmin = CallerIdentity(subject: "a", tenantID: org.id, roles: [.tenantAdmin])
            let siteA = try await client.createTenant(#"{"name":"A","kind":"site","parentId":"\#(org.id)"}"#, as: orgAdmin)
            let siteB = try await client.createTenant(#"{"name":"B","kind":"site","parentId":"\#(org.id)"}"#, as: orgAdmin)
            let ours: Set<String> = [org.id, siteA.id, siteB.id].map { $0.uuidString.lowercased() }.reduce(into: []) { $0.insert($1) }

            // Straight to the database, bypassing the application's own filter.
            let database = PostgresClient(configuration: try DeviceAPITestApp.configuration().metadataDatabase)
            func visible(as tenant: UUID?) async throws -> Set<String> {
                try await database.withTransaction { session in
                    if let tenant { try await session.query("SELECT set_config('sensormine.tenant', $1, true)", [tenant]) }
                    let ids = try await session.query("SELECT id FROM tenants").rows.compactMap { $0[0] }
                    return Set(ids).intersection(ours)
                }
            }
            #expect(try await visible(as: siteA.id) == [siteA.id.uuidString.lowercased()])
            #expect(try await visible(as: org.id) == ours)
            #expect(try await visible(as: nil).isEmpty)
            // A write outside the session's subtree violates the policy (SQLSTATE 42501).
            let refused = await #expect(throws: (any Error).self) {
                try await database.withTransaction { session in
                    try await session.query("SELECT set_config('sensormine.tenant', $1, true)", [siteA.id])
                    try await session.execute("UPDATE tenants SET name = 'hijacked' WHERE id = $1", [siteB.id])
                    let intruder = UUID()
                    try await session.execute(
                        "INSERT INTO tenants (id, parent_id, path, name, kind) VALUES ($1, $2, $3::uuid[], 'evil', 'department')",
                        [intruder, siteB.id, "{\(org.id),\(siteB.id),\(intruder)}"]
                    )
                }
            }
            #expect("\(refused.map { "\($0)" } ?? "")".contains("42501"))
            let siteBName = try DeviceAPITestApp.decode(Tenant.self, try await client.call(.get, "/api/v1/tenants/\(siteB.id)", as: orgAdmin)).name
            #expect(siteBName == "B")
            await database.shutdown()
            for tenant in [siteA, siteB, org] {
                #expect(try await client.call(.delete, "/api/v1/tenants/\(tenant.id)", as: platformAdmin).status == .noContent)
            }
        }
    }

    @Test("bad credentials are 401 and bad input is a problem naming the field")
    func authenticationAndValidation() async throws {
        let app = try await DeviceAPITestApp.make()
        try await app.test(.live) { client in
            var noToken = try DeviceAPITestApp.headers(platformAdmin)
            noToken[.gatewayToken] = nil
            let missing = try await client.execute(uri: "/api/v1/tenants", method: .get, headers: noToken)
            #expect(missing.status == .unauthorized)
            #expect(missing.headers[.contentType] == "application/problem+json")
            let forged = try await client.execute(uri: "/api/v1/tenants", method: .get, headers: try DeviceAPITestApp.headers(platformAdmin, token: "x" + String(repeating: "y", count: 40)))
            #expect(forged.status == .unauthorized)
            #expect(try await client.call(.get, "/api/v1/tenants", as: nil).status == .unauthorized)

            #expect(try await client.call(.post, "/api/v1/tenants", as: platformAdmin, json: "{not json").status == .badRequest)
            let invalid = try await client.call(.post, "/api/v1/tenants", as: platformAdmin,
                                                json: #"{"name":"  ","kind":"site","settings":{"retentionDays":0,"branding":{"primaryColor":"red"}}}"#)
            #expect(invalid.status == .unprocessableContent)
            let problem = try DeviceAPITestApp.decode(ProblemDetails.self, invalid)
            #expect(Set(problem.errors?.map(\.pointer) ?? []) == ["/name", "/kind", "/settings/retentionDays", "/settings/branding/primaryColor"])
            #expect(try await client.call(.post, "/api/v1/tenants", as: platformAdmin, json: #"{"name":"Orphan","kind":"site","parentId":"\#(UUID())"}"#).status == .notFound)
            #expect(try await client.call(.get, "/api/v1/tenants?limit=0", as: platformAdmin).status == .badRequest)
            #expect(try await client.call(.get, "/api/v1/tenants/not-a-uuid", as: platformAdmin).status == .badRequest)
        }
    }
}
