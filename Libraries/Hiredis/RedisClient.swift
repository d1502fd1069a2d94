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
        /// Sentinels to ask for the master (`host`/`port` unused then); empty for a fixed server.
        public var sentinels: [(host: String, port: Int)]
        /// The master name the Sentinels monitor.
        public var masterName: String?

        /// Creates settings.
        public init(host: String, port: Int = 6379, password: String? = nil, database: Int = 0, timeout: Duration = .seconds(2),
                    pool: ConnectionPoolConfiguration = .init(), name: String = "redis",
                    sentinels: [(host: String, port: Int)] = [], masterName: String? = nil) {
            self.host = host
            self.port = port
            self.password = password
            self.database = database
            self.timeout = timeout
            self.pool = pool
            self.name = name
            self.sentinels = sentinels
            self.masterName = masterName
        }

        /// Parses `redis://[:password@]host[:port][/database]`, or
        /// `redis-sentinel://[:password@]host:port[,host:port…]/master[/database]` (the password is
        /// the master's; the Sentinels are asked without one).
        /// - Throws: ``ClientError`` `invalidRequest` for another scheme or a malformed URL.
        public init(url: String, pool: ConnectionPoolConfiguration = .init(), name: String = "redis") throws {
            if url.hasPrefix("redis-sentinel://") {
                try self.init(sentinelURL: url, pool: pool, name: name)
                return
            }
            guard let components = URLComponents(string: url), components.scheme == "redis", let host = components.host, !host.isEmpty else {
                throw ClientError(.invalidRequest, client: "redis", "expected redis://[:password@]host[:port][/db] or redis-sentinel://host:port[,host:port]/master[/db]")
            }
            let database = components.path.split(separator: "/").first.flatMap { Int($0) } ?? 0
            self.init(host: host, port: components.port ?? 6379, password: components.password, database: database, pool: pool, name: name)
        }

        private init(sentinelURL url: String, pool: ConnectionPoolConfiguration, name: String) throws {
            let invalid = ClientError(.invalidRequest, client: "redis", "expected redis-sentinel://[:password@]host:port[,host:port…]/master[/db]")
            var rest = Substring(url.dropFirst("redis-sentinel://".count))
            var password: String?
            if let at = rest.lastIndex(of: "@") {
                let credentials = rest[..<at]
                password = credentials.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).last.map { String($0).removingPercentEncoding ?? String($0) }
                rest = rest[rest.index(after: at)...]
            }
            let parts = rest.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count >= 2, parts.count <= 3, !parts[1].isEmpty else { throw invalid }
            let sentinels = try parts[0].split(separator: ",").map { address -> (host: String, port: Int) in
                guard let colon = address.lastIndex(of: ":"), colon > address.startIndex, let port = Int(address[address.index(after: colon)...]),
                      (1...65535).contains(port) else { throw invalid }
                return (String(address[..<colon]), port)
            }
            guard !sentinels.isEmpty else { throw invalid }
            var database = 0
            if parts.count == 3, !parts[2].isEmpty {
                guard let number = Int(parts[2]), number >= 0 else { throw invalid }
                database = number
            }
            self.init(host: sentinels[0].host, port: sentinels[0].port, password: password?.isEmpty == true ? nil : password, database: database,
                      pool: pool, name: name, sentinels: sentinels, masterName: String(parts[1]))
        }
    }

    private let pool: ConnectionPool<RedisConnection>
    private let executor: BlockingExecutor
    private let scriptHashes = NIOLockedValueBox<[RedisScript: String]>([:])
    /// With Sentinels: the master last found, until a connection to it fails or it is no master.
    private let master: NIOLockedValueBox<(host: String, port: Int)?>
    private let followsSentinels: Bool

    /// Creates a client; connections open on first use.
    public init(configuration: Configuration) {
        let executor = BlockingExecutor(threads: configuration.pool.maximumConnections)
        self.executor = executor
        let master = NIOLockedValueBox<(host: String, port: Int)?>(nil)
        self.master = master
        self.followsSentinels = !configuration.sentinels.isEmpty
        self.pool = ConnectionPool(name: configuration.name, configuration: configuration.pool) {
            try await executor.run { try Self.connect(configuration, master: master) }
        }
    }

    /// A connection to the server, or with Sentinels to the master they name (checked with ROLE,
    /// since a Sentinel may still name a master that was just demoted).
    private static func connect(_ configuration: Configuration, master: NIOLockedValueBox<(host: String, port: Int)?>) throws -> RedisConnection {
        guard !configuration.sentinels.isEmpty, let name = configuration.masterName else {
            return try RedisConnection(host: configuration.host, port: configuration.port, password: configuration.password,
                                       database: configuration.database, timeout: configuration.timeout)
        }
        func open(_ address: (host: String, port: Int)) throws -> RedisConnection? {
            let connection = try RedisConnection(host: address.host, port: address.port, password: configuration.password,
                                                 database: configuration.database, timeout: configuration.timeout)
            if case .array(let role) = try connection.command(["ROLE"]), role.first?.string == "master" { return connection }
            connection.close()
            return nil
        }
        if let known = master.withLockedValue({ $0 }), let connection = try? open(known) { return connection }
        var lastError: any Error = ClientError(.unreachable, client: "redis", "no Sentinel named a reachable master \(name)")
        for sentinel in configuration.sentinels {
            do {
                let asked = try RedisConnection(host: sentinel.host, port: sentinel.port, password: nil, database: 0, timeout: configuration.timeout)
                defer { asked.close() }
                guard case .array(let parts) = try asked.command(["SENTINEL", "get-master-addr-by-name", name]), parts.count == 2,
                      let host = parts[0].string, let port = parts[1].string.flatMap({ Int($0) }) else {
                    throw ClientError(.unreachable, client: "redis", "Sentinel \(sentinel.host):\(sentinel.port) knows no master \(name)")
                }
                if let connection = try open((host, port)) {
                    master.withLockedValue { $0 = (host, port) }
                    return connection
                }
                lastError = ClientError(.unreachable, client: "redis", "\(host):\(port), named by a Sentinel, is not a master (a failover in progress)")
            } catch {
                lastError = error
            }
        }
        master.withLockedValue { $0 = nil }
        throw lastError
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
        let replies = try await self.run(commands)
        // A master demoted by a Sentinel failover refuses writes; find the new one and retry once.
        guard self.followsSentinels, replies.contains(where: \.isReadOnlyError) else { return replies }
        return try await self.run(commands)
    }

    private func run(_ commands: [[String]]) async throws -> [RedisValue] {
        try await self.pool.withConnection { connection in
            let replies = try await self.executor.run { try connection.pipeline(commands) }
            if self.followsSentinels, replies.contains(where: \.isReadOnlyError) {
                connection.abort()
                self.master.withLockedValue { $0 = nil }
            }
            return replies
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
