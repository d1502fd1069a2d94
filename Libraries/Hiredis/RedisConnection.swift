import CHiredis
import ClientRuntime
import NIOConcurrencyHelpers
import Foundation

/// A Redis reply.
public enum RedisValue: Sendable, Equatable {
    /// A bulk string (binary-safe).
    case bulk([UInt8])
    /// A status reply such as `OK`.
    case status(String)
    /// An integer reply.
    case integer(Int)
    /// An array reply.
    case array([RedisValue])
    /// The nil reply.
    case null
    /// An error reply (the command failed; the connection is fine).
    case error(String)

    /// Whether this is the error a replica answers a write with.
    public var isReadOnlyError: Bool {
        if case .error(let message) = self { return message.hasPrefix("READONLY") }
        return false
    }

    /// The value as text, for bulk and status replies.
    public var string: String? {
        switch self {
        case .bulk(let bytes): String(decoding: bytes, as: UTF8.self)
        case .status(let text): text
        default: nil
        }
    }

    /// The value as an integer, for integer replies and numeric strings.
    public var int: Int? {
        switch self {
        case .integer(let value): value
        case .bulk, .status: self.string.flatMap { Int($0) }
        default: nil
        }
    }
}

/// One hiredis connection (`redisContext`). Blocking; used only through ``RedisClient``'s executor.
// @unchecked Sendable: hiredis contexts are not thread-safe, but the pool leases a connection to
// one task at a time and that task awaits each blocking call before making the next.
final class RedisConnection: PooledConnection, @unchecked Sendable {
    private let context: UnsafeMutablePointer<redisContext>
    private let abandoned = NIOLockedValueBox(false)

    init(host: String, port: Int, password: String?, database: Int, timeout: Duration) throws {
        let interval = timeval(tv_sec: Int(timeout.components.seconds), tv_usec: Int(timeout.components.attoseconds / 1_000_000_000_000))
        guard let context = redisConnectWithTimeout(host, Int32(port), interval) else {
            throw ClientError(.unreachable, client: "redis", "could not allocate a connection to \(host):\(port)")
        }
        if context.pointee.err != 0 {
            let message = Self.errorText(context)
            redisFree(context)
            throw ClientError(.unreachable, client: "redis", "\(host):\(port): \(message)")
        }
        redisSetTimeout(context, interval)
        self.context = context
        do {
            if let password, !password.isEmpty {
                if case .error(let message) = try self.command(["AUTH", password]) {
                    throw ClientError(.notAuthorized, client: "redis", message)
                }
            }
            if database != 0, case .error(let message) = try self.command(["SELECT", String(database)]) {
                throw ClientError(.serverError, client: "redis", message)
            }
        } catch {
            redisFree(context)
            throw error
        }
    }

    var isBroken: Bool { self.abandoned.withLockedValue { $0 } || self.context.pointee.err != 0 || SocketProbe.peerClosed(self.context.pointee.fd) }

    /// Marks the connection for discarding when it returns to the pool (a demoted master's).
    func abort() { self.abandoned.withLockedValue { $0 = true } }

    func close() { redisFree(self.context) }

    /// Sends one command and reads its reply (blocking).
    func command(_ arguments: [String]) throws -> RedisValue {
        try self.pipeline([arguments])[0]
    }

    /// Sends every command, then reads every reply: one round trip for the lot (blocking).
    func pipeline(_ commands: [[String]]) throws -> [RedisValue] {
        for arguments in commands {
            let status = Self.withArgv(arguments) { count, values, lengths in
                redisAppendCommandArgv(self.context, count, values, lengths)
            }
            guard status == REDIS_OK else { throw self.connectionError() }
        }
        var replies: [RedisValue] = []
        replies.reserveCapacity(commands.count)
        for _ in commands {
            var reply: UnsafeMutableRawPointer?
            guard redisGetReply(self.context, &reply) == REDIS_OK, let reply else { throw self.connectionError() }
            let typed = reply.assumingMemoryBound(to: redisReply.self)
            replies.append(Self.convert(typed))
            freeReplyObject(reply)
        }
        return replies
    }

    private func connectionError() -> ClientError {
        let message = Self.errorText(self.context)
        if message.contains("timed out") || message.contains("Resource temporarily unavailable") {
            return ClientError(.timeout, client: "redis", message)
        }
        return ClientError(.unreachable, client: "redis", message)
    }

    private static func errorText(_ context: UnsafeMutablePointer<redisContext>) -> String {
        let text = withUnsafeBytes(of: context.pointee.errstr) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        return text.isEmpty ? "connection error" : text
    }

    private static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> RedisValue {
        let value = reply.pointee
        switch value.type {
        case REDIS_REPLY_STRING:
            return .bulk(value.str.map { Array(UnsafeRawBufferPointer(start: $0, count: Int(value.len))) } ?? [])
        case REDIS_REPLY_STATUS:
            return .status(value.str.map { String(cString: $0) } ?? "")
        case REDIS_REPLY_ERROR:
            return .error(value.str.map { String(cString: $0) } ?? "error")
        case REDIS_REPLY_INTEGER:
            return .integer(Int(value.integer))
        case REDIS_REPLY_ARRAY:
            var elements: [RedisValue] = []
            elements.reserveCapacity(Int(value.elements))
            for index in 0..<Int(value.elements) {
                if let element = value.element[index] { elements.append(convert(element)) }
            }
            return .array(elements)
        default:
            return .null
        }
    }

    private static func withArgv<Result>(_ arguments: [String], _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> Result) -> Result {
        // Copies into buffers we own, so the pointers stay valid for the whole call; binary-safe.
        var pointers: [UnsafePointer<CChar>?] = []
        var lengths: [Int] = []
        pointers.reserveCapacity(arguments.count)
        lengths.reserveCapacity(arguments.count)
        var owned: [UnsafeMutableBufferPointer<CChar>] = []
        owned.reserveCapacity(arguments.count)
        defer { for buffer in owned { buffer.deallocate() } }
        for argument in arguments {
            let utf8 = argument.utf8
            let buffer = UnsafeMutableBufferPointer<CChar>.allocate(capacity: max(utf8.count, 1))
            _ = buffer.withMemoryRebound(to: UInt8.self) { $0.initialize(from: utf8) }
            owned.append(buffer)
            pointers.append(UnsafePointer(buffer.baseAddress))
            lengths.append(utf8.count)
        }
        return pointers.withUnsafeMutableBufferPointer { pointerBuffer in
            lengths.withUnsafeBufferPointer { lengthBuffer in
                body(Int32(arguments.count), pointerBuffer.baseAddress!, lengthBuffer.baseAddress!)
            }
        }
    }
}
