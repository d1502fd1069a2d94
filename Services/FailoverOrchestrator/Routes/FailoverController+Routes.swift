import Foundation
import Hummingbird
import SensormineCore

/// What the orchestrator's routes refuse with.
typealias FailoverError = ServiceError

extension ClusterStatus: ResponseEncodable {}
extension FailoverRecord: ResponseEncodable {}

/// `GET /status` for operators and probes inside the cluster; through the gateway,
/// `GET /api/v1/failover/status` (platform-admin) and `POST /api/v1/failover/{region}`, the
/// manual switchover to the standby in that region (platform-admin; `?force=true` accepts a
/// lagging target), and `POST /api/v1/failover/redis`, a Sentinel failover.
struct FailoverRoutes: Sendable {
    let controller: FailoverController

    func addRoutes(to router: Router<SensormineRequestContext>, callers: TrustedCallers) {
        router.get("/status") { _, _ in self.controller.status() }
        let group = router.group("/api/v1/failover").add(middleware: TrustedIdentityMiddleware(callers: callers))
        group.get("status") { _, context in
            try Self.requireAdmin(context)
            return self.controller.status()
        }
        group.post("{region}", use: self.switchover)
    }

    @Sendable func switchover(_ request: Request, context: SensormineRequestContext) async throws -> FailoverRecord {
        try Self.requireAdmin(context)
        let region = try context.parameters.require("region")
        guard region.count <= 63, region.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
            throw FailoverError.invalid("the region is letters, digits, - and _ (at most 63)", [.init(pointer: "region", detail: "not a region name")])
        }
        let force: Bool
        switch request.uri.queryParameters.get("force") {
        case nil, "false": force = false
        case "true": force = true
        default: throw FailoverError.invalid("force is true or false", [.init(pointer: "force", detail: "not a boolean")])
        }
        if region == "redis" {
            do { try await self.controller.redisSwitchover() } catch { throw FailoverError.unavailable("the Sentinels refused the failover: \(error)") }
            return FailoverRecord(reason: "switchover", from: "redis", to: "redis", epoch: 0, startedAt: .now, completedAt: .now, durationMilliseconds: nil,
                                  synchronous: false, lsnBefore: nil, lsnAfter: nil, possibleLossBytes: 0,
                                  steps: [.init(at: .now, step: "requested", detail: "SENTINEL FAILOVER \(self.controller.redisMasterName ?? "")")], failure: nil)
        }
        do {
            return try await self.controller.switchover(region: region, force: force)
        } catch {
            switch error {
            case .notLeader(let leader): throw FailoverError.unavailable("this replica is not the leader; the leader is \(leader ?? "not elected yet")")
            case .noCandidate(let why): throw FailoverError.notFound(why)
            case .lagging(let why): throw FailoverError.conflict(why)
            case .inProgress: throw FailoverError.conflict("a failover is in progress")
            case .failed(let why): throw FailoverError.unavailable(why)
            }
        }
    }

    private static func requireAdmin(_ context: SensormineRequestContext) throws {
        let caller = try context.requireIdentity()
        guard caller.isPlatformAdmin else { throw FailoverError.forbidden("only a platform-admin sees and switches the database topology") }
    }
}
