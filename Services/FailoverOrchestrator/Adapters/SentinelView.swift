import ClientRuntime
import Hiredis

/// Redis as its Sentinels see it: which address is the master, and a manual switch.
final class SentinelView: Sendable {
    let masterName: String
    private let sentinels: [(address: String, client: RedisClient)]

    init(masterName: String, sentinels: [(host: String, port: Int)], timeout: Duration) {
        self.masterName = masterName
        self.sentinels = sentinels.map { sentinel in
            ("\(sentinel.host):\(sentinel.port)", RedisClient(configuration: .init(
                host: sentinel.host, port: sentinel.port, timeout: timeout, pool: .init(maximumConnections: 1, leaseTimeout: timeout),
                name: "sentinel-\(sentinel.port)")))
        }
    }

    var count: Int { self.sentinels.count }

    /// The master each answering Sentinel names (`host:port`), in configuration order.
    func masters(timeout: Duration) async -> [String?] {
        await withTaskGroup(of: (Int, String?).self) { group in
            for (index, sentinel) in self.sentinels.enumerated() {
                group.addTask {
                    let reply = try? await withDeadline(timeout, client: "sentinel") {
                        try await sentinel.client.command("SENTINEL", "get-master-addr-by-name", self.masterName)
                    }
                    guard case .array(let parts)? = reply, parts.count == 2, let host = parts[0].string, let port = parts[1].string else { return (index, nil) }
                    return (index, "\(host):\(port)")
                }
            }
            var answers = [String?](repeating: nil, count: self.sentinels.count)
            for await (index, master) in group { answers[index] = master }
            return answers
        }
    }

    /// Asks the first Sentinel that accepts to fail the master over to a replica now.
    func failover() async throws {
        var lastError: any Error = ClientError(.unreachable, client: "sentinel", "no Sentinels configured")
        for sentinel in self.sentinels {
            do {
                let reply = try await sentinel.client.command("SENTINEL", "FAILOVER", self.masterName)
                if case .error(let message) = reply { throw ClientError(.serverError, client: "sentinel", message) }
                return
            } catch {
                lastError = error
            }
        }
        throw lastError
    }

    func shutdown() async {
        for sentinel in self.sentinels { await sentinel.client.shutdown() }
    }
}
