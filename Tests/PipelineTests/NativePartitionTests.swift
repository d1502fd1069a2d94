import Foundation
import LibPQ
import Logging
import SensormineTelemetry
import Testing

@testable import Ingestion
@testable import QueryAPI

/// The storage path of a PostgreSQL without TimescaleDB (a managed database), on the local
/// stack's PostgreSQL 15: native daily range partitions, created ahead and on demand.
@Suite("Telemetry storage: TimescaleDB and plain PostgreSQL")
struct NativePartitionTests {
    @Test("migrations make a partitioned table; points outside the prepared days get their partition; repeats are ignored; aggregates work")
    func nativePartitions() async throws {
        let server = try #require(ProcessInfo.processInfo.environment["SENSORMINE_TEST_PLAIN_POSTGRES_URL"])
        let admin = PostgresClient(configuration: .init(url: server, name: "plain-admin"))
        let database = "native_\(UUID().uuidString.prefix(8).lowercased())"
        _ = try await admin.query("CREATE DATABASE \(database)")
        let url = String(server[..<(server.lastIndex(of: "/") ?? server.endIndex)]) + "/" + database
        let client = PostgresClient(configuration: .init(url: url, name: "plain"))
        do {
            _ = try await IngestionService.migrations.run(on: client, logger: Logger(label: "native-partitions"))
            #expect(try await client.query("SELECT count(*) AS n FROM pg_extension WHERE extname = 'timescaledb'").first?.int("n") == 0)
            #expect(try await client.query("SELECT count(*) AS n FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid WHERE c.relname = 'telemetry'").first?.int("n") == 1)
            let prepared = try await client.query("SELECT count(*) AS n FROM pg_inherits WHERE inhparent = 'telemetry'::regclass").first?.int("n")
            #expect(prepared == 9)  // yesterday to a week ahead

            let store = TelemetryStore(database: client)
            let tenant = UUID().uuidString.lowercased()
            let device = UUID().uuidString.lowercased()
            let far = try #require(RFC3339.microseconds("2031-05-04T10:00:00Z"))
            let points = (0..<120).map { StoredPoint(tenantID: tenant, deviceID: device, point: TelemetryPoint(metric: "rpm", time: far + Int64($0) * 1_000_000, value: Double($0))) }
            #expect(try await store.write(points, deadLetters: []) == 120)
            #expect(try await store.write(Array(points.prefix(30)), deadLetters: []) == 0)
            #expect(try await client.query("SELECT to_regclass('telemetry_p20310504') IS NOT NULL AS made").first?.bool("made") == true)

            let queries = TelemetryQueries(database: client)
            let buckets = try await queries.aggregate(tenant: try #require(UUID(uuidString: tenant)), metric: "rpm", devices: [], from: far, to: far + 120_000_000,
                                                      bucketSeconds: 60, function: .count)
            #expect(buckets.map(\.count) == [60, 60])
            let page = try await queries.points(tenant: try #require(UUID(uuidString: tenant)), device: try #require(UUID(uuidString: device)), metric: "rpm",
                                                from: far, to: far + 120_000_000, after: far + 99_000_000, limit: 10)
            #expect(page.map(\.value) == Array(100..<110).map(Double.init))
        } catch {
            await client.shutdown()
            _ = try? await admin.query("DROP DATABASE \(database)")
            await admin.shutdown()
            throw error
        }
        await client.shutdown()
        _ = try await admin.query("DROP DATABASE \(database)")
        await admin.shutdown()
    }

    @Test("on the stack's TimescaleDB the same migrations make a hypertable")
    func hypertable() async throws {
        let timeseries = try #require(ProcessInfo.processInfo.environment["SENSORMINE_TIMESERIES_DB_URL"])
        let port = try #require(URLComponents(string: timeseries)?.port)
        let admin = PostgresClient(configuration: .init(url: "postgresql://postgres@127.0.0.1:\(port)/postgres", name: "timescale-admin"))
        let database = "hyper_\(UUID().uuidString.prefix(8).lowercased())"
        _ = try await admin.query("CREATE DATABASE \(database)")
        let client = PostgresClient(configuration: .init(url: "postgresql://postgres@127.0.0.1:\(port)/\(database)", name: "timescale"))
        let result: Result<Int?, any Error>
        do {
            _ = try await IngestionService.migrations.run(on: client, logger: Logger(label: "hypertable"))
            result = .success(try await client.query("SELECT count(*) AS n FROM timescaledb_information.hypertables WHERE hypertable_name = 'telemetry'").first?.int("n"))
        } catch {
            result = .failure(error)
        }
        await client.shutdown()
        _ = try await admin.query("DROP DATABASE \(database)")
        await admin.shutdown()
        #expect(try result.get() == 1)
    }
}
