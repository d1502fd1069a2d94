import Curl
import Foundation
import SensormineClients
import LibPQ
import SensormineAuth
import SensormineCore
import SensormineJSON
import Testing

extension PipelineTests {
    @Test("a tenant given dedicated storage by a platform-admin has its points stored in its own table and read back as before")
    func dedicatedStorage() async throws {
        let tokens = try await AccessTokens(settings: try TokenSettings(reader: ConfigReader(values: PipelineTestStack.values(port: 0))))
        try await PipelineTestStack.run { gateway in
            let client = HTTPClient(configuration: .init(timeout: .seconds(30), maximumRetries: 0))
            let fixture = try await ProvisionedDevice.make(client, gateway: gateway, tokens: tokens, name: "Dedicated")
            let tenantID = try #require(UUID(uuidString: fixture.tenant))
            let orgAdmin = try await tokens.issue(for: CallerIdentity(subject: "ops", tenantID: tenantID, roles: [.tenantAdmin])).token
            let root = try await tokens.issue(for: CallerIdentity(subject: "root", tenantID: UUID(), roles: [.platformAdmin])).token

            // Placement is the operator's call: the tenant's own admin may not make it.
            let refused = try await PipelineTests.call(client, "PATCH", gateway + "/api/v1/tenants/\(fixture.tenant)", token: orgAdmin,
                                                       json: #"{"settings":{"dedicatedStorage":true}}"#)
            #expect(refused.status == 403)
            let moved = try await PipelineTests.call(client, "PATCH", gateway + "/api/v1/tenants/\(fixture.tenant)", token: root,
                                                     json: #"{"settings":{"dedicatedStorage":true,"retentionDays":30}}"#)
            #expect(moved.status == 200)
            #expect(moved.body["effectiveSettings"]?["dedicatedStorage"].map { if case .bool(true) = $0 { true } else { false } } == true)
            // A later change by the tenant's admin keeps the placement and the retention it may not change.
            let renamed = try await PipelineTests.call(client, "PATCH", gateway + "/api/v1/tenants/\(fixture.tenant)", token: orgAdmin,
                                                       json: #"{"settings":{"branding":{"displayName":"Dedicated"}}}"#)
            #expect(renamed.body["settings"]?["dedicatedStorage"].map { if case .bool(true) = $0 { true } else { false } } == true)
            #expect(renamed.body["settings"]?["retentionDays"]?.number == 30)

            let start = Date().addingTimeInterval(-600)
            let from = ISO8601DateFormatter().string(from: start.addingTimeInterval(-60))
            #expect(try await fixture.send(client, gateway: gateway, metric: "pressure", start: start, first: 0, count: 50) == 50)
            #expect(try await fixture.waitForStored(client, gateway: gateway, metric: "pressure", from: from, expected: 50) == 50)

            let database = PostgresClient(configuration: .init(url: try #require(ProcessInfo.processInfo.environment["SENSORMINE_TIMESERIES_DB_URL"]), name: "dedicated-check", sessionSettings: PostgresClient.Configuration.allTenants))
            let table = try #require(try await database.query("SELECT raw_table FROM tenant_tables WHERE tenant_id = $1", [tenantID]).first?["raw_table"])
            #expect(try await database.query("SELECT count(*) AS n FROM \(table)").first?.int("n") == 50)
            #expect(try await database.query("SELECT count(*) AS n FROM telemetry WHERE tenant_id = $1", [tenantID]).first?.int("n") == 0)
            _ = try await database.query("DROP TABLE \(table)")
            _ = try await database.query("DELETE FROM tenant_tables WHERE tenant_id = $1", [tenantID])
            _ = try await database.query("DELETE FROM telemetry_hourly WHERE tenant_id = $1", [tenantID])
            _ = try await database.query("DELETE FROM telemetry_hourly_pending WHERE tenant_id = $1", [tenantID])
            await database.shutdown()
            await client.shutdown()
        }
    }
}
