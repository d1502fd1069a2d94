import Curl
import Foundation
import Mosquitto
import RdKafka
import SensormineAuth
import SensormineClients
import SensormineContracts
import SensormineCore
import SensormineJSON
import Testing

/// Journey 9's quotas through the real gateway: Billing's quota state, reached by usage the
/// gateway and Ingestion meter, turns into a warning header and one alert at 80 %, and into
/// refusals at 100 % (API calls, devices, HTTP ingest, MQTT to the dead-letter topic); raising
/// the plan lifts them.
@Suite("Quota journey", .serialized)
struct QuotaJourneyTests {
    struct Answer {
        var status: Int
        var body: JSON
        var headers: [(name: String, value: String)]
        /// The body's length as sent.
        var bytes: Int

        func header(_ name: String) -> String? { self.headers.first { $0.name.lowercased() == name.lowercased() }?.value }
    }

    static func call(_ client: HTTPClient, _ method: String, _ url: String, token: String? = nil, apiKey: String? = nil, json: String? = nil) async throws -> Answer {
        var headers: [(name: String, value: String)] = [("Content-Type", "application/json")]
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        if let apiKey { headers.append(("X-API-Key", apiKey)) }
        let response = try await client.execute(HTTPClientRequest(method: method, url: url, headers: headers, body: json.map { Array($0.utf8) }))
        return Answer(status: response.status, body: (try? JSON.parse(response.body)) ?? .null, headers: response.headers, bytes: response.body.count)
    }

    static func eventually(_ what: Comment, seconds: Int = 60, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("not within \(seconds) s: \(what)")
    }

    @Test("API calls: a warning header and one alert at 80 %, 429 with Retry-After at 100 % (Billing's routes still answer); devices, HTTP ingest and MQTT refused past their quotas (MQTT dead-lettered with reason quota-exceeded); a larger plan lifts every limit")
    func quotaTransitions() async throws {
        let overrides = [
            "SENSORMINE_GATEWAY_USAGE_INTERVAL": "300ms", "SENSORMINE_INGESTION_USAGE_INTERVAL": "300ms", "SENSORMINE_QUERY_USAGE_INTERVAL": "300ms",
            "SENSORMINE_BILLING_QUOTA_INTERVAL": "2s",
            "SENSORMINE_BILLING_BATCH": "100",
        ]
        let tokens = try await AccessTokens(settings: try TokenSettings(reader: ConfigReader(values: PipelineTestStack.values(port: 0))))
        try await PipelineTestStack.run(alerts: true, billing: true, overrides: overrides) { gateway in
            let client = HTTPClient(configuration: .init(maximumRetries: 0))
            let device = try await ProvisionedDevice.make(client, gateway: gateway, tokens: tokens, name: "Quota")
            let organisation = try #require(UUID(uuidString: device.tenant))
            let root = try await tokens.issue(for: CallerIdentity(subject: "root", tenantID: UUID(), roles: [.platformAdmin])).token
            let admin = try await tokens.issue(for: CallerIdentity(subject: "ops", tenantID: organisation, roles: [.tenantAdmin])).token
            let subscription = gateway + "/api/v1/billing/subscriptions/\(device.tenant)"

            // Only a platform-admin changes a plan; a tenant-admin reads it.
            #expect(try await Self.call(client, "PUT", subscription, token: admin, json: #"{"plan":"pro"}"#).status == 403)
            #expect(try await Self.call(client, "PUT", subscription, token: root, json: #"{"plan":"platinum"}"#).status == 422)
            let small = #"{"plan":"free","includedOverrides":{"api-calls":40,"active-devices":2,"data-ingested":600}}"#
            let set = try await Self.call(client, "PUT", subscription, token: root, json: small)
            #expect(set.status == 200, "\(set.body)")
            #expect(set.body["quota"]?["resources"]?["api-calls"]?["included"]?.number == 40)
            let read = try await Self.call(client, "GET", subscription, token: admin)
            #expect(read.body["subscription"]?["plan"]?.string == "free")

            // Devices: the one ProvisionedDevice made and one more fit; a third is refused.
            let type = try #require(try await Self.call(client, "GET", gateway + "/api/v1/device-types", token: admin).body["items"]?.array?.first?["id"]?.string)
            let second = try await Self.call(client, "POST", gateway + "/api/v1/devices", token: admin, json: #"{"name":"r-2","deviceTypeId":"\#(type)"}"#)
            #expect(second.status == 201)
            let third = try await Self.call(client, "POST", gateway + "/api/v1/devices", token: admin, json: #"{"name":"r-3","deviceTypeId":"\#(type)"}"#)
            #expect(third.status == 429)
            #expect(third.body["type"]?.string?.hasSuffix("quota-exceeded") == true)
            #expect(third.body["detail"]?.string?.contains("active-devices") == true)

            // API calls: the gateway meters them, Billing counts them; a warning past 32, 429 past 40.
            var warning: String?
            var calls = 0
            try await Self.eventually("the quota warning header") {
                let answer = try await Self.call(client, "GET", gateway + "/api/v1/devices", token: admin)
                calls += 1
                // active-devices (2 of 2) is in it from the start; api-calls joins past 80 %.
                warning = answer.header("Sensormine-Quota-Warning")
                return warning?.contains("api-calls=") == true
            }
            #expect(warning?.contains("active-devices=100%") == true)
            #expect(warning?.contains("api-calls=") == true)
            var refusal: Answer?
            try await Self.eventually("429 once the API calls are used up") {
                let answer = try await Self.call(client, "GET", gateway + "/api/v1/devices", token: admin)
                calls += 1
                if answer.status == 429, answer.body["type"]?.string?.hasSuffix("quota-exceeded") == true { refusal = answer }
                return refusal != nil
            }
            #expect(calls > 20)
            let retryAfter = refusal.flatMap { $0.header("Retry-After") }.flatMap(Int.init) ?? 0
            #expect(retryAfter > 0 && retryAfter <= 31 * 86_400)
            #expect(refusal?.header("Sensormine-Quota-Warning")?.contains("api-calls=") == true)
            // Billing's own routes still answer, so a tenant past its quota can see why.
            let usage = try await Self.call(client, "GET", gateway + "/api/v1/billing/usage", token: admin)
            #expect(usage.status == 200)
            let counted = usage.body["resources"]?.array?.first { $0["resource"]?.string == "api-calls" }?["quantity"]?.number ?? 0
            #expect(counted >= 40, "refused only once the organisation's counted API calls reached the 40 included")

            // One alert per level, however many calls crossed it (read by a platform-admin: the
            // tenant's own API calls are refused now).
            #expect(try await Self.call(client, "GET", gateway + "/api/v1/alerts/instances", token: admin).status == 429)
            func quotaAlerts(_ resource: String) async throws -> [JSON] {
                let answer = try await Self.call(client, "GET", gateway + "/api/v1/alerts/instances?limit=1000", token: root)
                return answer.body["items"]?.array?.filter {
                    $0["tenantId"]?.string == device.tenant && $0["source"]?.string == "quota" && $0["labels"]?["resource"]?.string == resource
                } ?? []
            }
            var apiAlerts: [JSON] = []
            try await Self.eventually("the quota alerts") {
                apiAlerts = try await quotaAlerts("api-calls")
                return apiAlerts.count >= 2
            }
            #expect(apiAlerts.compactMap { $0["labels"]?["level"]?.string }.sorted() == ["exceeded", "warning"])
            #expect(apiAlerts.allSatisfy { $0["triggerCount"]?.number == 1 })

            // Telemetry: Billing counts the data ingested past 600 bytes (Ingestion meters it), and
            // then HTTP ingest is refused (EdgeGateway reads billing.quotas; while the local broker
            // settles its consumer groups it may hold messages for tens of seconds).
            var ingestRefusal: Answer?
            var sent = 0
            func send() async throws -> Answer {
                let answer = try await Self.call(client, "POST", gateway + "/api/v1/ingest", apiKey: device.apiKey,
                                                 json: #"{"time":"\#(Date().formatted(.iso8601))","temperature":\#(sent)}"#)
                sent += 1
                #expect(answer.status == 202 || answer.status == 429)
                if answer.status == 429 { ingestRefusal = answer }
                return answer
            }
            try await Self.eventually("Billing's quota state: data ingested used up", seconds: 120) {
                _ = try await send()
                try await Task.sleep(for: .milliseconds(100))
                let state = try await Self.call(client, "GET", subscription, token: root)
                return state.body["quota"]?["resources"]?["data-ingested"]?["level"]?.string == "exceeded"
            }
            try await Self.eventually("HTTP ingest refused past the data-ingested quota", seconds: 120) {
                if try await send().status == 202 { try await Task.sleep(for: .milliseconds(200)) }
                return ingestRefusal != nil
            }
            #expect(ingestRefusal?.body["type"]?.string?.hasSuffix("quota-exceeded") == true)
            #expect(ingestRefusal?.header("Retry-After") != nil)

            // MQTT: what the device publishes now goes to the dead-letter topic, with the reason.
            let mqtt = try await device.connectMQTT(name: "quota")
            let payload = #"{"temperature":99.5,"marker":"\#(UUID().uuidString)"}"#
            try await mqtt.publish(topic: device.topic, payload: Array(payload.utf8), qos: 1)
            var letter: KafkaMessage?
            try await Self.eventually("the MQTT message on the dead-letter topic", seconds: 120) {
                letter = try await StreamJourneyTests.drain(PipelineTestStack.topicPrefix + ".device.telemetry.dlq").first { String(decoding: $0.value, as: UTF8.self) == payload }
                return letter != nil
            }
            #expect(letter?.header("dlq-reason") == "quota-exceeded")
            #expect(letter?.header("tenant") == device.tenant)
            mqtt.disconnect()

            // A larger plan lifts the limits: the gateway's at the next request, the edge's as
            // soon as billing.quotas reaches it.
            #expect(try await Self.call(client, "PUT", subscription, token: root, json: #"{"plan":"pro","includedOverrides":{}}"#).status == 200)
            #expect(try await Self.call(client, "GET", gateway + "/api/v1/devices", token: admin).status == 200)
            #expect(try await Self.call(client, "POST", gateway + "/api/v1/devices", token: admin, json: #"{"name":"r-3","deviceTypeId":"\#(type)"}"#).status == 201)
            try await Self.eventually("HTTP ingest accepted again", seconds: 120) {
                try await Self.call(client, "POST", gateway + "/api/v1/ingest", apiKey: device.apiKey,
                                    json: #"{"time":"\#(Date().formatted(.iso8601))","temperature":1}"#).status == 202
            }
            // What QueryAPI sends the tenant is metered as data egress, byte for byte.
            let points = try await Self.call(client, "GET", gateway + "/api/v1/telemetry/devices/\(device.device)/points?metric=temperature", token: admin)
            #expect(points.status == 200 && points.bytes > 0)
            try await Self.eventually("data egress metered") {
                let usage = try await Self.call(client, "GET", gateway + "/api/v1/billing/usage", token: admin)
                let egress = usage.body["resources"]?.array?.first { $0["resource"]?.string == "data-egress" }?["quantity"]?.number ?? 0
                return egress >= Double(points.bytes)
            }
            // DeviceAPI's tenant settings follow Billing's plan (what new tokens carry).
            try await Self.eventually("the plan in DeviceAPI's tenant settings") {
                try await Self.call(client, "GET", gateway + "/api/v1/tenants/\(device.tenant)", token: admin).body["settings"]?["plan"]?.string == "pro"
            }
            // The resolved levels are resolved in Alerts too.
            try await Self.eventually("the quota alerts resolved") {
                let open = try await (quotaAlerts("api-calls") + quotaAlerts("data-ingested") + quotaAlerts("active-devices")).filter { $0["state"]?.string != "resolved" }
                return open.isEmpty
            }
            await client.shutdown()
        }
    }
}
