import Curl
import Foundation
import Mosquitto
import SensormineAuth
import SensormineCore
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// MQTT at least once across EdgeGateway restarts: the broker acknowledges every QoS 1 message
/// to the device, so every one must be stored, whether EdgeGateway is killed or stopped.
extension PipelineTests {
    @Test("EdgeGateway killed (SIGKILL) or stopped (SIGTERM) mid MQTT stream and restarted: every published message is stored, none twice",
          arguments: [Int32(9), Int32(15)])
    func edgeRestartedMidStream(signal: Int32) async throws {
        let tokens = try await AccessTokens(settings: try TokenSettings(reader: ConfigReader(values: PipelineTestStack.values(port: 0))))
        try await PipelineTestStack.run(edgeInProcess: false) { gateway in
            var environment = PipelineTestStack.values(port: PipelineTestStack.ports.edge, ["SENSORMINE_LOG_LEVEL": "warning"])
            environment["LD_LIBRARY_PATH"] = ProcessInfo.processInfo.environment["LD_LIBRARY_PATH"]
            let client = HTTPClient(configuration: .init(timeout: .seconds(30), maximumRetries: 0))
            func startEdge() async throws -> ChildProcess {
                let edge = try ChildProcess(executable: ServiceBinaries.path("EdgeGateway"), arguments: ["serve"], environment: environment)
                var ready = false
                for _ in 0..<300 where !ready {
                    ready = (try? await client.get("http://127.0.0.1:\(PipelineTestStack.ports.edge)/health/ready"))?.status == 200
                    if !ready { try await Task.sleep(for: .milliseconds(100)) }
                }
                guard ready else { throw PipelineTestError("EdgeGateway never became ready: \(edge.output.suffix(2000))") }
                return edge
            }
            var edge = try await startEdge()
            let fixture = try await ProvisionedDevice.make(client, gateway: gateway, tokens: tokens, name: "Edge restart")
            let start = Date().addingTimeInterval(-5 * 3600)
            let format = ISO8601DateFormatter()
            let from = format.string(from: start.addingTimeInterval(-60))
            let publisher = try await fixture.connectMQTT(name: "edge-restart")

            // 6,000 QoS 1 messages in 60 rounds of 100 concurrent publishes; EdgeGateway goes
            // down after round 15 and comes back after round 40.
            let total = 6000
            let payloads = (0..<total).map { index in
                Array(#"{"time":"\#(format.string(from: start.addingTimeInterval(Double(index))))","rpm":\#(index)}"#.utf8)
            }
            var acknowledged = 0
            for round in 0..<60 {
                acknowledged += try await withThrowingTaskGroup(of: Int.self) { group in
                    for index in (round * 100)..<(round * 100 + 100) {
                        let payload = payloads[index]
                        group.addTask {
                            try await publisher.publish(topic: fixture.topic, payload: payload, qos: 1)
                            return 1
                        }
                    }
                    return try await group.reduce(0, +)
                }
                if round == 15 {
                    edge.signal(signal)
                    let status = await edge.waitForExit(timeout: .seconds(30))
                    #expect(status == (signal == SIGKILL ? 128 + SIGKILL : 0), "\(edge.output.suffix(2000))")
                }
                if round == 40 { edge = try await startEdge() }
            }
            publisher.disconnect()
            #expect(acknowledged == total)

            let stored = try await fixture.waitForStored(client, gateway: gateway, metric: "rpm", from: from, expected: total)
            #expect(stored == total, "\(edge.output.suffix(2000))")
            // Redelivered messages (taken but not yet acknowledged when EdgeGateway went down)
            // land on the rows they already made: the count does not grow past what was sent.
            try await Task.sleep(for: .seconds(2))
            #expect(try await fixture.storedCount(client, gateway: gateway, metric: "rpm", from: from) == total)
            edge.signal(SIGTERM)
            #expect(await edge.waitForExit(timeout: .seconds(30)) == 0)
            await client.shutdown()
        }
    }
}
