import CMosquitto
import ClientRuntime
import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers

/// A received MQTT message.
public struct MQTTMessage: Sendable {
    /// The topic it was published on.
    public var topic: String
    /// Payload bytes.
    public var payload: [UInt8]
    /// Delivery QoS.
    public var qos: Int
    /// Whether it was a retained message.
    public var retained: Bool
}

/// An MQTT v5 client over libmosquitto's threaded loop: QoS 0/1 publish that completes on
/// PUBACK, subscriptions (including `$share/group/topic`), an AsyncSequence of messages, and
/// automatic reconnect with resubscribe.
public final class MQTTClient: Sendable {
    /// Connection settings.
    public struct Configuration: Sendable {
        /// Broker host.
        public var host: String
        /// Broker port.
        public var port: Int
        /// Client id; unique per connection.
        public var clientID: String
        /// Username, if the broker requires one.
        public var username: String?
        /// Password; secret.
        public var password: String?
        /// Keep-alive interval.
        public var keepAlive: Duration
        /// Start a clean session on each connect.
        public var cleanStart: Bool

        /// Creates settings.
        public init(host: String, port: Int = 1883, clientID: String, username: String? = nil, password: String? = nil,
                    keepAlive: Duration = .seconds(30), cleanStart: Bool = true) {
            self.host = host
            self.port = port
            self.clientID = clientID
            self.username = username
            self.password = password
            self.keepAlive = keepAlive
            self.cleanStart = cleanStart
        }
    }

    private static let libraryInitialized: Void = { _ = mosquitto_lib_init() }()

    private let handle: MosquittoHandle
    private let state: MQTTState
    private let configuration: Configuration
    /// Messages of every subscription, in arrival order. Single consumer.
    public let messages: AsyncStream<MQTTMessage>

    /// Creates a client; call ``connect(timeout:)`` to connect.
    /// - Throws: ``ClientError`` `invalidRequest` for settings libmosquitto refuses.
    public init(configuration: Configuration, logger: Logger) throws {
        _ = Self.libraryInitialized
        self.configuration = configuration
        let (stream, continuation) = AsyncStream<MQTTMessage>.makeStream()
        self.messages = stream
        let state = MQTTState(messages: continuation, logger: logger)
        self.state = state
        guard let mosq = mosquitto_new(configuration.clientID, configuration.cleanStart, Unmanaged.passUnretained(state).toOpaque()) else {
            throw ClientError(.invalidRequest, client: "mqtt", "could not create a client: \(String(cString: strerror(errno)))")
        }
        self.handle = MosquittoHandle(pointer: mosq)
        mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5)
        mosquitto_reconnect_delay_set(mosq, 1, 5, true)
        if configuration.username != nil || configuration.password != nil {
            mosquitto_username_pw_set(mosq, configuration.username, configuration.password)
        }
        mosquitto_connect_v5_callback_set(mosq) { _, object, reason, _, _ in
            MQTTState.from(object)?.connected(reason: reason)
        }
        mosquitto_disconnect_v5_callback_set(mosq) { _, object, reason, _ in
            MQTTState.from(object)?.disconnected(reason: reason)
        }
        mosquitto_publish_v5_callback_set(mosq) { _, object, mid, reason, _ in
            MQTTState.from(object)?.published(mid: mid, reason: reason)
        }
        mosquitto_subscribe_v5_callback_set(mosq) { _, object, mid, count, granted, _ in
            let first = count > 0 ? (granted?[0] ?? 128) : 128
            MQTTState.from(object)?.subscribed(mid: mid, grantedQoS: first)
        }
        mosquitto_message_v5_callback_set(mosq) { _, object, message, _ in
            guard let message, let state = MQTTState.from(object) else { return }
            let value = message.pointee
            let payload = value.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: Int(value.payloadlen))) } ?? []
            state.received(MQTTMessage(topic: String(cString: value.topic), payload: payload, qos: Int(value.qos), retained: value.retain))
        }
        state.resubscribe = { [handle = self.handle] topics in
            for (topic, qos) in topics { mosquitto_subscribe_v5(handle.pointer, nil, topic, qos, 0, nil) }
        }
    }

    /// Connects and waits for the broker's CONNACK; afterwards libmosquitto reconnects by itself.
    /// - Throws: ``ClientError`` `unreachable` (no broker), `notAuthorized` (bad credentials), `timeout`.
    public func connect(timeout: Duration = .seconds(5)) async throws {
        let keepAlive = Int32(self.configuration.keepAlive.components.seconds)
        self.state.clearRefusal()
        let code = mosquitto_connect_async(self.handle.pointer, self.configuration.host, Int32(self.configuration.port), keepAlive)
        guard code == MOSQ_ERR_SUCCESS.rawValue else {
            throw ClientError(.unreachable, client: "mqtt", "\(self.configuration.host):\(self.configuration.port): \(Self.describe(code))")
        }
        if self.state.startLoopOnce() {
            let started = mosquitto_loop_start(self.handle.pointer)
            guard started == MOSQ_ERR_SUCCESS.rawValue else {
                throw ClientError(.invalidRequest, client: "mqtt", "could not start the network loop: \(Self.describe(started))")
            }
        }
        try await self.state.waitUntilConnected(timeout: timeout, endpoint: "\(self.configuration.host):\(self.configuration.port)")
    }

    /// Whether the client holds an accepted connection right now.
    public var isConnected: Bool { self.state.isConnected }

    /// Publishes and waits: for QoS 0 until the packet is written, for QoS 1 until PUBACK.
    /// - Throws: ``ClientError`` `unreachable` when not connected, `notAuthorized` when the broker
    ///   refuses (PUBACK reason 135), `serverError` for other refusals.
    public func publish(topic: String, payload: [UInt8], qos: Int = 1, retain: Bool = false) async throws {
        let state = self.state
        let handle = self.handle
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            var mid: Int32 = 0
            let code = payload.withUnsafeBytes { bytes in
                mosquitto_publish_v5(handle.pointer, &mid, topic, Int32(bytes.count), bytes.baseAddress, Int32(qos), retain, nil)
            }
            guard code == MOSQ_ERR_SUCCESS.rawValue else {
                let kind: ClientError.Code = code == MOSQ_ERR_NO_CONN.rawValue || code == MOSQ_ERR_CONN_LOST.rawValue ? .unreachable : .invalidRequest
                continuation.resume(throwing: ClientError(kind, client: "mqtt", "publish failed: \(Self.describe(code))"))
                return
            }
            state.awaitPublish(mid: mid, continuation)
        }
    }

    /// Subscribes (and re-subscribes after every reconnect); waits for SUBACK.
    /// - Throws: ``ClientError`` `notAuthorized` when the broker refuses the filter.
    public func subscribe(_ filter: String, qos: Int = 1) async throws {
        let state = self.state
        let handle = self.handle
        state.remember(filter, qos: Int32(qos))
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            var mid: Int32 = 0
            let code = mosquitto_subscribe_v5(handle.pointer, &mid, filter, Int32(qos), 0, nil)
            guard code == MOSQ_ERR_SUCCESS.rawValue else {
                continuation.resume(throwing: ClientError(.unreachable, client: "mqtt", "subscribe failed: \(Self.describe(code))"))
                return
            }
            state.awaitSubscribe(mid: mid, continuation)
        }
    }

    /// Disconnects, stops the network loop and ends ``messages``.
    public func disconnect() {
        mosquitto_disconnect(self.handle.pointer)
        mosquitto_loop_stop(self.handle.pointer, false)
        self.state.finish()
    }

    static func describe(_ code: Int32) -> String {
        if code == MOSQ_ERR_ERRNO.rawValue { return String(cString: strerror(errno)) }
        return String(cString: mosquitto_strerror(code))
    }
}

/// Owns the `struct mosquitto *`.
// @unchecked Sendable: libmosquitto's publish/subscribe/disconnect are safe to call from any
// thread while its threaded loop runs (the library locks internally); destroy happens in deinit.
final class MosquittoHandle: @unchecked Sendable {
    let pointer: OpaquePointer
    init(pointer: OpaquePointer) { self.pointer = pointer }
    deinit {
        mosquitto_loop_stop(self.pointer, true)
        mosquitto_destroy(self.pointer)
    }
}

/// Everything the C callbacks touch, behind one lock; callbacks do the minimum and return.
final class MQTTState: Sendable {
    private struct Inner {
        var connected = false
        var everConnected = false
        var loopStarted = false
        var lastRefusal: Int32?
        var connectWaiters: [CheckedContinuation<Void, any Error>] = []
        var publishes: [Int32: CheckedContinuation<Void, any Error>] = [:]
        var earlyPublishes: [Int32: Int32] = [:]
        var subscribes: [Int32: CheckedContinuation<Void, any Error>] = [:]
        var earlySubscribes: [Int32: Int32] = [:]
        var subscriptions: [String: Int32] = [:]
        var resubscribe: (@Sendable ([String: Int32]) -> Void)?
    }

    private let inner = NIOLockedValueBox(Inner())
    private let messages: AsyncStream<MQTTMessage>.Continuation
    private let logger: Logger
    private let reconnects = Counter(label: "sensormine_mqtt_reconnects_total")
    private let refusals = Counter(label: "sensormine_mqtt_publish_refusals_total")

    init(messages: AsyncStream<MQTTMessage>.Continuation, logger: Logger) {
        self.messages = messages
        self.logger = logger
    }

    static func from(_ object: UnsafeMutableRawPointer?) -> MQTTState? {
        object.map { Unmanaged<MQTTState>.fromOpaque($0).takeUnretainedValue() }
    }

    var resubscribe: (@Sendable ([String: Int32]) -> Void)? {
        get { self.inner.withLockedValue { $0.resubscribe } }
        set { self.inner.withLockedValue { $0.resubscribe = newValue } }
    }

    var isConnected: Bool { self.inner.withLockedValue { $0.connected } }

    func startLoopOnce() -> Bool {
        self.inner.withLockedValue { inner in
            defer { inner.loopStarted = true }
            return !inner.loopStarted
        }
    }

    func clearRefusal() {
        self.inner.withLockedValue { $0.lastRefusal = nil }
    }

    static func refusalError(_ reason: Int32) -> ClientError {
        // MQTT v5 reasons 134/135 (v3: 4/5) mean bad credentials or not authorised.
        ClientError([134, 135, 4, 5].contains(reason) ? .notAuthorized : .serverError,
                    client: "mqtt", "broker refused the connection (reason \(reason))", serverCode: String(reason))
    }

    func connected(reason: Int32) {
        let (waiters, resubscribe, topics, reconnected) = self.inner.withLockedValue { inner in
            if reason != 0 {
                inner.lastRefusal = reason
                return ([CheckedContinuation<Void, any Error>](), nil as (@Sendable ([String: Int32]) -> Void)?, [String: Int32](), false)
            }
            let reconnected = inner.everConnected
            inner.connected = true
            inner.everConnected = true
            inner.lastRefusal = nil
            defer { inner.connectWaiters = [] }
            return (inner.connectWaiters, inner.resubscribe, inner.subscriptions, reconnected)
        }
        if reason != 0 {
            self.logger.warning("mqtt connection refused", metadata: ["mqtt.reason": "\(reason)"])
            let waiters = self.inner.withLockedValue { inner in
                defer { inner.connectWaiters = [] }
                return inner.connectWaiters
            }
            for waiter in waiters { waiter.resume(throwing: Self.refusalError(reason)) }
            return
        }
        if reconnected {
            self.reconnects.increment()
            self.logger.info("mqtt reconnected; resubscribing", metadata: ["mqtt.subscriptions": "\(topics.count)"])
            resubscribe?(topics)
        }
        for waiter in waiters { waiter.resume() }
    }

    func disconnected(reason: Int32) {
        // libmosquitto resends unacknowledged QoS 1 publishes after reconnecting, but not
        // SUBSCRIBE packets: a subscribe still waiting for its SUBACK would wait forever.
        let orphaned = self.inner.withLockedValue { inner -> [CheckedContinuation<Void, any Error>] in
            inner.connected = false
            defer { inner.subscribes = [:] }
            return Array(inner.subscribes.values)
        }
        for continuation in orphaned {
            continuation.resume(throwing: ClientError(.unreachable, client: "mqtt", "connection lost before the broker acknowledged the subscription"))
        }
        if reason != 0 { self.logger.warning("mqtt connection lost; reconnecting", metadata: ["mqtt.reason": "\(reason)"]) }
    }

    func waitUntilConnected(timeout: Duration, endpoint: String) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await withCheckedThrowingContinuation { continuation in
                    // The CONNACK may have come before this waiter: answer from the state then.
                    let (ready, refusal) = self.inner.withLockedValue { inner -> (Bool, Int32?) in
                        if inner.connected { return (true, nil) }
                        if let refusal = inner.lastRefusal { return (false, refusal) }
                        inner.connectWaiters.append(continuation)
                        return (false, nil)
                    }
                    if ready { continuation.resume() }
                    if let refusal { continuation.resume(throwing: Self.refusalError(refusal)) }
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                let refusal = self.inner.withLockedValue { $0.lastRefusal }
                throw ClientError(refusal == nil ? .timeout : .notAuthorized, client: "mqtt",
                                  "no CONNACK from \(endpoint) within \(timeout)" + (refusal.map { " (last refusal reason \($0))" } ?? ""))
            }
            defer { group.cancelAll() }
            do {
                try await group.next()
            } catch {
                // Release a waiter still parked so its continuation is not leaked.
                let waiters = self.inner.withLockedValue { inner in
                    defer { inner.connectWaiters = [] }
                    return inner.connectWaiters
                }
                for waiter in waiters { waiter.resume(throwing: error) }
                throw error
            }
        }
    }

    func awaitPublish(mid: Int32, _ continuation: CheckedContinuation<Void, any Error>) {
        let early = self.inner.withLockedValue { inner -> Int32? in
            if let reason = inner.earlyPublishes.removeValue(forKey: mid) { return reason }
            inner.publishes[mid] = continuation
            return nil
        }
        if let early { self.resumePublish(continuation, reason: early) }
    }

    func published(mid: Int32, reason: Int32) {
        let continuation = self.inner.withLockedValue { inner -> CheckedContinuation<Void, any Error>? in
            if let continuation = inner.publishes.removeValue(forKey: mid) { return continuation }
            inner.earlyPublishes[mid] = reason
            return nil
        }
        if let continuation { self.resumePublish(continuation, reason: reason) }
    }

    private func resumePublish(_ continuation: CheckedContinuation<Void, any Error>, reason: Int32) {
        if reason < 128 {
            continuation.resume()
            return
        }
        self.refusals.increment()
        let code: ClientError.Code = reason == 135 ? .notAuthorized : .serverError
        continuation.resume(throwing: ClientError(code, client: "mqtt", "broker refused the publish (reason \(reason))", serverCode: String(reason)))
    }

    func remember(_ filter: String, qos: Int32) {
        self.inner.withLockedValue { $0.subscriptions[filter] = qos }
    }

    func awaitSubscribe(mid: Int32, _ continuation: CheckedContinuation<Void, any Error>) {
        let (early, connected) = self.inner.withLockedValue { inner -> (Int32?, Bool) in
            if let granted = inner.earlySubscribes.removeValue(forKey: mid) { return (granted, true) }
            guard inner.connected else { return (nil, false) }
            inner.subscribes[mid] = continuation
            return (nil, true)
        }
        if let early { Self.resumeSubscribe(continuation, granted: early) }
        // Sent while (re)connecting: the packet may be lost with the connection, so the caller
        // retries once connected (the broker treats a repeated SUBSCRIBE as the same one).
        if !connected { continuation.resume(throwing: ClientError(.unreachable, client: "mqtt", "not connected yet; subscription not confirmed")) }
    }

    func subscribed(mid: Int32, grantedQoS: Int32) {
        let continuation = self.inner.withLockedValue { inner -> CheckedContinuation<Void, any Error>? in
            if let continuation = inner.subscribes.removeValue(forKey: mid) { return continuation }
            inner.earlySubscribes[mid] = grantedQoS
            return nil
        }
        if let continuation { Self.resumeSubscribe(continuation, granted: grantedQoS) }
    }

    private static func resumeSubscribe(_ continuation: CheckedContinuation<Void, any Error>, granted: Int32) {
        if granted < 128 {
            continuation.resume()
        } else {
            continuation.resume(throwing: ClientError(granted == 135 ? .notAuthorized : .serverError, client: "mqtt",
                                                      "broker refused the subscription (reason \(granted))", serverCode: String(granted)))
        }
    }

    func received(_ message: MQTTMessage) {
        self.messages.yield(message)
    }

    func finish() {
        let (publishes, subscribes) = self.inner.withLockedValue { inner in
            defer {
                inner.publishes = [:]
                inner.subscribes = [:]
                inner.connected = false
            }
            return (Array(inner.publishes.values), Array(inner.subscribes.values))
        }
        let error = ClientError(.shutdown, client: "mqtt", "client disconnected")
        for continuation in publishes + subscribes { continuation.resume(throwing: error) }
        self.messages.finish()
    }
}
