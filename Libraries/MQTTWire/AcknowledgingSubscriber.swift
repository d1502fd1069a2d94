#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ClientRuntime
import Logging
import Metrics
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle

/// An MQTT 5 subscriber that acknowledges a QoS 1 message only after its handler has made it
/// safe, in batches, with many messages in flight on one connection.
///
/// libmosquitto writes a PUBACK as soon as its message callback returns, so a callback that
/// waits for durability holds one message per connection at a time. This client speaks the few
/// packets a subscriber needs itself, over SwiftNIO: it lets the broker send up to
/// `receiveMaximum` unacknowledged messages, hands whatever has arrived to the handler as one
/// batch, and writes the batch's PUBACKs (in the order the messages came, as MQTT requires)
/// when the handler says they are safe. Up to `batchesInFlight` batches are in the handler at
/// once, so messages arriving while one waits for durability start on their way at once rather
/// than queueing behind it; their PUBACKs still go out in arrival order. Sessions persist (`cleanStart` false, a session expiry):
/// what is not acknowledged when the connection ends, the broker redelivers to the same client
/// id; what arrives while it is away, the broker queues.
public final class AcknowledgingSubscriber: Service, Sendable {
    /// Connection and session settings.
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        /// Stable across restarts: the broker keeps the session under it.
        public var clientID: String
        public var username: String?
        public var password: String?
        public var keepAlive: Duration
        /// How long the broker keeps the session after the connection ends.
        public var sessionExpiry: Duration
        /// How many unacknowledged messages the broker may send at once.
        public var receiveMaximum: Int
        /// The topic filter (a `$share/…` filter to split messages between subscribers).
        public var filter: String
        /// The most messages one handler call gets.
        public var maximumBatch: Int
        /// How many handler calls may run at once. With more than one, a batch that fails after a
        /// later one succeeded leaves the later one unacknowledged too: the broker redelivers it
        /// (at least once, as with any lost connection), and the handler sees it twice.
        public var batchesInFlight: Int

        /// Creates settings.
        public init(host: String, port: Int, clientID: String, username: String?, password: String?, keepAlive: Duration = .seconds(30),
                    sessionExpiry: Duration, receiveMaximum: Int = 1000, filter: String, maximumBatch: Int = 500, batchesInFlight: Int = 1) {
            self.host = host
            self.port = port
            self.clientID = clientID
            self.username = username
            self.password = password
            self.keepAlive = keepAlive
            self.sessionExpiry = sessionExpiry
            self.receiveMaximum = receiveMaximum
            self.filter = filter
            self.maximumBatch = maximumBatch
            self.batchesInFlight = max(1, batchesInFlight)
        }
    }

    /// Makes a batch safe; answers whether its messages may be acknowledged. On `false` the
    /// connection ends without acknowledging them, and the broker redelivers them later.
    public typealias Handler = @Sendable ([MQTTPacket.Publish]) async -> Bool

    private struct State {
        var connected = false
        var subscribed = false
        var stopping = false
        var wake: AsyncStream<Void>.Continuation?
    }

    private let configuration: Configuration
    private let handler: Handler
    private let logger: Logger
    private let state = NIOLockedValueBox(State())
    private let received = Counter(label: "sensormine_mqtt_intake_messages_total")
    private let acknowledged = Counter(label: "sensormine_mqtt_intake_acknowledged_total")
    private let reconnects = Counter(label: "sensormine_mqtt_intake_connections_total")

    /// Creates a subscriber; ``run()`` connects and keeps it connected.
    public init(configuration: Configuration, logger: Logger, handler: @escaping Handler) {
        self.configuration = configuration
        self.handler = handler
        self.logger = logger
    }

    /// Whether the broker has granted the subscription on the current connection.
    public var isSubscribed: Bool { self.state.withLockedValue { $0.connected && $0.subscribed } }

    /// Connects, serves, and reconnects with backoff until graceful shutdown, when it finishes
    /// the batch in hand, disconnects (the session stays) and returns.
    public func run() async throws {
        let backoff = Backoff(base: .milliseconds(200), maximum: .seconds(5))
        var attempt = 0
        await withGracefulShutdownHandler {
            while !self.state.withLockedValue({ $0.stopping }) && !Task.isCancelled {
                do {
                    try await self.serveOneConnection()
                    attempt = 0
                } catch {
                    if self.state.withLockedValue({ $0.stopping }) { break }
                    if attempt % 10 == 0 {
                        self.logger.warning("mqtt intake connection ended; reconnecting", metadata: ["mqtt.client": "\(self.configuration.clientID)", "error": "\(error)"])
                    }
                    attempt += 1
                }
                self.state.withLockedValue { $0.connected = false; $0.subscribed = false }
                if self.state.withLockedValue({ $0.stopping }) { break }
                let pause = backoff.delay(attempt: attempt)
                _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) }
            }
        } onGracefulShutdown: {
            let wake = self.state.withLockedValue { state in
                state.stopping = true
                return state.wake
            }
            wake?.yield()
        }
    }

    private func serveOneConnection() async throws {
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connectTimeout(.seconds(5))
        let channel = try await bootstrap.connect(host: self.configuration.host, port: self.configuration.port) {
            (channel: any Channel) -> EventLoopFuture<NIOAsyncChannel<[MQTTPacket.Inbound], ByteBuffer>> in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(MQTTPacketDecoder()))
                try channel.pipeline.syncOperations.addHandler(PacketsPerRead())
                return try NIOAsyncChannel<[MQTTPacket.Inbound], ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
        self.reconnects.increment()
        try await channel.executeThenClose { inbound, outbound in
            let configuration = self.configuration
            try await outbound.write(MQTTPacket.connect(
                clientID: configuration.clientID, username: configuration.username, password: configuration.password,
                keepAlive: UInt16(clamping: configuration.keepAlive.components.seconds), cleanStart: false,
                sessionExpirySeconds: UInt32(clamping: configuration.sessionExpiry.components.seconds),
                receiveMaximum: UInt16(clamping: max(1, configuration.receiveMaximum))))
            try await self.serve(inbound: inbound, outbound: outbound)
        }
    }

    /// Reads packets into a queue and hands the queue to the handler batch by batch, in order.
    private func serve(inbound: NIOAsyncChannelInboundStream<[MQTTPacket.Inbound]>, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) async throws {
        let queue = NIOLockedValueBox<[MQTTPacket.Publish]>([])
        let (wakeups, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let lastHeard = NIOLockedValueBox(ContinuousClock.now)
        let disconnecting = NIOLockedValueBox(false)
        self.state.withLockedValue { $0.wake = wake }
        defer { self.state.withLockedValue { $0.wake = nil } }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                var acknowledgedConnection = false
                var arrived: [MQTTPacket.Publish] = []
                for try await packets in inbound {
                    lastHeard.withLockedValue { $0 = .now }
                    for packet in packets {
                        switch packet {
                        case .connectionAcknowledged(_, let reason):
                            guard reason == 0 else {
                                throw ClientError([0x86, 0x87].contains(reason) ? .notAuthorized : .serverError, client: "mqtt",
                                                  "broker refused the connection (reason \(reason))", serverCode: String(reason))
                            }
                            acknowledgedConnection = true
                            self.state.withLockedValue { $0.connected = true }
                            try await outbound.write(MQTTPacket.subscribe(packetID: 1, filter: self.configuration.filter, qos: 1))
                        case .publish(let message):
                            arrived.append(message)
                        case .subscriptionAcknowledged(_, let reasons):
                            guard let granted = reasons.first, granted < 0x80 else {
                                throw ClientError(.notAuthorized, client: "mqtt", "broker refused the subscription (reason \(reasons.first ?? 0))")
                            }
                            self.state.withLockedValue { $0.subscribed = true }
                        case .disconnect(let reason):
                            throw ClientError(.unreachable, client: "mqtt", "broker disconnected (reason \(reason))")
                        case .pingResponse, .publishAcknowledged, .other:
                            continue
                        }
                    }
                    // A read's messages join the queue together: one lock and one wake-up each.
                    // After our DISCONNECT the broker may still be sending; it redelivers those.
                    if !arrived.isEmpty && !disconnecting.withLockedValue({ $0 }) {
                        self.received.increment(by: Int64(arrived.count))
                        queue.withLockedValue { $0 += arrived }
                        wake.yield()
                    }
                    arrived.removeAll(keepingCapacity: true)
                }
                if disconnecting.withLockedValue({ $0 }) { return }
                throw ClientError(.unreachable, client: "mqtt", acknowledgedConnection ? "connection closed by the broker" : "the broker closed the connection before CONNACK")
            }
            group.addTask {
                let interval = self.configuration.keepAlive / 2
                while true {
                    try await Task.sleep(for: interval)
                    if ContinuousClock.now - lastHeard.withLockedValue({ $0 }) > self.configuration.keepAlive * 3 / 2 {
                        throw ClientError(.timeout, client: "mqtt", "no packet from the broker for \(self.configuration.keepAlive * 3 / 2)")
                    }
                    try await outbound.write(MQTTPacket.pingRequest())
                }
            }
            group.addTask {
                /// Ends the connection the way MQTT 5 means it to: our DISCONNECT, then the broker
                /// closes once it has read everything before it. Closing first, with the broker's
                /// messages unread in our socket, makes the kernel reset the connection, and a
                /// reset discards what the broker had not yet read: the last PUBACKs, which would
                /// then be redelivered although their messages were safe.
                @Sendable func disconnectGracefully() async {
                    disconnecting.withLockedValue { $0 = true }
                    try? await outbound.write(MQTTPacket.disconnect())
                    try? await Task.sleep(for: .seconds(2))
                }
                // Handler calls run as child tasks; each reports its outcome and rings the same
                // bell as arriving messages. The loop acknowledges the finished front of the line
                // in arrival order and starts batches while fewer than the limit are out.
                try await withThrowingDiscardingTaskGroup { handoffs in
                    var line: [(batch: [MQTTPacket.Publish], outcome: NIOLockedValueBox<Bool?>)] = []
                    for await _ in wakeups {
                        var acknowledgements = ByteBuffer()
                        var count = 0
                        var refused = false
                        while let front = line.first, let safe = front.outcome.withLockedValue({ $0 }) {
                            guard safe else {
                                refused = true
                                break
                            }
                            for message in front.batch {
                                if let id = message.packetID { MQTTPacket.publishAcknowledgement(packetID: id, into: &acknowledgements) }
                            }
                            count += front.batch.count
                            line.removeFirst()
                        }
                        if acknowledgements.readableBytes > 0 { try await outbound.write(acknowledgements) }
                        self.acknowledged.increment(by: Int64(count))
                        if refused {
                            // What the handler could not make safe (and every batch after it)
                            // stays unacknowledged: the broker redelivers it.
                            handoffs.cancelAll()
                            await disconnectGracefully()
                            return
                        }
                        if self.state.withLockedValue({ $0.stopping }) {
                            // What is queued stays unacknowledged: the broker keeps it for the
                            // session. Batches in the handler finish and are acknowledged first.
                            if line.isEmpty {
                                await disconnectGracefully()
                                return
                            }
                            continue
                        }
                        while line.count < self.configuration.batchesInFlight {
                            let batch = queue.withLockedValue { queue -> [MQTTPacket.Publish] in
                                let taken = Array(queue.prefix(self.configuration.maximumBatch))
                                queue.removeFirst(taken.count)
                                return taken
                            }
                            if batch.isEmpty { break }
                            let outcome = NIOLockedValueBox<Bool?>(nil)
                            line.append((batch, outcome))
                            handoffs.addTask {
                                let safe = await self.handler(batch)
                                outcome.withLockedValue { $0 = safe }
                                wake.yield()
                            }
                        }
                    }
                }
            }
            // The first task to end ends the connection: the reader when the broker closes after
            // our DISCONNECT (or the deliverer, if it does not within two seconds), the reader or
            // the pinger when the connection fails.
            defer { group.cancelAll() }
            try await group.next()
        }
    }
}

extension AcknowledgingSubscriber {
    /// The wall clock in microseconds since 1970, as envelopes' `receivedAt` counts it.
    static func microsecondsSince1970() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) &* 1_000_000 &+ Int64(now.tv_nsec / 1_000)
    }
}

/// Hands on the packets of one socket read together, each message stamped with when it was
/// read, so the subscriber's task wakes once per read rather than once per packet (and a
/// message's wait behind its neighbours counts as the edge's time).
final class PacketsPerRead: ChannelInboundHandler {
    typealias InboundIn = MQTTPacket.Inbound
    typealias InboundOut = [MQTTPacket.Inbound]
    private var pending: [MQTTPacket.Inbound] = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var packet = Self.unwrapInboundIn(data)
        if case .publish(var message) = packet {
            message.receivedAt = AcknowledgingSubscriber.microsecondsSince1970()
            packet = .publish(message)
        }
        self.pending.append(packet)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.flush(context: context)
        context.fireChannelReadComplete()
    }

    // The decoder hands on what it still holds when the connection ends or a packet is
    // malformed without a read completing: those packets go first.
    func channelInactive(context: ChannelHandlerContext) {
        self.flush(context: context)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.flush(context: context)
        context.fireErrorCaught(error)
    }

    private func flush(context: ChannelHandlerContext) {
        guard !self.pending.isEmpty else { return }
        let packets = self.pending
        self.pending.removeAll(keepingCapacity: true)
        context.fireChannelRead(Self.wrapInboundOut(packets))
    }
}

/// Splits the byte stream into MQTT packets.
struct MQTTPacketDecoder: ByteToMessageDecoder {
    typealias InboundOut = MQTTPacket.Inbound

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let packet = try MQTTPacket.read(from: &buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(packet))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try self.decode(context: context, buffer: &buffer)
    }
}
