import Foundation
import ONNXRuntime
import SensormineContracts
import SensormineTelemetry

/// How StreamProcessing windows, scores and waits.
struct StreamSettings: Sendable {
    /// The windows published on `telemetry.windows` for every metric.
    var windowShapes: [WindowShape] = [.tumbling(seconds: 60), .tumbling(seconds: 300), .tumbling(seconds: 3600)]
    /// How far behind its partition's watermark a point may be and still count in its windows.
    var allowedLateness: Micros = 30_000_000
    /// After this long without a message, a partition's watermark follows the clock, so the
    /// windows of devices that went quiet still close.
    var idleTimeout: Micros = 30_000_000
    var detector = AnomalyDetector()
    /// Recent message ids kept per device (redeliveries within the lateness are ignored).
    var maximumSeenMessages = 256
    /// The name alert events and usage records carry as their producer.
    var producer = "stream-processing"
    /// What tenants' models may use.
    var models = ModelLimits()
}

/// What processing a batch produces, to be published before the state that produced it is saved.
enum StreamOutput: Sendable {
    case window(TelemetryWindow)
    case late(LateTelemetryPoint)
    case alert(AlertEvent)
    case inference(TelemetryInference)
    /// Only the pipeline's own: usage records, published when state is saved.
    case usage(UsageRecord)
}

/// A partition of `device.telemetry`.
struct PartitionKey: Hashable, Sendable, CustomStringConvertible {
    var topic: String
    var partition: Int32

    var description: String { "\(self.topic)/\(self.partition)" }
}

/// What StreamProcessing holds for one partition: the devices whose telemetry it carries, the
/// next offset to process, and its watermark.
struct PartitionState: Sendable {
    /// The claim this member holds on the partition's saved state (fencing: a save under an
    /// older epoch is refused).
    var epoch: Int64
    /// The next offset to process; anything below is already in the state.
    var nextOffset: Int64
    /// The event time the partition has reached (µs; .min before its first point).
    var watermark: Micros
    /// When (processing time) its last message arrived.
    var lastMessageAt: Micros = .min
    var devices: [String: DeviceState]
    /// Devices changed since the last save.
    var dirty: Set<String> = []
    /// The earliest end of an open window (when nothing can close before it, the scan is skipped).
    var nextClose: Micros = .min
    /// The position last saved (a partition that has not moved is not written again).
    var savedOffset: Int64 = -1
    var savedWatermark: Micros = .min
    /// Model runs (one per window) per tenant since the last save, metered then.
    var inferenceCalls: [UUID: Int] = [:]
}

/// The evaluation itself, free of I/O: windows in event time with a watermark per partition,
/// anomaly scores, and the rules' state per device. The pipeline feeds it admitted messages and
/// clock ticks and publishes what it returns.
struct StreamEngine: Sendable {
    let settings: StreamSettings
    var book = RuleBook()
    var models = ModelBook()
    private(set) var partitions: [PartitionKey: PartitionState] = [:]
    /// Each device's latest profile (from the messages' enrichment), for windows closed and
    /// rules evaluated when no message of it is at hand.
    private var profiles: [String: DeviceProfile] = [:]
    private var ruleCache: [String: (generation: Int, profile: DeviceProfile, rules: DeviceRules)] = [:]
    /// Counters the pipeline turns into metrics.
    private(set) var latePoints = 0
    private(set) var redeliveries = 0
    private(set) var inferences = 0
    /// Windows a model could not score: a feature missing, the tenant's budget spent, or the run failed.
    private(set) var inferencesSkipped = 0
    private(set) var inferenceFailures = 0
    private(set) var lastInferenceError: String?
    /// What an engine counted, for the pipeline's metrics.
    struct Counters: Sendable {
        var latePoints = 0
        var redeliveries = 0
        var inferences = 0
        var inferencesSkipped = 0
        var inferenceFailures = 0
        var lastInferenceError: String?

        mutating func add(_ other: Counters) {
            self.latePoints += other.latePoints
            self.redeliveries += other.redeliveries
            self.inferences += other.inferences
            self.inferencesSkipped += other.inferencesSkipped
            self.inferenceFailures += other.inferenceFailures
            self.lastInferenceError = other.lastInferenceError ?? self.lastInferenceError
        }
    }

    /// The counts since the last call, which start again from zero.
    mutating func takeCounters() -> Counters {
        defer {
            (self.latePoints, self.redeliveries, self.inferences, self.inferencesSkipped, self.inferenceFailures) = (0, 0, 0, 0, 0)
            self.lastInferenceError = nil
        }
        return Counters(latePoints: self.latePoints, redeliveries: self.redeliveries, inferences: self.inferences, inferencesSkipped: self.inferencesSkipped,
                        inferenceFailures: self.inferenceFailures, lastInferenceError: self.lastInferenceError)
    }

    /// Inference time each tenant used in the current minute.
    private var inferenceSpent: [UUID: (minute: Int64, spent: Duration)] = [:]

    init(settings: StreamSettings) {
        self.settings = settings
    }

    // MARK: Partitions

    /// Takes over a partition's saved state at `now` (which counts as activity: a backlog
    /// behind it is not mistaken for an idle partition).
    mutating func load(_ key: PartitionKey, epoch: Int64, nextOffset: Int64, watermark: Micros, devices: [String: DeviceState], now: Micros) {
        var partition = PartitionState(epoch: epoch, nextOffset: nextOffset, watermark: watermark, devices: devices)
        partition.lastMessageAt = now
        partition.savedOffset = nextOffset
        partition.savedWatermark = watermark
        for device in devices.values {
            for metric in device.metrics.values {
                for key in metric.windows.keys where partition.nextClose == .min || key.end < partition.nextClose { partition.nextClose = key.end }
            }
        }
        self.partitions[key] = partition
    }

    /// Forgets a partition (another member owns it now).
    mutating func drop(_ key: PartitionKey) {
        guard let partition = self.partitions.removeValue(forKey: key) else { return }
        for device in partition.devices.keys {
            self.profiles[device] = nil
            self.ruleCache[device] = nil
        }
    }

    /// Records that `offset` was processed (or skipped) without a point.
    mutating func advance(_ key: PartitionKey, past offset: Int64) {
        guard let next = self.partitions[key]?.nextOffset, offset >= next else { return }
        self.partitions[key]?.nextOffset = offset + 1
    }

    // MARK: Messages

    /// Applies one admitted message at `offset` of partition `key` (which must be loaded);
    /// false when the state already holds it (an offset below the partition's position).
    @discardableResult
    mutating func apply(_ envelope: TelemetryEnvelope, points: [TelemetryPoint], partition key: PartitionKey, offset: Int64, profile: DeviceProfile,
                        now: Micros, into outputs: inout [StreamOutput]) -> Bool {
        guard var partition = self.partitions.removeValue(forKey: key) else { return false }
        defer { self.partitions[key] = partition }
        guard offset >= partition.nextOffset else { return false }
        partition.nextOffset = offset + 1
        partition.lastMessageAt = now
        let deviceKey = Self.deviceKey(profile)
        self.profiles[deviceKey] = profile
        let rules = self.rules(for: deviceKey, profile: profile)
        let lateness = self.settings.allowedLateness
        let watermark = partition.watermark
        var device = partition.devices.removeValue(forKey: deviceKey) ?? DeviceState()
        defer {
            partition.devices[deviceKey] = device
            partition.dirty.insert(deviceKey)
        }

        // An edge redelivery of a message already counted changes nothing.
        if device.seen.contains(where: { $0.id == envelope.messageID }) {
            self.redeliveries += 1
            return true
        }
        let newest = points.lazy.map(\.time).max() ?? envelope.receivedAt
        device.seen.append(SeenMessage(id: envelope.messageID, time: newest))
        if watermark != .min, let oldest = device.seen.first?.time, oldest < watermark - lateness { device.seen.removeAll { $0.time < watermark - lateness } }
        if device.seen.count > self.settings.maximumSeenMessages { device.seen.removeFirst(device.seen.count - self.settings.maximumSeenMessages) }

        device.lastArrival = now
        var advanced = watermark
        // The message's points move windows and baselines first; then each rule they touch takes
        // all of them at once (one access to its state) and is evaluated at the newest point,
        // so values sent together are judged together.
        var touched: [Int] = []
        var wasTouched = [Bool](repeating: false, count: rules.rules.count)
        var steps: [RuleStep] = []
        steps.reserveCapacity(points.count)
        for point in points {
            // Taken out and put back, so its windows and baselines change in place (a copy
            // left in the dictionary would make every change copy them).
            var metric = device.metrics.removeValue(forKey: point.metric) ?? MetricState()
            metric.lastArrival = now
            defer { device.metrics[point.metric] = metric }
            if watermark != .min, point.time < watermark - lateness {
                self.latePoints += 1
                outputs.append(.late(LateTelemetryPoint(
                    tenantId: profile.tenantId, deviceId: profile.deviceId, messageId: envelope.messageID, metric: point.metric, value: point.value,
                    timeMicros: point.time, watermarkMicros: watermark, allowedLatenessSeconds: Int(lateness / 1_000_000))))
                continue
            }
            advanced = max(advanced, min(point.time, envelope.receivedAt))
            let scores = self.settings.detector.observe(point.value, at: point.time, in: &metric)
            func add(_ shape: WindowShape) {
                shape.forEachStart(containing: point.time) { start in
                    let key = WindowKey(shape: shape, start: start)
                    metric.windows[key, default: WindowAccumulator()].add(time: point.time, value: point.value, scores: scores)
                    if partition.nextClose == .min || key.end < partition.nextClose { partition.nextClose = key.end }
                }
            }
            for shape in self.settings.windowShapes { add(shape) }
            for shape in rules.extraShapes[point.metric] ?? [] { add(shape) }
            let inOrder = point.time >= metric.lastTime
            steps.append(RuleStep(point: point, lastTime: metric.lastTime, lastValue: metric.lastValue, scores: scores, inOrder: inOrder))
            for pass in 0..<2 {
                for index in pass == 0 ? rules.byMetric[point.metric] ?? [] : rules.anyMetric where !wasTouched[index] {
                    wasTouched[index] = true
                    touched.append(index)
                }
            }
            if inOrder {
                metric.previousTime = metric.lastTime
                metric.previousValue = metric.lastValue
                metric.lastTime = point.time
                metric.lastValue = point.value
            }
        }
        for index in touched {
            let rule = rules.rules[index]
            self.step(rule, &device.rules[rule.rule.id, default: RuleState(leaves: rule.leaves.count)], with: steps, newest: newest, profile: profile, into: &outputs)
        }
        partition.watermark = advanced
        return true
    }

    /// One point of a message as the rules see it: with its metric's latest point before it
    /// (rate of change) and its anomaly scores.
    private struct RuleStep {
        var point: TelemetryPoint
        var lastTime: Micros
        var lastValue: Double
        var scores: AnomalyScores
        var inOrder: Bool
    }

    /// Moves one rule's state on a message's points and evaluates it at the newest. A rule that
    /// has already seen newer points keeps its state from before the message: the older values
    /// do not replace newer ones, but may show the condition held earlier than first thought.
    private func step(_ rule: CompiledRule, _ state: inout RuleState, with steps: [RuleStep], newest: Micros, profile: DeviceProfile,
                      into outputs: inout [StreamOutput]) {
        state.conform(to: rule.leaves.count)
        let held: RuleState? = newest < state.evaluatedAt ? state : nil
        for step in steps {
            Self.update(&state, rule, with: step.point, lastTime: step.lastTime, lastValue: step.lastValue, scores: step.scores, inOrder: step.inOrder)
        }
        if var held {
            self.backdate(rule, &held, holds: rule.root.holds(state.truths), at: newest, profile: profile, into: &outputs)
            state = held
        } else {
            self.evaluate(rule, &state, at: newest, profile: profile, into: &outputs)
        }
    }

    /// Moves a rule's comparisons on one point (leaves of other metrics stay as they are).
    private static func update(_ state: inout RuleState, _ rule: CompiledRule, with point: TelemetryPoint, lastTime: Micros, lastValue: Double,
                               scores: AnomalyScores, inOrder: Bool) {
        for (index, leaf) in rule.leaves.enumerated() {
            switch leaf {
            case let .threshold(name, comparison, level, hysteresis) where name == point.metric:
                let held = state.truths[index]
                let bound = held ? (comparison == .above ? level - hysteresis : level + hysteresis) : level
                state.truths[index] = comparison == .above ? point.value > bound : point.value < bound
                state.values[index] = point.value
            case let .rate(name, comparison, level, perMicros) where name == point.metric && inOrder:
                guard lastTime != .min, point.time > lastTime else { continue }
                let rate = (point.value - lastValue) / Double(point.time - lastTime) * perMicros
                state.truths[index] = comparison == .above ? rate > level : rate < level
                state.values[index] = rate
            case let .anomaly(name, level) where name == point.metric:
                state.truths[index] = scores.combined > level
                state.values[index] = scores.combined
            case let .noData(name, _) where name == nil || name == point.metric:
                state.truths[index] = false
                state.values[index] = 0
            default:
                continue
            }
        }
    }

    // MARK: Windows and timers

    /// Closes every window whose end is more than the allowed lateness behind its partition's
    /// watermark: publishes it (for the configured shapes) and evaluates the windowed rules.
    mutating func closeWindows(into outputs: inout [StreamOutput]) {
        for key in Array(self.partitions.keys) { self.closeWindows(of: key, into: &outputs) }
    }

    private mutating func closeWindows(of key: PartitionKey, into outputs: inout [StreamOutput]) {
        guard var partition = self.partitions.removeValue(forKey: key) else { return }
        defer { self.partitions[key] = partition }
        guard partition.watermark != .min, partition.nextClose != .min else { return }
        let closing = partition.watermark - self.settings.allowedLateness
        guard partition.nextClose <= closing else { return }
        let published = Set(self.settings.windowShapes)
        var nextClose = Micros.min
        var pending: [PendingInference] = []
        for deviceKey in Array(partition.devices.keys) {
            // Taken out and put back (below), so it changes in place.
            guard var device = partition.devices.removeValue(forKey: deviceKey) else { continue }
            var changed = false
            let profile = self.profiles[deviceKey] ?? Self.profile(from: deviceKey)
            let rules = profile.map { self.rules(for: deviceKey, profile: $0).rules } ?? []
            let models = profile.map { self.models.models(tenant: $0.tenantId, deviceType: $0.deviceTypeId) } ?? []
            var closedForModels: [WindowKey: [String: WindowAccumulator]] = [:]
            for name in Array(device.metrics.keys) {
                guard var metric = device.metrics.removeValue(forKey: name) else { continue }
                let due = metric.windows.keys.filter { $0.end <= closing }.sorted { ($0.end, $0.shape.size) < ($1.end, $1.shape.size) }
                for windowKey in due {
                    guard let window = metric.windows.removeValue(forKey: windowKey) else { continue }
                    changed = true
                    guard let profile else { continue }
                    if !models.isEmpty { closedForModels[windowKey, default: [:]][name] = window }
                    if published.contains(windowKey.shape) {
                        outputs.append(.window(Self.record(window, key: windowKey, metric: name, profile: profile)))
                    }
                    for rule in rules where rule.windowShapes.contains(windowKey.shape) {
                        var state = Self.ruleState(rule, in: &device)
                        for (index, leaf) in rule.leaves.enumerated() {
                            guard case let .window(leafMetric, aggregate, shape, comparison, level) = leaf, leafMetric == name, shape == windowKey.shape else { continue }
                            let value = switch aggregate {
                            case .avg: window.average
                            case .min: window.min
                            case .max: window.max
                            case .sum: window.sum
                            case .count: Double(window.count)
                            }
                            state.truths[index] = comparison == .above ? value > level : value < level
                            state.values[index] = value
                        }
                        self.evaluate(rule, &state, at: windowKey.end, profile: profile, into: &outputs)
                        device.rules[rule.rule.id] = state
                    }
                }
                for windowKey in metric.windows.keys where nextClose == .min || windowKey.end < nextClose { nextClose = windowKey.end }
                device.metrics[name] = metric
            }
            if let profile {
                for (windowKey, windows) in closedForModels {
                    for model in models where model.shape == windowKey.shape {
                        guard let row = Self.features(model.record.features, from: windows) else {
                            self.inferencesSkipped += 1
                            continue
                        }
                        pending.append(PendingInference(model: model, deviceKey: deviceKey, profile: profile, window: windowKey, features: row))
                    }
                }
            }
            partition.devices[deviceKey] = device
            if changed { partition.dirty.insert(deviceKey) }
        }
        partition.nextClose = nextClose
        if !pending.isEmpty { self.infer(pending, in: &partition, into: &outputs) }
    }

    // MARK: Models

    /// A closed window a model is to score.
    private struct PendingInference {
        var model: LoadedModel
        var deviceKey: String
        var profile: DeviceProfile
        var window: WindowKey
        var features: [Double]
    }

    /// A model's input from a device's closed windows: nil when a metric it needs had no points
    /// (a count is 0 then).
    private static func features(_ features: [ModelFeature], from windows: [String: WindowAccumulator]) -> [Double]? {
        var row: [Double] = []
        row.reserveCapacity(features.count)
        for feature in features {
            if let window = windows[feature.metric] {
                row.append(feature.aggregate.value(of: window))
            } else if feature.aggregate == .count {
                row.append(0)
            } else {
                return nil
            }
        }
        return row
    }

    /// Runs each model on the windows it is to score (in batches when it takes them, within its
    /// tenant's time budget), publishes the results and lets the rules see them as metrics.
    private mutating func infer(_ pending: [PendingInference], in partition: inout PartitionState, into outputs: inout [StreamOutput]) {
        let limits = self.settings.models
        var groups: [ObjectIdentifier: [PendingInference]] = [:]
        var order: [ObjectIdentifier] = []
        for item in pending.sorted(by: { $0.window.end < $1.window.end }) {
            let key = ObjectIdentifier(item.model)
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(item)
        }
        var results: [(PendingInference, [Double])] = []
        let minute = Int64(Date().timeIntervalSince1970 / 60)
        for key in order {
            guard let group = groups[key], let model = group.first?.model else { continue }
            let tenant = model.record.tenantId
            let perRow = model.record.outputsPerWindow
            let columns = model.record.features.count
            let rowsPerRun = model.model.takesBatches ? max(1, limits.batchRows) : 1
            var start = 0
            while start < group.count {
                let chunk = group[start..<min(start + rowsPerRun, group.count)]
                start += rowsPerRun
                var spent = self.inferenceSpent[tenant].flatMap { $0.minute == minute ? $0.spent : nil } ?? .zero
                guard spent < limits.budgetPerMinute else {
                    self.inferencesSkipped += chunk.count
                    continue
                }
                let input = chunk.flatMap { $0.features.map { Float($0) } }
                let began = ContinuousClock.now
                do {
                    let values = try model.model.run(input, rows: chunk.count, columns: columns, timeout: limits.runTimeout, capacity: chunk.count * perRow + 1)
                    guard values.count == chunk.count * perRow, values.allSatisfy(\.isFinite) else {
                        throw ONNXRuntimeError.failed("model \(model.record.name) returned \(values.count) values for \(chunk.count) windows (\(perRow) each), or a value that is not finite")
                    }
                    for (offset, item) in chunk.enumerated() {
                        results.append((item, values[offset * perRow..<(offset + 1) * perRow].map { Double($0) }))
                    }
                } catch {
                    self.inferenceFailures += chunk.count
                    self.lastInferenceError = "\(model.record.name) (\(model.record.id)): \(error)"
                }
                spent += ContinuousClock.now - began
                self.inferenceSpent[tenant] = (minute, spent)
            }
        }
        for (item, values) in results {
            let record = item.model.record
            let metrics = record.metrics
            let size = Int(item.window.shape.size / 1_000_000)
            let hop = Int(item.window.shape.hop / 1_000_000)
            let start = item.window.start.floorDivided(by: 1_000_000)
            outputs.append(.inference(TelemetryInference(
                id: "\(record.tenantId.lowercasedString)/\(item.profile.deviceId.lowercasedString)/\(record.id.lowercasedString)/\(record.revision)/\(size)/\(hop)/\(start)",
                tenantId: item.profile.tenantId, deviceId: item.profile.deviceId, deviceTypeId: item.profile.deviceTypeId, modelId: record.id, modelName: record.name,
                modelRevision: record.revision, sizeSeconds: size, hopSeconds: hop, start: Date(timeIntervalSince1970: Double(start)),
                end: Date(timeIntervalSince1970: Double(start + Int64(size))), features: item.features, outputs: values, metrics: metrics)))
            self.inferences += 1
            partition.inferenceCalls[record.tenantId, default: 0] += 1
            guard var device = partition.devices[item.deviceKey] else { continue }
            let points = zip(metrics, values).map { TelemetryPoint(metric: $0, time: item.window.end, value: $1) }
            self.applyDerived(points, to: &device, rules: self.rules(for: item.deviceKey, profile: item.profile), profile: item.profile, into: &outputs)
            partition.devices[item.deviceKey] = device
            partition.dirty.insert(item.deviceKey)
        }
    }

    /// Lets the rules on a model's output metrics see its results, as points at the window's end.
    /// A result older than one the rules have seen changes nothing.
    private func applyDerived(_ points: [TelemetryPoint], to device: inout DeviceState, rules: DeviceRules, profile: DeviceProfile,
                              into outputs: inout [StreamOutput]) {
        guard let time = points.first?.time else { return }
        var touched: [Int] = []
        for point in points {
            var metric = device.metrics[point.metric] ?? MetricState()
            guard point.time > metric.lastTime else { continue }
            let scores = self.settings.detector.observe(point.value, at: point.time, in: &metric)
            for index in rules.byMetric[point.metric] ?? [] {
                let rule = rules.rules[index]
                device.rules[rule.rule.id, default: RuleState(leaves: rule.leaves.count)].conform(to: rule.leaves.count)
                Self.update(&device.rules[rule.rule.id, default: RuleState(leaves: rule.leaves.count)], rule, with: point, lastTime: metric.lastTime,
                            lastValue: metric.lastValue, scores: scores, inOrder: true)
                if !touched.contains(index) { touched.append(index) }
            }
            metric.previousTime = metric.lastTime
            metric.previousValue = metric.lastValue
            metric.lastTime = point.time
            metric.lastValue = point.value
            metric.lastArrival = point.time
            device.metrics[point.metric] = metric
        }
        for index in touched {
            let rule = rules.rules[index]
            self.evaluate(rule, &device.rules[rule.rule.id, default: RuleState(leaves: rule.leaves.count)], at: time, profile: profile, into: &outputs)
        }
    }

    /// The partitions without a message for the idle timeout at `now` (idle if read to their end).
    func quietPartitions(now: Micros) -> [PartitionKey] {
        self.partitions.filter { $0.value.watermark != .min && now - $0.value.lastMessageAt >= self.settings.idleTimeout }.map(\.key)
    }

    /// What the clock alone decides: idle partitions' watermarks follow it (so their windows
    /// close), and rules waiting for silence fire. `caughtUp` says which partitions have been
    /// read to their end: only those are idle when no message came for the idle timeout (one
    /// whose messages wait behind a rebalance or a backlog is not).
    mutating func tick(now: Micros, caughtUp: (PartitionKey) -> Bool = { _ in true }, into outputs: inout [StreamOutput]) {
        for key in Array(self.partitions.keys) {
            guard var partition = self.partitions[key] else { continue }
            if partition.watermark != .min, now - partition.lastMessageAt >= self.settings.idleTimeout, caughtUp(key) {
                partition.watermark = max(partition.watermark, now - self.settings.idleTimeout)
                self.partitions[key] = partition
            }
            self.closeWindows(of: key, into: &outputs)
            self.checkSilence(of: key, now: now, into: &outputs)
        }
    }

    private mutating func checkSilence(of key: PartitionKey, now: Micros, into outputs: inout [StreamOutput]) {
        guard var partition = self.partitions.removeValue(forKey: key) else { return }
        defer { self.partitions[key] = partition }
        for deviceKey in Array(partition.devices.keys) {
            guard let device = partition.devices[deviceKey], !device.rules.isEmpty, device.lastArrival != .min else { continue }
            // The rules watching for silence: from the device's rule list once its profile is
            // known; before that (after a restart, until its first message) from the states it holds.
            let watching: [CompiledRule]
            let profile: DeviceProfile
            if let known = self.profiles[deviceKey] {
                let rules = self.rules(for: deviceKey, profile: known)
                guard !rules.silent.isEmpty else { continue }
                watching = rules.silent.map { rules.rules[$0] }
                profile = known
            } else {
                guard let bare = Self.profile(from: deviceKey) else { continue }
                watching = device.rules.keys.compactMap { self.rule($0) }.filter(\.watchesSilence)
                guard !watching.isEmpty else { continue }
                profile = bare
            }
            var changed: [(UUID, RuleState)] = []
            for rule in watching {
                guard let held = device.rules[rule.rule.id] else { continue }
                var state = held
                for (index, leaf) in rule.leaves.enumerated() {
                    guard case let .noData(name, after) = leaf else { continue }
                    let arrival = name.map { device.metrics[$0]?.lastArrival ?? device.lastArrival } ?? device.lastArrival
                    let silence = now - arrival
                    state.truths[index] = silence >= after
                    state.values[index] = Double(silence / 1_000_000)
                }
                self.evaluate(rule, &state, at: now, clock: true, profile: profile, into: &outputs)
                if (state.firing, state.pendingSince, state.truths) != (held.firing, held.pendingSince, held.truths) { changed.append((rule.rule.id, state)) }
            }
            guard !changed.isEmpty else { continue }
            for (id, state) in changed { partition.devices[deviceKey]?.rules[id] = state }
            partition.dirty.insert(deviceKey)
        }
    }

    // MARK: Saving

    /// The positions of the partitions that moved and the devices changed since the last call;
    /// marks them saved (a failed save is retried with the same changes).
    mutating func takeChanges() -> [PartitionChanges] {
        var changes: [PartitionChanges] = []
        for key in Array(self.partitions.keys) {
            guard var partition = self.partitions[key],
                  !partition.dirty.isEmpty || partition.nextOffset != partition.savedOffset || partition.watermark != partition.savedWatermark else { continue }
            let devices = partition.dirty.compactMap { deviceKey in partition.devices[deviceKey].map { (deviceKey, StateCodec.encode($0)) } }
            changes.append(PartitionChanges(partition: key, epoch: partition.epoch, nextOffset: partition.nextOffset, watermark: partition.watermark, devices: devices,
                                            previousOffset: partition.savedOffset, previousWatermark: partition.savedWatermark, inferenceCalls: partition.inferenceCalls))
            partition.dirty.removeAll(keepingCapacity: true)
            partition.inferenceCalls.removeAll()
            partition.savedOffset = partition.nextOffset
            partition.savedWatermark = partition.watermark
            self.partitions[key] = partition
        }
        return changes
    }

    // MARK: Rules

    private func rule(_ id: UUID) -> CompiledRule? {
        for rules in self.book.byTenant.values { if let rule = rules[id] { return rule } }
        return nil
    }

    private mutating func rules(for deviceKey: String, profile: DeviceProfile) -> DeviceRules {
        if let cached = self.ruleCache[deviceKey], cached.generation == self.book.generation, cached.profile == profile { return cached.rules }
        let rules = DeviceRules(self.book.rules(for: profile), published: self.settings.windowShapes)
        self.ruleCache[deviceKey] = (self.book.generation, profile, rules)
        return rules
    }

    /// The device's state for `rule`, reset (keeping whether it fires) when the rule's shape changed.
    private static func ruleState(_ rule: CompiledRule, in device: inout DeviceState) -> RuleState {
        var state = device.rules[rule.rule.id] ?? RuleState(leaves: rule.leaves.count)
        state.conform(to: rule.leaves.count)
        return state
    }

    /// Moves a rule's state on at `time` and emits a trigger when its condition has held for the
    /// rule's duration, a resolve when it stops holding while firing.
    /// `clock`: the evaluation is the clock's (no data), whose processing time is not an event
    /// time and so moves neither `evaluatedAt` nor `clearedAt`.
    private func evaluate(_ rule: CompiledRule, _ state: inout RuleState, at time: Micros, clock: Bool = false, profile: DeviceProfile,
                          into outputs: inout [StreamOutput]) {
        if !clock { state.evaluatedAt = max(state.evaluatedAt, time) }
        if rule.root.holds(state.truths) {
            let since = state.pendingSince ?? time
            state.pendingSince = since
            if !state.firing, time - since >= Micros(rule.rule.forSeconds) * 1_000_000 {
                state.firing = true
                outputs.append(.alert(self.event(.trigger, rule, &state, at: time, profile: profile)))
            }
        } else {
            state.pendingSince = nil
            if !clock { state.clearedAt = max(state.clearedAt, time) }
            if state.firing {
                state.firing = false
                outputs.append(.alert(self.event(.resolve, rule, &state, at: time, profile: profile)))
            }
        }
    }

    /// Applies an out-of-order evaluation: a condition that holds now and also held at `time`
    /// (after it last cleared) has been pending since then; the alert fires if that makes the
    /// rule's duration complete, at the latest time evaluated.
    private func backdate(_ rule: CompiledRule, _ state: inout RuleState, holds: Bool, at time: Micros, profile: DeviceProfile,
                          into outputs: inout [StreamOutput]) {
        guard holds, let since = state.pendingSince, time < since, time > state.clearedAt else { return }
        state.pendingSince = time
        if !state.firing, state.evaluatedAt - time >= Micros(rule.rule.forSeconds) * 1_000_000 {
            state.firing = true
            outputs.append(.alert(self.event(.trigger, rule, &state, at: state.evaluatedAt, profile: profile)))
        }
    }

    private func event(_ action: AlertEvent.Action, _ rule: CompiledRule, _ state: inout RuleState, at time: Micros, profile: DeviceProfile) -> AlertEvent {
        let sequence = max(state.lastSequence + 1, time / 1000)
        state.lastSequence = sequence
        var values: [String: Double] = [:]
        for (leaf, value) in zip(rule.leaves, state.values) where value.isFinite { values[leaf.valueName] = value }
        var labels: [String: String] = [:]
        if let site = profile.siteId { labels["site"] = site.lowercasedString }
        if let type = profile.deviceTypeId { labels["deviceType"] = type.lowercasedString }
        return AlertEvent(
            eventId: StableID.uuid("alert/\(rule.rule.id)/\(profile.deviceId)/\(sequence)"), action: action, source: .rule, tenantId: profile.tenantId,
            ruleId: rule.rule.id, deviceId: profile.deviceId, sequence: sequence, occurredAt: Date(timeIntervalSince1970: Double(time) / 1e6),
            labels: labels, values: values, producer: self.settings.producer)
    }

    // MARK: Helpers

    static func deviceKey(_ profile: DeviceProfile) -> String {
        profile.tenantId.lowercasedString + "/" + profile.deviceId.lowercasedString
    }

    /// The ids in a device key, for a device whose profile is not at hand.
    private static func profile(from deviceKey: String) -> DeviceProfile? {
        let parts = deviceKey.split(separator: "/")
        guard parts.count == 2, let tenant = UUID(uuidString: String(parts[0])), let device = UUID(uuidString: String(parts[1])) else { return nil }
        return .bare(tenant: tenant, device: device)
    }

    private static func record(_ window: WindowAccumulator, key: WindowKey, metric: String, profile: DeviceProfile) -> TelemetryWindow {
        var scores: [String: Double] = [:]
        if window.ewmaScore >= 0 { scores["ewma"] = window.ewmaScore }
        if window.seasonalScore >= 0 { scores["seasonal"] = window.seasonalScore }
        let size = Int(key.shape.size / 1_000_000)
        let hop = Int(key.shape.hop / 1_000_000)
        let start = key.start.floorDivided(by: 1_000_000)
        return TelemetryWindow(
            id: "\(profile.tenantId.lowercasedString)/\(profile.deviceId.lowercasedString)/\(metric)/\(size)/\(hop)/\(start)",
            tenantId: profile.tenantId, deviceId: profile.deviceId, deviceTypeId: profile.deviceTypeId, tags: profile.tags, assetPath: profile.assetPath,
            siteId: profile.siteId, metric: metric, sizeSeconds: size, hopSeconds: hop, start: Date(timeIntervalSince1970: Double(start)),
            end: Date(timeIntervalSince1970: Double(start + Int64(size))), count: Int(window.count), sum: window.sum, min: window.min, max: window.max,
            avg: window.average, first: window.first, last: window.last, anomalyScores: scores)
    }
}

/// The rules covering one device, indexed by the metric whose points move them, with the window
/// shapes their windowed comparisons need beyond the published ones.
struct DeviceRules: Sendable {
    let rules: [CompiledRule]
    /// Indices into `rules` by metric.
    let byMetric: [String: [Int]]
    /// Rules moved by a point of any metric (no data without a metric).
    let anyMetric: [Int]
    let extraShapes: [String: [WindowShape]]
    /// Rules with a no-data condition, which the clock checks.
    let silent: [Int]

    init(_ rules: [CompiledRule], published: [WindowShape]) {
        self.rules = rules
        self.silent = rules.indices.filter { rules[$0].watchesSilence }
        var byMetric: [String: [Int]] = [:]
        var anyMetric: [Int] = []
        var extra: [String: Set<WindowShape>] = [:]
        for (index, rule) in rules.enumerated() {
            var metrics = Set<String>()
            for leaf in rule.leaves {
                if let metric = leaf.metric { metrics.insert(metric) } else if anyMetric.last != index { anyMetric.append(index) }
                if case let .window(metric, _, shape, _, _) = leaf, !published.contains(shape) { extra[metric, default: []].insert(shape) }
            }
            for metric in metrics where anyMetric.last != index { byMetric[metric, default: []].append(index) }
        }
        self.byMetric = byMetric
        self.anyMetric = anyMetric
        self.extraShapes = extra.mapValues { Array($0) }
    }
}

/// What a save writes for one partition.
struct PartitionChanges: Sendable {
    var partition: PartitionKey
    var epoch: Int64
    var nextOffset: Int64
    var watermark: Micros
    /// Device key and encoded state of each device changed.
    var devices: [(key: String, state: [UInt8])]
    /// The position saved before (with `previousWatermark`, what names this save's usage records:
    /// a repeat of the same save after a crash has the same names).
    var previousOffset: Int64 = -1
    var previousWatermark: Micros = .min
    /// Model runs per tenant since the previous save.
    var inferenceCalls: [UUID: Int] = [:]
}
