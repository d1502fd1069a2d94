import CRdKafka
import ClientRuntime
import Logging
import NIOConcurrencyHelpers

/// A consumed message.
public struct KafkaMessage: Sendable {
    /// Topic it came from.
    public var topic: String
    /// Partition within the topic.
    public var partition: Int32
    /// Offset within the partition.
    public var offset: Int64
    /// Key, if the producer set one.
    public var key: [UInt8]?
    /// Payload.
    public var value: [UInt8]
    /// Headers in order.
    public var headers: [(name: String, value: [UInt8])]
    /// When the producer handed it over (milliseconds since 1970, Kafka's CreateTime), if known.
    public var timestamp: Int64?

    /// The value of the first header called `name`, as UTF-8 text.
    public func header(_ name: String) -> String? {
        self.headers.first { $0.name == name }.map { String(decoding: $0.value, as: UTF8.self) }
    }
}

/// A consumer-group member. Offsets are never committed automatically: the caller commits what
/// it has finished (for Ingestion, after the database transaction commits).
public final class KafkaConsumer: Sendable {
    /// Consumer settings.
    public struct Configuration: Sendable {
        /// Brokers and extra properties.
        public var kafka: KafkaConfiguration
        /// Consumer group id.
        public var groupID: String
        /// Topics to subscribe to.
        public var topics: [String]
        /// Messages fetched per poll, at most.
        public var batchSize: Int
        /// Payload bytes (values and keys) per poll: a poll stops taking messages once its batch
        /// holds this many, so a batch's memory is bounded by configuration whatever the
        /// messages' sizes (it may pass the bound by about one message).
        public var maximumBatchBytes: Int
        /// Where a group without committed offsets starts: `earliest` (every retained message)
        /// or `latest` (only messages produced from now on).
        public var startAtLatest: Bool
        /// Static membership (`group.instance.id`): a member restarted with the same id takes its
        /// partitions back without waiting for the session timeout.
        public var instanceID: String?

        /// Creates settings. Without committed offsets a new group starts at the earliest message.
        public init(kafka: KafkaConfiguration, groupID: String, topics: [String], batchSize: Int = 500, maximumBatchBytes: Int = 4 << 20,
                    startAtLatest: Bool = false, instanceID: String? = nil) {
            self.kafka = kafka
            self.groupID = groupID
            self.topics = topics
            self.batchSize = batchSize
            self.maximumBatchBytes = maximumBatchBytes
            self.startAtLatest = startAtLatest
            self.instanceID = instanceID
        }
    }

    private let handle: KafkaHandle
    private let queue: KafkaQueue
    private let executor: BlockingExecutor
    private let closed = NIOLockedValueBox(false)
    private let configuration: Configuration
    private let logger: Logger

    /// Creates the consumer and subscribes to the topics; partitions are assigned on first poll.
    /// - Throws: ``ClientError`` for invalid settings, an unsupported librdkafka or a failed subscribe.
    public init(configuration: Configuration, logger: Logger) throws {
        try RdKafkaLibrary.requireSupportedVersion(logger: logger)
        self.configuration = configuration
        self.logger = logger
        // One thread polls; the other commits and answers metadata requests meanwhile.
        self.executor = BlockingExecutor(threads: 2)
        var groupProperties = [
            "group.id": configuration.groupID,
            "enable.auto.commit": "false",
            "enable.auto.offset.store": "false",
            "auto.offset.reset": configuration.startAtLatest ? "latest" : "earliest",
            "session.timeout.ms": "6000",
            "heartbeat.interval.ms": "500",
            "fetch.wait.max.ms": "10",
        ]
        if let instance = configuration.instanceID { groupProperties["group.instance.id"] = instance }
        let properties = configuration.kafka.merged(with: groupProperties)
        let handle = try KafkaHandle(type: RD_KAFKA_CONSUMER, properties: properties)
        self.handle = handle
        rd_kafka_poll_set_consumer(handle.pointer)
        guard let list = rd_kafka_topic_partition_list_new(Int32(configuration.topics.count)) else {
            throw ClientError(.invalidRequest, client: "kafka", "could not allocate a topic list")
        }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for topic in configuration.topics { rd_kafka_topic_partition_list_add(list, topic, RD_KAFKA_PARTITION_UA_VALUE) }
        let error = rd_kafka_subscribe(handle.pointer, list)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaErrors.error(error, "subscribe failed") }
        guard let queue = rd_kafka_queue_get_consumer(handle.pointer) else {
            throw ClientError(.invalidRequest, client: "kafka", "consumer queue unavailable")
        }
        self.queue = KafkaQueue(pointer: queue, owner: handle)
    }

    /// The messages of the subscribed topics, in batches as fetched; ends when the task is
    /// cancelled or the consumer is closed.
    public var batches: KafkaMessageBatches { KafkaMessageBatches(consumer: self) }

    /// Polls once for up to `batchSize` messages, waiting at most `timeout`.
    /// - Throws: ``ClientError`` for a fatal consumer error.
    public func poll(timeout: Duration = .milliseconds(100)) async throws -> [KafkaMessage] {
        if self.closed.withLockedValue({ $0 }) { return [] }
        let queue = self.queue
        let size = self.configuration.batchSize
        let bytes = self.configuration.maximumBatchBytes
        let milliseconds = timeout.milliseconds32
        let logger = self.logger
        return try await self.executor.run { try queue.consumeBatch(size: size, maximumBytes: bytes, timeoutMilliseconds: milliseconds, logger: logger) }
    }

    /// Whether `batch` took at least half of a poll's limits (messages or payload bytes): the
    /// consumer is reading a backlog rather than keeping up with the stream.
    public func isBacklogBatch(_ batch: [KafkaMessage]) -> Bool {
        if batch.count * 2 >= self.configuration.batchSize { return true }
        let bytes = batch.reduce(0) { $0 + $1.value.count + ($1.key?.count ?? 0) }
        return bytes * 2 >= self.configuration.maximumBatchBytes
    }

    /// Commits, synchronously, the position after each message (per partition, the highest wins).
    /// - Throws: ``ClientError`` when the group coordinator refuses or cannot be reached.
    public func commit(_ messages: [KafkaMessage]) async throws {
        var next: [String: [Int32: Int64]] = [:]
        for message in messages {
            next[message.topic, default: [:]][message.partition] = max(next[message.topic]?[message.partition] ?? -1, message.offset + 1)
        }
        guard !next.isEmpty else { return }
        let positions = next
        let handle = self.handle
        try await self.executor.run {
            guard let list = rd_kafka_topic_partition_list_new(Int32(positions.count)) else { return }
            defer { rd_kafka_topic_partition_list_destroy(list) }
            for (topic, partitions) in positions {
                for (partition, offset) in partitions {
                    rd_kafka_topic_partition_list_add(list, topic, partition)?.pointee.offset = offset
                }
            }
            let error = rd_kafka_commit(handle.pointer, list, 0)
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaErrors.error(error, "offset commit failed") }
        }
    }

    /// Commits a processed batch's offsets, retrying while the broker is unreachable. A member
    /// that lost its partitions meanwhile (a processing stall longer than `max.poll.interval.ms`
    /// makes librdkafka leave the group) gives the commit up: the partitions' next owner
    /// re-reads the batch from the last commit (the processing must absorb a repeat), and the
    /// next poll rejoins the group.
    /// - Throws: only `CancellationError`.
    public func commitRetrying(_ messages: [KafkaMessage], backoff: Backoff = Backoff(base: .milliseconds(200), maximum: .seconds(10))) async throws {
        var membershipLost = false
        try await backoff.retryingUntilSuccess({
            do {
                try await self.commit(messages)
            } catch where Self.isMembershipLost(error) {
                membershipLost = true
            }
        }, failed: { attempt, error in
            if attempt % 10 == 0 { self.logger.warning("offset commit failed; retrying", metadata: ["error": "\(error)"]) }
        })
        if membershipLost { self.logger.warning("offsets not committed: this member lost its partitions; their next owner resumes from the last commit") }
    }

    /// Whether a failed ``commit(_:)`` means this member no longer owns the partitions: it was
    /// dropped from the group (e.g. after `max.poll.interval.ms` without a poll) or the group
    /// moved on to a new generation. Retrying cannot succeed; the partitions' new owner resumes
    /// from the last committed offset.
    public static func isMembershipLost(_ error: any Error) -> Bool {
        guard let error = error as? ClientError, error.client == "kafka", let name = error.serverCode else { return false }
        return ["UNKNOWN_MEMBER_ID", "ILLEGAL_GENERATION", "REBALANCE_IN_PROGRESS", "FENCED_INSTANCE_ID",
                "_ASSIGNMENT_LOST", "_STATE", "_NO_OFFSET", "_UNKNOWN_PARTITION"].contains(name)
    }

    /// How many partitions the group has assigned to this member right now.
    /// - Throws: ``ClientError`` when librdkafka cannot say.
    public func assignedPartitionCount() async throws -> Int {
        let handle = self.handle
        return try await self.executor.run {
            try Self.withAssignment(handle) { Int($0.pointee.cnt) }
        }
    }

    /// Messages on this member's partitions not fetched yet: each partition's high watermark
    /// (as last seen by fetches) minus its fetch position; partitions without a position yet are
    /// left out. Costs no broker round trip.
    /// - Throws: ``ClientError`` when librdkafka cannot say.
    public func lag() async throws -> Int64 {
        let handle = self.handle
        return try await self.executor.run {
            try Self.withAssignment(handle) { assignment in
                let positioned = rd_kafka_position(handle.pointer, assignment)
                guard positioned == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaErrors.error(positioned, "positions unavailable") }
                var total: Int64 = 0
                for index in 0..<Int(assignment.pointee.cnt) {
                    let element = assignment.pointee.elems[index]
                    var low: Int64 = -1
                    var high: Int64 = -1
                    guard element.offset >= 0,
                          rd_kafka_get_watermark_offsets(handle.pointer, element.topic, element.partition, &low, &high) == RD_KAFKA_RESP_ERR_NO_ERROR,
                          high >= element.offset else { continue }
                    total += high - element.offset
                }
                return total
            }
        }
    }

    /// Which of `partitions` this member holds and has read to the end: a message consumed
    /// in this session and the position at the high watermark the broker reports now (one
    /// round trip per partition asked about; the watermark a fetch last saw can be stale, e.g.
    /// while the group rebalances and nothing is fetched).
    /// - Throws: ``ClientError`` when librdkafka cannot say.
    public func readToEnd(_ partitions: [String: Set<Int32>], timeout: Duration = .seconds(2)) async throws -> [String: Set<Int32>] {
        guard !partitions.isEmpty else { return [:] }
        let handle = self.handle
        let milliseconds = timeout.milliseconds32
        return try await self.executor.run {
            try Self.withAssignment(handle) { assignment in
                let positioned = rd_kafka_position(handle.pointer, assignment)
                guard positioned == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaErrors.error(positioned, "positions unavailable") }
                var result: [String: Set<Int32>] = [:]
                for index in 0..<Int(assignment.pointee.cnt) {
                    let element = assignment.pointee.elems[index]
                    let topic = String(cString: element.topic)
                    guard partitions[topic]?.contains(element.partition) == true, element.offset >= 0 else { continue }
                    var low: Int64 = -1
                    var high: Int64 = -1
                    guard rd_kafka_query_watermark_offsets(handle.pointer, element.topic, element.partition, &low, &high, milliseconds) == RD_KAFKA_RESP_ERR_NO_ERROR,
                          element.offset >= high else { continue }
                    result[topic, default: []].insert(element.partition)
                }
                return result
            }
        }
    }

    /// The partitions the group has assigned to this member right now, by topic.
    /// - Throws: ``ClientError`` when librdkafka cannot say.
    public func assignedPartitions() async throws -> [String: Set<Int32>] {
        let handle = self.handle
        return try await self.executor.run {
            try Self.withAssignment(handle) { assignment in
                var result: [String: Set<Int32>] = [:]
                for index in 0..<Int(assignment.pointee.cnt) {
                    let element = assignment.pointee.elems[index]
                    result[String(cString: element.topic), default: []].insert(element.partition)
                }
                return result
            }
        }
    }

    /// Whether this member holds partitions and has fetched every message that was in them
    /// when asked: each partition is empty or its position has reached the high watermark the
    /// broker reports now (one round trip per partition). A reader of a compacted topic asks
    /// this before it trusts what it has read.
    /// - Throws: ``ClientError`` when the broker does not answer.
    public func hasReachedEnd(timeout: Duration = .seconds(5)) async throws -> Bool {
        let handle = self.handle
        let milliseconds = timeout.milliseconds32
        return try await self.executor.run {
            try Self.withAssignment(handle) { assignment in
                guard assignment.pointee.cnt > 0 else { return false }
                let positioned = rd_kafka_position(handle.pointer, assignment)
                guard positioned == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaErrors.error(positioned, "positions unavailable") }
                for index in 0..<Int(assignment.pointee.cnt) {
                    let element = assignment.pointee.elems[index]
                    var low: Int64 = -1
                    var high: Int64 = -1
                    let queried = rd_kafka_query_watermark_offsets(handle.pointer, element.topic, element.partition, &low, &high, milliseconds)
                    guard queried == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaErrors.error(queried, "watermarks unavailable") }
                    if high > low, element.offset < high { return false }
                }
                return true
            }
        }
    }

    /// The committed offsets of the partitions currently assigned, as (topic, partition) → offset.
    /// - Throws: ``ClientError`` when the coordinator does not answer.
    public func committed(timeout: Duration = .seconds(5)) async throws -> [String: [Int32: Int64]] {
        let handle = self.handle
        let milliseconds = timeout.milliseconds32
        return try await self.executor.run {
            try Self.withAssignment(handle) { assignment in
                let fetched = rd_kafka_committed(handle.pointer, assignment, milliseconds)
                guard fetched == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaErrors.error(fetched, "committed offsets unavailable") }
                var result: [String: [Int32: Int64]] = [:]
                for index in 0..<Int(assignment.pointee.cnt) {
                    let element = assignment.pointee.elems[index]
                    result[String(cString: element.topic), default: [:]][element.partition] = element.offset
                }
                return result
            }
        }
    }

    /// Runs `body` with the member's current partition list, destroyed afterwards.
    private static func withAssignment<Result>(_ handle: KafkaHandle, _ body: (UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) throws -> Result) throws -> Result {
        var assignment: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
        let error = rd_kafka_assignment(handle.pointer, &assignment)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR, let assignment else { throw KafkaErrors.error(error, "assignment unavailable") }
        defer { rd_kafka_topic_partition_list_destroy(assignment) }
        return try body(assignment)
    }

    /// Answers when a broker returns metadata.
    /// - Throws: ``ClientError`` `unreachable` or `timeout`.
    public func ping(timeout: Duration = .seconds(2)) async throws {
        let handle = self.handle
        let milliseconds = timeout.milliseconds32
        try await self.executor.run { try handle.ping(timeoutMilliseconds: milliseconds) }
    }

    /// Leaves the group cleanly (so partitions are reassigned at once) and stops polling.
    public func close() async {
        let alreadyClosed = self.closed.withLockedValue { closed in
            defer { closed = true }
            return closed
        }
        guard !alreadyClosed else { return }
        let handle = self.handle
        _ = try? await self.executor.run { _ = rd_kafka_consumer_close(handle.pointer) }
        await self.executor.shutdown()
    }
}

/// Owns the consumer's queue handle; keeps the client handle alive while it exists.
// @unchecked Sendable: librdkafka queues are thread-safe; the pointer is immutable and freed in deinit.
final class KafkaQueue: @unchecked Sendable {
    let pointer: OpaquePointer
    let owner: KafkaHandle

    init(pointer: OpaquePointer, owner: KafkaHandle) {
        self.pointer = pointer
        self.owner = owner
    }

    deinit { rd_kafka_queue_destroy(self.pointer) }

    /// Takes up to `size` messages and about `maximumBytes` of payload. Only the first message
    /// is waited for (up to the timeout); then the batch gathers what is already queued, in
    /// takes sized by the bytes left over the average message so far. So batches follow the
    /// load: one message when idle, full under a backlog, and never a wait to fill one
    /// (librdkafka's batch call waits for all `size` messages until its timeout).
    func consumeBatch(size: Int, maximumBytes: Int, timeoutMilliseconds: Int32, logger: Logger) throws -> [KafkaMessage] {
        var raw = [UnsafeMutablePointer<rd_kafka_message_t>?](repeating: nil, count: min(size, 64))
        var messages: [KafkaMessage] = []
        var bytes = 0
        var topics = TopicNameCache()
        var fatal: ClientError?
        var wanted = 1
        var timeout = timeoutMilliseconds
        while wanted > 0 {
            let count = raw.withUnsafeMutableBufferPointer { buffer in
                rd_kafka_consume_batch_queue(self.pointer, timeout, buffer.baseAddress, wanted)
            }
            guard count > 0 else { break }
            if messages.isEmpty { messages.reserveCapacity(min(size, count * 4)) }
            for index in 0..<count {
                guard let message = raw[index] else { continue }
                defer { rd_kafka_message_destroy(message) }
                let error = message.pointee.err
                if error != RD_KAFKA_RESP_ERR_NO_ERROR {
                    if error == RD_KAFKA_RESP_ERR__PARTITION_EOF { continue }
                    let clientError = KafkaErrors.error(error, "consume failed")
                    if error == RD_KAFKA_RESP_ERR__FATAL { fatal = clientError }
                    logger.warning("kafka consumer error", metadata: ["error": "\(clientError)"])
                    continue
                }
                bytes += message.pointee.len + message.pointee.key_len
                messages.append(Self.convert(message, topics: &topics))
            }
            timeout = 0
            let left = size - messages.count
            guard left > 0, bytes < maximumBytes, !messages.isEmpty else { break }
            let average = max(1, bytes / messages.count)
            wanted = min(left, max(1, (maximumBytes - bytes) / average), raw.count)
        }
        if let fatal { throw fatal }
        return messages
    }

    /// The last topic's name, so that a batch from one topic makes one String, not one per message.
    private struct TopicNameCache {
        var handle: OpaquePointer?
        var name = ""

        mutating func name(of handle: OpaquePointer?) -> String {
            guard let handle else { return "" }
            if handle != self.handle {
                self.handle = handle
                self.name = String(cString: rd_kafka_topic_name(handle))
            }
            return self.name
        }
    }

    private static func convert(_ message: UnsafeMutablePointer<rd_kafka_message_t>, topics: inout TopicNameCache) -> KafkaMessage {
        let pointee = message.pointee
        let value = pointee.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: pointee.len)) } ?? []
        let key = pointee.key.map { Array(UnsafeRawBufferPointer(start: $0, count: pointee.key_len)) }
        var headers: [(name: String, value: [UInt8])] = []
        var list: OpaquePointer?
        if rd_kafka_message_headers(message, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list {
            var index = 0
            var name: UnsafePointer<CChar>?
            var headerValue: UnsafeRawPointer?
            var size = 0
            while rd_kafka_header_get_all(list, index, &name, &headerValue, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                if let name {
                    let bytes = headerValue.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) } ?? []
                    headers.append((String(cString: name), bytes))
                }
                index += 1
            }
        }
        let topic = topics.name(of: pointee.rkt)
        let timestamp = rd_kafka_message_timestamp(message, nil)
        return KafkaMessage(topic: topic, partition: pointee.partition, offset: pointee.offset, key: key, value: value, headers: headers,
                            timestamp: timestamp >= 0 ? timestamp : nil)
    }
}

/// An AsyncSequence of message batches from a ``KafkaConsumer``.
public struct KafkaMessageBatches: AsyncSequence, Sendable {
    /// A batch of messages as fetched.
    public typealias Element = [KafkaMessage]
    let consumer: KafkaConsumer

    /// Creates the iterator.
    public func makeAsyncIterator() -> Iterator { Iterator(consumer: self.consumer) }

    /// Polls until a non-empty batch arrives, the task is cancelled or the consumer closes.
    public struct Iterator: AsyncIteratorProtocol {
        let consumer: KafkaConsumer

        /// The next non-empty batch, or nil at the end.
        /// - Throws: ``ClientError`` for a fatal consumer error.
        public mutating func next() async throws -> [KafkaMessage]? {
            while !Task.isCancelled {
                if self.consumer.isClosed { return nil }
                let batch = try await self.consumer.poll()
                if !batch.isEmpty { return batch }
            }
            return nil
        }
    }
}

extension KafkaConsumer {
    var isClosed: Bool { self.closed.withLockedValue { $0 } }
}

/// `RD_KAFKA_PARTITION_UA` is a cast macro Swift does not import.
let RD_KAFKA_PARTITION_UA_VALUE: Int32 = -1
