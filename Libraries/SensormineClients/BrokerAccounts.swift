import ClientRuntime
import Foundation
import Logging
import Mosquitto
import NIOConcurrencyHelpers
import SensormineCore
import ServiceLifecycle

/// Device accounts in Mosquitto's dynamic-security plugin, managed over its MQTT control API
/// (`$CONTROL/dynamic-security/v1`): one client and one role per device, the role confining the
/// device to its own topics. Runs as a service that keeps the admin connection and matches
/// responses to requests by correlation data.
public final class BrokerAccounts: Service, Sendable {
    /// The ACL of one device: where it may publish and what it may subscribe to.
    public struct DeviceAccess: Sendable, Equatable {
        /// Topic filter the device may publish to (its own subtree).
        public var publish: String
        /// Topic filter the device may subscribe to (its command topic).
        public var subscribe: String

        /// Confines device `deviceID` of `tenantID` to `tenants/{tenant}/devices/{device}/#`,
        /// subscribing only to `…/commands/#`.
        public init(tenantID: String, deviceID: String) {
            self.publish = "tenants/\(tenantID)/devices/\(deviceID)/#"
            self.subscribe = "tenants/\(tenantID)/devices/\(deviceID)/commands/#"
        }
    }

    private static let commandTopic = "$CONTROL/dynamic-security/v1"
    private static let responseTopic = "$CONTROL/dynamic-security/v1/response"
    private let client: MQTTClient
    private struct Pending {
        var waiting: [String: CheckedContinuation<[[String: String]], any Error>] = [:]
        /// Requests given up (timed out) before their waiter registered.
        var abandoned: [String: any Error] = [:]
    }
    private let pending = NIOLockedValueBox(Pending())
    private let logger: Logger
    private let timeout: Duration

    /// Creates the manager; `configuration` must name a dynamic-security admin.
    /// - Throws: ``ClientError`` for settings libmosquitto refuses.
    public init(configuration: MQTTClient.Configuration, timeout: Duration = .seconds(5), logger: Logger) throws {
        self.client = try MQTTClient(configuration: configuration, logger: logger)
        self.logger = logger
        self.timeout = timeout
    }

    /// The admin connection's readiness.
    public var readiness: ReadinessCheck { .mqtt(self.client) }

    /// Connects (retrying), subscribes to the responses and routes them until shutdown.
    public func run() async throws {
        let backoff = Backoff(base: .milliseconds(200), maximum: .seconds(5))
        var attempt = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await self.client.connect()
                try await self.client.subscribe(Self.responseTopic)
                break
            } catch {
                attempt += 1
                self.logger.warning("broker admin connect failed; retrying", metadata: ["error": "\(error)"])
                let pause = backoff.delay(attempt: attempt)
                _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) }
            }
        }
        await withGracefulShutdownHandler {
            for await message in self.client.messages { self.route(message.payload) }
        } onGracefulShutdown: {
            self.client.disconnect()
        }
        self.failAll(ClientError(.shutdown, client: "mqtt-dynsec", "shutting down"))
    }

    /// Creates or replaces the account of a device with `password`; replacing disconnects any
    /// session using the old password.
    /// - Throws: ``ClientError`` when the broker is unreachable or refuses.
    public func provision(username: String, password: String, access: DeviceAccess) async throws {
        let role = "device-\(username)"
        try await self.execute([
            Command(command: "deleteClient", username: username),
            Command(command: "deleteRole", rolename: role),
            Command(command: "createRole", rolename: role, acls: [
                .init(acltype: "publishClientSend", topic: access.publish),
                .init(acltype: "subscribePattern", topic: access.subscribe),
                .init(acltype: "publishClientReceive", topic: access.subscribe),
            ]),
            Command(command: "createClient", username: username, password: password, roles: [.init(rolename: role)]),
        ], tolerating: ["Client not found", "Role not found"])
    }

    /// Deletes a device's account (and kicks its session); absent accounts are fine.
    /// - Throws: ``ClientError`` when the broker is unreachable or refuses.
    public func remove(username: String) async throws {
        try await self.execute([
            Command(command: "deleteClient", username: username),
            Command(command: "deleteRole", rolename: "device-\(username)"),
        ], tolerating: ["Client not found", "Role not found"])
    }

    /// Sends `commands` in one control message and waits for every response; an error other
    /// than those `tolerating` names fails the call.
    private func execute(_ commands: [Command], tolerating: Set<String>) async throws {
        let correlation = UUID().uuidString
        let tagged = commands.map { command in
            var command = command
            command.correlationData = correlation
            return command
        }
        let payload = try JSONEncoder().encode(["commands": tagged])
        guard self.client.isConnected else {
            throw ClientError(.unreachable, client: "mqtt-dynsec", "not connected to the broker's control API")
        }
        let responses = try await withThrowingTaskGroup(of: [[String: String]].self) { group in
            group.addTask {
                try await withCheckedThrowingContinuation { continuation in
                    let abandoned = self.pending.withLockedValue { pending -> (any Error)? in
                        if let error = pending.abandoned.removeValue(forKey: correlation) { return error }
                        pending.waiting[correlation] = continuation
                        return nil
                    }
                    if let abandoned {
                        continuation.resume(throwing: abandoned)
                        return
                    }
                    Task {
                        do {
                            try await self.client.publish(topic: Self.commandTopic, payload: Array(payload), qos: 1)
                        } catch {
                            self.resume(correlation, with: .failure(error))
                        }
                    }
                }
            }
            group.addTask {
                try await Task.sleep(for: self.timeout)
                throw ClientError(.timeout, client: "mqtt-dynsec", "no answer from the broker's control API within \(self.timeout)")
            }
            defer { group.cancelAll() }
            do {
                return try await group.next() ?? []
            } catch {
                self.abandon(correlation, error)
                throw error
            }
        }
        for response in responses {
            if let error = response["error"], !tolerating.contains(error) {
                throw ClientError(.serverError, client: "mqtt-dynsec", "\(response["command"] ?? "command") failed: \(error)")
            }
        }
    }

    /// Matches a response message to its request by correlation data.
    private func route(_ payload: [UInt8]) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any],
              let responses = object["responses"] as? [[String: Any]] else { return }
        var byCorrelation: [String: [[String: String]]] = [:]
        for response in responses {
            guard let correlation = response["correlationData"] as? String else { continue }
            var flat: [String: String] = [:]
            for (key, value) in response { if let text = value as? String { flat[key] = text } }
            byCorrelation[correlation, default: []].append(flat)
        }
        for (correlation, answers) in byCorrelation { self.resume(correlation, with: .success(answers)) }
    }

    private func resume(_ correlation: String, with result: Result<[[String: String]], any Error>) {
        let continuation = self.pending.withLockedValue { $0.waiting.removeValue(forKey: correlation) }
        continuation?.resume(with: result)
    }

    /// Fails the request's waiter, now or as soon as it registers.
    private func abandon(_ correlation: String, _ error: any Error) {
        let continuation = self.pending.withLockedValue { pending in
            let continuation = pending.waiting.removeValue(forKey: correlation)
            // Only a timeout can beat the waiter's registration; other failures come from it.
            if continuation == nil, (error as? ClientError)?.code == .timeout { pending.abandoned[correlation] = error }
            return continuation
        }
        continuation?.resume(throwing: error)
    }

    private func failAll(_ error: any Error) {
        let waiting = self.pending.withLockedValue { pending in
            defer { pending.waiting = [:] }
            return Array(pending.waiting.values)
        }
        for continuation in waiting { continuation.resume(throwing: error) }
    }

    /// One dynamic-security command; absent fields are left out of the JSON.
    private struct Command: Encodable, Sendable {
        struct ACL: Encodable, Sendable {
            var acltype: String
            var topic: String
            var allow = true
            var priority = 0
        }
        struct RoleReference: Encodable, Sendable {
            var rolename: String
            var priority = 0
        }
        var command: String
        var username: String?
        var password: String?
        var rolename: String?
        var acls: [ACL]?
        var roles: [RoleReference]?
        var correlationData: String?
    }
}
