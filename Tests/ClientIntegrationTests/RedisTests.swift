import ClientRuntime
import Hiredis
import Testing

@Suite("Redis client (hiredis)")
struct RedisTests {
    @Test("commands, binary-safe values and pipelining round-trip")
    func roundTrip() async throws {
        let client = RedisClient(configuration: try .init(url: try TestStack.redisURL))
        let key = TestStack.unique("it:redis")
        try await client.command("SET", key, "value with spaces\r\nand\0nul")
        #expect(try await client.command("GET", key) == .bulk(Array("value with spaces\r\nand\0nul".utf8)))
        let replies = try await client.pipeline((0..<100).map { _ in ["INCR", key + ":n"] })
        #expect(replies.count == 100)
        #expect(replies.last == .integer(100))
        #expect(try await client.command("GET", key + ":missing") == .null)
        if case .error(let message) = try await client.command("INCR", key) {
            #expect(message.contains("not an integer"))
        } else {
            Issue.record("INCR on a string must answer an error reply")
        }
        try await client.command("DEL", key, key + ":n")
        await client.shutdown()
    }

    @Test("scripts run by EVALSHA and are reloaded after SCRIPT FLUSH")
    func scripts() async throws {
        let client = RedisClient(configuration: try .init(url: try TestStack.redisURL))
        let key = TestStack.unique("it:script")
        let script = RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")
        #expect(try await client.eval(script, keys: [key], arguments: ["5"]) == .integer(5))
        try await client.command("SCRIPT", "FLUSH")
        #expect(try await client.eval(script, keys: [key], arguments: ["2"]) == .integer(7))
        try await client.command("DEL", key)
        await client.shutdown()
    }

    @Test("an unreachable server gives a clear error")
    func unreachable() async throws {
        let client = RedisClient(configuration: .init(host: "127.0.0.1", port: 1))
        let error = await #expect(throws: ClientError.self) { try await client.ping() }
        #expect(error?.code == .unreachable)
        #expect(error?.description.contains("127.0.0.1:1") == true)
        await client.shutdown()
    }

    @Test("the pool recovers by itself after the server restarts")
    func survivesRestart() async throws {
        let port = ScratchPort.redis
        try await TestStack.scratch("start", "redis", port: port)
        let client = RedisClient(configuration: .init(host: "127.0.0.1", port: port))
        try await client.command("SET", "k", "1")
        try await TestStack.scratch("stop", "redis", port: port)
        let down = await #expect(throws: ClientError.self) { try await client.ping() }
        #expect(down?.code == .unreachable)
        try await TestStack.scratch("start", "redis", port: port)
        try await client.ping()
        #expect(try await client.command("SET", "k", "2") == .status("OK"))
        await client.shutdown()
        try await TestStack.scratch("stop", "redis", port: port)
    }
}
