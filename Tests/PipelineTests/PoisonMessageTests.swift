import Curl
import Foundation
import LibPQ
import SensormineAuth
import SensormineClients
import SensormineCore
import SensormineJSON
import Testing

/// Messages the database would refuse, sent through the whole pipeline on plain PostgreSQL's
/// native partitions: each is dead-lettered with its reason and the messages around it are
/// stored, so no tenant's bad data stops a partition for everyone.
@Suite("Ingestion never stops for a bad message")
struct PoisonMessageTests {
    @Test("U+0000 in a metric name or a message id, values whose rollup sums could pass float8, year 1 and a value a CHECK constraint refuses are dead letters; everything around them is stored")
    func poisonMessages() async throws {
        try await ScratchTimeseries.plain.withURL { url, timeseries in
            let overrides = ["SENSORMINE_TIMESERIES_DB_URL": url]
            let tokens = try await AccessTokens(settings: try TokenSettings(reader: ConfigReader(values: PipelineTestStack.values(port: 0))))
            // An operator's constraint that the database enforces and Ingestion cannot foresee:
            // the message it refuses is found by halving its batch.
            _ = try await timeseries.query("ALTER TABLE telemetry ADD CONSTRAINT poison_check CHECK (value <> 666)")
            try await PipelineTestStack.run(overrides: overrides) { gateway in
                let client = HTTPClient(configuration: .init(maximumRetries: 0))
                defer { Task { await client.shutdown() } }
                let admin = try await tokens.issue(for: CallerIdentity(subject: "root", tenantID: UUID(), roles: [.platformAdmin])).token
                let org = try await PipelineTests.call(client, "POST", gateway + "/api/v1/tenants", token: admin,
                                                       json: #"{"name":"Poison \#(UUID().uuidString.prefix(8))","kind":"organisation"}"#)
                let tenant = try #require(org.body["id"]?.string).lowercased()
                let orgAdmin = try await tokens.issue(for: CallerIdentity(subject: "ops", tenantID: try #require(UUID(uuidString: tenant)), roles: [.tenantAdmin])).token
                let type = try await PipelineTests.call(client, "POST", gateway + "/api/v1/device-types", token: orgAdmin, json: #"{"name":"Unvalidated"}"#)
                let typeID = try #require(type.body["id"]?.string)
                let device = try await PipelineTests.call(client, "POST", gateway + "/api/v1/devices", token: orgAdmin,
                                                          json: #"{"name":"poison-1","deviceTypeId":"\#(typeID)"}"#)
                let deviceID = try #require(device.body["id"]?.string).lowercased()
                let key = try #require(try await PipelineTests.call(client, "POST", gateway + "/api/v1/devices/\(deviceID)/api-keys", token: orgAdmin, json: "{}").body["key"]?.string)

                let hour = (Int(Date().timeIntervalSince1970) / 3600 - 1) * 3600
                func at(_ second: Int) -> String { RFC3339Text.format(hour + second) }
                // One request, so the messages travel in order and most likely in one batch.
                let body = """
                    [{"time":"\(at(1))","good":1},
                     {"time":"\(at(2))","a\\u0000b":1},
                     {"time":"\(at(3))","good":2},
                     {"time":"\(at(4))","huge":1.7e308},
                     {"time":"\(at(5))","huge":1.7e308},
                     {"time":"\(at(6))","good":3},
                     {"time":"0001-01-01T00:00:00Z","good":-1},
                     {"messageId":"m\\u0000id","time":"\(at(7))","note":"no measurement"},
                     {"time":"\(at(8))","checked":666},
                     {"time":"\(at(8))","good":4}]
                    """
                let sent = try await PipelineTests.call(client, "POST", gateway + "/api/v1/ingest", apiKey: key, json: body)
                #expect(sent.status == 202, "\(sent.body)")
                #expect(sent.body["accepted"]?.number == 10)
                // One more, later, to show the partition still moves.
                #expect(try await PipelineTests.call(client, "POST", gateway + "/api/v1/ingest", apiKey: key, json: #"{"time":"\#(at(9))","good":5}"#).status == 202)

                var good: [Double] = []
                var letters: [PostgresRow] = []
                for _ in 0..<200 where good.count < 5 || letters.count < 6 {
                    try await Task.sleep(for: .milliseconds(100))
                    good = try await timeseries.query("SELECT value FROM telemetry WHERE device_id = $1 AND metric = 'good' ORDER BY time", [deviceID]).all.compactMap { $0.double("value") }
                    letters = try await timeseries.query("SELECT reason, message_id, headers::text AS headers FROM dead_letters WHERE device_id = $1 ORDER BY kafka_offset", [deviceID]).all
                }
                #expect(good == [1, 2, 3, 4, 5])
                let huge = try await timeseries.query("SELECT count(*) AS n FROM telemetry WHERE device_id = $1 AND metric = 'huge'", [deviceID]).first?.int("n")
                #expect(huge == 0)
                let reasons = letters.compactMap { $0["reason"] }
                #expect(reasons.count == 6, "\(reasons)")
                #expect(reasons.contains { $0.contains("contains U+0000") })
                #expect(reasons.filter { $0.contains("measurement 'huge'") && $0.contains("beyond ±1e298") }.count == 2)
                #expect(reasons.contains { $0.contains("the database refused it") && $0.contains("SQLSTATE 23514") })
                #expect(reasons.contains { $0.contains("event time 0001-01-01") && $0.contains("before the receive time") })
                #expect(reasons.contains { $0.contains("no numeric or boolean measurement") })
                // The message id's U+0000 is shown as U+FFFD in the searchable fields; the original bytes are kept.
                #expect(letters.contains { $0["message_id"] == "m\u{FFFD}id" && ($0["headers"] ?? "").contains("m\u{FFFD}id") })
                // Year 1 made no partition: only the days around now exist.
                let partitions = try await timeseries.query("SELECT count(*) AS n FROM pg_inherits WHERE inhparent = 'telemetry'::regclass").first?.int("n") ?? 0
                #expect(partitions < 20)
            }
        }
    }
}

/// Whole seconds since 1970 as RFC 3339 text.
enum RFC3339Text {
    static func format(_ seconds: Int) -> String {
        ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
    }
}

extension PipelineTests {
    @Test("a site's device of its organisation's type is validated against the organisation's schema")
    func inheritedTypeAndSchema() async throws {
        let tokens = try await AccessTokens(settings: try TokenSettings(reader: ConfigReader(values: PipelineTestStack.values(port: 0))))
        try await PipelineTestStack.run { gateway in
            let client = HTTPClient(configuration: .init(maximumRetries: 0))
            defer { Task { await client.shutdown() } }
            let root = try await tokens.issue(for: CallerIdentity(subject: "root", tenantID: UUID(), roles: [.platformAdmin])).token
            let org = try #require(try await Self.call(client, "POST", gateway + "/api/v1/tenants", token: root,
                                                       json: #"{"name":"Inherit \#(UUID().uuidString.prefix(8))","kind":"organisation"}"#).body["id"]?.string)
            let orgID = try #require(UUID(uuidString: org))
            let orgAdmin = try await tokens.issue(for: CallerIdentity(subject: "ops", tenantID: orgID, roles: [.tenantAdmin], organisationID: orgID)).token
            let site = try #require(try await Self.call(client, "POST", gateway + "/api/v1/tenants", token: orgAdmin,
                                                        json: #"{"name":"Site","kind":"site","parentId":"\#(org)"}"#).body["id"]?.string)
            let siteID = try #require(UUID(uuidString: site))
            let siteOperator = try await tokens.issue(for: CallerIdentity(subject: "site-op", tenantID: siteID, roles: [.operator], organisationID: orgID)).token
            let subject = "compressor-\(UUID().uuidString.prefix(8).lowercased())"
            #expect(try await Self.call(client, "POST", gateway + "/api/v1/schemas/subjects/\(subject)/versions", token: orgAdmin,
                                        json: #"{"schema":{"type":"object","required":["psi"],"properties":{"psi":{"type":"number","maximum":200}}}}"#).status == 201)
            let type = try #require(try await Self.call(client, "POST", gateway + "/api/v1/device-types", token: orgAdmin,
                                                        json: #"{"name":"Compressor","schemaSubject":"\#(subject)"}"#).body["id"]?.string)
            let device = try await Self.call(client, "POST", gateway + "/api/v1/devices", token: siteOperator, json: #"{"name":"c-1","deviceTypeId":"\#(type)"}"#)
            #expect(device.status == 201, "\(device.body)")
            let deviceID = try #require(device.body["id"]?.string)
            let key = try #require(try await Self.call(client, "POST", gateway + "/api/v1/devices/\(deviceID)/api-keys", token: siteOperator, json: "{}").body["key"]?.string)
            let now = ISO8601DateFormatter().string(from: Date())
            #expect(try await Self.call(client, "POST", gateway + "/api/v1/ingest", apiKey: key,
                                        json: #"[{"time":"\#(now)","psi":120},{"time":"\#(now)","psi":500}]"#).status == 202)
            var reasons: [String] = []
            for _ in 0..<150 where reasons.isEmpty {
                try await Task.sleep(for: .milliseconds(100))
                reasons = (try await Self.call(client, "GET", gateway + "/api/v1/deadletters?device=\(deviceID)", token: siteOperator).body["items"]?.array ?? [])
                    .compactMap { $0["reason"]?.string }
            }
            #expect(reasons.count == 1)
            #expect(reasons.first?.contains("schema \(subject) v1") == true, "\(reasons)")
            let stored = try await Self.call(client, "GET", gateway + "/api/v1/telemetry/devices/\(deviceID)/points?metric=psi&from=\(ISO8601DateFormatter().string(from: Date().addingTimeInterval(-120)))",
                                             token: siteOperator)
            #expect(stored.body["points"]?.array?.compactMap { $0["value"]?.number } == [120])
        }
    }
}
