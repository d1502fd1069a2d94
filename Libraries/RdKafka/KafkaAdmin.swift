import CRdKafka
import ClientRuntime
import Logging

/// Topic administration for the local stack and tests.
public final class KafkaAdmin: Sendable {
    private let handle: KafkaHandle
    private let executor = BlockingExecutor(threads: 1)

    /// Creates an admin client.
    /// - Throws: ``ClientError`` for invalid settings or an unsupported librdkafka.
    public init(configuration: KafkaConfiguration, logger: Logger) throws {
        try RdKafkaLibrary.requireSupportedVersion(logger: logger)
        self.handle = try KafkaHandle(type: RD_KAFKA_PRODUCER, properties: configuration.merged(with: [:]))
    }

    /// Creates each topic that does not exist yet, with the topic `configs` given (e.g.
    /// `cleanup.policy=compact`); existing topics are left as they are.
    /// - Throws: ``ClientError`` naming the first topic the broker refused.
    public func createTopics(_ names: [String], partitions: Int = 3, replicationFactor: Int = 1, configs: [String: String] = [:],
                             timeout: Duration = .seconds(10)) async throws {
        let handle = self.handle
        let milliseconds = timeout.milliseconds32
        try await self.executor.run {
            var errorText = [CChar](repeating: 0, count: 512)
            var newTopics: [OpaquePointer?] = []
            defer { for topic in newTopics { rd_kafka_NewTopic_destroy(topic) } }
            for name in names {
                guard let topic = rd_kafka_NewTopic_new(name, Int32(partitions), Int32(replicationFactor), &errorText, errorText.count) else {
                    throw ClientError(.invalidRequest, client: "kafka", "topic \(name): \(KafkaErrors.text(errorText))")
                }
                newTopics.append(topic)
                for (key, value) in configs.sorted(by: { $0.key < $1.key }) {
                    let error = rd_kafka_NewTopic_set_config(topic, key, value)
                    guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
                        throw ClientError(.invalidRequest, client: "kafka", "topic \(name): config \(key)=\(value) refused")
                    }
                }
            }
            guard let queue = rd_kafka_queue_new(handle.pointer) else {
                throw ClientError(.invalidRequest, client: "kafka", "could not allocate a queue")
            }
            defer { rd_kafka_queue_destroy(queue) }
            rd_kafka_CreateTopics(handle.pointer, &newTopics, newTopics.count, nil, queue)
            guard let event = rd_kafka_queue_poll(queue, milliseconds) else {
                throw ClientError(.timeout, client: "kafka", "CreateTopics got no answer within \(timeout)")
            }
            defer { rd_kafka_event_destroy(event) }
            let eventError = rd_kafka_event_error(event)
            guard eventError == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaErrors.error(eventError, "CreateTopics failed") }
            guard let result = rd_kafka_event_CreateTopics_result(event) else { return }
            var count = 0
            guard let topics = rd_kafka_CreateTopics_result_topics(result, &count) else { return }
            for index in 0..<count {
                guard let topic = topics[index] else { continue }
                let error = rd_kafka_topic_result_error(topic)
                if error != RD_KAFKA_RESP_ERR_NO_ERROR && error != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS {
                    throw KafkaErrors.error(error, "topic \(String(cString: rd_kafka_topic_result_name(topic)))")
                }
            }
        }
    }

    /// Stops the admin client's thread.
    public func shutdown() async { await self.executor.shutdown() }
}
