import Foundation
import SensormineTelemetry
import Testing

@testable import EdgeGateway

@Suite("EdgeGateway envelopes")
struct TelemetryForwarderTests {
    static func messages(_ payload: String) -> [TelemetryEnvelope] {
        guard case .messages(let envelopes) = TelemetryForwarder.envelopes(Array(payload.utf8), tenant: "t", device: "d", source: .http, receivedAt: 7) else {
            Issue.record("\(payload) was not taken as JSON")
            return []
        }
        return envelopes
    }

    @Test("an array is one message per element, each keeping the device's bytes and its messageId, or a new distinct UUID")
    func splitsAnArray() {
        let envelopes = Self.messages(#"[{"b":1, "a":2, "messageId":"m-1"} , {"t":1700000000000,"v":[1, 2]},{"v":3}]"#)
        #expect(envelopes.map { String(decoding: $0.payload, as: UTF8.self) } == [#"{"b":1, "a":2, "messageId":"m-1"}"#, #"{"t":1700000000000,"v":[1, 2]}"#, #"{"v":3}"#])
        #expect(envelopes.allSatisfy { $0.payloadIsJSON && $0.tenantID == "t" && $0.deviceID == "d" && $0.receivedAt == 7 })
        #expect(envelopes.first?.messageID == "m-1")
        let generated = envelopes.dropFirst().map(\.messageID)
        #expect(generated.allSatisfy { UUID(uuidString: $0) != nil && $0 == $0.lowercased() })
        #expect(Set(generated).count == 2)
    }

    @Test("a single message keeps its bytes; what is not JSON is one message, flagged, with the parser's reason")
    func singleAndNotJSON() {
        let single = #" {"v": 1} "#
        #expect(Self.messages(single).map(\.payload) == [Array(single.utf8)])
        guard case .notJSON(let envelope, let reason) = TelemetryForwarder.envelopes(Array("[1,".utf8), tenant: "t", device: "d", source: .mqtt, receivedAt: 1) else {
            Issue.record("'[1,' was taken as JSON")
            return
        }
        #expect(!envelope.payloadIsJSON && envelope.payload == Array("[1,".utf8) && UUID(uuidString: envelope.messageID) != nil)
        #expect(reason.contains("byte 3"))
    }

    @Test("a telemetry topic names a tenant and a device by UUID, lower-cased; anything else is no device's")
    func topicIdentity() {
        let tenant = "6A32A1B1-F27F-4FCA-BB5E-67233926A6DF"
        let device = "27c8621a-ef3e-4d24-8e9f-d15d26b57b39"
        let identity = MQTTIntake.identity(topic: "tenants/\(tenant)/devices/\(device)/telemetry")
        #expect(identity?.tenant == tenant.lowercased() && identity?.device == device)
        for topic in ["tenants/\(tenant)/devices/\(device)/telemetry/x", "tenants/\(tenant)/devices/\(device)", "tenants//devices/\(device)/telemetry",
                      "tenants/\(tenant)/things/\(device)/telemetry", "tenants/ 0000000-0000-0000-0000-000000000000/devices/\(device)/telemetry",
                      "tenants/\(tenant)/devices/+/telemetry", "/tenants/\(tenant)/devices/\(device)/telemetry", ""] {
            #expect(MQTTIntake.identity(topic: topic) == nil, "\(topic)")
        }
    }
}
