import AsyncAlgorithms
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// One upstream's keep-alive connections: idle ones are reused (one on the caller's own event
/// loop first), at most `maximumConnections` are open, and a request beyond waits for one to
/// come back within its deadline.
final class UpstreamPool: Sendable {
    struct Settings: Sendable {
        var maximumConnections: Int
        var connectTimeout: TimeAmount
        var wholeBodyBytes: Int
        var tls: NIOSSLContext
        var logger: Logger
    }

    private struct Waiter {
        var id: Int
        /// Resumed with a connection handed over, or nil when a slot freed up to connect in.
        var continuation: CheckedContinuation<UpstreamConnection?, any Error>
    }

    private struct State {
        var idle: [UpstreamConnection] = []
        var open = 0
        var waiters: [Waiter] = []  // only under saturation, and short
        var nextWaiter = 0
        var shutDown = false
    }

    let address: UpstreamAddress
    private let settings: Settings
    private let state = NIOLockedValueBox(State())

    init(address: UpstreamAddress, settings: Settings) {
        self.address = address
        self.settings = settings
    }

    /// A connection for one exchange, idle or new.
    /// - Throws: ``UpstreamClient/Failure`` when none could be had before `deadline`.
    func acquire(deadline: NIODeadline) async throws -> UpstreamConnection {
        let loop = MultiThreadedEventLoopGroup.currentEventLoop ?? MultiThreadedEventLoopGroup.singleton.next()
        enum Next { case use(UpstreamConnection), connect, wait, shutDown }
        let next: Next = self.state.withLockedValue { state in
            if state.shutDown { return .shutDown }
            if !state.idle.isEmpty {
                let index = state.idle.lastIndex { $0.channel.eventLoop === loop } ?? state.idle.count - 1
                return .use(state.idle.remove(at: index))
            }
            guard state.open < self.settings.maximumConnections else { return .wait }
            state.open += 1
            return .connect
        }
        switch next {
        case .use(let connection): return connection
        case .connect: return try await self.connect(on: loop)
        case .shutDown: throw UpstreamClient.Failure.unreachable("the gateway is shutting down")
        case .wait:
            if let handedOver = try await self.waitForConnection(deadline: deadline, loop: loop) { return handedOver }
            return try await self.connect(on: loop)
        }
    }

    /// A connection for one exchange on `loop` itself, without waiting for another to come back.
    enum Checkout {
        case idle(UpstreamConnection)
        /// Being opened on the loop (in a slot already counted).
        case connecting(EventLoopFuture<UpstreamConnection>)
    }

    /// An idle connection on `loop`, or a new one opened there while the pool has room; nil when
    /// it is full (the caller must wait its turn) or shut down.
    func checkout(on loop: any EventLoop) -> Checkout? {
        let idle: UpstreamConnection?? = self.state.withLockedValue { state in
            if state.shutDown { return .some(nil) }
            if let index = state.idle.lastIndex(where: { $0.channel.eventLoop === loop }) { return state.idle.remove(at: index) }
            guard state.open < self.settings.maximumConnections else { return .some(nil) }
            state.open += 1
            return nil
        }
        switch idle {
        case .some(.some(let connection)): return .idle(connection)
        case .some(.none): return nil
        case .none: return .connecting(self.open(on: loop))
        }
    }

    /// Opens a connection in a slot already counted in `open`; gives the slot back on failure.
    private func connect(on loop: any EventLoop) async throws -> UpstreamConnection {
        try await self.open(on: loop).get()
    }

    /// Opens a connection in a slot already counted in `open`; gives the slot back on failure,
    /// which is then one of ``UpstreamClient/Failure``.
    private func open(on loop: any EventLoop) -> EventLoopFuture<UpstreamConnection> {
        let settings = self.settings
        let address = self.address
        var bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(settings.connectTimeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
        bootstrap = bootstrap.channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                if address.secure {
                    let serverName = address.host.contains(":") || address.host.allSatisfy({ $0.isNumber || $0 == "." }) ? nil : address.host
                    try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: settings.tls, serverHostname: serverName))
                }
                // What is written was parsed from the client's request by NIO or set by the
                // gateway, so the encoder need not check every field again.
                try channel.pipeline.syncOperations.addHTTPClientHandlers(enableOutboundHeaderValidation: false)
                try channel.pipeline.syncOperations.addHandler(UpstreamExchangeHandler(wholeBodyBytes: settings.wholeBodyBytes))
            }
        }
        return bootstrap.connect(host: address.host, port: address.port).flatMapThrowing { channel in
            let handler = try channel.pipeline.syncOperations.handler(type: UpstreamExchangeHandler.self)
            let connection = UpstreamConnection(channel: channel, handler: NIOLoopBound(handler, eventLoop: channel.eventLoop))
            handler.pool = (self, connection)
            return connection
        }.flatMapErrorThrowing { error in
            self.slotFreed()
            throw UpstreamClient.classify(error)
        }
    }

    private func waitForConnection(deadline: NIODeadline, loop: any EventLoop) async throws -> UpstreamConnection? {
        let id = self.state.withLockedValue { state in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<UpstreamConnection?, any Error>) in
                let queued = self.state.withLockedValue { state in
                    guard !Task.isCancelled, !state.shutDown else { return false }
                    state.waiters.append(Waiter(id: id, continuation: continuation))
                    return true
                }
                guard queued else { return continuation.resume(throwing: CancellationError()) }
                loop.scheduleTask(deadline: deadline) { self.abandon(waiter: id, with: UpstreamClient.Failure.timeout) }
            }
        } onCancel: {
            self.abandon(waiter: id, with: CancellationError())
        }
    }

    private func abandon(waiter id: Int, with error: any Error) {
        let waiter = self.state.withLockedValue { state -> Waiter? in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return state.waiters.remove(at: index)
        }
        waiter?.continuation.resume(throwing: error)
    }

    /// An exchange ended with the connection fit for another: the longest waiter takes it, or it idles.
    func release(_ connection: UpstreamConnection) {
        let (waiter, keep) = self.state.withLockedValue { state -> (Waiter?, Bool) in
            if state.shutDown { return (nil, false) }
            if !state.waiters.isEmpty { return (state.waiters.removeFirst(), true) }
            state.idle.append(connection)
            return (nil, true)
        }
        if !keep { connection.channel.close(promise: nil) }
        waiter?.continuation.resume(returning: connection)
    }

    /// A connection closed (by either side): its slot goes to the longest waiter, which connects.
    func discard(_ connection: UpstreamConnection) {
        self.state.withLockedValue { state in
            if let index = state.idle.firstIndex(where: { $0 === connection }) { state.idle.remove(at: index) }
        }
        self.slotFreed()
    }

    private func slotFreed() {
        let waiter = self.state.withLockedValue { state -> Waiter? in
            if !state.waiters.isEmpty { return state.waiters.removeFirst() }
            state.open -= 1
            return nil
        }
        waiter?.continuation.resume(returning: nil)
    }

    func shutdown() async {
        let (idle, waiters) = self.state.withLockedValue { state in
            state.shutDown = true
            defer { state.idle = []; state.waiters = [] }
            return (state.idle, state.waiters)
        }
        for waiter in waiters { waiter.continuation.resume(throwing: UpstreamClient.Failure.unreachable("the gateway is shutting down")) }
        for connection in idle { try? await connection.channel.close() }
    }
}

/// One keep-alive connection to an upstream; one exchange at a time (HTTP/1.1, no pipelining).
final class UpstreamConnection: Sendable {
    /// The connection closed before any part of the answer arrived; `reused` when it had served
    /// an exchange before (the upstream may have closed it as idle just as it was taken).
    enum Closed: Error { case beforeAnswer(reused: Bool) }

    /// Asks the connection for more of a streamed body, or drops the exchange when the body's
    /// reader went away.
    struct BodyDemand: NIOAsyncSequenceProducerDelegate {
        let handler: NIOLoopBound<UpstreamExchangeHandler>
        let exchange: Int

        func produceMore() {
            let handler = self.handler
            handler.eventLoop.execute { handler.value.resumeReading() }
        }

        func didTerminate() {
            let handler = self.handler
            let exchange = self.exchange
            handler.eventLoop.execute { handler.value.readerLeft(exchange: exchange) }
        }
    }

    let channel: any Channel
    private let handler: NIOLoopBound<UpstreamExchangeHandler>

    init(channel: any Channel, handler: NIOLoopBound<UpstreamExchangeHandler>) {
        self.channel = channel
        self.handler = handler
    }

    /// Begins an exchange from the connection's own event loop: sends `head` (and, when
    /// `hasBody`, waits for ``sendBody(_:exchange:)`` and ``endBody(exchange:)``), and answers the
    /// exchange's number and the future of its answer.
    func begin(_ head: HTTPRequestHead, hasBody: Bool, timeout: TimeAmount) -> (exchange: Int, answer: EventLoopFuture<UpstreamClient.Answer>) {
        let answer = self.channel.eventLoop.makePromise(of: UpstreamClient.Answer.self)
        let exchange = self.handler.value.start(head, hasBody: hasBody, timeout: timeout, answer: answer)
        return (exchange, answer.futureResult)
    }

    /// Gives the connection back to its pool unused (on the connection's event loop).
    func release() {
        if let (pool, connection) = self.handler.value.pool { pool.release(connection) }
    }

    /// Writes a part of a begun exchange's body (on the connection's event loop).
    func sendBody(_ chunk: ByteBuffer, exchange: Int) {
        _ = self.handler.value.write(chunk, exchange: exchange)
    }

    /// Ends a begun exchange's body (on the connection's event loop).
    func endBody(exchange: Int) {
        self.handler.value.endRequest(exchange: exchange)
    }

    /// Sends `head` and the relay's body, and answers the upstream's answer head (with the body
    /// whole when small); `timeout` bounds each wait for the upstream.
    func exchange(_ head: HTTPRequestHead, body: RequestBodyRelay?, timeout: TimeAmount) async throws -> UpstreamClient.Answer {
        let loop = self.channel.eventLoop
        let answer = loop.makePromise(of: UpstreamClient.Answer.self)
        let handler = self.handler
        let started: EventLoopFuture<Int>
        if loop.inEventLoop {
            started = loop.makeSucceededFuture(handler.value.start(head, hasBody: body != nil, timeout: timeout, answer: answer))
        } else {
            started = loop.submit { handler.value.start(head, hasBody: body != nil, timeout: timeout, answer: answer) }
        }
        if let body {
            // The body streams beside the wait for the answer: an upstream may answer (and refuse)
            // before it has read all of it.
            Task {
                let exchange = try await started.get()
                do {
                    for try await chunk in body.channel {
                        try await loop.flatSubmit { handler.value.write(chunk, exchange: exchange) ?? loop.makeFailedFuture(ChannelError.ioOnClosedChannel) }.get()
                    }
                    loop.execute { handler.value.endRequest(exchange: exchange) }
                } catch {
                    loop.execute { handler.value.abort(exchange: exchange, error: error) }
                }
            }
        }
        return try await answer.futureResult.get()
    }
}

/// Runs a connection's exchanges on its event loop: writes the request, times the upstream,
/// reads the answer whole or hands it on part by part (reading on only when asked), and gives
/// the connection back to its pool or closes it.
final class UpstreamExchangeHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    private enum State {
        case idle
        case awaitingHead(EventLoopPromise<UpstreamClient.Answer>)
        case collecting(HTTPResponseHead, ByteBuffer, EventLoopPromise<UpstreamClient.Answer>)
        case streaming(UpstreamBody.Stream.Source)
        case closed
    }

    private let wholeBodyBytes: Int
    private var state = State.idle
    private var context: ChannelHandlerContext?
    /// The pool and the connection this handler runs, set once connected.
    var pool: (UpstreamPool, UpstreamConnection)?
    private var exchange = 0
    private var exchangesServed = 0
    private var requestComplete = true
    private var answerKeepsAlive = true
    private var timeout = TimeAmount.seconds(10)
    private var lastActivity = NIODeadline.now()
    /// At most one timer per connection, left running between exchanges: scheduling and
    /// cancelling one per exchange cost more than the exchange's own bookkeeping.
    private var timer: Scheduled<Void>?
    private var timerDue: NIODeadline?
    private var readingPaused = false
    private var readPending = false

    init(wholeBodyBytes: Int) {
        self.wholeBodyBytes = wholeBodyBytes
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// Begins an exchange; answers its number, which later writes for it name.
    func start(_ head: HTTPRequestHead, hasBody: Bool, timeout: TimeAmount, answer: EventLoopPromise<UpstreamClient.Answer>) -> Int {
        self.exchange += 1
        guard case .idle = self.state, let context else {
            answer.fail(UpstreamConnection.Closed.beforeAnswer(reused: self.exchangesServed > 0))
            return self.exchange
        }
        self.state = .awaitingHead(answer)
        self.requestComplete = !hasBody
        self.answerKeepsAlive = true
        self.readingPaused = false
        self.timeout = timeout
        self.lastActivity = .now()
        self.armTimer(context: context)
        context.write(self.wrapOutboundOut(.head(head)), promise: nil)
        if hasBody {
            context.flush()
        } else {
            context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
        }
        return self.exchange
    }

    /// Writes a part of the request body; the future completes once the socket took it (nil: the
    /// exchange is over).
    func write(_ chunk: ByteBuffer, exchange: Int) -> EventLoopFuture<Void>? {
        guard exchange == self.exchange, !self.requestComplete, let context else { return nil }
        self.lastActivity = .now()
        return context.writeAndFlush(self.wrapOutboundOut(.body(.byteBuffer(chunk))))
    }

    /// The request body is complete.
    func endRequest(exchange: Int) {
        guard exchange == self.exchange, !self.requestComplete, let context else { return }
        self.requestComplete = true
        context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
    }

    /// The request body failed (a 413 from the relay, the client gone): the exchange fails with
    /// that error and the connection closes, its request cut short.
    func abort(exchange: Int, error: any Error) {
        guard exchange == self.exchange, !self.requestComplete else { return }
        self.fail(error)
        self.context?.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.lastActivity = .now()
        switch (self.unwrapInboundIn(data), self.state) {
        case (.head(let head), .awaitingHead(let answer)):
            self.answerKeepsAlive = head.isKeepAlive
            let length = head.headers.first(name: "content-length").flatMap { Int($0) }
            if head.status == .noContent || head.status == .notModified || length.map({ $0 <= self.wholeBodyBytes }) == true {
                self.state = .collecting(head, ByteBuffer(), answer)
                return
            }
            let demand = UpstreamConnection.BodyDemand(handler: NIOLoopBound(self, eventLoop: context.eventLoop), exchange: self.exchange)
            let stream = UpstreamBody.Stream.makeSequence(
                elementType: ByteBuffer.self, failureType: (any Error).self,
                backPressureStrategy: .init(lowWatermark: 2, highWatermark: 8), finishOnDeinit: false, delegate: demand)
            self.state = .streaming(stream.source)
            answer.succeed(UpstreamClient.Answer(status: Int(head.status.code), headers: head.headers, body: UpstreamBody(content: .streamed(stream.sequence))))
        case (.body(var chunk), .collecting(let head, var collected, let answer)):
            self.state = .idle  // keeps `collected` uniquely referenced while it grows
            if collected.readableBytes == 0 { collected = chunk } else { collected.writeBuffer(&chunk) }
            self.state = .collecting(head, collected, answer)
        case (.body(let chunk), .streaming(let source)):
            switch source.yield(chunk) {
            case .produceMore: break
            case .stopProducing: self.readingPaused = true
            case .dropped: context.close(promise: nil)
            }
        case (.end, .collecting(let head, let collected, let answer)):
            self.finishExchange(context: context)
            answer.succeed(UpstreamClient.Answer(status: Int(head.status.code), headers: head.headers, body: UpstreamBody(content: .whole(collected))))
        case (.end, .streaming(let source)):
            self.finishExchange(context: context)
            source.finish()
        default:
            // An answer nobody asked for (or after the exchange failed): the connection is out of step.
            self.fail(UpstreamClient.Failure.unreachable("the upstream answered out of turn"))
            context.close(promise: nil)
        }
    }

    /// The answer is complete: the connection goes back to the pool if both sides are done and
    /// the upstream keeps it alive, else it closes.
    private func finishExchange(context: ChannelHandlerContext) {
        self.state = .idle
        self.exchangesServed += 1
        // A read held back for a slow reader of this answer is owed to the next exchange: without
        // it the connection would never read again.
        self.resumeReading()
        if self.requestComplete && self.answerKeepsAlive, let (pool, connection) = self.pool {
            pool.release(connection)
        } else {
            self.state = .closed
            context.close(promise: nil)
        }
    }

    /// Holds the socket's reads while a streamed body's reader has enough.
    func read(context: ChannelHandlerContext) {
        if self.readingPaused {
            self.readPending = true
        } else {
            context.read()
        }
    }

    func resumeReading() {
        self.readingPaused = false
        if self.readPending, let context {
            self.readPending = false
            context.read()
        }
    }

    /// A streamed body's reader stopped taking it before its end: the rest cannot be skipped on a
    /// keep-alive connection, so it closes.
    func readerLeft(exchange: Int) {
        guard exchange == self.exchange, case .streaming = self.state else { return }
        self.state = .closed
        self.context?.close(promise: nil)
    }

    /// Makes sure a timer fires by the current exchange's deadline. One due earlier is kept: it
    /// finds the exchange still within its time and re-arms for what remains.
    private func armTimer(context: ChannelHandlerContext) {
        let due = self.lastActivity + self.timeout
        if let timerDue = self.timerDue, timerDue <= due { return }
        self.timer?.cancel()
        self.timerDue = due
        self.timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: due) { [self] in
            self.timer = nil
            self.timerDue = nil
            switch self.state {
            case .awaitingHead, .collecting, .streaming:
                if self.lastActivity + self.timeout > .now(), let context = self.context {
                    self.armTimer(context: context)
                } else {
                    self.fail(UpstreamClient.Failure.timeout)
                    self.context?.close(promise: nil)
                }
            case .idle, .closed:
                break
            }
        }
    }

    /// Fails the exchange in progress, if any, with `error`.
    private func fail(_ error: any Error) {
        let state = self.state
        self.state = .closed
        self.timer?.cancel()
        self.timer = nil
        self.timerDue = nil
        switch state {
        case .awaitingHead(let answer), .collecting(_, _, let answer): answer.fail(error)
        case .streaming(let source): source.finish(error)
        case .idle, .closed: break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.fail(UpstreamClient.classify(error))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .awaitingHead = self.state {
            self.fail(UpstreamConnection.Closed.beforeAnswer(reused: self.exchangesServed > 0))
        } else {
            self.fail(UpstreamClient.Failure.unreachable("the upstream closed the connection mid-answer"))
        }
        if let (pool, connection) = self.pool {
            self.pool = nil
            pool.discard(connection)
        }
        context.fireChannelInactive()
    }
}
