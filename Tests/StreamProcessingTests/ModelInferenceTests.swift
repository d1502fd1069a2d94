import Foundation
import ONNXRuntime
import SensormineContracts
import SensormineCore
import SensormineJSON
import SensormineTelemetry
import TestSupport
import Testing

@testable import StreamProcessing

extension TestModels {
    /// The runtime, loaded once per process from LD_LIBRARY_PATH (the Makefile sets it).
    static func runtime() throws -> ONNXRuntime {
        try ONNXRuntime.load(path: "libonnxruntime.so.1")
    }
}

@Suite("ONNX Runtime loaded at run time, on models built by the test")
struct ONNXRuntimeTests {
    @Test("the library offers at least the header's C API, and a linear model's batch output equals x · w + b for every row")
    func linearModel() throws {
        let runtime = try TestModels.runtime()
        #expect(runtime.apiVersion >= 21)
        #expect(!runtime.version.isEmpty)
        let weights = [2.0, -1.0, 0.5]
        let model = try runtime.model(try TestModels.build("linear", ["2,-1,0.5", "3"]))
        #expect(model.inputName == "features")
        #expect(model.outputName == "score")
        #expect(model.featureCount == 3)
        #expect(model.takesBatches)
        let rows: [[Double]] = [[1, 2, 3], [0, 0, 0], [-4.5, 10, 1e3], [0.25, 0.125, -7]]
        let output = try model.run(rows.flatMap { $0.map(Float.init) }, rows: rows.count, columns: 3, timeout: .seconds(5))
        #expect(output.count == rows.count)
        for (row, value) in zip(rows, output) {
            #expect(abs(Double(value) - TestModels.linear(row, weights: weights, bias: 3)) < 1e-3)
        }
    }

    @Test("bytes that are not a model, and a model with two inputs, are refused with ONNX Runtime's reason")
    func refusesWhatItCannotFeed() throws {
        let runtime = try TestModels.runtime()
        #expect(throws: ONNXRuntimeError.self) { try runtime.model(Array("not an onnx file".utf8)) }
        do {
            _ = try runtime.model(try TestModels.build("two-inputs"))
            Issue.record("a two-input model was accepted")
        } catch let error as ONNXRuntimeError {
            #expect(error.description.contains("2 inputs"))
        }
    }

    @Test("a run past its deadline is stopped and reported; the runtime keeps working after it")
    func deadlineStopsARun() throws {
        let runtime = try TestModels.runtime()
        let slow = try runtime.model(try TestModels.build("slow", ["2"]))
        let rows = 4000
        let started = ContinuousClock.now
        #expect(throws: ONNXRuntimeError.timedOut) {
            try slow.run([Float](repeating: 1, count: rows * 2), rows: rows, columns: 2, timeout: .milliseconds(30))
        }
        // Stopped well before the whole run (seconds on one thread) would have finished.
        #expect(ContinuousClock.now - started < .seconds(3))
        let linear = try runtime.model(try TestModels.build("linear", ["1", "0"]))
        #expect(try linear.run([4], rows: 1, columns: 1, timeout: .seconds(5)) == [4])
    }
}

@Suite("Model registration checks (no I/O but ONNX Runtime)")
struct ModelDefinitionTests {
    let shapes: [WindowShape] = [.tumbling(seconds: 60), .tumbling(seconds: 300)]

    func body(_ model: [UInt8], features: Int = 2, window: Int = 60, extra: [String: JSON] = [:]) -> JSON {
        var members: [String: JSON] = [
            "name": .string("overheat"), "deviceTypeId": .string(UUID().uuidString), "windowSeconds": .number(Double(window)),
            "features": .array((0..<features).map { index in .object(["metric": .string("m\(index)"), "aggregate": .string("avg")]) }),
            "model": .string(Data(model).base64EncodedString()),
        ]
        for (key, value) in extra { members[key] = value }
        return .object(members)
    }

    func pointers(_ body: JSON, runtime: ONNXRuntime?, limits: ModelLimits = ModelLimits()) -> [String] {
        do {
            _ = try ModelDefinition.parse(body, shapes: self.shapes, limits: limits, runtime: runtime)
            return []
        } catch {
            if case .invalid(_, let errors) = error { return errors.map(\.pointer) }
            return ["(\(error))"]
        }
    }

    @Test("a good model is accepted with its input, output and values per window found by a trial run")
    func accepts() throws {
        let runtime = try TestModels.runtime()
        let definition = try ModelDefinition.parse(self.body(try TestModels.build("linear", ["1,1", "0"])), shapes: self.shapes, limits: ModelLimits(), runtime: runtime)
        #expect(definition.inputName == "features")
        #expect(definition.outputsPerWindow == 1)
        #expect(definition.sha256.count == 64)
    }

    @Test("every mistake is named by its JSON pointer: feature count, window not computed, bad base64, unknown field, not a model, too large")
    func refuses() throws {
        let runtime = try TestModels.runtime()
        let linear = try TestModels.build("linear", ["1,1", "0"])
        #expect(self.pointers(self.body(linear, features: 3), runtime: runtime) == ["/features"])
        #expect(self.pointers(self.body(linear, window: 3600), runtime: runtime) == ["/windowSeconds"])
        #expect(self.pointers(self.body(linear, extra: ["model": .string("%%% not base64")]), runtime: runtime) == ["/model"])
        #expect(self.pointers(self.body(linear, extra: ["colour": .string("red"), "name": .string("no spaces allowed")]), runtime: runtime).sorted() == ["/colour", "/name"])
        #expect(self.pointers(self.body(Array("garbage".utf8)), runtime: runtime) == ["/model"])
        var small = ModelLimits()
        small.maximumBytes = 1024
        #expect(self.pointers(self.body(try TestModels.build("slow", ["2"])), runtime: runtime, limits: small) == ["/model"])
        // Without a runtime a valid request is a 503, not a 422.
        #expect(self.pointers(self.body(linear), runtime: nil).first?.contains("unavailable") == true)
    }
}

@Suite("Models on closed windows in the engine (no I/O but ONNX Runtime)")
struct ModelEngineTests {
    @Test("each closed window of the device type is scored: the result equals the model's formula on the window's aggregates, a rule on ml.<name> fires, and the runs are metered")
    func scoresClosedWindows() throws {
        let runtime = try TestModels.runtime()
        let tenant = UUID()
        let deviceType = UUID()
        let profile = DeviceProfile(tenantId: tenant, deviceId: UUID(), deviceTypeId: deviceType, tags: ["line-2"], assetPath: [], siteId: nil, tenantPath: [tenant])
        let weights = [0.5, 2.0]
        let now = Date()
        let record = ModelRecord(id: UUID(), tenantId: tenant, name: "risk", description: "", enabled: true, deviceTypeId: deviceType, windowSeconds: 60, hopSeconds: 60,
                                 features: [ModelFeature(metric: "temperature", aggregate: .avg), ModelFeature(metric: "vibration", aggregate: .max)],
                                 inputName: "features", outputName: "score", outputsPerWindow: 1, metrics: ["ml.risk"], sizeBytes: 0, sha256: "", revision: 3,
                                 createdAt: now, updatedAt: now)
        var book = ModelBook()
        book.byType[ModelBook.TypeKey(tenant: tenant, deviceType: deviceType)] = [LoadedModel(record: record, model: try runtime.model(try TestModels.build("linear", ["0.5,2", "-10"])))]
        book.generation = 1
        var settings = StreamSettings()
        settings.allowedLateness = 0
        let alertRule = rule(.threshold(metric: "ml.risk", comparison: .above, level: 50, hysteresis: 0), tenant: tenant)
        var harness = EngineHarness(settings: settings, rules: [alertRule], profile: profile)
        harness.engine.models = book
        // Minute 0: temperature 20/40 (avg 30), vibration 3/9 (max 9): 0.5·30 + 2·9 − 10 = 23.
        // Minute 1: temperature 100, vibration 1: 42. Minute 2: temperature 60, vibration 30: 80 (above the rule's 50).
        harness.send([("temperature", 5, 20), ("vibration", 5, 3)])
        harness.send([("temperature", 30, 40), ("vibration", 30, 9)])
        harness.send([("temperature", 65, 100), ("vibration", 65, 1)])
        harness.send([("temperature", 130, 60), ("vibration", 130, 30)])
        harness.send([("temperature", 190, 1)])
        let inferences = harness.outputs.compactMap { if case .inference(let result) = $0 { result } else { nil } }
        #expect(inferences.map(\.start) == [0, 60, 120].map { Date(timeIntervalSince1970: Double(EngineHarness.base / 1_000_000) + $0) })
        let expected = [[30.0, 9], [100, 1], [60, 30]].map { TestModels.linear($0, weights: weights, bias: -10) }
        for (result, value) in zip(inferences, expected) {
            #expect(abs((result.outputs.first ?? .nan) - value) < 1e-3)
            #expect(result.metrics == ["ml.risk"])
            #expect(result.modelRevision == 3)
        }
        #expect(inferences.first?.features == [30, 9])
        // Only the third window's score (80) is above 50: one trigger, at that window's end.
        let alerts = harness.alerts
        #expect(alerts.count == 1)
        #expect(alerts.first?.action == .trigger)
        #expect(alerts.first.map { abs(($0.values["ml.risk"] ?? 0) - expected[2]) < 1e-3 } == true)
        let changes = harness.engine.takeChanges()
        #expect(changes.first?.inferenceCalls[tenant] == 3)
        #expect(harness.engine.takeChanges().first?.inferenceCalls.isEmpty ?? true)
    }

    @Test("a window missing a feature's metric is not scored (a count counts 0), and a tenant past its time budget waits")
    func skipsWhatItCannotScore() throws {
        let runtime = try TestModels.runtime()
        let tenant = UUID()
        let deviceType = UUID()
        let profile = DeviceProfile(tenantId: tenant, deviceId: UUID(), deviceTypeId: deviceType, tags: [], assetPath: [], siteId: nil, tenantPath: [tenant])
        let now = Date()
        func record(_ features: [ModelFeature]) -> ModelRecord {
            ModelRecord(id: UUID(), tenantId: tenant, name: "m", description: "", enabled: true, deviceTypeId: deviceType, windowSeconds: 60, hopSeconds: 60,
                        features: features, inputName: "features", outputName: "score", outputsPerWindow: 1, metrics: ["ml.m"], sizeBytes: 0, sha256: "", revision: 1,
                        createdAt: now, updatedAt: now)
        }
        let linear = try runtime.model(try TestModels.build("linear", ["1,1", "0"]))
        var book = ModelBook()
        book.byType[ModelBook.TypeKey(tenant: tenant, deviceType: deviceType)] = [
            LoadedModel(record: record([ModelFeature(metric: "temperature", aggregate: .avg), ModelFeature(metric: "pressure", aggregate: .avg)]), model: linear),
            LoadedModel(record: record([ModelFeature(metric: "temperature", aggregate: .sum), ModelFeature(metric: "pressure", aggregate: .count)]), model: linear),
        ]
        book.generation = 1
        var settings = StreamSettings()
        settings.allowedLateness = 0
        var harness = EngineHarness(settings: settings, profile: profile)
        harness.engine.models = book
        harness.send([("temperature", 5, 20)])
        harness.send([("temperature", 70, 20)])
        let scored = harness.outputs.compactMap { if case .inference(let result) = $0 { result } else { nil } }
        #expect(scored.map(\.features) == [[20, 0]])
        #expect(harness.engine.inferencesSkipped == 1)

        // A budget of nothing: every window waits, counted as skipped.
        settings.models.budgetPerMinute = .zero
        var starved = EngineHarness(settings: settings, profile: profile)
        starved.engine.models = book
        starved.send([("temperature", 5, 20), ("pressure", 5, 1)])
        starved.send([("temperature", 70, 20)])
        #expect(starved.outputs.allSatisfy { if case .inference = $0 { false } else { true } })
        #expect(starved.engine.inferencesSkipped == 2)
    }
}
