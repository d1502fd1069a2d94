import ClientRuntime
import Foundation
import Logging
import RdKafka
import ServiceLifecycle
import Testing

@Suite("Kafka client (librdkafka)")
struct KafkaTests {
    /// Runs the producer's delivery-report loop for the duration of `body`.
    func withProducer<Result: Sendable>(
        _ configuration: KafkaConfiguration,
        _ body: @Sendable (KafkaProducer) async throws -> Result
    ) async throws -> Result {
        let producer = try KafkaProducer(configuration: configuration, flushTimeout: .seconds(2), logger: TestStack.logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await producer.run() }
            defer { group.cancelAll() }
            return try await body(producer)
        }
    }

    @Test("the loaded librdkafka is current enough for the broker")
    func libraryVersion() throws {
        try RdKafkaLibrary.requireSupportedVersion(logger: TestStack.logger)
        let parts = RdKafkaLibrary.versionString.split(separator: ".").compactMap { Int($0) }
        #expect(parts.count >= 2)
        #expect(parts[0] > 2 || (parts[0] == 2 && parts[1] >= 2))
    }

    @Test("produced records with keys and headers are consumed by a group, and commits stick")
    func roundTrip() async throws {
        let configuration = KafkaConfiguration(bootstrapServers: try TestStack.kafkaBrokers)
        let topic = TestStack.unique("it.kafka")
        let admin = try KafkaAdmin(configuration: configuration, logger: TestStack.logger)
        try await admin.createTopics([topic], partitions: 3)
        try await admin.createTopics([topic], partitions: 3)  // existing topics are fine
        let outbound = OutboundContext(requestID: "req-kafka", traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        let sentFrom = Int64(Date().timeIntervalSince1970 * 1000)
        let reports = try await withProducer(configuration) { producer in
            try await OutboundContext.$current.withValue(outbound) {
                try await producer.send((0..<60).map { index in
                    KafkaRecord(topic: topic, key: Array("device-\(index % 6)".utf8), value: Array("payload-\(index)".utf8),
                                headers: [("tenant", Array("tenant-a".utf8))])
                })
            }
        }
        #expect(reports.count == 60)
        #expect(reports.allSatisfy { (try? $0.get()) != nil })

        let group = TestStack.unique("it-group")
        let consumer = try KafkaConsumer(configuration: .init(kafka: configuration, groupID: group, topics: [topic]), logger: TestStack.logger)
        var received: [KafkaMessage] = []
        for try await batch in consumer.batches {
            received += batch
            try await consumer.commit(batch)
            if received.count >= 60 { break }
        }
        #expect(Set(received.map { String(decoding: $0.value, as: UTF8.self) }) == Set((0..<60).map { "payload-\($0)" }))
        #expect(received.allSatisfy { $0.header("tenant") == "tenant-a" && $0.header("traceparent") == outbound.traceparent })
        // Each carries when the producer was handed it (CreateTime), for the pipeline's stage timings.
        let consumedBy = Int64(Date().timeIntervalSince1970 * 1000)
        #expect(received.allSatisfy { ($0.timestamp ?? 0) >= sentFrom - 1 && ($0.timestamp ?? .max) <= consumedBy })
        // Per key, order holds: the same device's messages arrive in the order sent.
        let device0 = received.filter { $0.key == Array("device-0".utf8) }.map { String(decoding: $0.value, as: UTF8.self) }
        #expect(device0 == (0..<60).filter { $0 % 6 == 0 }.map { "payload-\($0)" })
        let committed = try await consumer.committed()
        #expect(committed[topic]?.values.reduce(0, +) == 60)
        await consumer.close()

        // A new member of the same group starts after the committed offsets: nothing is redelivered.
        let second = try KafkaConsumer(configuration: .init(kafka: configuration, groupID: group, topics: [topic]), logger: TestStack.logger)
        var redelivered = 0
        let deadline = ContinuousClock.now + .seconds(6)
        while ContinuousClock.now < deadline { redelivered += try await second.poll().count }
        #expect(redelivered == 0)
        await second.close()
        await admin.shutdown()
    }

    @Test("a consumer's batch is bounded by payload bytes as well as by messages, and every message still arrives once")
    func batchByteBound() async throws {
        let configuration = KafkaConfiguration(bootstrapServers: try TestStack.kafkaBrokers)
        let topic = TestStack.unique("it.kafka.bytes")
        let admin = try KafkaAdmin(configuration: configuration, logger: TestStack.logger)
        try await admin.createTopics([topic], partitions: 1)
        let messageBytes = 10_000
        let reports = try await withProducer(configuration) { producer in
            try await producer.send((0..<60).map { index in
                KafkaRecord(topic: topic, value: Array("\(index):".utf8) + Array(repeating: UInt8(ascii: "x"), count: messageBytes))
            })
        }
        #expect(reports.allSatisfy { (try? $0.get()) != nil })
        let bound = 64 * 1024
        let consumer = try KafkaConsumer(configuration: .init(kafka: configuration, groupID: TestStack.unique("it-bytes"), topics: [topic],
                                                              batchSize: 1000, maximumBatchBytes: bound), logger: TestStack.logger)
        var received: [String] = []
        var largest = 0
        for try await batch in consumer.batches {
            largest = max(largest, batch.reduce(0) { $0 + $1.value.count })
            received += batch.map { String(decoding: $0.value.prefix(while: { $0 != UInt8(ascii: ":") }), as: UTF8.self) }
            if received.count >= 60 { break }
        }
        await consumer.close()
        await admin.shutdown()
        #expect(received == (0..<60).map(String.init))
        // Never more than the bound plus the one message that crossed it, although 1,000 were allowed.
        #expect(largest > 0)
        #expect(largest <= bound + messageBytes + 3)
    }

    @Test("an unreachable broker gives a clear error")
    func unreachable() async throws {
        let configuration = KafkaConfiguration(bootstrapServers: "127.0.0.1:1", properties: ["message.timeout.ms": "1500"])
        try await withProducer(configuration) { producer in
            let ping = await #expect(throws: ClientError.self) { try await producer.ping(timeout: .seconds(1)) }
            #expect(ping?.client == "kafka")
            let send = await #expect(throws: ClientError.self) { try await producer.send(KafkaRecord(topic: "nowhere", value: [1])) }
            #expect(send?.code == .timeout)
        }
    }

    @Test("a producer recovers by itself after the broker restarts")
    func survivesRestart() async throws {
        let port = ScratchPort.kafka
        try await TestStack.scratch("start", "kafka", port: port)
        // The local broker keeps everything in memory, so a restart is an empty cluster that no
        // longer knows the idempotent producer's id: messages in flight then time out (a clear
        // error for the caller to act on), librdkafka acquires a new producer id, and later
        // sends succeed on the same producer.
        let configuration = KafkaConfiguration(bootstrapServers: "127.0.0.1:\(port)", properties: ["message.timeout.ms": "4000"])
        let admin = try KafkaAdmin(configuration: configuration, logger: TestStack.logger)
        try await admin.createTopics(["restart"], partitions: 1)
        try await withProducer(configuration) { producer in
            try await producer.send(KafkaRecord(topic: "restart", value: Array("before".utf8)))
            try await TestStack.scratch("stop", "kafka", port: port)
            try await TestStack.scratch("start", "kafka", port: port)
            // The broker keeps topics in memory: recreate it, as the local stack's `make up` does.
            try await TestStack.eventually { try await admin.createTopics(["restart"], partitions: 1) }
            try await TestStack.eventually(timeout: .seconds(40)) {
                let report = try await producer.send(KafkaRecord(topic: "restart", value: Array("after".utf8)))
                #expect(report.partition == 0)
            }
        }
        await admin.shutdown()
        try await TestStack.scratch("stop", "kafka", port: port)
    }
}

extension KafkaTests {
    @Test("a batch larger than the local queue waits for space off the caller's thread and is delivered whole, in order per partition")
    func fullLocalQueue() async throws {
        let configuration = KafkaConfiguration(bootstrapServers: try TestStack.kafkaBrokers, properties: ["queue.buffering.max.messages": "10"])
        let topic = TestStack.unique("it.kafka.full")
        let admin = try KafkaAdmin(configuration: configuration, logger: TestStack.logger)
        try await admin.createTopics([topic], partitions: 1)
        await admin.shutdown()
        let reports = try await withProducer(configuration) { producer in
            try await producer.send((0..<300).map { KafkaRecord(topic: topic, key: Array("k".utf8), value: Array("v-\($0)".utf8)) })
        }
        #expect(reports.count == 300)
        let offsets = reports.compactMap { try? $0.get().offset }
        #expect(offsets.count == 300)
        #expect(offsets == offsets.sorted())
    }
}
