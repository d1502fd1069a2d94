import Foundation
import SensormineContracts
import SensormineTelemetry
import Testing

@testable import StreamProcessing

/// Drives a ``StreamEngine`` with one device on one partition, in event time.
struct EngineHarness {
    var engine: StreamEngine
    let partition = PartitionKey(topic: "device.telemetry", partition: 0)
    let profile: DeviceProfile
    var offset: Int64 = 0
    var outputs: [StreamOutput] = []
    /// Processing time: starts at the base and moves only when a test says so.
    var now: Micros
    static let base: Micros = 1_800_000_000_000_000  // 2027-01-15T08:00:00Z, a whole hour

    init(settings: StreamSettings = StreamSettings(), rules: [AlertRule] = [], profile: DeviceProfile? = nil) {
        self.engine = StreamEngine(settings: settings)
        for rule in rules { self.engine.book.apply(id: rule.id, rule: rule) }
        let tenant = UUID()
        self.profile = profile ?? DeviceProfile(tenantId: tenant, deviceId: UUID(), deviceTypeId: UUID(), tags: ["line-2"], assetPath: [], siteId: nil, tenantPath: [tenant])
        self.now = Self.base
        self.engine.load(self.partition, epoch: 1, nextOffset: 0, watermark: .min, devices: [:], now: self.now)
    }

    /// Sends one message with `points` (metric, seconds after the base, value), received at its latest point.
    mutating func send(_ points: [(String, Double, Double)], id: String? = nil, receivedLag: Double = 0) {
        let telemetry = points.map { TelemetryPoint(metric: $0.0, time: Self.base + Micros($0.1 * 1_000_000), value: $0.2) }
        let received = (telemetry.map(\.time).max() ?? Self.base) + Micros(receivedLag * 1_000_000)
        self.now = max(self.now, received)
        let envelope = TelemetryEnvelope(messageID: id ?? "m\(self.offset)", tenantID: self.profile.tenantId.uuidString.lowercased(),
                                         deviceID: self.profile.deviceId.uuidString.lowercased(), source: .mqtt, receivedAt: received, payload: [], payloadIsJSON: true)
        self.engine.apply(envelope, points: telemetry, partition: self.partition, offset: self.offset, profile: self.profile, now: self.now, into: &self.outputs)
        self.offset += 1
        self.engine.closeWindows(into: &self.outputs)
    }

    mutating func tick(at seconds: Double) {
        self.now = Self.base + Micros(seconds * 1_000_000)
        self.engine.tick(now: self.now, into: &self.outputs)
    }

    mutating func take() -> [StreamOutput] {
        defer { self.outputs = [] }
        return self.outputs
    }

    var windows: [TelemetryWindow] { self.outputs.compactMap { if case .window(let window) = $0 { window } else { nil } } }
    var alerts: [AlertEvent] { self.outputs.compactMap { if case .alert(let event) = $0 { event } else { nil } } }
    var late: [LateTelemetryPoint] { self.outputs.compactMap { if case .late(let point) = $0 { point } else { nil } } }
}

func rule(_ condition: AlertCondition, tenant: UUID, forSeconds: Int = 0, scope: AlertScope? = nil, revision: Int = 1) -> AlertRule {
    AlertRule(id: UUID(), tenantId: tenant, name: "rule", description: "", enabled: true, scope: scope ?? AlertScope(kind: .tag, tag: "line-2"),
              condition: condition, forSeconds: forSeconds, severity: .major, labels: [:], summaryTemplate: "", messageTemplate: "",
              notificationPolicyId: nil, appliesToSubTenants: false, revision: revision, createdAt: Date(), updatedAt: Date())
}

@Suite("Stream windows in event time (no I/O)")
struct WindowTests {
    /// A stable pseudo-random sequence, so a failure can be replayed.
    struct Generator {
        var state: UInt64
        mutating func next() -> Double {
            self.state = self.state &* 6364136223846793005 &+ 1442695040888963407
            return Double(self.state >> 11) / Double(1 << 53)
        }
    }

    @Test("every closed window equals the aggregates computed directly from the points sent, out-of-order points within the lateness included")
    func windowsMatchOracle() {
        var settings = StreamSettings()
        settings.windowShapes = [.tumbling(seconds: 60), .tumbling(seconds: 300), WindowShape(size: 120_000_000, hop: 60_000_000)]
        settings.allowedLateness = 20_000_000
        var harness = EngineHarness(settings: settings)
        var random = Generator(state: 7)
        var sent: [(time: Double, value: Double)] = []
        // 15 minutes of points every ~2 s, each up to 15 s out of order (within the 20 s lateness).
        var clock = 0.0
        while clock < 900 {
            let time = (clock - random.next() * 15).rounded()
            let value = (random.next() * 1000).rounded() / 10
            if time >= 0 {
                sent.append((time, value))
                harness.send([("temperature", time, value)])
            }
            clock += 1 + random.next() * 2
        }
        // The watermark passes the end of every window + lateness once the clock says so.
        harness.tick(at: 900 + 60 + 20 + 30 + 1 + 3600)
        let windows = harness.windows
        #expect(harness.late.isEmpty)
        for shape in settings.windowShapes {
            let size = Double(shape.size / 1_000_000), hop = Double(shape.hop / 1_000_000)
            var start = -size + hop
            var expectedCount = 0
            while start < 900 {
                let inside = sent.filter { $0.time >= start && $0.time < start + size }
                if !inside.isEmpty {
                    expectedCount += 1
                    let window = windows.first { $0.sizeSeconds == Int(size) && $0.hopSeconds == Int(hop) && $0.start.timeIntervalSince1970 == Double(EngineHarness.base / 1_000_000) + start }
                    #expect(window != nil, "window \(shape) at +\(start)s missing")
                    if let window {
                        #expect(window.count == inside.count)
                        #expect(abs(window.sum - inside.reduce(0) { $0 + $1.value }) < 1e-6)
                        #expect(window.min == inside.map(\.value).min())
                        #expect(window.max == inside.map(\.value).max())
                        #expect(abs(window.avg - inside.reduce(0) { $0 + $1.value } / Double(inside.count)) < 1e-9)
                        #expect(window.first == inside.min { $0.time < $1.time }?.value)
                        #expect(window.last == inside.last { $0.time == inside.map(\.time).max() }?.value)
                    }
                }
                start += hop
            }
            #expect(windows.filter { $0.sizeSeconds == Int(size) && $0.hopSeconds == Int(hop) }.count == expectedCount, "one window per start for \(shape)")
        }
        #expect(Set(windows.map(\.id)).count == windows.count, "each window closes once")
    }

    @Test("a point later than the allowed lateness misses its window and is reported late, and the window does not reopen")
    func latePoints() throws {
        var settings = StreamSettings()
        settings.windowShapes = [.tumbling(seconds: 60)]
        settings.allowedLateness = 10_000_000
        var harness = EngineHarness(settings: settings)
        harness.send([("pressure", 10, 1)])
        harness.send([("pressure", 50, 2)])
        harness.send([("pressure", 45, 3)])  // 5 s behind: within lateness, counted
        harness.send([("pressure", 75, 4)])  // watermark 75: the first window closes at 70
        let first = try #require(harness.windows.first)
        #expect(first.count == 3 && first.sum == 6)
        harness.send([("pressure", 30, 99)])  // 45 s behind the watermark: late
        #expect(harness.late.count == 1)
        #expect(harness.late.first?.value == 99)
        #expect(harness.late.first?.watermarkMicros == EngineHarness.base + 75_000_000)
        harness.tick(at: 75 + 30 + 60 + 11)
        #expect(harness.windows.count == 2, "the late point opened no window")
        #expect(harness.windows.last?.count == 1)
    }

    @Test("a redelivered message id is ignored; a quiet partition's windows close by the clock")
    func redeliveryAndIdle() throws {
        var settings = StreamSettings()
        settings.windowShapes = [.tumbling(seconds: 60)]
        var harness = EngineHarness(settings: settings)
        harness.send([("flow", 5, 10)], id: "a")
        harness.send([("flow", 6, 20)], id: "b")
        harness.send([("flow", 5, 10)], id: "a")
        #expect(harness.engine.redeliveries == 1)
        harness.tick(at: 40)
        #expect(harness.windows.isEmpty, "not idle long enough")
        harness.tick(at: 60 + 30 + 30 + 1)
        let window = try #require(harness.windows.first)
        #expect(window.count == 2 && window.sum == 30)
        #expect(window.tags == ["line-2"])
    }

    @Test("state survives its encoding: a device's windows, baselines and rule state decode to what was saved")
    func codecRoundTrip() throws {
        let tenant = UUID()
        var harness = EngineHarness(rules: [rule(.threshold(metric: "t", comparison: .above, level: 5, hysteresis: 1), tenant: tenant)],
                                    profile: DeviceProfile(tenantId: tenant, deviceId: UUID(), deviceTypeId: nil, tags: ["line-2"], assetPath: [], siteId: nil, tenantPath: [tenant]))
        // Ids as EdgeGateway makes them (lowercase UUIDs, kept as 16 bytes) and as devices send
        // them: an uppercase UUID, a near-UUID, an empty id, text; each must come back as it was.
        // They are the last sent, so that the lateness has not yet dropped them.
        let ids = [UUID().uuidString.lowercased(), UUID().uuidString, "0123456789ab-cdef-0123-456789abcdef", "", "reading-ü-7",
                   "00000000-0000-0000-0000-00000000000g", "ffffffff-ffff-ffff-ffff-ffffffffffff"]
        for second in 0..<50 {
            harness.send([("t", Double(second), Double(second % 9)), ("ü-metric", Double(second), -Double(second))], id: second >= 50 - ids.count ? ids[second - (50 - ids.count)] : nil)
        }
        let state = try #require(harness.engine.partitions[harness.partition]?.devices.values.first)
        #expect(!state.rules.isEmpty && !state.metrics.isEmpty)
        #expect(Set(state.seen.map(\.id)).isSuperset(of: ids))
        let encoded = StateCodec.encode(state)
        #expect(try StateCodec.decode(encoded) == state)
        var truncated = encoded
        truncated.removeLast(3)
        #expect(throws: StateCodecError.self) { try StateCodec.decode(truncated) }
        // A UUID id costs 16 bytes and a time delta, not 37 bytes of text and a whole time.
        var uuids = DeviceState()
        uuids.seen = (0..<60).map { SeenMessage(id: UUID().uuidString.lowercased(), time: 1_796_000_000_000_000 + Micros($0) * 1_000_000) }
        #expect(StateCodec.encode(uuids).count < 60 * 21)
        #expect(try StateCodec.decode(StateCodec.encode(uuids)) == uuids)
        // A length past the end is refused, not read.
        #expect(throws: StateCodecError.self) { try StateCodec.decode([StateCodec.version, 2, 0, 200, 1]) }
    }

    @Test("state saved by the previous version (2) is still read")
    func codecReadsVersion2() throws {
        // Version 2: seen count, then each id as text and its whole time; last arrival; no
        // metrics, no rules. Varints are zig-zag: 1 is 2, 2 is 4, 5 is 10, 7 is 14.
        let bytes: [UInt8] = [2, 4, 2, UInt8(ascii: "a"), 10, 2, UInt8(ascii: "b"), 14, 14, 0, 0]
        let state = try StateCodec.decode(bytes)
        #expect(state.seen == [SeenMessage(id: "a", time: 5), SeenMessage(id: "b", time: 7)])
        #expect(state.lastArrival == 7 && state.metrics.isEmpty && state.rules.isEmpty)
        #expect(throws: StateCodecError.self) { try StateCodec.decode([1] + bytes.dropFirst()) }
    }
}

@Suite("Stream rule evaluation (no I/O)")
struct RuleEvaluationTests {
    let tenant = UUID()

    func harness(_ condition: AlertCondition, forSeconds: Int = 0, settings: StreamSettings = StreamSettings()) -> (EngineHarness, AlertRule) {
        let rule = rule(condition, tenant: self.tenant, forSeconds: forSeconds)
        let profile = DeviceProfile(tenantId: self.tenant, deviceId: UUID(), deviceTypeId: UUID(), tags: ["line-2"], assetPath: [], siteId: nil, tenantPath: [self.tenant])
        return (EngineHarness(settings: settings, rules: [rule], profile: profile), rule)
    }

    @Test("threshold with hysteresis and a for-duration: fires once held for the duration, clears only below level minus hysteresis")
    func threshold() {
        var (harness, rule) = self.harness(.threshold(metric: "temperature", comparison: .above, level: 80, hysteresis: 5), forSeconds: 30)
        harness.send([("temperature", 0, 85)])
        harness.send([("temperature", 20, 86)])
        #expect(harness.alerts.isEmpty, "held 20 s of 30")
        harness.send([("temperature", 25, 70)])
        harness.send([("temperature", 30, 90)])
        harness.send([("temperature", 50, 90)])
        #expect(harness.alerts.isEmpty, "the dip restarted the 30 s")
        harness.send([("temperature", 60, 91)])
        #expect(harness.alerts.map(\.action) == [.trigger])
        #expect(harness.alerts.first?.values["temperature"] == 91)
        #expect(harness.alerts.first?.ruleId == rule.id)
        #expect(harness.alerts.first?.dedupKey == "rule:\(rule.id.uuidString.lowercased()):\(harness.profile.deviceId.uuidString.lowercased())")
        harness.send([("temperature", 70, 78)])
        #expect(harness.alerts.count == 1, "78 is within the hysteresis")
        harness.send([("temperature", 80, 74)])
        #expect(harness.alerts.map(\.action) == [.trigger, .resolve])
        #expect(harness.alerts[1].sequence > harness.alerts[0].sequence)
    }

    @Test("rate of change per minute")
    func rate() {
        var (harness, _) = self.harness(.rate(metric: "level", comparison: .above, level: 30, unit: .perMinute))
        harness.send([("level", 0, 100)])
        harness.send([("level", 60, 120)])
        #expect(harness.alerts.isEmpty)
        harness.send([("level", 90, 140)])  // +20 in 30 s = 40/min
        #expect(harness.alerts.map(\.action) == [.trigger])
        #expect(harness.alerts.first?.values["level.rate"] == 40)
        harness.send([("level", 150, 141)])
        #expect(harness.alerts.map(\.action) == [.trigger, .resolve])
    }

    @Test("windowed average over the last 5 minutes, checked as each minute closes")
    func windowed() {
        var settings = StreamSettings()
        settings.windowShapes = []
        settings.allowedLateness = 5_000_000
        var (harness, _) = self.harness(.window(metric: "vibration", aggregate: .avg, minutes: 5, comparison: .above, level: 10), settings: settings)
        for second in stride(from: 0.0, to: 600, by: 10) { harness.send([("vibration", second, second < 300 ? 5 : 20)]) }
        let trigger = harness.alerts.first { $0.action == .trigger }
        // The first 5-minute window whose average passes 10 is [120 s, 420 s): 18 points at 5, 12 at 20, average 11
        // (the one before it, [60 s, 360 s), averages 8).
        #expect(trigger?.occurredAt.timeIntervalSince1970 == Double(EngineHarness.base / 1_000_000) + 420)
        #expect(trigger?.values["vibration.avg5m"].map { $0 > 10 } == true)
        #expect(harness.windows.isEmpty, "rule windows are not published")
    }

    @Test("no data: fires by the clock while nothing arrives, resolves with the next point")
    func noData() {
        var (harness, _) = self.harness(.noData(metric: nil, seconds: 60))
        harness.send([("temperature", 0, 20)])
        harness.tick(at: 30)
        #expect(harness.alerts.isEmpty)
        harness.tick(at: 61)
        #expect(harness.alerts.map(\.action) == [.trigger])
        #expect(harness.alerts.first?.values["silentSeconds"] == 61)
        harness.tick(at: 90)
        #expect(harness.alerts.count == 1, "fires once")
        harness.send([("temperature", 95, 20)])
        #expect(harness.alerts.map(\.action) == [.trigger, .resolve])
    }

    @Test("anomaly: nothing during warm-up, a spike after it fires, normal values resolve")
    func anomaly() {
        var (harness, _) = self.harness(.anomaly(metric: "current", level: 0.9999))
        var random = WindowTests.Generator(state: 3)
        for second in 0..<10 { harness.send([("current", Double(second), 20 + random.next() * 2 - 1)]) }
        harness.send([("current", 10, 500)])
        #expect(harness.alerts.isEmpty, "a spike inside the warm-up (30 points) is not scored")
        // Long enough for the moving variance to forget the early spike.
        for second in 11..<260 { harness.send([("current", Double(second), 20 + random.next() * 2 - 1)]) }
        #expect(harness.alerts.isEmpty, "uniform noise of ±1 is not anomalous at 0.9999")
        harness.send([("current", 260, 80)])
        #expect(harness.alerts.map(\.action) == [.trigger])
        #expect((harness.alerts.first?.values["current.anomalyScore"] ?? 0) > 0.9999)
        harness.send([("current", 261, 20)])
        #expect(harness.alerts.map(\.action) == [.trigger, .resolve])
    }

    @Test("all and any combine conditions; a rule scoped elsewhere never fires")
    func combinations() {
        var (harness, _) = self.harness(.all([.threshold(metric: "t", comparison: .above, level: 50, hysteresis: 0),
                                              .any([.threshold(metric: "p", comparison: .below, level: 2, hysteresis: 0),
                                                    .threshold(metric: "f", comparison: .above, level: 9, hysteresis: 0)])]))
        harness.send([("t", 0, 60), ("p", 0, 3), ("f", 0, 1)])
        #expect(harness.alerts.isEmpty)
        harness.send([("f", 1, 10)])
        #expect(harness.alerts.map(\.action) == [.trigger])
        harness.send([("f", 2, 1), ("p", 2, 1)])
        #expect(harness.alerts.count == 1, "still one of the two")
        harness.send([("t", 3, 40)])
        #expect(harness.alerts.map(\.action) == [.trigger, .resolve])

        let other = UUID()
        var elsewhere = EngineHarness(rules: [rule(.threshold(metric: "t", comparison: .above, level: 0, hysteresis: 0), tenant: other),
                                              rule(.threshold(metric: "t", comparison: .above, level: 0, hysteresis: 0), tenant: self.tenant,
                                                   scope: AlertScope(kind: .tag, tag: "line-9"))],
                                      profile: DeviceProfile(tenantId: self.tenant, deviceId: UUID(), deviceTypeId: nil, tags: ["line-2"], assetPath: [], siteId: nil, tenantPath: [self.tenant]))
        elsewhere.send([("t", 0, 10)])
        #expect(elsewhere.alerts.isEmpty, "another tenant's rule and another tag's rule")
    }

    @Test("a parent's rule for sub-tenants covers a site's device; an asset rule covers the devices below the asset")
    func coverage() {
        let parent = UUID(), site = UUID(), machine = UUID()
        let inherited = rule(.threshold(metric: "t", comparison: .above, level: 0, hysteresis: 0), tenant: parent, scope: AlertScope(kind: .asset, assetId: site))
        var sub = inherited
        sub.appliesToSubTenants = true
        let device = DeviceProfile(tenantId: self.tenant, deviceId: UUID(), deviceTypeId: nil, tags: [], assetPath: [site, machine], siteId: site, tenantPath: [self.tenant, parent])
        #expect(!CompiledRule(inherited).covers(device))
        #expect(CompiledRule(sub).covers(device))
        var harness = EngineHarness(rules: [sub], profile: device)
        harness.send([("t", 0, 1)])
        #expect(harness.alerts.first?.labels["site"] == site.uuidString.lowercased())
    }
}

@Suite("Anomaly detectors (no I/O)")
struct DetectorTests {
    @Test("the seasonal baseline learns each hour of the day: a value usual at 03:00 but not at 15:00 is scored by the hour it comes at")
    func seasonal() {
        let detector = AnomalyDetector(alpha: 0.05, warmUp: 30, seasonalWarmUp: 3)
        var metric = MetricState()
        let hour: Micros = 3_600_000_000
        var random = WindowTests.Generator(state: 11)
        // Four days: around 100 at 03:00, around 10 at 15:00, points every 6 minutes.
        for day in 0..<4 {
            for step in 0..<10 {
                let base = Micros(day) * 24 * hour
                _ = detector.observe(100 + random.next(), at: base + 3 * hour + Micros(step) * 360_000_000, in: &metric)
                _ = detector.observe(10 + random.next(), at: base + 15 * hour + Micros(step) * 360_000_000, in: &metric)
            }
        }
        var probe = metric
        let usual = detector.observe(100.5, at: 4 * 24 * hour + 3 * hour, in: &probe)
        probe = metric
        let unusual = detector.observe(100.5, at: 4 * 24 * hour + 15 * hour, in: &probe)
        #expect((usual.seasonal ?? 1) < 0.9)
        #expect((unusual.seasonal ?? 0) > 0.9999)
        var young = MetricState()
        for step in 0..<40 { _ = detector.observe(5, at: Micros(step) * 60_000_000, in: &young) }
        #expect(detector.observe(5, at: 41 * 60_000_000, in: &young).seasonal == nil, "one day of history is not a baseline")
    }
}

@Suite("Stream rules and out-of-order telemetry (no I/O)")
struct OutOfOrderTests {
    @Test("points of a for-duration that arrive out of order (within the lateness) still complete it; an older value never clears a newer one")
    func forDurationOutOfOrder() {
        let tenant = UUID()
        var harness = EngineHarness(rules: [rule(.threshold(metric: "t", comparison: .above, level: 80, hysteresis: 0), tenant: tenant, forSeconds: 3)],
                                    profile: DeviceProfile(tenantId: tenant, deviceId: UUID(), deviceTypeId: nil, tags: ["line-2"], assetPath: [], siteId: nil, tenantPath: [tenant]))
        harness.send([("t", 0, 50)])
        // 30..34 all above 80, delivered 34, 31, 33, 30, 32.
        for second in [4.0, 1, 3, 0.5, 2] { harness.send([("t", 30 + second, 90)]) }
        #expect(harness.alerts.map(\.action) == [.trigger], "held from 30.5 to 34")
        #expect(harness.alerts.first?.occurredAt.timeIntervalSince1970 == Double(EngineHarness.base) / 1e6 + 34)
        harness.send([("t", 20, 10)])  // older than everything: does not resolve
        #expect(harness.alerts.count == 1)
        harness.send([("t", 35, 10)])
        #expect(harness.alerts.map(\.action) == [.trigger, .resolve])
    }
}
