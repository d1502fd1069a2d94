import Crypto
import Foundation
import Hummingbird
import ONNXRuntime
import SensormineCore
import SensormineJSON

/// The aggregate of a closed window a model takes as one feature.
enum FeatureAggregate: String, Codable, Sendable, CaseIterable {
    case count, sum, min, max, avg, first, last

    /// The aggregate's value in `window`.
    func value(of window: WindowAccumulator) -> Double {
        switch self {
        case .count: Double(window.count)
        case .sum: window.sum
        case .min: window.min
        case .max: window.max
        case .avg: window.average
        case .first: window.first
        case .last: window.last
        }
    }
}

/// One feature of a model: an aggregate of a metric over the model's window.
struct ModelFeature: Codable, Sendable, Equatable {
    var metric: String
    var aggregate: FeatureAggregate
}

/// A registered model as the API shows it (without its bytes).
struct ModelRecord: Codable, Sendable, Equatable, ResponseEncodable {
    var id: UUID
    var tenantId: UUID
    var name: String
    var description: String
    var enabled: Bool
    /// The device type whose devices' windows it runs on.
    var deviceTypeId: UUID
    /// The window it runs on: one of the shapes StreamProcessing publishes.
    var windowSeconds: Int
    var hopSeconds: Int
    /// The features, in the order of the model's input.
    var features: [ModelFeature]
    /// The model's input and first output (the one published).
    var inputName: String
    var outputName: String
    /// Values the output holds per window, and the metric rules see each as.
    var outputsPerWindow: Int
    var metrics: [String]
    var sizeBytes: Int
    var sha256: String
    /// Goes up by one each time the model is replaced.
    var revision: Int
    var createdAt: Date
    var updatedAt: Date

    var shape: WindowShape { WindowShape(size: Micros(self.windowSeconds) * 1_000_000, hop: Micros(self.hopSeconds) * 1_000_000) }

    /// The metric names of a model's outputs: `ml.<name>` for one value, `ml.<name>.<i>` for several.
    static func metrics(name: String, outputs: Int) -> [String] {
        outputs == 1 ? ["ml.\(name)"] : (0..<outputs).map { "ml.\(name).\($0)" }
    }
}

/// Limits on what a tenant may run in the shared consumer.
struct ModelLimits: Sendable {
    /// Largest model file.
    var maximumBytes = 1 << 20
    /// Models per tenant.
    var maximumPerTenant = 20
    /// Longest single run (a run past it is stopped).
    var runTimeout: Duration = .milliseconds(100)
    /// Inference time a tenant may use per minute; past it, its windows wait for the next minute unscored.
    var budgetPerMinute: Duration = .seconds(5)
    /// Rows given to one run of a model that takes batches.
    var batchRows = 256
}

/// Why a model cannot be registered, or is not found.
typealias ModelError = ServiceError

/// A model as a client writes it (POST and PUT), checked and loaded.
struct ModelDefinition: Sendable {
    var name: String
    var description: String
    var enabled: Bool
    var deviceTypeId: UUID
    var shape: WindowShape
    var features: [ModelFeature]
    var bytes: [UInt8]
    /// What loading and a trial run showed.
    var inputName: String
    var outputName: String
    var outputsPerWindow: Int

    var sha256: String { SHA256.hash(data: self.bytes).map { String(format: "%02x", $0) }.joined() }

    static let maximumFeatures = 256
    static let maximumOutputs = 16

    /// Reads and checks a request body: every field problem at once (422), then the model
    /// itself: ONNX Runtime must load it, its input must take the features listed, and one
    /// window's run must finish within the run limit.
    static func parse(_ body: JSON, shapes: [WindowShape], limits: ModelLimits, runtime: ONNXRuntime?) throws(ModelError) -> ModelDefinition {
        guard let members = body.object else { throw .invalid("expected a JSON object", [.init(pointer: "/", detail: "expected an object, found \(body.typeName)")]) }
        var reader = FieldReader()
        let name = reader.text(members["name"], at: "/name", required: true, maximum: 100)
        if let name, !name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_-".contains($0)) }) {
            reader.fail("/name", "1-100 letters, digits, _ or - (the outputs are the metrics ml.<name>)")
        }
        let description = reader.text(members["description"], at: "/description", maximum: 2000) ?? ""
        let enabled = reader.bool(members["enabled"], at: "/enabled") ?? true
        let deviceType = reader.uuid(members["deviceTypeId"], at: "/deviceTypeId", required: true)
        let size = reader.integer(members["windowSeconds"], at: "/windowSeconds", range: 1...86_400, required: true)
        let hop = reader.integer(members["hopSeconds"], at: "/hopSeconds", range: 1...86_400) ?? size
        var shape: WindowShape?
        if let size, let hop {
            let candidate = WindowShape(size: Micros(size) * 1_000_000, hop: Micros(hop) * 1_000_000)
            if shapes.contains(candidate) {
                shape = candidate
            } else {
                reader.fail("/windowSeconds", "this deployment computes the windows \(shapes.map(\.description).joined(separator: ", ")) (SENSORMINE_STREAM_WINDOWS)")
            }
        }
        var features: [ModelFeature] = []
        if let items = members["features"]?.array {
            if items.isEmpty || items.count > maximumFeatures { reader.fail("/features", "1 to \(maximumFeatures) features") }
            for (index, item) in items.prefix(maximumFeatures).enumerated() {
                let pointer = "/features/\(index)"
                guard let fields = item.object else { reader.fail(pointer, "expected an object {metric, aggregate}"); continue }
                for key in fields.keys.sorted() where key != "metric" && key != "aggregate" { reader.fail(pointer + "/" + key, "unknown field") }
                let metric = reader.metric(fields["metric"], at: pointer + "/metric")
                let aggregate = reader.choice(fields["aggregate"], at: pointer + "/aggregate", FeatureAggregate.self, required: true)
                if let metric, let aggregate { features.append(ModelFeature(metric: metric, aggregate: aggregate)) }
            }
        } else {
            reader.fail("/features", "required: an array of {metric, aggregate}")
        }
        var bytes: [UInt8] = []
        if let value = members["model"], !(value == .null) {
            if let encoded = value.string {
                if encoded.utf8.count > (limits.maximumBytes / 3 + 2) * 4 {
                    reader.fail("/model", "the model is larger than \(limits.maximumBytes) bytes")
                } else if let data = Data(base64Encoded: encoded), !data.isEmpty {
                    bytes = Array(data)
                    if bytes.count > limits.maximumBytes { reader.fail("/model", "the model is larger than \(limits.maximumBytes) bytes") }
                } else {
                    reader.fail("/model", "expected the ONNX file in base64")
                }
            } else {
                reader.fail("/model", "expected a string (the ONNX file in base64), found \(value.typeName)")
            }
        } else {
            reader.fail("/model", "required: the ONNX file in base64")
        }
        let known: Set<String> = ["name", "description", "enabled", "deviceTypeId", "windowSeconds", "hopSeconds", "features", "model"]
        for key in members.keys.sorted() where !known.contains(key) { reader.fail("/" + key, "unknown field") }
        guard reader.errors.isEmpty, let name, let deviceType, let shape else {
            throw .invalid("the model is invalid (\(reader.errors.count) problem(s))", reader.errors)
        }
        guard let runtime else { throw .unavailable("model inference is not available here (ONNX Runtime is not loaded; see SENSORMINE_STREAM_ONNXRUNTIME)") }
        let model: InferenceModel
        do {
            model = try runtime.model(bytes)
        } catch {
            throw .invalid("the model cannot be used", [.init(pointer: "/model", detail: error.description)])
        }
        if let expected = model.featureCount, expected != features.count {
            throw .invalid("the model takes \(expected) features", [.init(pointer: "/features", detail: "the model's input takes \(expected) features; \(features.count) are listed")])
        }
        let outputs: Int
        do {
            outputs = try model.run([Float](repeating: 0, count: features.count), rows: 1, columns: features.count, timeout: limits.runTimeout, capacity: maximumOutputs + 1).count
        } catch {
            throw .invalid("the model does not run", [.init(pointer: "/model", detail: "a trial run on one window failed: \(error.description)")])
        }
        guard (1...maximumOutputs).contains(outputs) else {
            throw .invalid("the model's output per window is too large", [.init(pointer: "/model", detail: "its first output holds \(outputs) values per window; at most \(maximumOutputs)")])
        }
        return ModelDefinition(name: name, description: description, enabled: enabled, deviceTypeId: deviceType, shape: shape, features: features, bytes: bytes,
                               inputName: model.inputName, outputName: model.outputName, outputsPerWindow: outputs)
    }
}

/// A model loaded for inference, with what the engine needs to feed and name it.
final class LoadedModel: Sendable {
    let record: ModelRecord
    let model: InferenceModel
    let shape: WindowShape

    init(record: ModelRecord, model: InferenceModel) {
        self.record = record
        self.model = model
        self.shape = record.shape
    }
}

/// The enabled models, by tenant and device type; a new book replaces the old one whole.
struct ModelBook: Sendable {
    struct TypeKey: Hashable, Sendable {
        var tenant: UUID
        var deviceType: UUID
    }

    var byType: [TypeKey: [LoadedModel]] = [:]
    /// Goes up with every change, so the engine knows when to take a new book.
    var generation = 0

    func models(tenant: UUID, deviceType: UUID?) -> [LoadedModel] {
        guard !self.byType.isEmpty, let deviceType else { return [] }
        return self.byType[TypeKey(tenant: tenant, deviceType: deviceType)] ?? []
    }
}
