import ClientRuntime
import Curl
import Foundation
import Hiredis
import Hummingbird
import JSONSchema
import LibPQ
import Logging
import Mosquitto
import NIOConcurrencyHelpers
import RdKafka
import SensormineAuth
import SensormineClients
import SensormineContracts
import SensormineCore
import SensormineJSON
import SensormineTelemetry
import ServiceLifecycle

// Prints one throughput figure per client module against the local stack (`make bench`).
// Figures are printed, never asserted; each run is bounded in count and time.

struct BenchError: Error, CustomStringConvertible {
    let description: String
}

func setting(_ key: String) throws -> String {
    guard let value = ProcessInfo.processInfo.environment[key], !value.isEmpty else {
        throw BenchError(description: "\(key) is not set: run `make bench`")
    }
    return value
}

func measure(isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> Int) async rethrows -> (count: Int, seconds: Double) {
    let start = ContinuousClock.now
    let count = try await body()
    let elapsed = ContinuousClock.now - start
    return (count, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
}

func report(_ name: String, _ unit: String, _ result: (count: Int, seconds: Double), _ note: String) {
    let rate = Double(result.count) / result.seconds
    let padded = name.padding(toLength: 38, withPad: " ", startingAt: 0)
    let figure = String(format: "%10.0f", rate)
    let details = String(format: "(%d in %.2f s)", result.count, result.seconds)
    print("\(padded) \(figure) \(unit.padding(toLength: 7, withPad: " ", startingAt: 0)) \(details) \(note)")
}

/// The `p` quantile of sorted values.
func percentile(_ sorted: [Double], _ p: Double) -> Double { sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }

var logger = Logger(label: "bench")
logger.logLevel = .warning
let suffix = UUID().uuidString.prefix(8).lowercased()
/// The sections `SENSORMINE_BENCH_ONLY` names (comma-separated: postgres, kafka, kafkahop, mqtt,
/// redis, http, gateway, jsonschema, alerts, billing, stream), or all of them; for tuning one part.
let onlySections = Set((ProcessInfo.processInfo.environment["SENSORMINE_BENCH_ONLY"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
func wanted(_ section: String) -> Bool { onlySections.isEmpty || onlySections.contains(section) }

/// Anchors measured here that `scripts/bench-pipeline.sh` sets its figures against, as
/// `KEY=value` lines appended to the file `SENSORMINE_BENCH_ANCHORS` names (when set).
func recordAnchor(_ key: String, _ value: Double) {
    guard let path = ProcessInfo.processInfo.environment["SENSORMINE_BENCH_ANCHORS"], !path.isEmpty else { return }
    let line = Array("\(key)=\(String(format: "%.1f", value))\n".utf8)
    if let handle = FileHandle(forWritingAtPath: path) {
        handle.seekToEndOfFile()
        handle.write(Data(line))
        handle.closeFile()
    } else {
        FileManager.default.createFile(atPath: path, contents: Data(line))
    }
}
print("Sensormine client benchmarks (local stack, \(ProcessInfo.processInfo.activeProcessorCount) cores); figures are printed, not asserted")
print(String(repeating: "-", count: 100))

// PostgreSQL: COPY FROM STDIN of telemetry-shaped rows.
if wanted("postgres") { do {
    let client = PostgresClient(configuration: .init(url: try setting("SENSORMINE_TIMESERIES_DB_URL"), name: "bench", pool: .init(maximumConnections: 2)))
    let table = "bench_copy_\(suffix)"
    _ = try await client.query("CREATE UNLOGGED TABLE \(table) (time timestamptz, device text, metric text, value double precision)")
    let rowsPerBatch = 50_000
    let batches = 6
    let base = Date()
    var buffers: [PostgresCopyBuffer] = []
    for batch in 0..<batches {
        var buffer = PostgresCopyBuffer(capacity: rowsPerBatch * 64)
        for index in 0..<rowsPerBatch {
            buffer.append(PostgresTimestamp.format(base.addingTimeInterval(Double(batch * rowsPerBatch + index) / 1000)))
            buffer.append("device-\(index % 500)")
            buffer.append("temperature")
            buffer.append(Double(index) * 0.1)
            buffer.endRow()
        }
        buffers.append(buffer)
    }
    let result = try await measure {
        var total = 0
        for buffer in buffers { total += try await client.copy(into: table, columns: ["time", "device", "metric", "value"], rows: buffer) }
        return total
    }
    report("postgres COPY FROM STDIN", "rows/s", result, "batches of \(rowsPerBatch), unlogged table")
    _ = try await client.query("DROP TABLE \(table)")

    // The same rows into a table shaped like `telemetry` (logged, its primary key and index):
    // what the pipeline's storage can take at most on this machine.
    let shaped = "bench_telemetry_\(suffix)"
    _ = try await client.query("""
        CREATE TABLE \(shaped) (tenant_id uuid NOT NULL, device_id uuid NOT NULL, metric text NOT NULL, time timestamptz NOT NULL,
                                value double precision NOT NULL, PRIMARY KEY (tenant_id, device_id, metric, time))
        """)
    _ = try await client.query("CREATE INDEX ON \(shaped) (tenant_id, metric, time DESC)")
    let tenant = UUID().uuidString.lowercased()
    let devices = (0..<500).map { _ in UUID().uuidString.lowercased() }
    var shapedBuffers: [PostgresCopyBuffer] = []
    for batch in 0..<batches {
        var buffer = PostgresCopyBuffer(capacity: rowsPerBatch * 110)
        for index in 0..<rowsPerBatch {
            buffer.append(tenant)
            buffer.append(devices[index % devices.count])
            buffer.append("temperature")
            buffer.append(PostgresTimestamp.format(base.addingTimeInterval(Double(batch * rowsPerBatch + index) / 1000)))
            buffer.append(Double(index) * 0.1)
            buffer.endRow()
        }
        shapedBuffers.append(buffer)
    }
    let shapedResult = try await measure {
        var total = 0
        for buffer in shapedBuffers { total += try await client.copy(into: shaped, columns: ["tenant_id", "device_id", "metric", "time", "value"], rows: buffer) }
        return total
    }
    report("postgres COPY into telemetry's shape", "rows/s", shapedResult, "logged, primary key + (tenant, metric, time) index: the pipeline's ceiling")
    recordAnchor("COPY_CEILING", Double(shapedResult.count) / shapedResult.seconds)
    _ = try await client.query("DROP TABLE \(shaped)")
    await client.shutdown()
} catch {
    print("postgres: \(error)")
} }

// PostgreSQL: a transaction shaped like Alerts' apply (a setting, three reads, six writes),
// every statement awaited alone against the queued writes and pipelined reads of ADR 34.
// The metadata database, committed with its synchronous replica, one connection.
if wanted("postgres") { do {
    let client = PostgresClient(configuration: .init(url: try setting("SENSORMINE_METADATA_DB_URL"), name: "bench-tx", pool: .init(maximumConnections: 1)))
    let table = "bench_tx_\(suffix)"
    _ = try await client.query("CREATE TABLE \(table) (id int PRIMARY KEY, n bigint NOT NULL)")
    _ = try await client.query("INSERT INTO \(table) SELECT i, 0 FROM generate_series(1, 1000) i")
    let reads = (0..<3).map { _ in "SELECT n FROM \(table) WHERE id = $1" }
    let write = "UPDATE \(table) SET n = n + 1 WHERE id = $1"
    func transactions(for duration: Duration, _ body: () async throws -> Void) async throws -> (count: Int, seconds: Double) {
        try await measure {
            let end = ContinuousClock.now + duration
            var count = 0
            while ContinuousClock.now < end {
                try await body()
                count += 1
            }
            return count
        }
    }
    var awaited: (count: Int, seconds: Double) = (0, 1)
    var queued: (count: Int, seconds: Double) = (0, 1)
    // Two rounds each, alternating, so a slow spell of the machine does not fall on one side.
    for _ in 0..<2 {
        let one = try await transactions(for: .milliseconds(1500)) {
            try await client.withSession { session in
                try await session.execute("BEGIN")
                try await session.query("SELECT set_config('sensormine.platform_admin', 'on', true)")
                for read in reads { try await session.query(read, [Int.random(in: 1...1000)]) }
                for _ in 0..<6 { try await session.execute(write, [Int.random(in: 1...1000)]) }
                try await session.execute("COMMIT")
            }
        }
        let two = try await transactions(for: .milliseconds(1500)) {
            try await client.withPlatformScope { session in
                _ = try await session.pipeline(reads.map { ($0, [Int.random(in: 1...1000)]) })
                for _ in 0..<6 { try session.enqueue(write, [Int.random(in: 1...1000)]) }
            }
        }
        awaited = (awaited.count + one.count, awaited.seconds + one.seconds)
        queued = (queued.count + two.count, queued.seconds + two.seconds)
    }
    report("postgres transaction, each awaited", "tx/s", awaited, "BEGIN, 1 setting, 3 reads, 6 writes, COMMIT: 12 round trips, synchronous replica")
    report("postgres transaction, pipelined", "tx/s", queued,
           String(format: "the same in 2 round trips (ADR 34): %.2fx", (Double(queued.count) / queued.seconds) / (Double(awaited.count) / awaited.seconds)))
    _ = try await client.query("DROP TABLE \(table)")
    await client.shutdown()
} catch {
    print("postgres transactions: \(error)")
} }

// Kafka: idempotent producer, every message's delivery confirmed by the broker.
if wanted("kafka") { do {
    let configuration = KafkaConfiguration(bootstrapServers: try setting("SENSORMINE_KAFKA_BROKERS"))
    let topic = "bench.produce.\(suffix)"
    let admin = try KafkaAdmin(configuration: configuration, logger: logger)
    try await admin.createTopics([topic], partitions: 6)
    let producer = try KafkaProducer(configuration: configuration, logger: logger)
    let payload = Array(repeating: UInt8(ascii: "x"), count: 200)
    let batchSize = 10_000
    let batches = 20
    let result = try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await producer.run() }
        defer { group.cancelAll() }
        return try await measure {
            var delivered = 0
            for batch in 0..<batches {
                let records = (0..<batchSize).map { index in
                    KafkaRecord(topic: topic, key: Array("device-\((batch * batchSize + index) % 1000)".utf8), value: payload)
                }
                delivered += try await producer.send(records).filter { (try? $0.get()) != nil }.count
            }
            return delivered
        }
    }
    report("kafka produce (acks=all, confirmed)", "msgs/s", result, "200 B, batches of \(batchSize), librdkafka \(RdKafkaLibrary.versionString)")
    await admin.shutdown()
} catch {
    print("kafka: \(error)")
} }

// The Kafka hop alone, the anchor of the pipeline's latency: records produced at a steady rate
// with EdgeGateway's producer settings (acks=all, its linger, lz4), consumed by a group member
// with the consumers' settings; each record timed from its CreateTime to its arrival in a batch.
if wanted("kafkahop") { do {
    var configuration = KafkaConfiguration(bootstrapServers: try setting("SENSORMINE_KAFKA_BROKERS"))
    configuration.properties["queued.max.messages.kbytes"] = "4096"
    configuration.properties["linger.ms"] = String(TelemetryProducerSettings.defaultLinger.milliseconds)
    let rates = (ProcessInfo.processInfo.environment["SENSORMINE_BENCH_HOP_RATES"] ?? "2000,5000").split(separator: ",").compactMap { Int($0) }
    let admin = try KafkaAdmin(configuration: configuration, logger: logger)
    let producer = try KafkaProducer(configuration: configuration, logger: logger)
    let payload = Array(#"{"deviceId":"hop","temperature":451.5,"pressure":12.25,"rpm":3120,"vibration":0.4}"#.utf8)
    try await withThrowingTaskGroup(of: Void.self) { running in
        running.addTask { try await producer.run() }
        defer { running.cancelAll() }
        for rate in rates where rate > 0 {
            let topic = "bench.hop.\(suffix).\(rate)"
            try await admin.createTopics([topic], partitions: 6)
            let consumer = try KafkaConsumer(configuration: .init(kafka: configuration, groupID: "bench-hop-\(suffix)-\(rate)", topics: [topic], batchSize: 2000,
                                                                  startAtLatest: false), logger: logger)
            let joined = ContinuousClock.now + .seconds(20)
            while try await consumer.assignedPartitionCount() == 0, ContinuousClock.now < joined { _ = try await consumer.poll(timeout: .milliseconds(100)) }
            let seconds = 10
            let total = rate * seconds
            let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
                group.addTask {
                    var latencies: [Double] = []
                    latencies.reserveCapacity(total)
                    let deadline = ContinuousClock.now + .seconds(seconds + 10)
                    while latencies.count < total, ContinuousClock.now < deadline {
                        let batch = try await consumer.poll(timeout: .milliseconds(100))
                        let now = Date().timeIntervalSince1970 * 1000
                        for message in batch { if let created = message.timestamp { latencies.append(now - Double(created)) } }
                    }
                    return latencies
                }
                // A send per 10 ms tick, as a device's request would: not awaited before the next.
                let perTick = max(1, rate / 100)
                var tick = ContinuousClock.now
                try await withThrowingTaskGroup(of: Void.self) { sends in
                    for round in 0..<(total / perTick) {
                        let records = (0..<perTick).map { index in KafkaRecord(topic: topic, key: Array("device-\((round * perTick + index) % 200)".utf8), value: payload) }
                        sends.addTask { _ = try await producer.send(records) }
                        tick = tick + .milliseconds(10)
                        try await Task.sleep(until: tick)
                    }
                    try await sends.waitForAll()
                }
                return try await group.next() ?? []
            }
            await consumer.close()
            let sorted = latencies.sorted()
            print(String(format: "%@ p50 %.1f ms, p99 %.1f ms (%d of %d consumed; CreateTime → in a consumer batch, 6 partitions)",
                         "kafka hop alone at \(rate) msg/s".padding(toLength: 38, withPad: " ", startingAt: 0),
                         percentile(sorted, 0.5), percentile(sorted, 0.99), sorted.count, total))
            recordAnchor("HOP_\(rate)_P50", percentile(sorted, 0.5))
            recordAnchor("HOP_\(rate)_P99", percentile(sorted, 0.99))
        }
    }
    await admin.shutdown()
} catch {
    print("kafka hop: \(error)")
} }

// MQTT: QoS 1 publishes (PUBACK awaited) through the broker to a subscriber.
if wanted("mqtt") { do {
    let host = try setting("SENSORMINE_MQTT_HOST")
    let port = Int(try setting("SENSORMINE_MQTT_PORT")) ?? 1883
    let username = try setting("SENSORMINE_MQTT_USERNAME")
    let password = try setting("SENSORMINE_MQTT_PASSWORD")
    let topic = "bench/\(suffix)/telemetry"
    let subscriber = try MQTTClient(configuration: .init(host: host, port: port, clientID: "bench-sub-\(suffix)", username: username, password: password), logger: logger)
    let publisher = try MQTTClient(configuration: .init(host: host, port: port, clientID: "bench-pub-\(suffix)", username: username, password: password), logger: logger)
    try await subscriber.connect()
    try await subscriber.subscribe(topic, qos: 1)
    try await publisher.connect()
    let total = 50_000
    let window = 500
    let payload = Array(repeating: UInt8(ascii: "y"), count: 200)
    let result = try await measure {
        try await withThrowingTaskGroup(of: Int.self) { group in
            group.addTask {
                var received = 0
                for await _ in subscriber.messages {
                    received += 1
                    if received == total { break }
                }
                return received
            }
            for start in stride(from: 0, to: total, by: window) {
                try await withThrowingTaskGroup(of: Void.self) { inner in
                    for _ in start..<min(start + window, total) {
                        inner.addTask { try await publisher.publish(topic: topic, payload: payload, qos: 1) }
                    }
                    try await inner.waitForAll()
                }
            }
            let received = try await group.next() ?? 0
            return received
        }
    }
    report("mqtt publish→subscribe (QoS 1)", "msgs/s", result, "200 B, \(window) in flight, PUBACK awaited")
    publisher.disconnect()
    subscriber.disconnect()
} catch {
    print("mqtt: \(error)")
} }

// Redis: concurrent single commands, and pipelined batches.
if wanted("redis") { do {
    let client = RedisClient(configuration: try .init(url: try setting("SENSORMINE_REDIS_URL"), pool: .init(maximumConnections: 8)))
    let key = "bench:\(suffix)"
    let perTask = 5_000
    let tasks = 8
    let single = try await measure {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<tasks { group.addTask { for _ in 0..<perTask { try await client.command("INCR", key) } } }
            try await group.waitForAll()
        }
        return tasks * perTask
    }
    report("redis INCR (8 concurrent)", "ops/s", single, "one round trip per command")
    let pipelined = try await measure {
        let batch = Array(repeating: ["INCR", key], count: 100)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<tasks { group.addTask { for _ in 0..<200 { _ = try await client.pipeline(batch) } } }
            try await group.waitForAll()
        }
        return tasks * 200 * 100
    }
    report("redis INCR pipelined (100/batch)", "ops/s", pipelined, "8 concurrent pipelines")
    try await client.command("DEL", key)
    await client.shutdown()
} catch {
    print("redis: \(error)")
} }

// HTTP client: keep-alive GETs to a trivial local Hummingbird route.
if wanted("http") { do {
    let router = Router()
    router.get("/ping") { _, _ in "pong" }
    let (ports, continuation) = AsyncStream<Int>.makeStream()
    var serverLogger = Logger(label: "bench-server")
    serverLogger.logLevel = .critical  // its shutdown at the end of the run is expected
    let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                          onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: serverLogger)
    let client = HTTPClient(configuration: .init(maximumConcurrentRequests: 16))
    let result = try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await app.run() }
        defer { group.cancelAll() }
        var iterator = ports.makeAsyncIterator()
        let port = await iterator.next() ?? 0
        let url = "http://127.0.0.1:\(port)/ping"
        return try await measure {
            try await withThrowingTaskGroup(of: Void.self) { workers in
                for _ in 0..<16 { workers.addTask { for _ in 0..<1_500 { _ = try await client.get(url) } } }
                try await workers.waitForAll()
            }
            return 16 * 1_500
        }
    }
    report("http client GET (16 concurrent)", "req/s", result, "libcurl, pooled keep-alive handles")
    await client.shutdown()
} catch {
    print("http: \(error)")
} }

// ApiGateway against nginx, in one run: nginx serves a static `ok` and proxies to it with pooled
// keep-alive connections; the release gateway proxies to the same static upstream; wrk drives
// each with the same connections. Rows: the upstream alone, nginx's proxy (the anchor), the
// gateway's public route (the proxy hop alone), and its authenticated route (JWT, rate limit and
// quota check, then the hop), with and without Billing's quota check.
if wanted("gateway") { do {
    let connections = 16
    let seconds = Int(ProcessInfo.processInfo.environment["SENSORMINE_BENCH_WRK_SECONDS"] ?? "") ?? 8
    let nginx = try NginxAnchor.start(upstreamPort: 18477, proxyPort: 18478)
    defer { nginx.stop() }
    let client = HTTPClient(configuration: .init(maximumConcurrentRequests: 4))
    func start(port: Int, quotas: Bool, eventLoop: Bool = true) throws -> BenchService {
        var environment = ProcessInfo.processInfo.environment
        environment["SENSORMINE_GATEWAY_ROUTES"] = "/api/v1/bench=http://127.0.0.1:\(nginx.upstreamPort),/api/v1/open-bench=http://127.0.0.1:\(nginx.upstreamPort)"
        // A public route shows the proxy's own cost, without token check and rate limit.
        environment["SENSORMINE_GATEWAY_PUBLIC_PREFIXES"] = "/api/v1/auth/,/api/v1/open-bench"
        environment["SENSORMINE_GATEWAY_RATE_PER_SECOND"] = "1000000"
        environment["SENSORMINE_GATEWAY_RATE_BURST"] = "10000000"
        environment["SENSORMINE_GATEWAY_QUOTAS"] = quotas ? "true" : "false"
        environment["SENSORMINE_GATEWAY_EVENT_LOOP_FORWARDING"] = eventLoop ? "true" : "false"
        return try BenchService.start("ApiGateway", port: port, environment: environment)
    }
    // Two gateways side by side: Billing's quota check on (the default) and off.
    let gateway = try start(port: 18480, quotas: true)
    defer { gateway.stop() }
    let plain = try start(port: 18479, quotas: false)
    defer { plain.stop() }
    // The same gateway with every request through the router (ADR 33's A/B, same run).
    let routed = try start(port: 18481, quotas: true, eventLoop: false)
    defer { routed.stop() }
    try await gateway.waitUntilReady(client)
    try await plain.waitUntilReady(client)
    try await routed.waitUntilReady(client)
    for _ in 0..<50 where (try? await client.get("http://127.0.0.1:\(nginx.proxyPort)/"))?.status != 200 { try await Task.sleep(for: .milliseconds(100)) }
    guard nginx.process.isRunning else {
        let log = (try? String(contentsOf: nginx.directory.appendingPathComponent("error.log"), encoding: .utf8)) ?? ""
        throw BenchError(description: "nginx did not start (ports \(nginx.upstreamPort), \(nginx.proxyPort) taken?): \(log.suffix(300))")
    }
    let tokens = try await AccessTokens(settings: try TokenSettings(reader: ConfigReader(values: ProcessInfo.processInfo.environment)))
    let tenant = UUID()
    let token = try await tokens.issue(for: CallerIdentity(subject: "bench", tenantID: tenant, roles: [.viewer])).token
    let bearer = ["Authorization: Bearer \(token)"]
    // The tenant has a quota state past 80 %, as Billing writes it: the check reads it and adds
    // the warning header to every answer.
    let redis = RedisClient(configuration: try RedisClient.Configuration(url: try setting("SENSORMINE_REDIS_URL")))
    _ = try await redis.command("HSET", QuotaState.redisKey(tenant), "state", "{}", "refused", "", "warning", "api-calls=85%",
                                "until", String(Int(Date().timeIntervalSince1970) + 86_400))
    let gatewayURL = "http://127.0.0.1:\(gateway.port)"
    _ = try WrkResult.run(gatewayURL + "/api/v1/bench", connections: connections, seconds: 2, headers: bearer)  // warm-up
    _ = try WrkResult.run("http://127.0.0.1:\(plain.port)/api/v1/bench", connections: connections, seconds: 1, headers: bearer)
    _ = try WrkResult.run("http://127.0.0.1:\(routed.port)/api/v1/bench", connections: connections, seconds: 1, headers: bearer)
    let direct = try WrkResult.run("http://127.0.0.1:\(nginx.upstreamPort)/api/v1/bench", connections: connections, seconds: seconds)
    let anchor = try WrkResult.run("http://127.0.0.1:\(nginx.proxyPort)/api/v1/bench", connections: connections, seconds: seconds)
    // The gateway answering its own /health: Hummingbird and the gateway's middleware without a
    // hop, the most any proxied route of it could reach.
    let alone = try WrkResult.run(gatewayURL + "/health", connections: connections, seconds: seconds)
    let open = try WrkResult.run(gatewayURL + "/api/v1/open-bench", connections: connections, seconds: seconds)
    let through = try WrkResult.run(gatewayURL + "/api/v1/bench", connections: connections, seconds: seconds, headers: bearer)
    let withoutQuota = try WrkResult.run("http://127.0.0.1:\(plain.port)/api/v1/bench", connections: connections, seconds: seconds, headers: bearer)
    let throughRouter = try WrkResult.run("http://127.0.0.1:\(routed.port)/api/v1/bench", connections: connections, seconds: seconds, headers: bearer)
    print(direct.line("static upstream alone (nginx)", note: "wrk, \(connections) connections, \(seconds) s each"))
    print(anchor.line("nginx reverse proxy (anchor)", note: "nginx-light, 2 workers, keep-alive upstream"))
    print(alone.line("ApiGateway /health, no hop", anchor: anchor, note: "the server side alone: the ceiling of any proxied route"))
    print(open.line("ApiGateway, public route", anchor: anchor, note: "proxy hop only"))
    print(through.line("ApiGateway, authenticated route", anchor: anchor, note: "JWT + rate limit + quota + proxy hop"))
    print(withoutQuota.line("ApiGateway, authenticated, quota off", anchor: anchor, note: "JWT + rate limit + proxy hop"))
    print(throughRouter.line("ApiGateway, authenticated, router only", anchor: anchor, note: "event-loop forwarding off (ADR 33): every request a Hummingbird task"))
    _ = try await redis.command("DEL", QuotaState.redisKey(tenant))
    await redis.shutdown()
    await client.shutdown()
} catch {
    print("gateway: \(error)")
} }

// JSON Schema: the official suite's counts, then a typical 10-field telemetry schema compiled
// once and applied to payloads on one core (this loop runs on one task).
if wanted("jsonschema") { do {
    let suite = ConformanceSuite()
    var passed = 0
    var total = 0
    var perFile: [String] = []
    for file in suite.files() {
        let result = try suite.run(file)
        passed += result.passed
        total += result.passed + result.failures.count
        perFile.append("\(result.name.replacingOccurrences(of: ".json", with: "")) \(result.passed)/\(result.passed + result.failures.count)")
    }
    print("json schema suite (draft 2020-12)        \(passed)/\(total) passed")
    for line in stride(from: 0, to: perFile.count, by: 6) { print("    " + perFile[line..<min(line + 6, perFile.count)].joined(separator: ", ")) }
    let schemaText = #"""
    {"type":"object","required":["deviceId","time","temperature","pressure"],"additionalProperties":false,
     "properties":{"deviceId":{"type":"string","minLength":1},"time":{"type":"string"},"temperature":{"type":"number","minimum":-50,"maximum":900},
      "pressure":{"type":"number","exclusiveMinimum":0},"rpm":{"type":"integer","minimum":0,"maximum":20000},"vibration":{"type":"number","minimum":0},
      "fuelFlow":{"type":"number"},"status":{"enum":["running","idle","fault"]},"alarm":{"type":"boolean"},"site":{"type":"string","maxLength":64}}}
    """#
    let schemaJSON = try JSON.parse(schemaText)
    let compileRuns = 2_000
    let compiled = try await measure {
        for _ in 0..<compileRuns { _ = try CompiledSchema(schemaJSON) }
        return compileRuns
    }
    let schema = try CompiledSchema(schemaJSON)
    let texts = (0..<1_000).map { index in
        Array(#"{"deviceId":"gt-\#(index)","time":"2026-11-23T05:00:00Z","temperature":\#(400 + index % 300).5,"pressure":\#(10 + index % 7).25,"rpm":\#(3000 + index),"vibration":0.\#(index % 9),"fuelFlow":12.5,"status":"running","alarm":false,"site":"north"}"#.utf8)
    }
    let payloads = try texts.map { try JSON.parse($0) }
    var valid = 0
    let validated = await measure {
        for round in 0..<400 { for payload in payloads where schema.isValid(payload) { valid += 1 }; _ = round }
        return 400 * payloads.count
    }
    // The anchor: parsing the same payloads' bytes, as Ingestion does before validating them.
    var parsedFields = 0
    let parsed = try await measure {
        for round in 0..<400 {
            for text in texts { if case .object(let members) = try JSON.parse(text) { parsedFields += members.count } }
            _ = round
        }
        return 400 * texts.count
    }
    report("json schema compile (10 fields)", "/s", compiled, String(format: "%.1f µs per compile", compiled.seconds / Double(compileRuns) * 1e6))
    report("json parse, same payloads (anchor)", "/s", parsed, "one core, \(texts[0].count) B each, \(parsedFields / (400 * texts.count)) fields")
    report("json schema validate (10 fields)", "/s", validated,
           String(format: "one core, compiled validator, %d valid; validating costs %.2f× parsing", valid,
                  (validated.seconds / Double(validated.count)) / (parsed.seconds / Double(parsed.count))))
} catch {
    print("json schema: \(error)")
} }
// Alerts: the release binary consumes a storm of 100,000 trigger events for 10,000 devices
// (deduplicated into 10,000 alerts), then 200 alerts one by one to a webhook receiver: latency
// from the event's time to its arrival at the receiver.
if wanted("alerts") { do {
    let metadata = PostgresClient(configuration: .init(url: try setting("SENSORMINE_METADATA_DB_URL"), name: "bench-alerts", pool: .init(maximumConnections: 2)))
    let prefix = "bench-alerts-\(suffix)"
    let (organisation, stormRule, latencyRule, channel, policy) = (UUID(), UUID(), UUID(), UUID(), UUID())
    // Each latency alert's device, and when its event was produced (contract times are whole seconds).
    let producedAt = NIOLockedValueBox<[UUID: Date]>([:])
    let received = NIOLockedValueBox<[Double]>([])
    let router = Router()
    router.post("/hook") { request, _ -> Response in
        let body = try await request.body.collect(upTo: 1 << 20)
        let arrived = Date()
        if let payload = try? ContractCoding.decoder().decode(AlertNotificationPayload.self, from: Data(Array(buffer: body))) {
            let sent = producedAt.withLockedValue { produced in payload.alerts.compactMap { $0.deviceId.flatMap { produced[$0] } } }
            received.withLockedValue { $0 += sent.map { arrived.timeIntervalSince($0) * 1000 } }
        }
        return Response(status: .ok)
    }
    let (ports, continuation) = AsyncStream<Int>.makeStream()
    var serverLogger = Logger(label: "bench-receiver")
    serverLogger.logLevel = .critical
    let receiver = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                               onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: serverLogger)
    let producer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: try setting("SENSORMINE_KAFKA_BROKERS")), logger: logger)
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await receiver.run() }
        group.addTask { try await producer.run() }
        defer { group.cancelAll() }
        var iterator = ports.makeAsyncIterator()
        let receiverPort = await iterator.next() ?? 0
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("Alerts")
        var environment = ProcessInfo.processInfo.environment
        environment["SENSORMINE_HTTP_PORT"] = "18487"
        environment["SENSORMINE_KAFKA_TOPIC_PREFIX"] = prefix
        environment["SENSORMINE_ALERTS_GROUP"] = prefix
        environment["SENSORMINE_ALERTS_WEBHOOK_ALLOWED_NETWORKS"] = "127.0.0.1/32"
        environment["SENSORMINE_LOG_LEVEL"] = "warning"
        let migrate = Process()
        migrate.executableURL = binary
        migrate.arguments = ["migrate"]
        migrate.environment = environment
        migrate.standardOutput = FileHandle.nullDevice
        try migrate.run()
        migrate.waitUntilExit()
        // The organisation, a rule without notifications for the storm, and a rule whose policy
        // notifies the receiver, seeded by SQL.
        try await metadata.withTransaction { session in
            try await session.query("SELECT set_config('sensormine.platform_admin', 'on', true)")
            try await session.execute("INSERT INTO tenants (id, parent_id, path, name, kind) VALUES ($1, NULL, $2::uuid[], $3, 'organisation')",
                                      [organisation, "{\(organisation)}", "bench-alerts-\(suffix)"])
            try await session.execute(
                "INSERT INTO notification_channels (id, tenant_id, name, kind, url, secret) VALUES ($1, $2, 'bench', 'webhook', $3, 'bench-secret-0123456789')",
                [channel, organisation, "http://127.0.0.1:\(receiverPort)/hook"])
            try await session.execute(
                """
                INSERT INTO notification_policies (id, tenant_id, name, levels, repeat_count, group_by, group_wait_seconds, repeat_interval_seconds,
                                                   acknowledgement_timeout_seconds, send_resolved)
                VALUES ($1, $2, 'bench', $3::jsonb, 0, '[]', 0, 0, 0, false)
                """, [policy, organisation, #"[{"channelIds":["\#(channel)"],"delaySeconds":0}]"#])
            for (rule, name, policyID) in [(stormRule, "storm", nil), (latencyRule, "latency", Optional(policy))] {
                try await session.execute(
                    """
                    INSERT INTO alert_rules (id, tenant_id, name, scope, condition, for_seconds, severity, notification_policy_id)
                    VALUES ($1, $2, $3, '{"kind":"tag","tag":"bench"}', '{"type":"threshold","metric":"t","comparison":"above","level":1,"hysteresis":0}', 0, 'warning', $4)
                    """, [rule, organisation, name, policyID])
            }
        }
        let process = Process()
        process.executableURL = binary
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        defer { process.terminate() }
        let client = HTTPClient()
        var ready = false
        for _ in 0..<200 where !ready {
            ready = (try? await client.get("http://127.0.0.1:18487/health/ready"))?.status == 200
            if !ready { try await Task.sleep(for: .milliseconds(50)) }
        }
        guard ready else { throw BenchError(description: "Alerts did not become ready") }
        func applied() async throws -> Int {
            let text = String(decoding: try await client.get("http://127.0.0.1:18487/metrics").body, as: UTF8.self)
            let line = text.split(separator: "\n").first { $0.hasPrefix("sensormine_alerts_events_applied_total ") }
            return line.flatMap { Double($0.split(separator: " ").last ?? "") }.map { Int($0) } ?? 0
        }
        let topic = "\(prefix).alerts.triggered"
        let encoder = ContractCoding.encoder()
        func record(_ event: AlertEvent) throws -> KafkaRecord {
            KafkaRecord(topic: topic, key: Array(event.partitionKey.utf8), value: Array(try encoder.encode(event)))
        }
        let devices = (0..<10_000).map { _ in UUID() }
        let events = 100_000
        let storm = try await measure {
            let now = Date()
            for round in 0..<10 {
                let records = try devices.map { device in
                    try record(AlertEvent(action: .trigger, source: .rule, tenantId: organisation, ruleId: stormRule, deviceId: device, sequence: Int64(round + 1),
                                          occurredAt: now, values: ["t": Double(round)], producer: "bench"))
                }
                for result in try await producer.send(records) { _ = try result.get() }
            }
            // Progress from Alerts' own counter (a query every 100 ms would load the database being measured).
            while try await applied() < events { try await Task.sleep(for: .milliseconds(100)) }
            return events
        }
        let stored = try await metadata.withTransaction { session in
            try await session.query("SELECT set_config('sensormine.platform_admin', 'on', true)")
            return try await session.query("SELECT count(*) AS alerts, coalesce(sum(trigger_count), 0) AS triggers FROM alert_instances WHERE rule_id = $1",
                                           [stormRule]).first
        }
        report("alerts: trigger storm, deduplicated", "events/s", storm,
               "100,000 triggers for 10,000 devices -> \(stored?.int("alerts") ?? 0) alerts, \(stored?.int("triggers") ?? 0) triggers joined; produce + apply")

        for _ in 0..<200 {
            let device = UUID()
            let event = AlertEvent(action: .trigger, source: .rule, tenantId: organisation, ruleId: latencyRule, deviceId: device, sequence: 1,
                                   occurredAt: Date(), values: ["t": 2], producer: "bench")
            let encoded = try record(event)
            producedAt.withLockedValue { $0[device] = Date() }
            _ = try await producer.send(encoded)
            try await Task.sleep(for: .milliseconds(20))
        }
        for _ in 0..<300 where received.withLockedValue({ $0.count }) < 200 { try await Task.sleep(for: .milliseconds(100)) }
        let latencies = received.withLockedValue { $0 }.sorted()
        print(String(format: "%@ p50 %.1f ms, p99 %.1f ms (%d of 200 delivered; produced -> webhook received, one every 20 ms)",
                     "alerts: notification latency".padding(toLength: 38, withPad: " ", startingAt: 0), percentile(latencies, 0.5), percentile(latencies, 0.99), latencies.count))
        await client.shutdown()
    }
    try await metadata.withTransaction { session in
        try await session.query("SELECT set_config('sensormine.platform_admin', 'on', true)")
        try await session.execute("DELETE FROM alert_instances WHERE tenant_id = $1", [organisation])
        try await session.execute("DELETE FROM alert_keys WHERE tenant_id = $1", [organisation])
        try await session.execute("DELETE FROM alert_rules WHERE tenant_id = $1", [organisation])
        try await session.execute("DELETE FROM notification_policies WHERE tenant_id = $1", [organisation])
        try await session.execute("DELETE FROM notification_channels WHERE tenant_id = $1", [organisation])
        try await session.execute("DELETE FROM tenants WHERE id = $1", [organisation])
    }
    await metadata.shutdown()
} catch {
    print("alerts: \(error)")
} }
// Billing: the release binary drains a backlog of 200,000 usage records on metering.events for
// 20 organisations, each stored once (by event id, with the month's totals and the quota states
// of the organisations in each batch), timed from the first record stored to the last.
if wanted("billing") { do {
    let metadata = PostgresClient(configuration: .init(url: try setting("SENSORMINE_METADATA_DB_URL"), name: "bench-billing", pool: .init(maximumConnections: 2)))
    let prefix = "bench-billing-\(suffix)"
    let organisations = (0..<20).map { _ in UUID() }
    try await metadata.withPlatformScope { session in
        for organisation in organisations {
            try await session.execute("INSERT INTO tenants (id, parent_id, path, name, kind) VALUES ($1, NULL, $2::uuid[], $3, 'organisation')",
                                      [organisation, "{\(organisation)}", "bench-billing-\(organisation)"])
        }
    }
    var environment = ProcessInfo.processInfo.environment
    environment["SENSORMINE_KAFKA_TOPIC_PREFIX"] = prefix
    environment["SENSORMINE_BILLING_GROUP"] = prefix
    environment["SENSORMINE_BILLING_INVOICE_INTERVAL"] = "off"
    try BenchService.start("Billing", port: 18488, environment: environment, arguments: ["migrate"]).process.waitUntilExit()
    let producer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: try setting("SENSORMINE_KAFKA_BROKERS")), logger: logger)
    let total = 200_000
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await producer.run() }
        defer { group.cancelAll() }
        let encoder = ContractCoding.encoder()
        let resources: [MeteredResource] = [.apiCalls, .dataIngested, .mlInference]
        let now = Date()
        for start in stride(from: 0, to: total, by: 10_000) {
            let records = try (start..<(start + 10_000)).map { index in
                let organisation = organisations[index % organisations.count]
                let record = UsageRecord(eventId: "\(prefix)/\(index)", tenantId: organisation, time: now, resource: resources[index % resources.count],
                                         quantity: Double(index % 97 + 1), producer: "bench")
                return KafkaRecord(topic: "\(prefix).metering.events", key: Array(organisation.uuidString.lowercased().utf8), value: Array(try encoder.encode(record)))
            }
            for result in try await producer.send(records) { _ = try result.get() }
        }
        let billing = try BenchService.start("Billing", port: 18488, environment: environment)
        defer { billing.process.terminate() }
        let client = HTTPClient()
        func stored() async -> Int { Int(await billing.metric(client, "sensormine_billing_usage_events_total")) }
        var first: ContinuousClock.Instant?
        var firstCount = 0
        var count = 0
        let deadline = ContinuousClock.now + .seconds(180)
        while count < total, ContinuousClock.now < deadline {
            count = await stored()
            if first == nil, count > 0 { (first, firstCount) = (ContinuousClock.now, count) }
            try await Task.sleep(for: .milliseconds(50))
        }
        let elapsed = first.map { ContinuousClock.now - $0 } ?? .zero
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        report("Billing usage records stored", "rec/s", (count - firstCount, seconds),
               "\(count) of \(total) from a backlog, once each by event id, with monthly totals and quota states (goal 10,000/s)")
        await client.shutdown()
    }
    try await metadata.withPlatformScope { session in
        let list = "{" + organisations.map(\.uuidString).joined(separator: ",") + "}"
        try await session.execute("DELETE FROM usage_events WHERE tenant_id = ANY ($1::uuid[])", [list])
        try await session.execute("DELETE FROM usage_totals WHERE tenant_id = ANY ($1::uuid[])", [list])
        try await session.execute("DELETE FROM quota_notices WHERE organisation_id = ANY ($1::uuid[])", [list])
        try await session.execute("DELETE FROM quota_states WHERE organisation_id = ANY ($1::uuid[])", [list])
        try await session.execute("DELETE FROM tenants WHERE id = ANY ($1::uuid[])", [list])
    }
    let redis = RedisClient(configuration: try RedisClient.Configuration(url: try setting("SENSORMINE_REDIS_URL")))
    _ = try await redis.command(["DEL"] + organisations.map(QuotaState.redisKey))
    await redis.shutdown()
    await metadata.shutdown()
} catch {
    print("billing: \(error)")
} }
if wanted("stream") { await benchStreamProcessing(suffix: suffix) }
print(String(repeating: "-", count: 100))
