import CONNXRuntime
import Dispatch
import NIOConcurrencyHelpers

/// What went wrong loading ONNX Runtime, a model, or running one.
public enum ONNXRuntimeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The library could not be loaded or is older than the header's API.
    case unavailable(String)
    /// The bytes are not a model ONNX Runtime can load, or not one this platform can feed.
    case invalidModel(String)
    /// The run failed.
    case failed(String)
    /// The run took longer than its deadline and was terminated.
    case timedOut

    public var description: String {
        switch self {
        case .unavailable(let message): "ONNX Runtime unavailable: \(message)"
        case .invalidModel(let message): message
        case .failed(let message): message
        case .timedOut: "inference exceeded its time limit and was stopped"
        }
    }
}

/// ONNX Runtime, loaded at run time (dlopen) from a shared library: Debian 12 has none to link
/// against, so the library comes from the PyPI wheel and the C header from Debian 13 (ADR 23).
public struct ONNXRuntime: Sendable {
    /// The loaded library's version, e.g. "1.32.0".
    public let version: String
    /// The C API version the code was compiled against; the library offers at least it.
    public let apiVersion: Int

    /// Loads the library at `path` (a bare file name is searched for as dlopen does, e.g. in
    /// LD_LIBRARY_PATH). A process holds one library: later calls return the first one loaded.
    public static func load(path: String) throws(ONNXRuntimeError) -> ONNXRuntime {
        var error = [CChar](repeating: 0, count: 512)
        guard sm_ort_load(path, &error, error.count) == 0 else {
            throw .unavailable(String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return ONNXRuntime(version: String(cString: sm_ort_version()), apiVersion: Int(sm_ort_api_version()))
    }

    /// Loads a model from its ONNX bytes, with one thread and sequential execution.
    public func model(_ bytes: [UInt8]) throws(ONNXRuntimeError) -> InferenceModel {
        try InferenceModel(bytes: bytes)
    }
}

/// A loaded model: its first input and output, and runs over float rows.
public final class InferenceModel: @unchecked Sendable {
    // @unchecked: the session pointer is written once in init and freed in deinit; ONNX
    // Runtime documents OrtApi::Run as safe to call concurrently on one session.
    private let session: OpaquePointer

    /// The first input's name and dimensions (-1 where free).
    public let inputName: String
    public let inputShape: [Int64]
    /// The first output's name and dimensions (-1 where free).
    public let outputName: String
    public let outputShape: [Int64]

    /// The number of features per row the input takes (its last dimension), nil when free.
    public var featureCount: Int? {
        guard let last = self.inputShape.last, last >= 0 else { return nil }
        return Int(last)
    }

    /// Whether one run can take several rows (a 2-D input whose first dimension is free).
    public var takesBatches: Bool { self.inputShape.count == 2 && self.inputShape[0] < 0 }

    fileprivate init(bytes: [UInt8]) throws(ONNXRuntimeError) {
        var signature = sm_ort_signature()
        var error = [CChar](repeating: 0, count: 1024)
        let created = bytes.withUnsafeBytes { buffer in
            sm_ort_session_create(buffer.baseAddress, buffer.count, &signature, &error, error.count)
        }
        guard let created else { throw .invalidModel(Self.text(error)) }
        self.session = created
        self.inputName = Self.text(signature.input_name)
        self.outputName = Self.text(signature.output_name)
        self.inputShape = Self.dimensions(signature.input_dims, rank: signature.input_rank)
        self.outputShape = Self.dimensions(signature.output_dims, rank: signature.output_rank)
        let float = Int32(SM_ORT_FLOAT)
        guard signature.input_count == 1 else { throw .invalidModel("the model takes \(signature.input_count) inputs; it must take exactly one, a float tensor of features") }
        guard signature.input_type == float, signature.output_type == float else {
            throw .invalidModel("the model's input and first output must be float tensors (tensor(float))")
        }
        guard (1...2).contains(self.inputShape.count) else {
            throw .invalidModel("the model's input has \(self.inputShape.count) dimensions; it must be [features] or [rows, features]")
        }
        if self.inputShape.count == 2, self.inputShape[0] >= 0, self.inputShape[0] != 1 {
            throw .invalidModel("the model's input takes \(self.inputShape[0]) rows at once; it must take 1 or any number ([N, features] with N free)")
        }
    }

    deinit {
        sm_ort_session_free(self.session)
    }

    /// Runs the model on `rows` rows of `columns` features (row-major), stopping it after
    /// `timeout`; returns the first output's values (the caller splits them per row).
    public func run(_ input: [Float], rows: Int, columns: Int, timeout: Duration, capacity: Int = 65_536) throws(ONNXRuntimeError) -> [Float] {
        guard rows > 0, columns > 0, input.count == rows * columns else { throw .failed("the input holds \(input.count) values, not \(rows) × \(columns)") }
        var dims: [Int64] = self.inputShape.count == 2 ? [Int64(rows), Int64(columns)] : [Int64(columns)]
        guard self.inputShape.count == 2 || rows == 1 else { throw .failed("the model takes one row per run") }
        var error = [CChar](repeating: 0, count: 1024)
        guard let run = sm_ort_run_create(&error, error.count) else { throw .failed(Self.text(error)) }
        let deadline = NIOLockedValueBox(RunDeadline())
        // Used only under the lock, and only while the run has not finished (before it is freed).
        nonisolated(unsafe) let handle = run
        let item = DispatchWorkItem {
            deadline.withLockedValue { state in
                guard !state.finished else { return }
                state.terminated = true
                sm_ort_run_terminate(handle)
            }
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(timeout.nanoseconds)), execute: item)
        var output = [Float](repeating: 0, count: capacity)
        var written = 0
        let status = input.withUnsafeBufferPointer { values in
            output.withUnsafeMutableBufferPointer { target in
                sm_ort_session_run(self.session, run, values.baseAddress, &dims, dims.count, target.baseAddress, target.count, &written, &error, error.count)
            }
        }
        item.cancel()
        let terminated = deadline.withLockedValue { state in
            state.finished = true
            return state.terminated
        }
        sm_ort_run_free(run)
        if terminated { throw .timedOut }
        guard status == 0 else { throw .failed(Self.text(error)) }
        guard written <= capacity else { throw .failed("the output holds \(written) values, more than \(capacity)") }
        output.removeLast(capacity - written)
        return output
    }

    private static func text<T>(_ tuple: T) -> String {
        withUnsafeBytes(of: tuple) { bytes in String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self) }
    }

    private static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func dimensions<T>(_ tuple: T, rank: Int) -> [Int64] {
        withUnsafeBytes(of: tuple) { bytes in Array(bytes.bindMemory(to: Int64.self).prefix(rank)) }
    }
}

/// Whether a run finished and whether its deadline stopped it, under one lock: the deadline
/// never touches the run options after the run released them.
private struct RunDeadline {
    var finished = false
    var terminated = false
}

extension Duration {
    fileprivate var nanoseconds: Int64 {
        let (seconds, attoseconds) = self.components
        return seconds.multipliedReportingOverflow(by: 1_000_000_000).partialValue + attoseconds / 1_000_000_000
    }
}
