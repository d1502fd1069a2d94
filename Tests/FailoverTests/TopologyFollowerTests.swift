import ClientRuntime
import Foundation
import LibPQ
import Logging
import RdKafka
import SensormineClients
import SensormineContracts
import SensormineCore
import Testing

/// The services' side of a failover, through the stack's broker and database.
@Suite("Database topology follower (the stack's Kafka and PostgreSQL)")
struct TopologyFollowerTests {
    @Test("a change on platform.topology ends the pool's connections to the old primary at once, a statement in flight included; the pool then connects again")
    func dropsConnectionsToTheOldPrimary() async throws {
        var logger = Logger(label: "topology-follower-test")
        logger.logLevel = .warning
        let environment = ProcessInfo.processInfo.environment
        let prefix = "topology-\(UUID().uuidString.prefix(8).lowercased())"
        var values = environment.filter { $0.key.hasPrefix("SENSORMINE_") }
        values["SENSORMINE_KAFKA_TOPIC_PREFIX"] = prefix
        let kafka = try KafkaSettings(reader: ConfigReader(values: values))
        try await kafka.createTopics([kafka.topics.platformTopology], logger: logger)
        let url = try #require(environment["SENSORMINE_METADATA_DB_URL"])
        let client = PostgresClient(configuration: .init(url: url, name: "follower-test", pool: .init(maximumConnections: 2)))
        let address = try #require(try await client.withSession { session in
            try await session.query("SELECT inet_server_addr()::text AS host, current_setting('port') AS port").first
        }.map { row in "\((row["host"] ?? "").split(separator: "/").first.map(String.init) ?? ""):\(row["port"] ?? "")" })
        let follower = try DatabaseTopologyFollower(kafka: kafka, clients: [client], logger: logger)
        let producer = try KafkaProducer(configuration: kafka.kafka, logger: logger)
        let services = [Task { try? await follower.run() }, Task { try? await producer.run() }]

        // A statement that would run for 20 s on the "old primary".
        let started = ContinuousClock.now
        let sleeping = Task { try await client.query("SELECT pg_sleep(20)") }
        try await Task.sleep(for: .seconds(1))
        let change = TopologyChange(cluster: prefix, epoch: 2, primary: "pg_b", primaryAddress: "127.0.0.1:1", previousPrimary: "pg_a",
                                    previousPrimaryAddress: address, reason: "automatic", at: Date())
        _ = try await producer.send(KafkaRecord(topic: kafka.topics.platformTopology, key: Array(prefix.utf8), value: Array(try ContractCoding.encoder().encode(change))))
        let outcome = await sleeping.result
        let ended = ContinuousClock.now - started
        guard case .failure(let error) = outcome else {
            Issue.record("the statement on the replaced primary ran to its end")
            return
        }
        #expect((error as? ClientError)?.code == .unreachable, "ended with \(error)")
        #expect(ended < .seconds(10), "the statement ended only after \(ended)")
        // The pool connects again (its URL names one host; the preferred one is not among them).
        let again = try await client.query("SELECT 1 AS one")
        #expect(again.first?.int("one") == 1)
        print("topology follower: a statement on the replaced primary ended \(ended) after it started (the change was published 1 s in)")
        for service in services { service.cancel() }
        for service in services { await service.value }
        await client.shutdown()
    }
}
