import ClientRuntime
import Foundation
import NIOConcurrencyHelpers

/// A Lua script run with EVALSHA: loaded once with SCRIPT LOAD, and again whenever the server
/// answers NOSCRIPT (after a restart or SCRIPT FLUSH).
public struct RedisScript: Sendable, Hashable {
    /// The Lua source.
    public let source: String

    /// Creates a script.
    public init(_ source: String) {
        self.source = source
    }
}

/// A pooled Redis client over hiredis.
public final class RedisClient: Sendable {
    /// Connection and pool settings.
    public struct Configuration: Sendable {
        /// Server host.
        public var host: String
        /// Server port.
        public var port: Int
        /// AUTH password; secret.
        public var password: String?
        /// Database number.
        public var database: Int
        /// Connect and command timeout.
        public var timeout: Duration
        /// Pool bounds.
        public var pool: ConnectionPoolConfiguration
        /// Name used for the pool metrics dimension.
        public var name: String

        /// Creates settings.
        public init(host: String, port: Int = 6379, password: String? = nil, database: Int = 0, timeout: Duration = .seconds(2),
                    pool: ConnectionPoolConfiguration = .init(), name: String = "redis") {
            self.host = host
            self.port = port
            self.password = password
            self.database = database
            self.timeout = timeout
            self.pool = pool
            self.name = name
        }

        /// Parses `redis://[:password@]host[:port][/database]`.
        /// - Throws: ``ClientError`` `invalidRequest` for another scheme or a malformed URL.
        public init(url: String, pool: ConnectionPoolConfiguration = .init(), name: String = "redis") throws {
            guard let components = URLComponents(string: url), components.scheme == "redis", let host = components.host, !host.isEmpty else {
                throw ClientError(.invalidRequest, client: "redis", "expected redis://[:password@]host[:port][/db]")
            }
            let database = components.path.split(separator: "/").first.flatMap { Int($0) } ?? 0
            self.init(host: host, port: components.port ?? 6379, password: components.password, database: database, pool: pool, name: name)
        }
    }

    private let pool: ConnectionPool<RedisConnection>
    private let executor: BlockingExecutor
    private let scriptHashes = NIOLockedValueBox<[RedisScript: String]>([:])

    /// Creates a client; connections open on first use.
    public init(configuration: Configuration) {
        let executor = BlockingExecutor(threads: configuration.pool.maximumConnections)
        self.executor = executor
        self.pool = ConnectionPool(name: configuration.name, configuration: configuration.pool) {
            try await executor.run {
                try RedisConnection(host: configuration.host, port: configuration.port, password: configuration.password,
                                    database: configuration.database, timeout: configuration.timeout)
            }
        }
    }

    /// Runs one command, e.g. `["SET", "k", "v"]`. Error replies come back as ``RedisValue/error(_:)``.
    /// - Throws: ``ClientError`` when the server cannot be reached or times out.
    @discardableResult
    public func command(_ arguments: String...) async throws -> RedisValue {
        try await self.command(arguments)
    }

    /// Runs one command given as an array.
    /// - Throws: ``ClientError`` when the server cannot be reached or times out.
    @discardableResult
    public func command(_ arguments: [String]) async throws -> RedisValue {
        try await self.pipeline([arguments])[0]
    }

    /// Sends several commands in one round trip; replies in order.
    /// - Throws: ``ClientError`` when the server cannot be reached or times out.
    public func pipeline(_ commands: [[String]]) async throws -> [RedisValue] {
        guard !commands.isEmpty else { return [] }
        return try await self.pool.withConnection { connection in
            try await self.executor.run { try connection.pipeline(commands) }
        }
    }

    /// Runs `script` with EVALSHA; on NOSCRIPT loads it and retries once.
    /// - Throws: ``ClientError`` when the server cannot be reached.
    public func eval(_ script: RedisScript, keys: [String], arguments: [String]) async throws -> RedisValue {
        var loadedNow = false
        var sha1 = self.scriptHashes.withLockedValue { $0[script] }
        if sha1 == nil {
            sha1 = try await self.load(script)
            loadedNow = true
        }
        let reply = try await self.command(["EVALSHA", sha1!, String(keys.count)] + keys + arguments)
        guard case .error(let message) = reply, message.hasPrefix("NOSCRIPT"), !loadedNow else { return reply }
        let reloaded = try await self.load(script)
        return try await self.command(["EVALSHA", reloaded, String(keys.count)] + keys + arguments)
    }

    private func load(_ script: RedisScript) async throws -> String {
        let reply = try await self.command(["SCRIPT", "LOAD", script.source])
        guard let sha1 = reply.string else {
            if case .error(let message) = reply { throw ClientError(.invalidRequest, client: "redis", "SCRIPT LOAD refused: \(message)") }
            throw ClientError(.serverError, client: "redis", "SCRIPT LOAD returned no hash")
        }
        self.scriptHashes.withLockedValue { $0[script] = sha1 }
        return sha1
    }

    /// Answers when the server replies PONG.
    /// - Throws: ``ClientError`` when it does not.
    public func ping() async throws {
        let reply = try await self.command("PING")
        guard reply == .status("PONG") else {
            throw ClientError(.serverError, client: "redis", "unexpected PING reply")
        }
    }

    /// Closes idle connections and stops the executor.
    public func shutdown() async {
        self.pool.shutdown()
        await self.executor.shutdown()
    }
}
