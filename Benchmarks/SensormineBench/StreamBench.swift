import ClientRuntime
import Curl
import Foundation
import Hummingbird
import LibPQ
import Logging
import NIOConcurrencyHelpers
import RdKafka
import SensormineContracts
import SensormineTelemetry

/// A release service binary run for a benchmark, stopped with SIGTERM when done.
struct BenchService {
    let process: Process
    let port: Int

    static func start(_ name: String, port: Int, environment: [String: String], arguments: [String] = []) throws -> BenchService {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name)
        process.arguments = arguments
        var environment = environment
        environment["SENSORMINE_HTTP_PORT"] = String(port)
        environment["SENSORMINE_LOG_LEVEL"] = "warning"
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        return BenchService(process: process, port: port)
    }

    func waitUntilReady(_ client: HTTPClient) async throws {
        for _ in 0..<600 {
            if (try? await client.get("http://127.0.0.1:\(self.port)/health/ready"))?.status == 200 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw BenchError(description: "\(self.process.executableURL?.lastPathComponent ?? "service") did not become ready")
    }

    /// An unlabelled counter or gauge from its /metrics.
    func metric(_ client: HTTPClient, _ name: String) async -> Double {
        guard let body = try? await client.get("http://127.0.0.1:\(self.port)/metrics").body else { return 0 }
        let line = String(decoding: body, as: UTF8.self).split(separator: "\n").first { $0.hasPrefix(name + " ") }
        return line.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
    }

    /// A labelled histogram's cumulative bucket counts from its /metrics: stage → [(upper bound, count)].
    func stageBuckets(_ client: HTTPClient, _ name: String) async -> StageBuckets {
        guard let body = try? await client.get("http://127.0.0.1:\(self.port)/metrics").body else { return StageBuckets(counts: [:]) }
        var counts: [String: [Double: Double]] = [:]
        for line in String(decoding: body, as: UTF8.self).split(separator: "\n") where line.hasPrefix(name + "_bucket{") {
            guard let open = line.firstIndex(of: "{"), let close = line.lastIndex(of: "}"), let value = Double(line[line.index(after: close)...].trimmingCharacters(in: .whitespaces)) else { continue }
            var labels: [Substring: Substring] = [:]
            for pair in line[line.index(after: open)..<close].split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.count == 2 { labels[parts[0]] = parts[1].dropFirst().dropLast() }
            }
            guard let stage = labels["stage"], let le = labels["le"], let upper = le == "+Inf" ? Double.infinity : Double(le) else { continue }
            counts[String(stage), default: [:]][upper] = value
        }
        return StageBuckets(counts: counts)
    }

    func stop() {
        self.process.terminate()
        self.process.waitUntilExit()
    }
}

/// StreamProcessing (release) alone on a backlog: 2,000 devices of one tenant, 100 readings each
/// with three metrics (600,000 points), three window sizes and 100 rules of the tenant, beside
/// the rate a bare consumer reads the same topic at in the same run (the limit).
@MainActor
func benchStreamProcessing(suffix: String) async {
    do {
        let metadata = PostgresClient(configuration: .init(url: try setting("SENSORMINE_METADATA_DB_URL"), name: "bench-stream", pool: .init(maximumConnections: 2)))
        let prefix = "bench-stream-\(suffix)"
        let organisation = UUID(), deviceType = UUID()
        let deviceCount = 2000, perDevice = 100
        var environment = ProcessInfo.processInfo.environment
        environment["SENSORMINE_KAFKA_TOPIC_PREFIX"] = prefix
        environment["SENSORMINE_STREAM_GROUP"] = prefix + ".stream"
        environment["SENSORMINE_DEVICE_API_URL"] = "http://127.0.0.1:18881"
        environment["SENSORMINE_SCHEMA_REGISTRY_URL"] = "http://127.0.0.1:18882"
        let kafka = KafkaConfiguration(bootstrapServers: try setting("SENSORMINE_KAFKA_BROKERS"))
        let admin = try KafkaAdmin(configuration: kafka, logger: logger)
        let topic = "\(prefix).device.telemetry"
        try await admin.createTopics([topic, "\(prefix).telemetry.windows"], partitions: 6)
        try await admin.createTopics(["\(prefix).telemetry.late", "\(prefix).alerts.triggered", "\(prefix).device.events", "\(prefix).asset.updates"], partitions: 3)
        try await admin.createTopics(["\(prefix).alerts.rules"], partitions: 3, configs: ["cleanup.policy": "compact"])
        await admin.shutdown()
        // The tenant, its type and devices, seeded by SQL.
        let devices: [UUID] = try await metadata.withTransaction { session in
            try await session.query("SELECT set_config('sensormine.platform_admin', 'on', true)")
            try await session.execute("INSERT INTO tenants (id, parent_id, path, name, kind) VALUES ($1, NULL, $2::uuid[], $3, 'organisation')",
                                      [organisation, "{\(organisation)}", "bench-stream-\(suffix)"])
            try await session.execute("INSERT INTO device_types (id, tenant_id, name) VALUES ($1, $2, 'bench press')", [deviceType, organisation])
            try await session.execute("""
                INSERT INTO devices (id, tenant_id, device_type_id, name, tags)
                SELECT gen_random_uuid(), $1, $2, 'press-' || n, '{bench}' FROM generate_series(1, \(deviceCount)) n
                """, [organisation, deviceType])
            return try await session.query("SELECT id FROM devices WHERE tenant_id = $1", [organisation]).all.compactMap { $0["id"].flatMap(UUID.init(uuidString:)) }
        }
        let producer = try KafkaProducer(configuration: kafka, logger: logger)
        let client = HTTPClient()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await producer.run() }
            defer { group.cancelAll() }
            // 100 rules of the tenant over the three metrics: thresholds, rates, 5-minute averages
            // and anomaly scores, none of which the readings below break often.
            let encoder = ContractCoding.encoder()
            var rules: [KafkaRecord] = []
            for index in 0..<100 {
                let metric = ["temperature", "pressure", "rpm"][index % 3]
                let condition: AlertCondition = switch index % 4 {
                case 0: .threshold(metric: metric, comparison: .above, level: 10_000 + Double(index), hysteresis: 1)
                case 1: .rate(metric: metric, comparison: .above, level: 1_000_000, unit: .perSecond)
                case 2: .window(metric: metric, aggregate: .avg, minutes: 5, comparison: .above, level: 10_000)
                default: .anomaly(metric: metric, level: 0.999999)
                }
                let rule = AlertRule(id: UUID(), tenantId: organisation, name: "bench \(index)", description: "", enabled: true, scope: AlertScope(kind: .tag, tag: "bench"),
                                     condition: condition, forSeconds: 0, severity: .warning, labels: [:], summaryTemplate: "", messageTemplate: "",
                                     notificationPolicyId: nil, appliesToSubTenants: false, revision: 1, createdAt: Date(), updatedAt: Date())
                rules.append(KafkaRecord(topic: "\(prefix).alerts.rules", key: Array(rule.id.uuidString.lowercased().utf8), value: Array(try encoder.encode(rule))))
            }
            for result in try await producer.send(rules) { _ = try result.get() }
            // The backlog: each device's readings one second apart, ending now.
            let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
            let tenantText = organisation.uuidString.lowercased()
            var produced = 0
            for second in 0..<perDevice {
                let time = now - Int64(perDevice - second) * 1_000_000
                let stamp = RFC3339.string(microseconds: time)
                var records: [KafkaRecord] = []
                records.reserveCapacity(devices.count)
                for (index, device) in devices.enumerated() {
                    let payload = #"{"time":"\#(stamp)","temperature":\#(60 + Double((index + second) % 17)),"pressure":\#(4 + Double(second % 5) / 10),"rpm":\#(2900 + (index % 200))}"#
                    let deviceText = device.uuidString.lowercased()
                    let envelope = TelemetryEnvelope(messageID: UUID().uuidString.lowercased(), tenantID: tenantText, deviceID: deviceText, source: .http,
                                                     receivedAt: time, payload: Array(payload.utf8), payloadIsJSON: true)
                    records.append(KafkaRecord(topic: topic, key: Array(deviceText.utf8), value: envelope.encoded(), headers: [("tenant", Array(tenantText.utf8))]))
                }
                for result in try await producer.send(records) { _ = try result.get() }
                produced += records.count
            }
            // The limit: a bare consumer reading the same messages.
            let bare = try KafkaConsumer(configuration: .init(kafka: kafka, groupID: "\(prefix).bare", topics: [topic], batchSize: 5000), logger: logger)
            var started: ContinuousClock.Instant?
            var read = 0
            while read < produced {
                let batch = try await bare.poll(timeout: .milliseconds(200))
                if started == nil, !batch.isEmpty { started = .now }
                read += batch.count
            }
            let bareElapsed = ContinuousClock.now - (started ?? .now)
            await bare.close()
            report("stream: bare consumer, same topic", "msgs/s", (read, Double(bareElapsed.components.seconds) + Double(bareElapsed.components.attoseconds) / 1e18),
                   "the limit for what follows; fetch only, from the first message")

            let deviceAPI = try BenchService.start("DeviceAPI", port: 18881, environment: environment)
            let registry = try BenchService.start("SchemaRegistry", port: 18882, environment: environment)
            defer {
                deviceAPI.stop()
                registry.stop()
            }
            try await deviceAPI.waitUntilReady(client)
            try await registry.waitUntilReady(client)
            let stream = try BenchService.start("StreamProcessing", port: 18883, environment: environment)
            defer { stream.stop() }
            try await stream.waitUntilReady(client)
            // From its first message to the last: group join, rules and startup left out.
            while await stream.metric(client, "sensormine_stream_messages_total") == 0 { try await Task.sleep(for: .milliseconds(20)) }
            let first = ContinuousClock.now
            let startPoints = await stream.metric(client, "sensormine_stream_points_total")
            var points = startPoints
            while points < Double(produced * 3) {
                try await Task.sleep(for: .milliseconds(100))
                points = await stream.metric(client, "sensormine_stream_points_total")
            }
            let elapsed = ContinuousClock.now - first
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let windows = Int(await stream.metric(client, "sensormine_stream_windows_total"))
            report("stream: backlog drain", "points/s", (Int(points), seconds),
                   "\(produced) messages from \(deviceCount) devices, 3 metrics each; windows 1m/5m/1h, 100 rules; \(windows) windows closed; admitted, enriched, state saved")
            report("stream: backlog drain", "msgs/s", (produced, seconds), "the same run in messages, against the bare consumer above")

            try await benchRuleLatency(prefix: prefix, organisation: organisation, devices: devices, metadata: metadata, producer: producer, client: client,
                                       stream: stream, environment: environment)
        }
        await client.shutdown()
        let timeseries = PostgresClient(configuration: .init(url: try setting("SENSORMINE_TIMESERIES_DB_URL"), name: "bench-stream", pool: .init(maximumConnections: 1)))
        _ = try await timeseries.query("DELETE FROM stream_device_state WHERE consumer_group = $1", [prefix + ".stream"])
        _ = try await timeseries.query("DELETE FROM stream_partitions WHERE consumer_group = $1", [prefix + ".stream"])
        await timeseries.shutdown()
        try await metadata.withTransaction { session in
            try await session.query("SELECT set_config('sensormine.platform_admin', 'on', true)")
            for table in ["alert_instances", "alert_keys", "alert_rules", "notification_policies", "notification_channels"] {
                try await session.execute("DELETE FROM \(table) WHERE tenant_id = $1", [organisation])
            }
            try await session.execute("DELETE FROM devices WHERE tenant_id = $1", [organisation])
            try await session.execute("DELETE FROM device_types WHERE tenant_id = $1", [organisation])
            try await session.execute("DELETE FROM tenants WHERE id = $1", [organisation])
        }
        await metadata.shutdown()
    } catch {
        print("stream: \(error)")
    }
}

/// Latency from the reading that meets a rule's condition to the webhook that reports it, while
/// 2,000 readings/s flow and Ingestion stores the same stream: Alerts (with a rule whose policy
/// notifies a local receiver at once) and Ingestion join the running StreamProcessing.
@MainActor
func benchRuleLatency(prefix: String, organisation: UUID, devices: [UUID], metadata: PostgresClient, producer: KafkaProducer, client: HTTPClient,
                      stream: BenchService, environment: [String: String]) async throws {
    let producedAt = NIOLockedValueBox<[UUID: ContinuousClock.Instant]>([:])
    let latencies = NIOLockedValueBox<[Double]>([])
    let router = Router()
    router.post("/hook") { request, _ -> Response in
        let body = try await request.body.collect(upTo: 1 << 20)
        let arrived = ContinuousClock.now
        if let payload = try? ContractCoding.decoder().decode(AlertNotificationPayload.self, from: Data(Array(buffer: body))), payload.kind == "firing" {
            let sent = producedAt.withLockedValue { produced in payload.alerts.compactMap { $0.deviceId.flatMap { produced.removeValue(forKey: $0) } } }
            latencies.withLockedValue { $0 += sent.map { let elapsed = arrived - $0; return Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000 } }
        }
        return Response(status: .ok)
    }
    let (ports, continuation) = AsyncStream<Int>.makeStream()
    var serverLogger = Logger(label: "bench-stream-receiver")
    serverLogger.logLevel = .critical
    let receiver = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                               onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: serverLogger)
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await receiver.run() }
        defer { group.cancelAll() }
        var iterator = ports.makeAsyncIterator()
        let receiverPort = await iterator.next() ?? 0
        let (channel, policy, rule) = (UUID(), UUID(), UUID())
        var environment = environment
        environment["SENSORMINE_ALERTS_GROUP"] = prefix + ".alerts"
        environment["SENSORMINE_ALERTS_WEBHOOK_ALLOWED_NETWORKS"] = "127.0.0.1/32"
        environment["SENSORMINE_INGESTION_GROUP"] = prefix + ".ingestion"
        environment["SENSORMINE_INGESTION_START"] = "latest"
        let migrate = try BenchService.start("Alerts", port: 18884, environment: environment, arguments: ["migrate"])
        migrate.process.waitUntilExit()
        try await metadata.withTransaction { session in
            try await session.query("SELECT set_config('sensormine.platform_admin', 'on', true)")
            try await session.execute(
                "INSERT INTO notification_channels (id, tenant_id, name, kind, url, secret) VALUES ($1, $2, 'bench', 'webhook', $3, 'bench-secret-0123456789')",
                [channel, organisation, "http://127.0.0.1:\(receiverPort)/hook"])
            try await session.execute(
                """
                INSERT INTO notification_policies (id, tenant_id, name, levels, repeat_count, group_by, group_wait_seconds, repeat_interval_seconds,
                                                   acknowledgement_timeout_seconds, send_resolved)
                VALUES ($1, $2, 'bench', $3::jsonb, 0, '[]', 0, 0, 0, false)
                """, [policy, organisation, #"[{"channelIds":["\#(channel)"],"delaySeconds":0}]"#])
            try await session.execute(
                """
                INSERT INTO alert_rules (id, tenant_id, name, scope, condition, for_seconds, severity, notification_policy_id)
                VALUES ($1, $2, 'overheat', '{"kind":"tag","tag":"bench"}', '{"type":"threshold","metric":"temperature","comparison":"above","level":1000,"hysteresis":0}', 0, 'critical', $3)
                """, [rule, organisation, policy])
        }
        let alerts = try BenchService.start("Alerts", port: 18884, environment: environment)
        let ingestion = try BenchService.start("Ingestion", port: 18885, environment: environment)
        defer {
            alerts.stop()
            ingestion.stop()
        }
        try await alerts.waitUntilReady(client)
        try await ingestion.waitUntilReady(client)
        // Alerts republishes its rules at start; StreamProcessing has the new one once it counts 101.
        for _ in 0..<300 where await stream.metric(client, "sensormine_stream_rules") < 101 { try await Task.sleep(for: .milliseconds(100)) }
        let topic = "\(prefix).device.telemetry"
        let tenantText = organisation.uuidString.lowercased()
        let position = Dictionary(uniqueKeysWithValues: devices.enumerated().map { ($1, $0) })
        var hot = devices.shuffled()[...]
        var heated = Set<UUID>()
        // Devices that never run hot here: what stands in for a hot one in the rotation.
        let cool = Array(hot.suffix(devices.count / 2))
        // Ingestion starts with cold caches (each device's schema and storage looked up once, from
        // DeviceAPI): an ordinary reading from every device first, stored before anything is
        // measured; start-up, not the latency of a reading, as the group joins below. Ingestion
        // starts at the topic's end once its group has settled, so the readings go again every
        // 3 s until it has stored them.
        for _ in 0..<20 where await ingestion.metric(client, "sensormine_ingestion_points_stored_total") < Double(devices.count * 3) {
            let time = Int64(Date().timeIntervalSince1970 * 1_000_000)
            let records = devices.map { device in
                let number = position[device] ?? 0
                let payload = #"{"time":"\#(RFC3339.string(microseconds: time))","temperature":\#(60 + number % 17),"pressure":4.2,"rpm":\#(2900 + number % 200)}"#
                let envelope = TelemetryEnvelope(messageID: UUID().uuidString.lowercased(), tenantID: tenantText, deviceID: device.uuidString.lowercased(), source: .http,
                                                 receivedAt: time, payload: Array(payload.utf8), payloadIsJSON: true)
                return KafkaRecord(topic: topic, key: Array(device.uuidString.lowercased().utf8), value: envelope.encoded(), headers: [("tenant", Array(tenantText.utf8))])
            }
            for result in try await producer.send(records) { _ = try result.get() }
            for _ in 0..<30 where await ingestion.metric(client, "sensormine_ingestion_points_stored_total") < Double(devices.count * 3) {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        // Warm-up: one reading over the level, measured only once its webhook has arrived (Alerts'
        // and Ingestion's consumers have joined their groups; the local broker can take tens of
        // seconds to settle a group, which is start-up, not the latency of a reading).
        if let warm = hot.popFirst() {
            heated.insert(warm)
            let time = Int64(Date().timeIntervalSince1970 * 1_000_000)
            let payload = #"{"time":"\#(RFC3339.string(microseconds: time))","temperature":2000,"pressure":4.2,"rpm":\#(2900 + (position[warm] ?? 0) % 200)}"#
            let envelope = TelemetryEnvelope(messageID: UUID().uuidString.lowercased(), tenantID: tenantText, deviceID: warm.uuidString.lowercased(), source: .http,
                                             receivedAt: time, payload: Array(payload.utf8), payloadIsJSON: true)
            producedAt.withLockedValue { $0[warm] = ContinuousClock.now }
            for result in try await producer.send([KafkaRecord(topic: topic, key: Array(warm.uuidString.lowercased().utf8), value: envelope.encoded(),
                                                               headers: [("tenant", Array(tenantText.utf8))])]) { _ = try result.get() }
            for _ in 0..<600 where latencies.withLockedValue({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(100)) }
            let first = latencies.withLockedValue { values in defer { values.removeAll() }; return values.first ?? -1 }
            print(String(format: "%@ %.0f ms (its webhook, after which the run is measured)", "stream: first alert after start".padding(toLength: 38, withPad: " ", startingAt: 0), first))
        }
        var triggers = 0
        let streamBefore = await stream.stageBuckets(client, "sensormine_stream_stage_seconds")
        let alertsBefore = await alerts.stageBuckets(client, "sensormine_alerts_stage_seconds")
        let start = ContinuousClock.now
        var tick = 0
        // 15 s at 2,000 readings/s: every 100 ms, 200 readings, one of them over the level.
        while ContinuousClock.now - start < .seconds(15) {
            let time = Int64(Date().timeIntervalSince1970 * 1_000_000)
            let stamp = RFC3339.string(microseconds: time)
            var records: [KafkaRecord] = []
            let overheated = hot.popFirst()
            if let overheated { heated.insert(overheated) }
            for index in 0..<200 {
                // A device that ran hot stays out of the rotation: a normal reading a second later
                // would resolve its alert, possibly before the firing notice went out.
                var device = index == 0 ? (overheated ?? devices[0]) : devices[(tick * 200 + index) % devices.count]
                if index != 0, heated.contains(device) { device = cool[(tick * 200 + index) % cool.count] }
                // Values like the backlog's (each device's own rpm, the same spread of temperature
                // and pressure), so the 100 other rules stay quiet and only the hot reading alerts.
                let number = position[device] ?? 0
                let temperature = index == 0 && overheated != nil ? 2000.0 : 60 + Double((number + tick) % 17)
                let deviceText = device.uuidString.lowercased()
                let payload = #"{"time":"\#(stamp)","temperature":\#(temperature),"pressure":\#(4 + Double(tick % 5) / 10),"rpm":\#(2900 + number % 200)}"#
                let envelope = TelemetryEnvelope(messageID: UUID().uuidString.lowercased(), tenantID: tenantText, deviceID: deviceText, source: .http,
                                                 receivedAt: time, payload: Array(payload.utf8), payloadIsJSON: true)
                records.append(KafkaRecord(topic: topic, key: Array(deviceText.utf8), value: envelope.encoded(), headers: [("tenant", Array(tenantText.utf8))]))
            }
            if let overheated {
                producedAt.withLockedValue { $0[overheated] = ContinuousClock.now }
                triggers += 1
            }
            for result in try await producer.send(records) { _ = try result.get() }
            tick += 1
            let next = start + .milliseconds(100 * tick)
            if next > ContinuousClock.now { try await Task.sleep(until: next, clock: .continuous) }
        }
        for _ in 0..<100 where latencies.withLockedValue({ $0.count }) < triggers { try await Task.sleep(for: .milliseconds(100)) }
        let sorted = latencies.withLockedValue { $0 }.sorted()
        print(String(format: "%@ p50 %.0f ms, p99 %.0f ms (%d of %d delivered; reading produced -> StreamProcessing -> Alerts -> webhook, at 2,000 readings/s, Ingestion storing them too)",
                     "stream: rule to webhook latency".padding(toLength: 38, withPad: " ", startingAt: 0), percentile(sorted, 0.5), percentile(sorted, 0.99),
                     sorted.count, triggers))
        // Where that time went, p50 / p99 of each stage over the run (readings, batches and
        // notices alike, not only the timed crossings).
        let streamAfter = await stream.stageBuckets(client, "sensormine_stream_stage_seconds")
        let alertsAfter = await alerts.stageBuckets(client, "sensormine_alerts_stage_seconds")
        print("\("  stages, StreamProcessing".padding(toLength: 38, withPad: " ", startingAt: 0)) "
              + streamAfter.summary(["kafka", "process", "publish", "save_wait", "save"], since: streamBefore))
        print("\("  stages, Alerts".padding(toLength: 38, withPad: " ", startingAt: 0)) "
              + alertsAfter.summary(["kafka", "apply", "queue", "deliver", "record"], since: alertsBefore))
    }
}

/// Stage histograms read from a service's /metrics, for the time spent between two readings.
struct StageBuckets {
    var counts: [String: [Double: Double]]

    /// `stage`'s quantile `q` in milliseconds over what was recorded since `before`, linear
    /// within a bucket; nil when nothing was.
    func quantile(_ stage: String, _ q: Double, since before: StageBuckets) -> Double? {
        guard let after = self.counts[stage] else { return nil }
        let earlier = before.counts[stage] ?? [:]
        let buckets = after.map { (upper: $0.key, count: $0.value - (earlier[$0.key] ?? 0)) }.sorted { $0.upper < $1.upper }
        guard let total = buckets.last?.count, total > 0 else { return nil }
        var (lower, below) = (0.0, 0.0)
        for bucket in buckets {
            if bucket.count >= q * total {
                if bucket.upper == .infinity { return lower * 1000 }
                return (lower + (bucket.upper - lower) * (q * total - below) / max(bucket.count - below, 1e-9)) * 1000
            }
            (lower, below) = (bucket.upper, bucket.count)
        }
        return lower * 1000
    }

    /// `stage p50 / p99 ms` for each of `stages` recorded since `before`.
    func summary(_ stages: [String], since before: StageBuckets) -> String {
        stages.map { stage in
            guard let p50 = self.quantile(stage, 0.5, since: before), let p99 = self.quantile(stage, 0.99, since: before) else { return "\(stage) -" }
            return String(format: "%@ %.0f / %.0f ms", stage, p50, p99)
        }.joined(separator: ", ")
    }
}
