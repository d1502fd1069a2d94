import ClientRuntime
import Foundation
import Hiredis
import NIOConcurrencyHelpers
import Testing
import TestSupport

/// A Redis master, its replica and three Sentinels of their own on loopback, children of the test.
struct ScratchRedis {
    let masterPort = 56390, replicaPort = 56391, sentinelPorts = [56392, 56393, 56394]
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("redis-drill-\(UUID().uuidString.prefix(8))").path
    var url: String { "redis-sentinel://" + self.sentinelPorts.map { "127.0.0.1:\($0)" }.joined(separator: ",") + "/drill" }

    func start() throws -> (master: ChildProcess, others: [ChildProcess]) {
        try FileManager.default.createDirectory(atPath: self.directory, withIntermediateDirectories: true)
        let environment = ProcessInfo.processInfo.environment
        let master = try ChildProcess(executable: "/usr/bin/redis-server", arguments: ["--port", String(self.masterPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                                                                     "--repl-diskless-sync-delay", "0", "--dir", self.directory], environment: environment)
        var others = [try ChildProcess(executable: "/usr/bin/redis-server", arguments: ["--port", String(self.replicaPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                                                                      "--replicaof", "127.0.0.1", String(self.masterPort), "--dir", self.directory], environment: environment)]
        for port in self.sentinelPorts {
            let file = "\(self.directory)/sentinel-\(port).conf"
            try """
                port \(port)
                bind 127.0.0.1
                dir \(self.directory)
                sentinel monitor drill 127.0.0.1 \(self.masterPort) 2
                sentinel down-after-milliseconds drill 500
                sentinel failover-timeout drill 3000
                sentinel parallel-syncs drill 1

                """.write(toFile: file, atomically: true, encoding: .utf8)
            others.append(try ChildProcess(executable: "/usr/bin/redis-sentinel", arguments: [file], environment: environment))
        }
        return (master, others)
    }
}

@Suite("Redis failover drill (a scratch master, replica and Sentinels)", .serialized)
struct RedisFailoverTests {
    @Test("the master killed under a rate-limit load: Sentinel promotes the replica, the client follows it; time and lost increments printed")
    func masterKilled() async throws {
        let scratch = ScratchRedis()
        let (master, others) = try scratch.start()
        defer {
            master.signal(SIGKILL)
            for process in others { process.signal(SIGKILL) }
            try? FileManager.default.removeItem(atPath: scratch.directory)
        }
        // Ready when the replica has synchronised and every Sentinel knows it and the other two.
        let sentinels = scratch.sentinelPorts.map { RedisClient(configuration: .init(host: "127.0.0.1", port: $0, pool: .init(maximumConnections: 1))) }
        let replica = RedisClient(configuration: .init(host: "127.0.0.1", port: scratch.replicaPort, pool: .init(maximumConnections: 1)))
        var ready = false
        for _ in 0..<200 where !ready {
            var all = (try? await replica.command("INFO", "replication"))?.string?.contains("master_link_status:up") == true
            for sentinel in sentinels {
                guard case .array(let fields)? = try? await sentinel.command("SENTINEL", "master", "drill") else { all = false; break }
                let pairs = stride(from: 0, to: fields.count - 1, by: 2).reduce(into: [String: String]()) { $0[fields[$1].string ?? ""] = fields[$1 + 1].string }
                if pairs["num-slaves"] != "1" || pairs["num-other-sentinels"] != "2" { all = false }
            }
            ready = all
            if !ready { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(ready, "the replica did not synchronise, or the Sentinels did not see it and each other")

        let client = RedisClient(configuration: try .init(url: scratch.url, pool: .init(maximumConnections: 4, leaseTimeout: .seconds(3))))
        let limiter = RedisScript("local n = redis.call('INCR', KEYS[1]) redis.call('EXPIRE', KEYS[1], 60) return n")
        let acknowledged = NIOLockedValueBox<[ContinuousClock.Instant]>([])
        let stop = NIOLockedValueBox(false)
        let load = Task {
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        while !stop.withLockedValue({ $0 }) {
                            if case .integer? = try? await client.eval(limiter, keys: ["drill:bucket"], arguments: []) {
                                acknowledged.withLockedValue { $0.append(.now) }
                            } else {
                                try? await Task.sleep(for: .milliseconds(20))
                            }
                        }
                    }
                }
            }
        }
        try await Task.sleep(for: .seconds(1))
        let killed = ContinuousClock.now
        master.signal(SIGKILL)
        // Until the client increments on the promoted replica.
        var promoted = false
        for _ in 0..<300 where !promoted {
            try await Task.sleep(for: .milliseconds(50))
            let served = acknowledged.withLockedValue { $0.contains { $0 > killed + .milliseconds(100) } }
            if served, case .array(let address)? = try? await sentinels[0].command("SENTINEL", "get-master-addr-by-name", "drill"),
               address.last?.string == String(scratch.replicaPort) { promoted = true }
        }
        try await Task.sleep(for: .milliseconds(300))
        stop.withLockedValue { $0 = true }
        await load.value
        #expect(promoted, "the client never incremented on the promoted replica")
        let times = acknowledged.withLockedValue { $0 }
        let after = times.filter { $0 > killed }.sorted()
        let gap = zip([killed] + after, after).map { $1 - $0 }.max() ?? .zero
        let counter = try await client.command("GET", "drill:bucket").string.flatMap { Int($0) } ?? 0
        #expect(counter > 0)
        print("redis drill: master killed → Sentinel failover (down-after 500 ms) and the client on the new master; longest time without an acknowledged increment "
              + "\(gap.components.seconds * 1000 + gap.components.attoseconds / 1_000_000_000_000_000) ms; \(times.count) increments acknowledged, "
              + "the counter holds \(counter) (\(max(0, times.count - counter)) lost: Redis replicates asynchronously)")
        await client.shutdown()
        for sentinel in sentinels { await sentinel.shutdown() }
        await replica.shutdown()
    }

    @Test("redis-sentinel URLs parse; malformed ones are refused")
    func sentinelURLs() throws {
        let configuration = try RedisClient.Configuration(url: "redis-sentinel://:secret@10.0.0.1:26379,10.0.0.2:26380/sensormine/2")
        #expect(configuration.sentinels.map(\.port) == [26379, 26380])
        #expect(configuration.masterName == "sensormine")
        #expect(configuration.database == 2)
        #expect(configuration.password == "secret")
        for bad in ["redis-sentinel://", "redis-sentinel://h:1", "redis-sentinel://h/m", "redis-sentinel://h:0/m", "redis-sentinel://h:1/m/x", "redis-sentinel://h:1//"] {
            #expect(throws: ClientError.self) { try RedisClient.Configuration(url: bad) }
        }
    }
}
