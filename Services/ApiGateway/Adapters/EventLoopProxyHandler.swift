import ClientRuntime
import Dispatch
import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import SensormineCore
import Synchronization

/// Forwards the requests it can on the client connection's own event loop, to an idle upstream
/// connection on that same loop, and hands every other request to the router (ADR 33). It sits
/// between HTTP decoding and Hummingbird's handling, so a forwarded request costs no task, no
/// async sequence and no thread hop: the path that decides the gateway's rate.
///
/// Answers leave in the order requests arrived: while it forwards one, whatever else the client
/// sends is held (and the socket not read) until the answer is written; while the router has
/// requests, every part goes to the router until it has answered them all.
final class EventLoopProxyHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private struct Exchange {
        let forward: EventLoopForward
        /// The upstream connection, once it is open; `number` names the exchange on it.
        var connection: UpstreamConnection?
        var number = 0
        /// Body parts that arrived while the connection was being opened.
        var early: [ByteBuffer] = []
        let started: UInt64
        var requestEnded = false
        var answered = false
        var retried = false
    }

    private enum State {
        case idle
        /// Requests handed to the router whose answers have not ended yet.
        case routed(Int)
        case forwarding(Exchange)
    }

    private let controller: ProxyController
    private let serverName: String
    private let metrics: RequestMetricsCache
    private let logger: Logger
    private var state = State.idle
    private var context: ChannelHandlerContext?
    /// What the client sent while a forwarded request was being answered.
    private var held: [HTTPRequestPart] = []
    /// Counts forwarded requests, so that a late callback of one never touches the next.
    private var serial = 0
    private var readPending = false
    private var quiescePending = false

    init(controller: ProxyController, serverName: String, metrics: RequestMetricsCache, logger: Logger) {
        self.controller = controller
        self.serverName = serverName
        self.metrics = metrics
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.receive(self.unwrapInboundIn(data), context: context)
    }

    private func receive(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        switch self.state {
        case .forwarding(var exchange):
            guard !exchange.requestEnded else { return self.held.append(part) }
            switch part {
            case .head:
                // Unreachable: the decoder ends one request before it heads the next.
                context.close(promise: nil)
            case .body(let chunk):
                guard !exchange.answered else { return }
                if let connection = exchange.connection {
                    connection.sendBody(chunk, exchange: exchange.number)
                } else {
                    exchange.early.append(chunk)
                    self.state = .forwarding(exchange)
                }
            case .end:
                exchange.requestEnded = true
                if !exchange.answered, let connection = exchange.connection { connection.endBody(exchange: exchange.number) }
                self.state = .forwarding(exchange)
                if exchange.answered { self.finish(context: context) }
            }
        case .routed(let count):
            if case .head = part { self.state = .routed(count + 1) }
            context.fireChannelRead(self.wrapInboundOut(part))
        case .idle:
            guard case .head(let request) = part else { return context.fireChannelRead(self.wrapInboundOut(part)) }
            guard let (forward, checkout) = self.controller.forwardNow(request, on: context.eventLoop) else {
                self.state = .routed(1)
                return context.fireChannelRead(self.wrapInboundOut(part))
            }
            self.serial &+= 1
            self.state = .forwarding(Exchange(forward: forward, started: DispatchTime.now().uptimeNanoseconds))
            switch checkout {
            case .idle(let connection):
                self.begin(on: connection)
            case .connecting(let opening):
                let serial = self.serial
                opening.assumeIsolated().whenComplete { [self] result in
                    switch result {
                    case .success(let connection): self.begin(on: connection, serial: serial)
                    case .failure(let error): self.answerArrived(.failure(error), serial: serial)
                    }
                }
            }
        }
    }

    /// Sends the forwarded request on its connection, with what of its body has arrived.
    private func begin(on connection: UpstreamConnection, serial: Int? = nil) {
        guard case .forwarding(var exchange) = self.state, serial.map({ $0 == self.serial }) ?? true, !exchange.answered else {
            // The client is gone or the exchange over: the opened connection is not needed.
            connection.release()
            return
        }
        let (number, answer) = connection.begin(exchange.forward.head, hasBody: exchange.forward.bodyLength > 0, timeout: self.upstreamTimeout)
        exchange.connection = connection
        exchange.number = number
        for chunk in exchange.early { connection.sendBody(chunk, exchange: number) }
        exchange.early = []
        if exchange.requestEnded && exchange.forward.bodyLength > 0 { connection.endBody(exchange: number) }
        self.state = .forwarding(exchange)
        let serial = self.serial
        answer.assumeIsolated().whenComplete { [self] result in self.answerArrived(result, serial: serial) }
    }

    private var upstreamTimeout: TimeAmount { .milliseconds(self.controller.upstreamTimeout.milliseconds) }

    /// Counts the router's answers: when it has answered all it was given, requests may be
    /// forwarded here again.
    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .routed(let count) = self.state, case .end = self.unwrapOutboundIn(data) {
            self.state = count > 1 ? .routed(count - 1) : .idle
        }
        context.write(data, promise: promise)
    }

    /// Holds the socket's reads while the client has sent more than the request being answered,
    /// until it is answered. Reads are not held merely because a request is complete: a client
    /// that waits for its answer sends nothing meanwhile, and holding them would take the socket
    /// out of the poller and put it back (two system calls) on every request.
    func read(context: ChannelHandlerContext) {
        if case .forwarding(let exchange) = self.state, exchange.requestEnded, !self.held.isEmpty {
            self.readPending = true
        } else {
            context.read()
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Shutting down: the connection closes once idle, so not while an answer is on its way.
        if event is ChannelShouldQuiesceEvent, case .forwarding = self.state {
            self.quiescePending = true
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func answerArrived(_ result: Result<UpstreamClient.Answer, any Error>, serial: Int) {
        guard let context = self.context, case .forwarding(var exchange) = self.state, serial == self.serial, !exchange.answered else { return }
        switch result {
        case .success(let answer):
            let status = HTTPResponse.Status(code: answer.status)
            var fields = ProxyController.answerFields(answer.headers, quotaWarning: exchange.forward.quotaWarning)
            self.addOwnFields(&fields, exchange.forward)
            self.record(exchange, status: answer.status, failed: false)
            context.write(self.wrapOutboundOut(.head(HTTPResponse(status: status, headerFields: fields))), promise: nil)
            switch answer.body.content {
            case .whole(let buffer):
                if buffer.readableBytes > 0 { context.write(self.wrapOutboundOut(.body(buffer)), promise: nil) }
                context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
                exchange.answered = true
                self.state = .forwarding(exchange)
                if exchange.requestEnded { self.finish(context: context) }
            case .streamed:
                context.flush()
                self.relay(answer.body, serial: serial, loop: context.eventLoop)
            }
        case .failure(UpstreamConnection.Closed.beforeAnswer(reused: true)) where exchange.forward.bodyLength == 0 && !exchange.retried:
            // The upstream closed the idle connection just as it was taken: once more, on a
            // connection the client's pool finds or opens.
            exchange.retried = true
            self.state = .forwarding(exchange)
            let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
            let (client, forward, timeout) = (self.controller.upstream, exchange.forward, self.controller.upstreamTimeout)
            let head = forward.head
            let address = forward.route.address
            Task {
                let result: Result<UpstreamClient.Answer, any Error>
                do {
                    result = .success(try await client.send(head, to: address, body: nil, timeout: timeout))
                } catch {
                    result = .failure(error)
                }
                bound.eventLoop.execute { bound.value.answerArrived(result, serial: serial) }
            }
        case .failure(let error):
            let refusal = ProxyController.upstreamFailure(UpstreamClient.classify(error), route: exchange.forward.route, timeout: self.controller.upstreamTimeout,
                                                          logger: self.logger)
            let problem = (refusal as? APIError) ?? APIError(status: .badGateway, slug: "upstream-unavailable", title: "Bad gateway",
                                                             detail: "the service behind \(exchange.forward.route.prefix) is not reachable")
            let body = APIError.document(problem.problem(instance: exchange.forward.path, requestID: exchange.forward.requestID))
            var fields = problem.headers
            fields[.contentType] = "application/problem+json"
            fields[.contentLength] = String(body.readableBytes)
            self.addOwnFields(&fields, exchange.forward)
            self.record(exchange, status: Int(problem.status.code), failed: true)
            context.write(self.wrapOutboundOut(.head(HTTPResponse(status: problem.status, headerFields: fields))), promise: nil)
            context.write(self.wrapOutboundOut(.body(body)), promise: nil)
            context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
            exchange.answered = true
            self.state = .forwarding(exchange)
            // The request's body, if it was still arriving, is read and dropped; its upstream
            // connection is gone.
            if exchange.requestEnded { self.finish(context: context) }
        }
    }

    /// An answer too large to hold streams from the upstream to the client, each part written
    /// before the next is read (the upstream connection reads on only when asked).
    private func relay(_ body: UpstreamBody, serial: Int, loop: any EventLoop) {
        let bound = NIOLoopBound(self, eventLoop: loop)
        Task {
            do {
                for try await chunk in body {
                    try await loop.flatSubmit { bound.value.writeRelayed(chunk, loop: loop) }.get()
                }
                loop.execute { bound.value.relayEnded(serial: serial, error: nil) }
            } catch {
                loop.execute { bound.value.relayEnded(serial: serial, error: error) }
            }
        }
    }

    private func writeRelayed(_ chunk: ByteBuffer, loop: any EventLoop) -> EventLoopFuture<Void> {
        guard let context = self.context else { return loop.makeFailedFuture(ChannelError.ioOnClosedChannel) }
        return context.writeAndFlush(self.wrapOutboundOut(.body(chunk)))
    }

    private func relayEnded(serial: Int, error: (any Error)?) {
        guard let context = self.context, case .forwarding(var exchange) = self.state, serial == self.serial else { return }
        if let error {
            // The head is out, so no problem can follow: the client sees the answer cut short.
            self.logger.warning("upstream answer broke off", metadata: ["upstream": "\(exchange.forward.route.upstream)", LogKey.error: "\(error)"])
            context.close(promise: nil)
            return
        }
        context.writeAndFlush(self.wrapOutboundOut(.end(nil)), promise: nil)
        exchange.answered = true
        self.state = .forwarding(exchange)
        if exchange.requestEnded { self.finish(context: context) }
    }

    /// The forwarded request is answered and read to its end: what the client sent meanwhile
    /// is taken up as if it arrived now.
    private func finish(context: ChannelHandlerContext) {
        self.state = .idle
        if self.quiescePending {
            // Shutting down: the connection closes now, idle; what the client sent meanwhile
            // is not taken up.
            self.quiescePending = false
            self.held = []
            return context.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
        let held = self.held
        self.held = []
        for part in held { self.receive(part, context: context) }
        // The router takes what it was handed at the end of a read, as if one had just ended.
        if !held.isEmpty { context.fireChannelReadComplete() }
        if case .forwarding(let exchange) = self.state, exchange.requestEnded { return }
        if self.readPending {
            self.readPending = false
            context.read()
        }
    }

    /// What the router's middleware and Hummingbird add to every answer.
    private func addOwnFields(_ fields: inout HTTPFields, _ forward: EventLoopForward) {
        fields[.requestID] = forward.requestID
        fields[.traceparent] = forward.traceparent
        fields[.date] = HTTPDate.now()
        fields[.server] = self.serverName
    }

    private func record(_ exchange: Exchange, status: Int, failed: Bool) {
        self.metrics.record(route: exchange.forward.routePattern, method: exchange.forward.method, status: status,
                            nanoseconds: Int64(clamping: DispatchTime.now().uptimeNanoseconds &- exchange.started), failed: failed)
    }
}

/// The HTTP date (RFC 9110 §5.6.7) of the current second, formatted once a second.
enum HTTPDate {
    private static let cache = Mutex<(second: Int, text: String)>((-1, ""))

    static func now() -> String {
        var time = time_t()
        Foundation.time(&time)
        let second = Int(time)
        if let text = self.cache.withLock({ $0.second == second ? $0.text : nil }) { return text }
        var parts = tm()
        gmtime_r(&time, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let length = strftime(&buffer, buffer.count, "%a, %d %b %Y %H:%M:%S GMT", &parts)
        let text = String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        self.cache.withLock { $0 = (second, text) }
        return text
    }
}
