import ClientRuntime
import Foundation
import HTTPTypes
import Hiredis
import Hummingbird
import LibPQ
import HummingbirdTesting
import Logging
import Mosquitto
import SensormineAuth
import SensormineClients
import SensormineCore
import Testing
import SensormineContracts

@testable import DeviceAPI

/// A device's own MQTT connection, as the device would open it.
enum DeviceConnection {
    static func connect(username: String, password: String) async throws -> MQTTClient {
        let environment = ProcessInfo.processInfo.environment
        var logger = Logger(label: "device-mqtt")
        logger.logLevel = .critical
        let client = try MQTTClient(configuration: .init(
            host: environment["SENSORMINE_MQTT_HOST"] ?? "127.0.0.1", port: Int(environment["SENSORMINE_MQTT_PORT"] ?? "") ?? 1883,
            clientID: "device-test-\(UUID().uuidString.prefix(8))", username: username, password: password), logger: logger)
        do {
            try await client.connect(timeout: .seconds(3))
        } catch {
            client.disconnect()
            throw error
        }
        return client
    }
}

@Suite("DeviceAPI credentials")
struct CredentialTests {
    static var index: (APIKeyIndex, RedisClient) {
        get throws {
            let redis = RedisClient(configuration: try RedisClient.Configuration(reader: ConfigReader(values: ProcessInfo.processInfo.environment)))
            return (APIKeyIndex(redis: redis), redis)
        }
    }

    @Test("API keys: shown once, stored hashed, indexed for the gateway, rotated and revoked at once")
    func apiKeys() async throws {
        let app = try await DeviceAPITestApp.make()
        let (index, redis) = try Self.index
        try await app.test(.live) { client in
            let fixture = try await DeviceFixture.make(client)
            let device = try await fixture.registerDevice(client, name: "keyed")
            let issued = try await client.created(IssuedAPIKey.self, .post, "/api/v1/devices/\(device.id)/api-keys", as: fixture.operatorCaller, json: #"{"name":"field unit"}"#)
            #expect(issued.key.hasPrefix("smk_"))
            #expect(issued.key.count > 40)
            #expect(try await index.lookup(digest: OpaqueSecret.digest(issued.key))
                    == .active(.init(deviceID: device.id.uuidString.lowercased(), tenantID: fixture.organisation.id.uuidString.lowercased(), plan: nil,
                                     organisationID: fixture.organisation.id.uuidString.lowercased())))

            // The listing and the database never hold the key itself.
            let listed = try await client.call(.get, "/api/v1/devices/\(device.id)/api-keys", as: fixture.viewer)
            #expect(!String(buffer: listed.body).contains(issued.key))
            #expect(try DeviceAPITestApp.decode(APIKeyList.self, listed).items.map(\.id) == [issued.apiKey.id])
            let database = PostgresClient(configuration: try DeviceAPITestApp.configuration().metadataDatabase)
            let stored = try await database.withTransaction { session in
                try await session.query("SELECT set_config('sensormine.platform_admin', 'on', true)")
                return try await session.query("SELECT key_hash FROM api_keys WHERE device_id = $1", [device.id]).rows.compactMap { $0.first ?? nil }
            }
            await database.shutdown()
            #expect(stored == [OpaqueSecret.digest(issued.key)])

            let rotated = try await client.created(IssuedAPIKey.self, .post, "/api/v1/devices/\(device.id)/api-keys/\(issued.apiKey.id)/rotate",
                                                   as: fixture.operatorCaller, json: "{}")
            #expect(try await index.lookup(digest: OpaqueSecret.digest(issued.key)) == .revoked)
            guard case .active = try await index.lookup(digest: OpaqueSecret.digest(rotated.key)) else {
                Issue.record("the rotated key is not active")
                return
            }
            #expect(try await client.call(.delete, "/api/v1/devices/\(device.id)/api-keys/\(rotated.apiKey.id)", as: fixture.viewer).status == .forbidden)
            #expect(try await client.call(.delete, "/api/v1/devices/\(device.id)/api-keys/\(rotated.apiKey.id)", as: fixture.operatorCaller).status == .noContent)
            #expect(try await index.lookup(digest: OpaqueSecret.digest(rotated.key)) == .revoked)
            #expect(try await client.call(.delete, "/api/v1/devices/\(device.id)/api-keys/\(rotated.apiKey.id)", as: fixture.operatorCaller).status == .notFound)

            // Decommissioning revokes whatever keys remain.
            let last = try await client.created(IssuedAPIKey.self, .post, "/api/v1/devices/\(device.id)/api-keys", as: fixture.operatorCaller, json: "{}")
            _ = try await client.ok(Device.self, .delete, "/api/v1/devices/\(device.id)", as: fixture.operatorCaller)
            #expect(try await index.lookup(digest: OpaqueSecret.digest(last.key)) == .revoked)
            #expect(try await client.call(.post, "/api/v1/devices/\(device.id)/api-keys", as: fixture.operatorCaller, json: "{}").status == .conflict)
        }
        await redis.shutdown()
    }

    @Test("MQTT credentials: the real broker accepts a device on its own topics and refuses it on another's")
    func mqttConfinement() async throws {
        let app = try await DeviceAPITestApp.make()
        try await app.test(.live) { client in
            let fixture = try await DeviceFixture.make(client)
            let device = try await fixture.registerDevice(client, name: "mqtt-own")
            let neighbour = try await fixture.registerDevice(client, name: "mqtt-neighbour")
            // DeviceAPI's broker connection comes up with the app; the first call may find it still connecting.
            var credentials: IssuedMQTTCredentials?
            for _ in 0..<50 {
                let response = try await client.call(.put, "/api/v1/devices/\(device.id)/mqtt-credentials", as: fixture.operatorCaller)
                if response.status == .ok { credentials = try DeviceAPITestApp.decode(IssuedMQTTCredentials.self, response); break }
                try #require(response.status == .serviceUnavailable, "\(String(buffer: response.body))")
                try await Task.sleep(for: .milliseconds(100))
            }
            let issued = try #require(credentials)
            #expect(issued.username == device.id.uuidString.lowercased())
            #expect(issued.telemetryTopic == "tenants/\(fixture.organisation.id.uuidString.lowercased())/devices/\(issued.username)/telemetry")

            let connection = try await DeviceConnection.connect(username: issued.username, password: issued.password)
            try await connection.publish(topic: issued.telemetryTopic, payload: Array(#"{"temperature":21.5}"#.utf8), qos: 1)
            let foreign = DeviceCredentials.telemetryTopic(tenantID: fixture.organisation.id, deviceID: neighbour.id)
            let refusal = await #expect(throws: ClientError.self) {
                try await connection.publish(topic: foreign, payload: Array("{}".utf8), qos: 1)
            }
            #expect(refusal?.code == .notAuthorized)
            #expect(refusal?.serverCode == "135")
            let otherTenant = "tenants/\(UUID().uuidString.lowercased())/devices/\(issued.username)/telemetry"
            #expect(await (try? connection.publish(topic: otherTenant, payload: Array("{}".utf8), qos: 1)) == nil)
            try await connection.subscribe(issued.commandFilter)
            #expect(await (try? connection.subscribe("tenants/\(fixture.organisation.id.uuidString.lowercased())/devices/\(neighbour.id.uuidString.lowercased())/commands/#")) == nil)
            connection.disconnect()

            // Rotation retires the old password; decommissioning removes the account.
            let rotated = try await client.ok(IssuedMQTTCredentials.self, .put, "/api/v1/devices/\(device.id)/mqtt-credentials", as: fixture.operatorCaller)
            #expect(rotated.password != issued.password)
            #expect(await (try? DeviceConnection.connect(username: issued.username, password: issued.password)) == nil)
            let fresh = try await DeviceConnection.connect(username: rotated.username, password: rotated.password)
            fresh.disconnect()
            _ = try await client.ok(Device.self, .delete, "/api/v1/devices/\(device.id)", as: fixture.operatorCaller)
            let afterDecommission = await #expect(throws: ClientError.self) {
                try await DeviceConnection.connect(username: rotated.username, password: rotated.password).disconnect()
            }
            #expect(afterDecommission?.code == .notAuthorized)
        }
    }

    @Test("a credential change whose commit fails leaves Redis and the broker as they were; once commits succeed it is applied")
    func failedCommit() async throws {
        let app = try await DeviceAPITestApp.make()
        let (index, redis) = try Self.index
        let database = PostgresClient(configuration: try DeviceAPITestApp.configuration().metadataDatabase)
        let suffix = UUID().uuidString.prefix(8).lowercased()
        try await app.test(.live) { client in
            let fixture = try await DeviceFixture.make(client)
            let device = try await fixture.registerDevice(client, name: "refused-commit")
            let key = try await client.created(IssuedAPIKey.self, .post, "/api/v1/devices/\(device.id)/api-keys", as: fixture.operatorCaller, json: "{}")
            var credentials: IssuedMQTTCredentials?
            for _ in 0..<50 where credentials == nil {
                let response = try await client.call(.put, "/api/v1/devices/\(device.id)/mqtt-credentials", as: fixture.operatorCaller)
                if response.status == .ok { credentials = try DeviceAPITestApp.decode(IssuedMQTTCredentials.self, response) } else { try await Task.sleep(for: .milliseconds(100)) }
            }
            let mqtt = try #require(credentials)
            let digest = OpaqueSecret.digest(key.key)

            // From here on, every transaction that records an event of this device fails at
            // COMMIT (a deferred constraint trigger), as a commit does when the connection or
            // the server is lost at that moment.
            try await database.withSession { try await $0.executeScript("""
                CREATE FUNCTION refuse_commit_\(suffix)() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'commit refused by the test' USING ERRCODE = '40001'; END $$
                """) }
            try await database.withSession { try await $0.executeScript("""
                CREATE CONSTRAINT TRIGGER refuse_commit_\(suffix) AFTER INSERT ON outbox_events DEFERRABLE INITIALLY DEFERRED
                FOR EACH ROW WHEN (NEW.key = '\(device.id.uuidString.lowercased())') EXECUTE FUNCTION refuse_commit_\(suffix)()
                """) }
            do {
                let attempts: [(HTTPRequest.Method, String)] = [
                    (.post, "/api/v1/devices/\(device.id)/api-keys/\(key.apiKey.id)/rotate"),
                    (.delete, "/api/v1/devices/\(device.id)/api-keys/\(key.apiKey.id)"),
                    (.put, "/api/v1/devices/\(device.id)/mqtt-credentials"),
                    (.delete, "/api/v1/devices/\(device.id)/mqtt-credentials"),
                    (.delete, "/api/v1/devices/\(device.id)"),
                ]
                for (method, path) in attempts {
                    let response = try await client.call(method, path, as: fixture.operatorCaller, json: method == .post ? "{}" : nil)
                    #expect(response.status == .serviceUnavailable, "\(method) \(path): \(String(buffer: response.body))")
                    // Nothing outside the database moved: the key still authenticates, the
                    // device's password still opens its MQTT account.
                    #expect(try await index.lookup(digest: digest) == .active(.init(
                        deviceID: device.id.uuidString.lowercased(), tenantID: fixture.organisation.id.uuidString.lowercased(), plan: nil,
                        organisationID: fixture.organisation.id.uuidString.lowercased())), "\(method) \(path)")
                    let connection = try await DeviceConnection.connect(username: mqtt.username, password: mqtt.password)
                    connection.disconnect()
                }
            } catch {
                Issue.record("\(error)")
            }
            try await database.withSession { try await $0.executeScript("DROP TRIGGER refuse_commit_\(suffix) ON outbox_events") }
            try await database.withSession { try await $0.executeScript("DROP FUNCTION refuse_commit_\(suffix)()") }

            // With commits succeeding again, decommissioning withdraws both.
            _ = try await client.ok(Device.self, .delete, "/api/v1/devices/\(device.id)", as: fixture.operatorCaller)
            #expect(try await index.lookup(digest: digest) == .revoked)
            let refused = await #expect(throws: ClientError.self) {
                try await DeviceConnection.connect(username: mqtt.username, password: mqtt.password).disconnect()
            }
            #expect(refused?.code == .notAuthorized)
        }
        await database.shutdown()
        await redis.shutdown()
    }
}
