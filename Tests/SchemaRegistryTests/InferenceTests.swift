import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SensormineCore
import SensormineJSON
import TestSupport
import Testing

@testable import SchemaRegistry

@Suite("SchemaRegistry inference")
struct InferenceTests {
    static let viewer = CallerIdentity(subject: "v", tenantID: UUID(), roles: [.viewer])

    static func infer(_ client: some TestClientProtocol, _ body: String, contentType: String, query: String = "") async throws -> (HTTPResponse.Status, JSON) {
        var headers = try TrustedCallerRequests.headers(Self.viewer)
        headers[.contentType] = contentType
        let response = try await client.execute(uri: "/api/v1/schemas/infer" + query, method: .post, headers: headers, body: ByteBuffer(string: body))
        return (response.status, try JSON.parse(String(buffer: response.body)))
    }

    static func field(_ result: JSON, _ name: String) -> JSON? {
        result["fields"]?.array?.first { $0["name"]?.string == name }
    }

    @Test("CSV from a turbine historian: types, required, ranges, enum, timestamps, units")
    func csv() async throws {
        var csv = "timestamp;turbine_id;exhaust_temp_c;rpm;status;vibration\n"
        for index in 0..<40 {
            let vibration = index % 10 == 0 ? "" : "0.\(index % 9 + 1)"
            csv += "2026-11-23T05:\(String(format: "%02d", index)):00Z;GT-\(index % 3);\(540 + index).5;\(3000 + index * 10);\(index % 7 == 0 ? "idle" : "running");\(vibration)\n"
        }
        let sample = csv
        try await RegistryTestApp.make().test(.router) { client in
            let (status, result) = try await Self.infer(client, sample, contentType: "text/csv")
            #expect(status == .ok)
            #expect(result["records"] == .number(40))
            #expect(Self.field(result, "timestamp")?["format"] == .string("date-time"))
            #expect(Self.field(result, "exhaust_temp_c")?["type"] == .string("number"))
            #expect(Self.field(result, "exhaust_temp_c")?["unit"] == .string("°C"))
            #expect(Self.field(result, "exhaust_temp_c")?["minimum"] == .number(540.5))
            #expect(Self.field(result, "rpm")?["type"] == .string("integer"))
            #expect(Self.field(result, "rpm")?["unit"] == .string("rpm"))
            #expect(Self.field(result, "status")?["enumValues"] == .array([.string("idle"), .string("running")]))
            #expect(Self.field(result, "vibration")?["required"] == .bool(false))
            #expect(Self.field(result, "vibration")?["unit"] == .string("mm/s"))
            #expect((Self.field(result, "rpm")?["confidence"]?.number ?? 0) >= 0.99)
            let required = Set(result["schema"]?["required"]?.strings ?? [])
            #expect(required == ["timestamp", "turbine_id", "exhaust_temp_c", "rpm", "status"])
        }
    }

    @Test("JSON and NDJSON samples, with mixed types lowering confidence")
    func json() async throws {
        let array = #"[{"deviceId":"2a5a4d5e-9c1b-4f3e-8a7d-1234567890ab","pressure_bar":4.2,"alarm":false},{"deviceId":"2a5a4d5e-9c1b-4f3e-8a7d-1234567890ac","pressure_bar":"n/a","alarm":true}]"#
        let lines = (0..<12).map { #"{"power_kw":\#(100 + $0),"site":"north"}"# }.joined(separator: "\n")
        try await RegistryTestApp.make().test(.router) { client in
            let (status, result) = try await Self.infer(client, array, contentType: "application/json")
            #expect(status == .ok)
            #expect(Self.field(result, "deviceId")?["format"] == .string("uuid"))
            #expect(Self.field(result, "alarm")?["type"] == .string("boolean"))
            #expect((Self.field(result, "pressure_bar")?["confidence"]?.number ?? 1) < 0.5)
            let (_, ndjson) = try await Self.infer(client, lines, contentType: "application/x-ndjson")
            #expect(ndjson["records"] == .number(12))
            #expect(Self.field(ndjson, "power_kw")?["unit"] == .string("kW"))
            #expect(Self.field(ndjson, "site")?["enumValues"] == .array([.string("north")]))
        }
    }

    @Test("XML exports and key=value text; uploads as a multipart file; unreadable samples are 422")
    func xmlAndText() async throws {
        let xml = """
        <?xml version="1.0"?>
        <readings>
          <reading device="rotor-1"><voltage>398.2</voltage><current>12.1</current><time>2026-11-23T05:00:00Z</time></reading>
          <reading device="rotor-2"><voltage>401.0</voltage><current>11.7</current><time>2026-11-23T05:00:01Z</time></reading>
        </readings>
        """
        let text = "temperature=21.5\nhumidity=40\n\ntemperature=22.0\nhumidity=41\n"
        try await RegistryTestApp.make().test(.router) { client in
            let (status, result) = try await Self.infer(client, xml, contentType: "application/xml")
            #expect(status == .ok)
            #expect(result["records"] == .number(2))
            #expect(Self.field(result, "voltage")?["unit"] == .string("V"))
            #expect(Self.field(result, "device")?["type"] == .string("string"))
            #expect(Self.field(result, "time")?["format"] == .string("date-time"))
            let (_, kv) = try await Self.infer(client, text, contentType: "text/plain")
            #expect(kv["records"] == .number(2))
            #expect(Self.field(kv, "humidity")?["unit"] == .string("%"))
            let boundary = "sensormine-boundary"
            let upload = "--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"history.csv\"\r\nContent-Type: text/csv\r\n\r\na,b\n1,x\n2,y\r\n--\(boundary)--\r\n"
            let (uploaded, fromFile) = try await Self.infer(client, upload, contentType: "multipart/form-data; boundary=\(boundary)")
            #expect(uploaded == .ok)
            #expect(fromFile["format"] == .string("csv"))
            #expect(fromFile["records"] == .number(2))
            #expect(try await Self.infer(client, "<broken", contentType: "application/xml").0 == .unprocessableContent)
            #expect(try await Self.infer(client, "a,b\n1,2,3\n", contentType: "text/csv").0 == .unprocessableContent)
            #expect(try await Self.infer(client, "x", contentType: "application/octet-stream").0 == .unprocessableContent)
            #expect(try await Self.infer(client, "x", contentType: "text/plain", query: "?format=yaml").0 == .badRequest)
            // The proposal is itself a valid schema the registry accepts.
            let (_, proposal) = try await Self.infer(client, xml, contentType: "application/xml")
            let admin = CallerIdentity(subject: "a", tenantID: UUID(), roles: [.tenantAdmin])
            let (registered, _) = try await client.call(.post, "/api/v1/schemas/subjects/inferred/versions", as: admin,
                                                        json: #"{"schema":\#(proposal["schema"]?.canonicalText ?? "{}")}"#)
            #expect(registered == .created)
        }
    }
}
