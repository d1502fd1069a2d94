import SensormineJSON
import SensormineTelemetry
import Testing

@Suite("Telemetry envelope and points")
struct TelemetryTests {
    @Test("RFC 3339 times parse with fractions and offsets and format back")
    func times() {
        #expect(RFC3339.microseconds("1970-01-01T00:00:00Z") == 0)
        #expect(RFC3339.microseconds("2026-11-23T08:00:00.5Z") == 1_795_420_800_500_000)
        #expect(RFC3339.microseconds("2026-11-23T09:00:00.5+01:00") == 1_795_420_800_500_000)
        #expect(RFC3339.microseconds("2024-02-29T23:59:59.999999-00:30") == RFC3339.microseconds("2024-03-01T00:29:59.999999Z"))
        #expect(RFC3339.microseconds("1969-12-31T23:59:59Z") == -1_000_000)
        for bad in ["2026-13-01T00:00:00Z", "2026-11-23 08:00", "2026-11-23T08:00:00", "2026-11-23T08:00:00.Z", "2026-11-23T08:00:00Zjunk", "tomorrow"] {
            #expect(RFC3339.microseconds(bad) == nil, "\(bad)")
        }
        #expect(RFC3339.string(microseconds: 1_795_420_800_500_000) == "2026-11-23T08:00:00.500000Z")
        #expect(RFC3339.string(microseconds: -1) == "1969-12-31T23:59:59.999999Z")
        for micros: Int64 in [0, 951_782_400_123_456, 4_102_444_799_999_999] {
            #expect(RFC3339.microseconds(RFC3339.string(microseconds: micros)) == micros)
        }
    }

    @Test("measurements: metrics or top-level members, flattened, numbers and booleans only; time rules")
    func points() throws {
        let flat = try TelemetryPoints.extract(from: JSON.parse(#"{"time":1700000000123,"rpm":3000,"running":true,"site":"A","bearing":{"t":71.5},"messageId":"x"}"#), receivedAt: 5)
        #expect(Set(flat.map(\.metric)) == ["rpm", "running", "bearing.t"])
        #expect(flat.allSatisfy { $0.time == 1_700_000_000_123_000 })
        #expect(flat.first { $0.metric == "running" }?.value == 1)
        let nested = try TelemetryPoints.extract(from: JSON.parse(#"{"metrics":{"a":1},"b":2}"#), receivedAt: 42)
        #expect(nested == [TelemetryPoint(metric: "a", time: 42, value: 1)])
        #expect(throws: TelemetryError.self) { try TelemetryPoints.extract(from: JSON.parse(#"{"time":"yesterday","a":1}"#), receivedAt: 0) }
        #expect(throws: TelemetryError.self) { try TelemetryPoints.extract(from: JSON.parse(#"{"site":"A"}"#), receivedAt: 0) }
        #expect(throws: TelemetryError.self) { try TelemetryPoints.extract(from: JSON.parse("[1,2]"), receivedAt: 0) }
        // Values whose hourly sums could overflow a float8 are refused, whole message; up to the bound they are kept.
        #expect(try TelemetryPoints.extract(from: JSON.parse(#"{"a":-1e298,"b":1e298}"#), receivedAt: 0).map(\.value).sorted() == [-1e298, 1e298])
        for huge in ["1.7e308", "-1.0000001e298", "2e298"] {
            #expect(throws: TelemetryError.self, "\(huge)") { try TelemetryPoints.extract(from: JSON.parse(#"{"ok":1,"x":{"y":\#(huge)}}"#), receivedAt: 0) }
        }
    }

    @Test("an envelope survives encoding, with a JSON payload verbatim or other bytes as base64")
    func envelope() throws {
        let json = TelemetryEnvelope(messageID: "m\"1", tenantID: "t", deviceID: "d", source: .http, receivedAt: 99, payload: Array(#"{"a":[1,2]}"#.utf8), payloadIsJSON: true)
        let decoded = try TelemetryEnvelope.decode(json.encoded())
        #expect(decoded.envelope.messageID == "m\"1")
        #expect(decoded.envelope.source == .http)
        #expect(decoded.envelope.receivedAt == 99)
        #expect(decoded.payload == (try JSON.parse(#"{"a":[1,2]}"#)))
        let binary = TelemetryEnvelope(messageID: "m", tenantID: "t", deviceID: "d", source: .mqtt, receivedAt: 1, payload: [0xFF, 0x00, 0x7B], payloadIsJSON: false)
        let back = try TelemetryEnvelope.decode(binary.encoded())
        #expect(back.payload == nil)
        #expect(back.envelope.payload == [0xFF, 0x00, 0x7B])
        #expect(throws: TelemetryError.self) { try TelemetryEnvelope.decode(Array(#"{"tenantId":"t"}"#.utf8)) }
    }
}
