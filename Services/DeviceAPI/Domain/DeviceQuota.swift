import Foundation
import HTTPTypes
import Hiredis
import LibPQ
import Logging
import Metrics
import SensormineClients
import SensormineContracts
import SensormineCore

/// The device limit of an organisation's plan, as Billing's quota state in Redis says: a new
/// device is refused (429, quota-exceeded) once the organisation's subtree has registered as many
/// as the plan includes, when the plan hard-limits devices. Without a state (Billing has not
/// computed one yet) or without Redis, registration goes ahead: losing the limit for a moment
/// beats losing device registration. Two registrations at the same moment may both pass the
/// last free place (the count is not locked).
struct DeviceQuota: Sendable {
    let database: PostgresClient
    let redis: RedisClient
    let logger: Logger
    private let refused = Counter(label: "sensormine_deviceapi_quota_refused_total")

    init(database: PostgresClient, redis: RedisClient, logger: Logger) {
        self.database = database
        self.redis = redis
        self.logger = logger
    }

    /// Refuses one more device in `tenant` when its organisation's plan has no room for it.
    /// - Throws: ``APIError`` 429 `quota-exceeded`.
    func checkRoom(in tenant: UUID, caller: CallerIdentity) async throws {
        let organisation = try await self.database.withCaller(caller) { session in
            try await session.query("SELECT (path[1])::text AS organisation FROM tenants WHERE id = $1", [tenant]).first?["organisation"]
        }
        // A tenant the caller cannot see: the insert answers 404, as for any other caller.
        guard let organisation = organisation.flatMap(UUID.init(uuidString:)) else { return }
        let state: QuotaState
        do {
            guard let text = try await self.redis.command("HGET", QuotaState.redisKey(organisation), "state").string,
                  let decoded = try? ContractCoding.decoder().decode(QuotaState.self, from: Data(text.utf8)) else { return }
            state = decoded
        } catch {
            self.logger.warning("quota state unavailable; device registered without the check", metadata: [LogKey.error: "\(error)"])
            return
        }
        guard let quota = state[.activeDevices], quota.hardLimit else { return }
        let registered = try await self.database.withPlatformScope { session in
            try await session.query("SELECT count(*) AS devices FROM devices d JOIN tenants t ON t.id = d.tenant_id WHERE t.path @> ARRAY[$1::uuid]",
                                    [organisation]).first?.int("devices") ?? 0
        }
        guard Double(registered) + 1 > quota.included else { return }
        self.refused.increment()
        throw APIError(status: .tooManyRequests, slug: "quota-exceeded", title: "Quota exceeded",
                       detail: "the organisation's \(state.plan) plan includes \(Int(quota.included)) devices (resource active-devices) and \(registered) are registered; remove one or raise the plan",
                       headers: [.retryAfter: String(max(1, Int(state.periodEnd.timeIntervalSinceNow)))])
    }
}
