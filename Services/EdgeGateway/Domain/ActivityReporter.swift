import ClientRuntime
import Curl
import Foundation
import HTTPTypes
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle
import SensormineClients
import SensormineContracts
import SensormineCore

/// Collects when each device was last heard from and reports it to DeviceAPI every few seconds,
/// one request per tenant, so devices show online with a current last-seen time. Best effort:
/// a failed report is retried with the next one; telemetry never waits for it.
final class ActivityReporter: Service, Sendable {
    /// Devices remembered between reports at most; beyond it the oldest report is dropped.
    static let capacity = 200_000

    private let pending = NIOLockedValueBox<[String: [String: Int64]]>([:])  // tenant → device → µs
    private let client: HTTPClient
    private let deviceAPI: UpstreamService
    private let serviceToken: String
    private let interval: Duration
    private let logger: Logger

    init(client: HTTPClient, deviceAPI: UpstreamService, serviceToken: String, interval: Duration = .seconds(5), logger: Logger) {
        self.client = client
        self.deviceAPI = deviceAPI
        self.serviceToken = serviceToken
        self.interval = interval
        self.logger = logger
    }

    /// Notes that `device` of `tenant` sent something received at `time` (µs since 1970).
    func record(tenant: String, device: String, time: Int64) {
        self.pending.withLockedValue { pending in
            if pending[tenant]?[device].map({ $0 >= time }) == true { return }
            if pending.count >= Self.capacity { return }
            pending[tenant, default: [:]][device] = time
        }
    }

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: self.interval) }
            await self.flush()
        }
    }

    /// Sends what has been collected; what fails is kept for the next round.
    func flush() async {
        let batch = self.pending.withLockedValue { pending in
            defer { pending = [:] }
            return pending
        }
        let encoder = ContractCoding.encoder()
        for (tenant, devices) in batch {
            let seen = devices.compactMap { device, time in
                UUID(uuidString: device).map { DeviceActivity.Seen(id: $0, lastSeenAt: Date(timeIntervalSince1970: Double(time) / 1_000_000)) }
            }
            for start in stride(from: 0, to: seen.count, by: DeviceActivity.maximumDevices) {
                let report = DeviceActivity(devices: Array(seen[start..<min(start + DeviceActivity.maximumDevices, seen.count)]))
                do {
                    let response = try await self.client.execute(HTTPClientRequest(method: "POST", url: self.deviceAPI.baseURL + "/api/v1/devices/activity", headers: [
                        ("Content-Type", "application/json"),
                        (HTTPField.Name.gatewayToken.rawName, self.serviceToken),
                        (HTTPField.Name.callerSubject.rawName, "service:edgegateway"),
                        (HTTPField.Name.callerTenant.rawName, tenant),
                        (HTTPField.Name.callerRoles.rawName, Role.operator.rawValue),
                    ], body: Array(try encoder.encode(report))))
                    guard response.status == 200 else { throw ClientError(.unreachable, client: "http", "DeviceAPI answered \(response.status)") }
                } catch {
                    self.logger.warning("device activity not reported; keeping it for the next round", metadata: ["error": "\(error)", "tenant": "\(tenant)"])
                    for (device, time) in devices { self.record(tenant: tenant, device: device, time: time) }
                    break
                }
            }
        }
    }
}
