import CCurl
import ClientRuntime
import Foundation
import Metrics
import NIOConcurrencyHelpers

/// One thread that drives every transfer of an ``HTTPClient`` through libcurl's multi interface:
/// transfers wait on sockets, not threads, and connections are cached across them.
///
/// Only this thread touches the multi handle and, once added, the easy handles. Other threads
/// talk to it through a command queue and `curl_multi_wakeup`.
// @unchecked Sendable: `multi` and `transfers` are used only on the loop thread (see `run`);
// `commands` and `state` are guarded by `lock`.
final class CurlMultiLoop: @unchecked Sendable {
    private enum Command {
        case add(HTTPClientTransfer)
        case resume(HTTPClientTransfer)
        case cancel(HTTPClientTransfer, any Error)
    }

    private enum State { case running, stopping, stopped }

    private let multi: UnsafeMutableRawPointer
    private let lock = NIOLock()
    private var commands: [Command] = []
    private var state = State.running
    private var stoppedWaiters: [CheckedContinuation<Void, Never>] = []
    private var idleHandles: [UnsafeMutableRawPointer] = []
    private let maximumIdleHandles: Int
    private var transfers: [UnsafeMutableRawPointer: HTTPClientTransfer] = [:] {
        didSet { self.inFlight.record(self.transfers.count) }
    }
    private let inFlight: Gauge

    init(maximumConnections: Int, name: String) throws {
        guard let multi = curl_multi_init() else {
            throw ClientError(.invalidRequest, client: "http", "curl_multi_init failed")
        }
        self.multi = multi
        self.maximumIdleHandles = maximumConnections
        self.inFlight = Gauge(label: "sensormine_http_client_transfers", dimensions: [("client", name)])
        // Beyond this many connections libcurl queues transfers itself instead of opening more.
        _ = sm_curl_multi_setopt_long(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, maximumConnections)
        _ = sm_curl_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, maximumConnections)
        let thread = Thread { [self] in self.run() }
        thread.name = "curl-\(name)"
        thread.start()
    }

    /// An easy handle for a new transfer: a recycled one (reset to defaults) when there is one.
    func makeHandle() -> UnsafeMutableRawPointer? {
        if let handle = self.lock.withLock({ self.idleHandles.popLast() }) {
            curl_easy_reset(handle)
            return handle
        }
        return curl_easy_init()
    }

    /// Takes back the handle of a finished transfer, keeping a few for reuse.
    func recycle(_ handle: UnsafeMutableRawPointer) {
        let kept = self.lock.withLock {
            guard self.state == .running, self.idleHandles.count < self.maximumIdleHandles else { return false }
            self.idleHandles.append(handle)
            return true
        }
        if !kept { curl_easy_cleanup(handle) }
    }

    /// Hands a configured transfer to the loop.
    func add(_ transfer: HTTPClientTransfer) throws {
        try self.send(.add(transfer))
    }

    /// Asks the loop to unpause a transfer that paused reading or writing.
    func resume(_ transfer: HTTPClientTransfer) {
        try? self.send(.resume(transfer))
    }

    /// Ends a transfer early; its waiters get `error`.
    func cancel(_ transfer: HTTPClientTransfer, error: any Error) {
        try? self.send(.cancel(transfer, error))
    }

    /// Fails every transfer still running and stops the thread.
    func shutdown() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let alreadyStopped = self.lock.withLock {
                if self.state == .stopped { return true }
                self.state = .stopping
                self.stoppedWaiters.append(continuation)
                return false
            }
            if alreadyStopped { continuation.resume() } else { curl_multi_wakeup(self.multi) }
        }
    }

    private func send(_ command: Command) throws {
        let accepted = self.lock.withLock {
            guard self.state == .running else { return false }
            self.commands.append(command)
            return true
        }
        guard accepted else { throw ClientError(.unreachable, client: "http", "the HTTP client has been shut down") }
        curl_multi_wakeup(self.multi)
    }

    private func run() {
        var stillRunning: Int32 = 0
        var pending: [Command] = []
        while true {
            let stopping = self.lock.withLock {
                swap(&pending, &self.commands)
                return self.state == .stopping
            }
            for command in pending { self.apply(command) }
            pending.removeAll(keepingCapacity: true)
            if stopping { break }
            curl_multi_perform(self.multi, &stillRunning)
            var queued: Int32 = 0
            while let message = curl_multi_info_read(self.multi, &queued) {
                guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle else { continue }
                self.finish(easy, code: message.pointee.data.result)
            }
            curl_multi_poll(self.multi, nil, 0, 1000, nil)
        }
        for transfer in Array(self.transfers.values) {
            self.remove(transfer, failure: ClientError(.unreachable, client: "http", "the HTTP client is shutting down"))
        }
        curl_multi_cleanup(self.multi)
        let waiters = self.lock.withLock {
            self.state = .stopped
            for handle in self.idleHandles { curl_easy_cleanup(handle) }
            self.idleHandles = []
            defer { self.stoppedWaiters = [] }
            return self.stoppedWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    private func apply(_ command: Command) {
        switch command {
        case .add(let transfer):
            let code = curl_multi_add_handle(self.multi, transfer.easy)
            if code == CURLM_OK {
                self.transfers[transfer.easy] = transfer
            } else {
                transfer.complete(.failure(ClientError(.invalidRequest, client: "http", String(cString: curl_multi_strerror(code)))))
            }
        case .resume(let transfer):
            if self.transfers[transfer.easy] != nil { curl_easy_pause(transfer.easy, sm_curl_pause_continue) }
        case .cancel(let transfer, let error):
            if self.transfers[transfer.easy] != nil { self.remove(transfer, failure: error) }
        }
    }

    private func finish(_ easy: UnsafeMutableRawPointer, code: CURLcode) {
        guard let transfer = self.transfers[easy] else { return }
        if code == CURLE_OK {
            self.remove(transfer, failure: nil)
        } else {
            let kind: ClientError.Code = code == CURLE_OPERATION_TIMEDOUT ? .timeout : .unreachable
            let text = String(cString: curl_easy_strerror(code))
            self.remove(transfer, failure: ClientError(kind, client: "http", "\(transfer.summary): \(text)", serverCode: String(code.rawValue)))
        }
    }

    private func remove(_ transfer: HTTPClientTransfer, failure: (any Error)?) {
        self.transfers[transfer.easy] = nil
        curl_multi_remove_handle(self.multi, transfer.easy)
        transfer.complete(failure.map { .failure($0) } ?? .success(()))
    }
}
