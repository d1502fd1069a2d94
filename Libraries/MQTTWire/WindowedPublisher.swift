import ClientRuntime
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// An MQTT 5 client that publishes at QoS 1 with many messages awaiting their PUBACK at once,
/// on SwiftNIO's event loops: the load generator's publisher (ADR 15's addendum).
///
/// libmosquitto's threaded loop keeps a thread per connection, and each publish awaited from
/// Swift crosses to that thread and back; with the 200 connections of a benchmark fleet the
/// simulator took half a core at 5,000 messages/s, a core the pipeline it measures then lacked.
/// Here every connection is a channel on the shared event loops, a publish is one write, and
/// its PUBACK completes a future on the connection's loop. The caller bounds what is in flight
/// (``inFlight``); it must stay within the broker's receive maximum (Mosquitto's
/// `max_inflight_messages`), past which the broker disconnects.
public final class WindowedPublisher: Sendable {
    private let channel: any Channel
    private let handler: NIOLoopBound<PublisherHandler>

    private init(channel: any Channel, handler: NIOLoopBound<PublisherHandler>) {
        self.channel = channel
        self.handler = handler
    }

    /// Connects with a clean session, and answers once the broker has accepted the connection.
    /// - Throws: ``ClientError``: `notAuthorized` when the broker refuses the credentials,
    ///   `unreachable` or `timeout` when it cannot be reached.
    public static func connect(host: String, port: Int, clientID: String, username: String?, password: String?,
                               keepAlive: Duration = .seconds(30), group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> WindowedPublisher {
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(.seconds(5))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(MQTTPacketDecoder()))
                        try channel.pipeline.syncOperations.addHandler(PublisherHandler(keepAlive: keepAlive))
                    }
                }
                .connect(host: host, port: port).get()
        } catch {
            throw ClientError(.unreachable, client: "mqtt", "cannot connect to \(host):\(port): \(error)")
        }
        let accepted = channel.eventLoop.flatSubmit { () -> EventLoopFuture<WindowedPublisher> in
            do {
                let handler = try channel.pipeline.syncOperations.handler(type: PublisherHandler.self)
                let connect = MQTTPacket.connect(clientID: clientID, username: username, password: password,
                                                 keepAlive: UInt16(clamping: keepAlive.components.seconds), cleanStart: true,
                                                 sessionExpirySeconds: 0, receiveMaximum: 16)
                let bound = NIOLoopBound(handler, eventLoop: channel.eventLoop)
                return handler.start(connect).map { WindowedPublisher(channel: channel, handler: bound) }
            } catch {
                return channel.eventLoop.makeFailedFuture(error)
            }
        }
        do {
            return try await accepted.get()
        } catch {
            try? await channel.close()
            throw error
        }
    }

    /// The event loop the connection lives on: a publish made on it is written at once.
    public var eventLoop: any EventLoop { self.channel.eventLoop }

    /// How many publishes await their PUBACK.
    public var inFlight: Int {
        get async throws { try await self.channel.eventLoop.submit { self.handler.value.pending.count }.get() }
    }

    /// Publishes `payload` to `topic` at QoS 1; the future succeeds when the broker acknowledges
    /// it and fails with ``ClientError`` when it refuses it or the connection ends first.
    /// Callable from any thread.
    public func publish(topic: String, payload: [UInt8]) -> EventLoopFuture<Void> {
        let loop = self.channel.eventLoop
        if loop.inEventLoop { return self.handler.value.publish(topic: topic, payload: payload) }
        return loop.flatSubmit { self.handler.value.publish(topic: topic, payload: payload) }
    }

    /// Sends DISCONNECT and closes; what is still unacknowledged fails.
    public func close() async {
        let channel = self.channel
        try? await channel.eventLoop.flatSubmit {
            channel.writeAndFlush(MQTTPacket.disconnect()).flatMap { channel.close() }
        }.get()
    }
}

/// The connection's state, on its event loop only: the CONNACK awaited, each publish's packet
/// id and its promise, and the keep-alive.
private final class PublisherHandler: ChannelInboundHandler {
    typealias InboundIn = MQTTPacket.Inbound
    typealias OutboundOut = ByteBuffer

    private let keepAlive: Duration
    private var context: ChannelHandlerContext?
    private var accepted: EventLoopPromise<Void>?
    private(set) var pending: [UInt16: EventLoopPromise<Void>] = [:]
    private var nextPacketID: UInt16 = 1
    private var pinger: RepeatedTask?
    private var closed = false

    init(keepAlive: Duration) {
        self.keepAlive = keepAlive
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func start(_ connect: ByteBuffer) -> EventLoopFuture<Void> {
        guard let context = self.context, !self.closed else {
            return MultiThreadedEventLoopGroup.singleton.any().makeFailedFuture(ClientError(.unreachable, client: "mqtt", "the connection is closed"))
        }
        let promise = context.eventLoop.makePromise(of: Void.self)
        self.accepted = promise
        context.writeAndFlush(NIOAny(connect), promise: nil)
        return promise.futureResult
    }

    func publish(topic: String, payload: [UInt8]) -> EventLoopFuture<Void> {
        guard let context = self.context, !self.closed, self.accepted == nil else {
            let loop = self.context?.eventLoop ?? MultiThreadedEventLoopGroup.singleton.any()
            return loop.makeFailedFuture(ClientError(.unreachable, client: "mqtt", "the connection is closed"))
        }
        guard self.pending.count < Int(UInt16.max) else {
            return context.eventLoop.makeFailedFuture(ClientError(.invalidRequest, client: "mqtt", "65,535 publishes await their PUBACK already"))
        }
        while self.pending[self.nextPacketID] != nil { self.advancePacketID() }
        let packetID = self.nextPacketID
        self.advancePacketID()
        var buffer = context.channel.allocator.buffer(capacity: 8 + topic.utf8.count + payload.count)
        do {
            try MQTTPacket.publish(topic: topic, packetID: packetID, payload: payload, into: &buffer)
        } catch {
            return context.eventLoop.makeFailedFuture(ClientError(.invalidRequest, client: "mqtt", error.description))
        }
        let promise = context.eventLoop.makePromise(of: Void.self)
        self.pending[packetID] = promise
        context.writeAndFlush(NIOAny(buffer), promise: nil)
        return promise.futureResult
    }

    private func advancePacketID() {
        self.nextPacketID = self.nextPacketID == UInt16.max ? 1 : self.nextPacketID + 1
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .connectionAcknowledged(_, let reason):
            guard let accepted = self.accepted else { return }
            self.accepted = nil
            guard reason == 0 else {
                accepted.fail(ClientError([0x86, 0x87].contains(reason) ? .notAuthorized : .serverError, client: "mqtt",
                                          "broker refused the connection (reason \(reason))", serverCode: String(reason)))
                context.close(promise: nil)
                return
            }
            let interval = TimeAmount.milliseconds(max(500, self.keepAlive.milliseconds / 2))
            let channel = context.channel
            self.pinger = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
                channel.writeAndFlush(MQTTPacket.pingRequest(), promise: nil)
            }
            accepted.succeed()
        case .publishAcknowledged(let packetID, let reason):
            guard let promise = self.pending.removeValue(forKey: packetID) else { return }
            if reason < 0x80 {
                promise.succeed()
            } else {
                promise.fail(ClientError(reason == 0x87 ? .notAuthorized : .serverError, client: "mqtt",
                                         "broker refused the message (reason \(reason))", serverCode: String(reason)))
            }
        case .disconnect(let reason):
            self.failEverything(ClientError(.unreachable, client: "mqtt", "broker disconnected (reason \(reason))"))
            context.close(promise: nil)
        case .publish, .subscriptionAcknowledged, .pingResponse, .other:
            return
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.failEverything(ClientError(.unreachable, client: "mqtt", "connection failed: \(error)"))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.failEverything(ClientError(.unreachable, client: "mqtt", "connection closed"))
        context.fireChannelInactive()
    }

    private func failEverything(_ error: ClientError) {
        self.closed = true
        self.pinger?.cancel()
        self.pinger = nil
        self.accepted?.fail(error)
        self.accepted = nil
        let pending = self.pending
        self.pending = [:]
        for promise in pending.values { promise.fail(error) }
    }
}
