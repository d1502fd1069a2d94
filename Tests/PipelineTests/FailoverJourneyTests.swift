import ClientRuntime
import Curl
@testable import DeviceAPI
@testable import FailoverOrchestrator
import Foundation
import Hummingbird
import LibPQ
import NIOConcurrencyHelpers
import SensormineAuth
import SensormineClients
import SensormineCore
import SensormineJSON
import Testing
import TestSupport

extension PipelineTests {
    @Test("the database primary lost (kill -9, or SIGSTOP: a hang) while the DeviceSimulator sends over HTTP through the services: promoted, Ingestion writing again on the new primary, every acknowledged reading stored",
          arguments: ["kill", "pause"])
    func primaryLostUnderIngestion(how: String) async throws {
        let tag = String(UUID().uuidString.prefix(8)).lowercased()
        let ports = (a: 55471, b: 55472)
        let directories = (a: "/var/lib/sensormine/journey-\(tag)-a", b: "/var/lib/sensormine/journey-\(tag)-b")
        let cluster = "journey-\(tag)"
        let hosts = "127.0.0.1:\(ports.a),127.0.0.1:\(ports.b)"
        let ledgerPath = FileManager.default.temporaryDirectory.appendingPathComponent("journey-\(tag)-ledger.csv").path
        let adminPassword = "journey-\(UUID().uuidString)"
        func superuser(port: Int, database: String) -> PostgresClient {
            PostgresClient(configuration: .init(url: "postgresql://postgres@127.0.0.1:\(port)/\(database)", name: "journey-admin",
                                                pool: .init(maximumConnections: 1, leaseTimeout: .seconds(5)), statementTimeout: .seconds(10),
                                                connectTimeout: .seconds(2)))
        }
        let setup = superuser(port: ports.a, database: "postgres")
        let extensions = superuser(port: ports.a, database: "sensormine_timeseries")
        // The standby's view, and after the failover the new primary's.
        let standby = superuser(port: ports.b, database: "sensormine_timeseries")
        let clients = [setup, extensions, standby]
        do {
            // The stack's layout on a scratch pair: a primary with the platform's role and
            // databases, a synchronous standby made from it.
            try await StackScript.run("pg-cluster.sh", ["primary", directories.a, String(ports.a)])
            _ = try await setup.query("CREATE ROLE sensormine LOGIN PASSWORD 'sensormine'")
            _ = try await setup.query("CREATE DATABASE sensormine_metadata OWNER sensormine")
            _ = try await setup.query("CREATE DATABASE sensormine_timeseries OWNER sensormine")
            _ = try await extensions.query("CREATE EXTENSION timescaledb")
            try await StackScript.run("pg-cluster.sh", ["replica", directories.b, String(ports.b), String(ports.a), "pg_b"])

            let overrides = [
                "SENSORMINE_METADATA_DB_URL": "postgresql://sensormine:sensormine@\(hosts)/sensormine_metadata?target_session_attrs=read-write",
                "SENSORMINE_TIMESERIES_DB_URL": "postgresql://sensormine:sensormine@\(hosts)/sensormine_timeseries?target_session_attrs=read-write",
                "SENSORMINE_BOOTSTRAP_ADMIN_EMAIL": "admin-\(tag)@sensormine.local",
                "SENSORMINE_BOOTSTRAP_ADMIN_PASSWORD": adminPassword,
            ]
            // The first platform-admin, as `DeviceAPI migrate` makes it; the simulator signs in as it.
            try await DeviceAPIService.migrate(try DeviceAPIConfiguration(reader: ConfigReader(values: PipelineTestStack.values(port: 0, overrides))),
                                               logger: PipelineTestStack.logger)
            let orchestratorValues = [
                "SENSORMINE_FAILOVER_CLUSTER": cluster,
                "SENSORMINE_FAILOVER_IDENTITY": "journey-\(tag)",
                "SENSORMINE_FAILOVER_POSTGRES_NODES": "pg_a@region-a=postgresql://postgres@127.0.0.1:\(ports.a)/postgres,pg_b@region-b=postgresql://postgres@127.0.0.1:\(ports.b)/postgres",
            ]
            try await PipelineTestStack.run(overrides: overrides) { gateway in
                let client = HTTPClient(configuration: .init(timeout: .seconds(30), maximumRetries: 0, maximumConcurrentRequests: 32))
                let configuration = try FailoverOrchestratorConfiguration(reader: ConfigReader(values: PipelineTestStack.values(port: 18489, overrides.merging(orchestratorValues) { $1 })))
                let orchestrator = try await FailoverOrchestratorService.buildApplication(configuration, observability: Observability(logger: PipelineTestStack.logger))
                let orchestrating = Task { try await orchestrator.run() }
                defer { orchestrating.cancel() }
                func status() async -> JSON {
                    (try? await PipelineTests.call(client, "GET", "http://127.0.0.1:18489/status"))?.body ?? .null
                }
                var ready = JSON.null
                for _ in 0..<150 where !(ready["primary"]?.string == "pg_a" && ready["replication"]?.string == "synchronous") {
                    try await Task.sleep(for: .milliseconds(100))
                    ready = await status()
                }
                #expect(ready["primary"]?.string == "pg_a")
                #expect(ready["replication"]?.string == "synchronous")

                // The simulator: 20 devices of the four types on 2 sites, registered through the
                // gateway, then 20 readings a request (each device's API key) for 14 s.
                let simulator = try ChildProcess(executable: ServiceBinaries.path("DeviceSimulator"), arguments: [
                    "--gateway", gateway, "--email", "admin-\(tag)@sensormine.local", "--password", adminPassword, "--devices", "20", "--sites", "2",
                    "--rate", "4000", "--batch", "20", "--concurrency", "8", "--duration", "14", "--ledger", ledgerPath,
                ], environment: ProcessInfo.processInfo.environment)
                var registered = false
                for _ in 0..<600 where !registered {
                    registered = simulator.output.contains("registered 20 devices")
                    if !registered { try await Task.sleep(for: .milliseconds(100)) }
                }
                #expect(registered, "the simulator did not register its fleet: \(simulator.output.suffix(1000))")

                // What the standby holds, polled every 50 ms: it has every commit the primary
                // acknowledged, and after the kill it grows only once Ingestion writes to it as the primary.
                let tenant = try #require(simulator.output.firstMatch(of: /in tenant ([0-9a-f-]{36})/)?.1).lowercased()
                func storedOnStandby() async -> Int? {
                    try? await standby.query("SELECT count(*) AS n FROM telemetry WHERE tenant_id = $1", [tenant]).first?.int("n")
                }
                try await Task.sleep(for: .seconds(3))
                let before = await storedOnStandby() ?? 0
                #expect(before > 0, "nothing stored before the kill")

                let killed = ContinuousClock.now
                try await StackScript.run("pg-cluster.sh", [how, directories.a])
                var baseline: Int?
                var promotedAfter: Duration?
                var firstWriteAfter: Duration?
                while firstWriteAfter == nil, ContinuousClock.now - killed < .seconds(30) {
                    if promotedAfter == nil, await status()["primary"]?.string == "pg_b" { promotedAfter = ContinuousClock.now - killed }
                    if let stored = await storedOnStandby() {
                        if let baseline, stored > baseline, promotedAfter != nil {
                            firstWriteAfter = ContinuousClock.now - killed
                        } else if baseline == nil {
                            baseline = stored
                        }
                    }
                    try await Task.sleep(for: .milliseconds(50))
                }
                let exit = await simulator.waitForExit(timeout: .seconds(60))
                #expect(exit == 0, "the simulator ended with \(String(describing: exit)): \(simulator.output.suffix(1000))")

                let failedOver = await status()
                #expect(failedOver["primary"]?.string == "pg_b")
                #expect(failedOver["lastFailover"]?["from"]?.string == "pg_a")
                let synchronous: Bool? = if case .bool(let value)? = failedOver["lastFailover"]?["synchronous"] { value } else { nil }
                #expect(synchronous == true)
                let promoted = failedOver["lastFailover"]?["durationMilliseconds"]?.number
                let written = try #require(firstWriteAfter, "Ingestion wrote nothing to the new primary within 30 s of the kill")

                // Every acknowledged reading ends up stored: compared reading by reading once Ingestion has caught up.
                var acknowledged: [String: [Int64]] = [:]
                for line in try String(contentsOfFile: ledgerPath, encoding: .utf8).split(separator: "\n") {
                    let fields = line.split(separator: ",")
                    if fields.count == 2, let time = Int64(fields[1]) { acknowledged[String(fields[0]), default: []].append(time) }
                }
                var missing: [String: [Int64]] = [:]
                for _ in 0..<120 {
                    missing = [:]
                    for (device, times) in acknowledged {
                        let rows = try await standby.query("SELECT DISTINCT (extract(epoch FROM time) * 1000000)::bigint AS us FROM telemetry WHERE device_id = $1", [device])
                        let stored = Set(rows.all.compactMap { $0["us"].flatMap { Int64($0) } })
                        let lost = times.filter { !stored.contains($0) }
                        if !lost.isEmpty { missing[device] = lost }
                    }
                    if missing.isEmpty { break }
                    try await Task.sleep(for: .milliseconds(500))
                }
                let total = acknowledged.values.reduce(0) { $0 + $1.count }
                #expect(acknowledged.count == 20)
                #expect(total > 1000, "only \(total) readings acknowledged")
                #expect(missing.isEmpty, "acknowledged readings never stored: \(missing.mapValues(\.count))")
                let summary = simulator.output.split(separator: "\n").first { $0.contains("summary:") }.map(String.init) ?? ""
                print("failover drill through the services: \(how == "kill" ? "kill -9" : "SIGSTOP") of the primary under the DeviceSimulator's HTTP load (20 devices) → "
                      + "new primary recorded \(promotedAfter.map { "\(FailoverJourneyFigures.milliseconds($0)) ms" } ?? "?") after (failover steps \(Int(promoted ?? 0)) ms), "
                      + "first reading written by Ingestion on the new primary \(FailoverJourneyFigures.milliseconds(written)) ms after; "
                      + "\(total) readings acknowledged (HTTP 202), \(missing.values.reduce(0) { $0 + $1.count }) lost; simulator \(summary.trimmingCharacters(in: .whitespaces))")
                orchestrating.cancel()
                _ = await orchestrating.result
                await client.shutdown()
            }
        } catch {
            Issue.record(error)
        }
        for client in clients { await client.shutdown() }
        try? FileManager.default.removeItem(atPath: ledgerPath)
        try? await StackScript.run("pg-cluster.sh", ["destroy", directories.a])
        try? await StackScript.run("pg-cluster.sh", ["destroy", directories.b])
        let etcd = ProcessInfo.processInfo.environment["SENSORMINE_FAILOVER_ETCD_ENDPOINTS"]?.split(separator: ",").first.map(String.init) ?? "http://127.0.0.1:52379"
        let prefix = "/sensormine/failover/\(cluster)/"
        let cleanup = HTTPClient(configuration: .init(maximumRetries: 0))
        _ = try? await cleanup.execute(HTTPClientRequest(method: "POST", url: etcd + "/v3/kv/deleterange", headers: [("Content-Type", "application/json")],
                                                         body: Array(#"{"key":"\#(Data(prefix.utf8).base64EncodedString())","range_end":"\#(Data((prefix.dropLast() + "0").utf8).base64EncodedString())"}"#.utf8)))
        await cleanup.shutdown()
    }
}

enum FailoverJourneyFigures {
    static func milliseconds(_ duration: Duration) -> Int { Int(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000) }
}
