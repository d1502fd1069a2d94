import CRdKafka
import ClientRuntime
import Logging
import Metrics
import NIOConcurrencyHelpers
import ServiceLifecycle

/// A message to produce.
public struct KafkaRecord: Sendable {
    /// Topic name.
    public var topic: String
    /// Partitioning key (Sensormine uses the device id so order holds per device).
    public var key: [UInt8]?
    /// Payload.
    public var value: [UInt8]
    /// Headers in order (tenant, traceparent, …).
    public var headers: [(name: String, value: [UInt8])]
    /// Sent without a value (null, not empty): on a compacted topic the key is then forgotten.
    public var isTombstone: Bool

    /// Creates a record.
    public init(topic: String, key: [UInt8]? = nil, value: [UInt8], headers: [(name: String, value: [UInt8])] = []) {
        self.topic = topic
        self.key = key
        self.value = value
        self.headers = headers
        self.isTombstone = false
    }

    /// A tombstone for `key`.
    public static func tombstone(topic: String, key: [UInt8], headers: [(name: String, value: [UInt8])] = []) -> KafkaRecord {
        var record = KafkaRecord(topic: topic, key: key, value: [], headers: headers)
        record.isTombstone = true
        return record
    }
}

/// Where the broker stored a produced message.
public struct KafkaDeliveryReport: Sendable, Equatable {
    /// Partition the message went to.
    public var partition: Int32
    /// Its offset within the partition.
    public var offset: Int64
}

/// An idempotent producer whose sends complete when the broker acknowledged the message
/// (`acks=all`), not when it was queued.
///
/// It is a `Service`: its ``run()`` serves librdkafka's delivery reports and, on graceful
/// shutdown, flushes what is queued before returning. Sends made while it is not running wait.
///
/// It heals itself: when deliveries time out while a broker still answers (the idempotent
/// producer's state no longer matches the cluster's, e.g. after the cluster lost its producer ids,
/// or librdkafka raised a fatal idempotence error, after which its docs require a new instance),
/// the handle is purged and replaced; `sensormine_kafka_producer_rebuilds_total` counts it.
public final class KafkaProducer: Service, Sendable {
    private let current: NIOLockedValueBox<KafkaHandle>
    private let makeHandle: @Sendable () throws -> KafkaHandle
    private let rebuilds = Counter(label: "sensormine_kafka_producer_rebuilds_total")
    private let registry: DeliveryRegistry
    private let executor: BlockingExecutor
    private let stopping = NIOLockedValueBox(false)
    private let logger: Logger
    private let flushTimeout: Duration

    /// Creates a producer. Delivery is confirmed only after all in-sync replicas have the message.
    /// - Throws: ``ClientError`` for an invalid property or an unsupported librdkafka.
    public init(configuration: KafkaConfiguration, flushTimeout: Duration = .seconds(10), logger: Logger) throws {
        try RdKafkaLibrary.requireSupportedVersion(logger: logger)
        let registry = DeliveryRegistry()
        self.registry = registry
        self.logger = logger
        self.flushTimeout = flushTimeout
        // One thread serves delivery reports; the other runs short blocking calls (metadata).
        self.executor = BlockingExecutor(threads: 2)
        let properties = configuration.merged(with: [
            "enable.idempotence": "true",
            "acks": "all",
            "linger.ms": "5",
            "message.timeout.ms": "30000",
            "compression.type": "lz4",
        ])
        self.makeHandle = { try KafkaHandle(type: RD_KAFKA_PRODUCER, properties: properties) { conf in
            rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(registry).toOpaque())
            rd_kafka_conf_set_dr_msg_cb(conf) { _, message, opaque in
                guard let message, let opaque else { return }
                let registry = Unmanaged<DeliveryRegistry>.fromOpaque(opaque).takeUnretainedValue()
                let tag = UInt(bitPattern: message.pointee._private)
                if message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR {
                    registry.complete(tag: tag, .success(KafkaDeliveryReport(partition: message.pointee.partition, offset: message.pointee.offset)))
                } else {
                    if message.pointee.err == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT { registry.markSuspect() }
                    registry.complete(tag: tag, .failure(KafkaErrors.error(message.pointee.err, "delivery failed")))
                }
            }
            rd_kafka_conf_set_error_cb(conf) { _, code, _, opaque in
                Counter(label: "sensormine_kafka_errors_total", dimensions: [("client", "producer")]).increment()
                if code == RD_KAFKA_RESP_ERR__FATAL.rawValue, let opaque {
                    Unmanaged<DeliveryRegistry>.fromOpaque(opaque).takeUnretainedValue().markSuspect()
                }
            }
        } }
        self.current = NIOLockedValueBox(try self.makeHandle())
    }

    private var handle: KafkaHandle { self.current.withLockedValue { $0 } }

    /// Replaces a wedged handle when a broker answers: the old one's queued and in-flight messages
    /// are purged, which fails their sends with a clear error.
    private func healIfWedged() {
        guard self.registry.takeSuspect() else { return }
        let old = self.handle
        guard (try? old.ping(timeoutMilliseconds: 1000)) != nil, let fresh = try? self.makeHandle() else {
            self.registry.markSuspect()  // broker still away: try again later
            return
        }
        self.current.withLockedValue { $0 = fresh }
        rd_kafka_purge(old.pointer, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT))
        rd_kafka_poll(old.pointer, 0)
        self.rebuilds.increment()
        self.logger.warning("kafka producer rebuilt: deliveries timed out while the cluster answered")
    }

    /// Serves delivery reports until graceful shutdown or cancellation, then flushes.
    public func run() async throws {
        let stopping = self.stopping
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                _ = try? await self.executor.run {
                    while !stopping.withLockedValue({ $0 }) {
                        rd_kafka_poll(self.handle.pointer, 50)
                        self.healIfWedged()
                    }
                }
            } onCancel: {
                stopping.withLockedValue { $0 = true }
            }
        } onGracefulShutdown: {
            stopping.withLockedValue { $0 = true }
        }
        let flushMilliseconds = self.flushTimeout.milliseconds32
        let handle = self.handle
        let remaining = try? await self.executor.run { () -> Int32 in
            _ = rd_kafka_flush(handle.pointer, flushMilliseconds)
            return rd_kafka_outq_len(handle.pointer)
        }
        if let remaining, remaining > 0 {
            self.logger.error("producer stopped with undelivered messages", metadata: ["kafka.queued": "\(remaining)"])
        }
        self.registry.failAll(ClientError(.shutdown, client: "kafka", "producer stopped before delivery was confirmed"))
        await self.executor.shutdown()
    }

    /// Produces one record and waits for the broker's acknowledgement.
    /// - Throws: ``ClientError`` when delivery fails or times out (`message.timeout.ms`).
    @discardableResult
    public func send(_ record: KafkaRecord) async throws -> KafkaDeliveryReport {
        try await self.send([record])[0].get()
    }

    /// Produces records in one go and waits until every one is acknowledged or failed.
    /// Results are in input order; one failure does not fail the others.
    /// - Throws: ``ClientError`` `shutdown` when the producer is stopping.
    public func send(_ records: [KafkaRecord]) async throws -> [Result<KafkaDeliveryReport, ClientError>] {
        guard !records.isEmpty else { return [] }
        guard records.count < DeliveryRegistry.maximumBatch else {
            throw ClientError(.invalidRequest, client: "kafka", "a batch holds at most \(DeliveryRegistry.maximumBatch - 1) records")
        }
        if self.stopping.withLockedValue({ $0 }) {
            throw ClientError(.shutdown, client: "kafka", "producer is shutting down")
        }
        let outbound = OutboundContext.current
        let handle = self.handle
        return await withCheckedContinuation { continuation in
            let batch = self.registry.register(count: records.count, continuation)
            for (index, record) in records.enumerated() {
                let tag = DeliveryRegistry.tag(batch: batch, index: index)
                guard let error = self.enqueue(record, tag: tag, outbound: outbound, handle: handle, waitForSpace: false) else { continue }
                guard error.serverCode == Self.queueFull else {
                    self.registry.complete(tag: tag, .failure(error))
                    continue
                }
                // The local queue is full: waiting for space blocks, so this record and the
                // rest of the batch (in order) are enqueued on the producer's own thread,
                // never on a cooperative one.
                let rest = Array(records.enumerated().dropFirst(index))
                self.executor.submit { active in
                    for (later, record) in rest {
                        let tag = DeliveryRegistry.tag(batch: batch, index: later)
                        guard active else {
                            self.registry.complete(tag: tag, .failure(ClientError(.shutdown, client: "kafka", "producer stopped before the record was enqueued")))
                            continue
                        }
                        if let error = self.enqueue(record, tag: tag, outbound: outbound, handle: handle, waitForSpace: true) {
                            self.registry.complete(tag: tag, .failure(error))
                        }
                    }
                }
                return
            }
        }
    }

    private static let queueFull = String(cString: rd_kafka_err2name(RD_KAFKA_RESP_ERR__QUEUE_FULL))

    /// Answers when a broker returns metadata.
    /// - Throws: ``ClientError`` `unreachable` or `timeout`.
    public func ping(timeout: Duration = .seconds(2)) async throws {
        let handle = self.handle
        let milliseconds = timeout.milliseconds32
        try await self.executor.run { try handle.ping(timeoutMilliseconds: milliseconds) }
    }

    /// Hands one record to librdkafka. A full local queue is back-pressure, not failure: with
    /// `waitForSpace` (only ever on the producer's own thread) it waits up to 5 s for room,
    /// otherwise it answers `_QUEUE_FULL` at once.
    private func enqueue(_ record: KafkaRecord, tag: UInt, outbound: OutboundContext?, handle: KafkaHandle, waitForSpace: Bool) -> ClientError? {
        guard let headers = rd_kafka_headers_new(record.headers.count + 2) else {
            return ClientError(.invalidRequest, client: "kafka", "could not allocate headers")
        }
        for header in record.headers {
            header.value.withUnsafeBytes { _ = rd_kafka_header_add(headers, header.name, -1, $0.baseAddress, $0.count) }
        }
        if let outbound, !record.headers.contains(where: { $0.name == "traceparent" }) {
            _ = rd_kafka_header_add(headers, "traceparent", -1, outbound.traceparent, outbound.traceparent.utf8.count)
            _ = rd_kafka_header_add(headers, "x-request-id", -1, outbound.requestID, outbound.requestID.utf8.count)
        }
        var waited = 0
        while true {
            let code = self.produce(record, headers: headers, tag: tag, handle: handle)
            if code == RD_KAFKA_RESP_ERR_NO_ERROR { return nil }
            if code == RD_KAFKA_RESP_ERR__QUEUE_FULL, waitForSpace, waited < 5_000 {
                rd_kafka_poll(handle.pointer, 1)
                waited += 1
                continue
            }
            rd_kafka_headers_destroy(headers)
            return KafkaErrors.error(code, "could not enqueue message for \(record.topic)")
        }
    }

    private func produce(_ record: KafkaRecord, headers: OpaquePointer, tag: UInt, handle: KafkaHandle) -> rd_kafka_resp_err_t {
        record.topic.withCString { topic in
            record.value.withUnsafeBytes { value in
                let key = record.key ?? []
                return key.withUnsafeBytes { keyBytes in
                    var values = [rd_kafka_vu_t](repeating: rd_kafka_vu_t(), count: 6)
                    values[0].vtype = RD_KAFKA_VTYPE_TOPIC
                    values[0].u.cstr = topic
                    values[1].vtype = RD_KAFKA_VTYPE_VALUE
                    values[1].u.mem.ptr = record.isTombstone ? nil : UnsafeMutableRawPointer(mutating: value.baseAddress)
                    values[1].u.mem.size = value.count
                    values[2].vtype = RD_KAFKA_VTYPE_MSGFLAGS
                    values[2].u.i = RD_KAFKA_MSG_F_COPY
                    values[3].vtype = RD_KAFKA_VTYPE_OPAQUE
                    values[3].u.ptr = UnsafeMutableRawPointer(bitPattern: tag)
                    values[4].vtype = RD_KAFKA_VTYPE_HEADERS
                    values[4].u.headers = headers
                    var count = 5
                    if record.key != nil {
                        values[5].vtype = RD_KAFKA_VTYPE_KEY
                        values[5].u.mem.ptr = UnsafeMutableRawPointer(mutating: keyBytes.baseAddress)
                        values[5].u.mem.size = keyBytes.count
                        count = 6
                    }
                    guard let error = rd_kafka_produceva(handle.pointer, &values, count) else {
                        return RD_KAFKA_RESP_ERR_NO_ERROR
                    }
                    defer { rd_kafka_error_destroy(error) }
                    return rd_kafka_error_code(error)
                }
            }
        }
    }
}

/// Outstanding sends, each a batch whose continuation resumes when its last record completes.
/// A record's tag packs (batch id, index) into librdkafka's per-message opaque pointer, so no
/// allocation is made per message for bookkeeping.
final class DeliveryRegistry: Sendable {
    static let indexBits = 24
    static let maximumBatch = 1 << indexBits

    // A class so that a delivery report updates it in place (a struct in the dictionary would be
    // copied, with its result array, on every report).
    // @unchecked Sendable: instances are only read or written while holding the registry's lock.
    private final class Batch: @unchecked Sendable {
        var results: [Result<KafkaDeliveryReport, ClientError>?]
        var remaining: Int
        let continuation: CheckedContinuation<[Result<KafkaDeliveryReport, ClientError>], Never>

        init(count: Int, continuation: CheckedContinuation<[Result<KafkaDeliveryReport, ClientError>], Never>) {
            self.results = Array(repeating: nil, count: count)
            self.remaining = count
            self.continuation = continuation
        }
    }

    private struct State {
        var nextBatch: UInt = 1
        var batches: [UInt: Batch] = [:]
        var suspect = false
    }

    /// Notes that the producer may be wedged (a delivery timed out, or a fatal error).
    func markSuspect() { self.state.withLockedValue { $0.suspect = true } }

    /// Whether the producer was marked suspect since the last call.
    func takeSuspect() -> Bool {
        self.state.withLockedValue { state in
            defer { state.suspect = false }
            return state.suspect
        }
    }

    private let state = NIOLockedValueBox(State())

    static func tag(batch: UInt, index: Int) -> UInt { batch << indexBits | UInt(index) }

    func register(count: Int, _ continuation: CheckedContinuation<[Result<KafkaDeliveryReport, ClientError>], Never>) -> UInt {
        self.state.withLockedValue { state in
            let id = state.nextBatch
            state.nextBatch = state.nextBatch >= (UInt.max >> Self.indexBits) ? 1 : state.nextBatch + 1
            state.batches[id] = Batch(count: count, continuation: continuation)
            return id
        }
    }

    func complete(tag: UInt, _ result: Result<KafkaDeliveryReport, ClientError>) {
        let batchID = tag >> Self.indexBits
        let index = Int(tag & UInt(Self.maximumBatch - 1))
        let finished = self.state.withLockedValue { state -> Batch? in
            guard let batch = state.batches[batchID], index < batch.results.count, batch.results[index] == nil else { return nil }
            batch.results[index] = result
            batch.remaining -= 1
            return batch.remaining == 0 ? state.batches.removeValue(forKey: batchID) : nil
        }
        if let finished { finished.continuation.resume(returning: finished.results.map { $0! }) }
    }

    func failAll(_ error: ClientError) {
        let batches = self.state.withLockedValue { state in
            defer { state.batches = [:] }
            return Array(state.batches.values)
        }
        for batch in batches {
            batch.continuation.resume(returning: batch.results.map { $0 ?? .failure(error) })
        }
    }
}

