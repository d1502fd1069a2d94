import ClientRuntime
import Curl
import Foundation
import HTTPTypes
import LibPQ
import Logging
import SensormineClients
import SensormineContracts
import SensormineCore

/// Sets each changed plan in DeviceAPI's tenant settings (what tokens and API keys carry), from
/// `billing_plan_sync` after the subscription's transaction commits: at least once, in order,
/// retried while DeviceAPI is away. An organisation deleted meanwhile is skipped.
enum TenantPlanSync {
    static func relay(database: PostgresClient, client: HTTPClient, deviceAPI: UpstreamService, token: String, logger: Logger) -> OutboxRelay {
        OutboxRelay(name: "TenantPlanSync", database: database, table: "billing_plan_sync", columns: "id, organisation_id, plan_id",
                    batchSize: 50, idleInterval: .milliseconds(200), logger: logger) { rows in
            let encoder = ContractCoding.encoder()
            for row in rows {
                guard let organisation = row["organisation_id"], let plan = row["plan_id"] else { continue }
                let response = try await client.execute(HTTPClientRequest(
                    method: "PUT", url: "\(deviceAPI.baseURL)/api/v1/tenants/\(organisation)/plan",
                    headers: [
                        ("Content-Type", "application/json"),
                        (HTTPField.Name.gatewayToken.rawName, token),
                        (HTTPField.Name.callerSubject.rawName, "service:billing"),
                        (HTTPField.Name.callerTenant.rawName, organisation),
                        (HTTPField.Name.callerRoles.rawName, Role.platformAdmin.rawValue),
                    ],
                    body: Array(try encoder.encode(TenantPlan(plan: plan)))))
                switch response.status {
                case 200: continue
                case 404: logger.info("plan not set: the organisation no longer exists", metadata: ["organisation": "\(organisation)"])
                default: throw ClientError(.unreachable, client: "http", "DeviceAPI answered \(response.status) to the plan of \(organisation)")
                }
            }
        }
    }
}
