import Foundation

/// Models built at test time with PyPI `onnx` (scripts/testing/onnx_model.py, run by the
/// stack's virtualenv), for the tests of model inference.
public enum TestModels {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Why a model could not be built.
    public struct BuildError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Builds a model: `linear` (weights as "w1,w2,…", bias), `slow` (features) or `two-inputs`.
    public static func build(_ kind: String, _ arguments: [String] = []) throws -> [UInt8] {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("sensormine-model-\(UUID().uuidString).onnx")
        defer { try? FileManager.default.removeItem(at: output) }
        let process = Process()
        process.executableURL = self.root.appendingPathComponent(".stack/venv/bin/python")
        process.arguments = [self.root.appendingPathComponent("scripts/testing/onnx_model.py").path, kind, output.path] + arguments
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw BuildError(description: "onnx_model.py \(kind) failed: \(String(decoding: message, as: UTF8.self))")
        }
        return Array(try Data(contentsOf: output))
    }

    /// y = x · weights + bias, as the linear model computes it (in Float).
    public static func linear(_ features: [Double], weights: [Double], bias: Double) -> Double {
        Double(zip(features, weights).reduce(Float(0)) { $0 + Float($1.0) * Float($1.1) } + Float(bias))
    }
}
