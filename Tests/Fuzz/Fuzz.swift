import JSONSchema
import SensormineJSON
import SensormineTelemetry

#if canImport(Glibc)
import Glibc
#endif

/// libFuzzer entry points for the code that reads untrusted bytes: the JSON parser, schema
/// compilation and evaluation, the telemetry envelope and payload readers, and the spool's
/// framing. Built only by `make fuzz` (with `-D FUZZING -sanitize=fuzzer,address`); a crash,
/// a trap or a failed round trip stops libFuzzer and leaves the input behind.
enum FuzzTarget: String {
    case json, schema, envelope, spool

    /// Chosen by `SENSORMINE_FUZZ_TARGET`, once.
    static let current: FuzzTarget = {
        guard let name = getenv("SENSORMINE_FUZZ_TARGET").map({ String(cString: $0) }), let target = FuzzTarget(rawValue: name) else {
            fatalError("set SENSORMINE_FUZZ_TARGET to json, schema, envelope or spool")
        }
        return target
    }()

    func run(_ bytes: UnsafeBufferPointer<UInt8>) {
        switch self {
        case .json:
            // Whatever parses prints canonically and reads back as the same value.
            guard let value = try? JSON.parse(bytes) else { return }
            let reparsed = try? JSON.parse(Array(value.canonicalText.utf8))
            precondition(reparsed == value, "canonical text does not read back as the same value")
        case .schema:
            // The document as a schema, then as an instance of itself.
            guard let document = try? JSON.parse(bytes), let schema = try? CompiledSchema(document) else { return }
            let valid = schema.isValid(document)
            precondition(valid == schema.validate(document).isEmpty, "isValid and validate disagree")
        case .envelope:
            guard let decoded = try? TelemetryEnvelope.decode(bytes) else { return }
            if let payload = decoded.payload { _ = try? TelemetryPoints.extract(from: payload, receivedAt: decoded.envelope.receivedAt) }
            let again = try? TelemetryEnvelope.decode(decoded.envelope.withPayload(decoded.payload).encoded())
            precondition(again?.envelope.messageID == decoded.envelope.messageID, "an envelope does not survive its own encoding")
        case .spool:
            // Every record read back is written and read again unchanged.
            let (envelopes, _) = EnvelopeFraming.decode(Array(bytes))
            var rewritten = EnvelopeFraming.header
            for envelope in envelopes { EnvelopeFraming.encode(envelope, into: &rewritten) }
            let reread = EnvelopeFraming.decode(rewritten)
            precondition(reread.envelopes == envelopes && reread.tornBytes == 0, "spool records do not survive a rewrite")
        }
    }
}

extension TelemetryEnvelope {
    /// The envelope with its parsed payload put back as bytes, as the edge would send it.
    func withPayload(_ payload: JSON?) -> TelemetryEnvelope {
        guard let payload else { return self }
        var copy = self
        copy.payload = Array(payload.canonicalText.utf8)
        copy.payloadIsJSON = true
        return copy
    }
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzTarget.current.run(UnsafeBufferPointer(start: data, count: size))
    return 0
}

/// libFuzzer's driver, which its own `main` would call.
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

// SwiftPM links an executable's entry point as `<module>_main` (so tests can import it); with
// no Swift `main` here, that symbol starts libFuzzer's driver instead.
@_cdecl("SensormineFuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return runFuzzerDriver(&count, &arguments, fuzzOne)
}
#else
/// Without libFuzzer (a normal build), runs the target over the files named on the command
/// line, so a crash input can be replayed under the debugger.
@main
struct FuzzReplay {
    static func main() {
        for path in CommandLine.arguments.dropFirst() {
            guard let file = fopen(path, "rb") else { continue }
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = fread(&chunk, 1, chunk.count, file)
                if count == 0 { break }
                bytes += chunk[0..<count]
            }
            fclose(file)
            bytes.withUnsafeBufferPointer { FuzzTarget.current.run($0) }
            print("\(path): ok")
        }
    }
}
#endif
