import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LibPQ
import Logging
import RdKafka
import SensormineClients
import SensormineContracts
import SensormineCore
import SensormineJSON
import TestSupport
import Testing

@testable import Alerts

/// An organisation with one site, a device type of the organisation and a device of the site,
/// seeded by SQL (DeviceAPI owns these tables; its own tests cover its API).
struct SeededTenants {
    let organisation = UUID()
    let site = UUID()
    let stranger = UUID()
    let deviceType = UUID()
    let device = UUID()
    let strangerDevice = UUID()

    static func seed() async throws -> SeededTenants {
        let seeded = SeededTenants()
        let database = PostgresClient(configuration: .init(url: try #require(ProcessInfo.processInfo.environment["SENSORMINE_METADATA_DB_URL"]), name: "alerts-seed"))
        defer { Task { await database.shutdown() } }
        try await database.withTransaction { session in
            try await session.query("SELECT set_config('sensormine.platform_admin', 'on', true)")
            let (org, site, stranger) = (seeded.organisation, seeded.site, seeded.stranger)
            try await session.execute("INSERT INTO tenants (id, parent_id, path, name, kind) VALUES ($1, NULL, $2::uuid[], $3, 'organisation')",
                                      [org, "{\(org)}", "alerts-org-\(org)"])
            try await session.execute("INSERT INTO tenants (id, parent_id, path, name, kind) VALUES ($1, $2, $3::uuid[], 'site', 'site')",
                                      [site, org, "{\(org),\(site)}"])
            try await session.execute("INSERT INTO tenants (id, parent_id, path, name, kind) VALUES ($1, NULL, $2::uuid[], $3, 'organisation')",
                                      [stranger, "{\(stranger)}", "alerts-stranger-\(stranger)"])
            try await session.execute("INSERT INTO device_types (id, tenant_id, name) VALUES ($1, $2, 'turbine')", [seeded.deviceType, org])
            try await session.execute("INSERT INTO devices (id, tenant_id, device_type_id, name) VALUES ($1, $2, $3, 'gt-1')", [seeded.device, site, seeded.deviceType])
            let strangerType = UUID()
            try await session.execute("INSERT INTO device_types (id, tenant_id, name) VALUES ($1, $2, 'pump')", [strangerType, stranger])
            try await session.execute("INSERT INTO devices (id, tenant_id, device_type_id, name) VALUES ($1, $2, $3, 'p-1')", [seeded.strangerDevice, stranger, strangerType])
        }
        return seeded
    }
}

enum AlertsTestApp {
    static let logger: Logger = {
        var logger = Logger(label: "alerts-tests")
        logger.logLevel = .warning
        return logger
    }()

    static func values(topicPrefix: String) -> [String: String] {
        var values = ProcessInfo.processInfo.environment.filter { $0.key.hasPrefix("SENSORMINE_") }
        values["SENSORMINE_HTTP_PORT"] = "0"
        values["SENSORMINE_HTTP_HOST"] = "127.0.0.1"
        values["SENSORMINE_KAFKA_TOPIC_PREFIX"] = topicPrefix
        return values
    }

    static func make(topicPrefix: String) async throws -> ServiceApplication {
        let configuration = try AlertsConfiguration(reader: ConfigReader(values: values(topicPrefix: topicPrefix)))
        return try await AlertsService.buildApplication(configuration, observability: Observability(logger: logger))
    }
}

@Suite("Alerts rules")
struct RuleTests {
    static func rule(name: String, scope: String, condition: String = #"{"type":"threshold","metric":"temperature","comparison":"above","level":900,"hysteresis":5}"#,
                     extra: String = "") -> String {
        #"{"name":"\#(name)","scope":\#(scope),"condition":\#(condition),"forSeconds":60,"severity":"critical","labels":{"site":"north"}\#(extra)}"#
    }

    @Test("rules are created, read, replaced and deleted per tenant; sub-tenants read what their parent applies to them; every change reaches alerts.rules")
    func lifecycle() async throws {
        let seeded = try await SeededTenants.seed()
        let prefix = "alerts-\(UUID().uuidString.prefix(8).lowercased())"
        let kafka = try KafkaSettings(reader: ConfigReader(values: AlertsTestApp.values(topicPrefix: prefix)))
        let admin = try KafkaAdmin(configuration: kafka.kafka, logger: AlertsTestApp.logger)
        try await admin.createTopics([kafka.topics.alertRules], partitions: 3)
        await admin.shutdown()

        let orgAdmin = CallerIdentity(subject: "org-admin", tenantID: seeded.organisation, roles: [.tenantAdmin])
        let orgViewer = CallerIdentity(subject: "org-viewer", tenantID: seeded.organisation, roles: [.viewer])
        let siteOperator = CallerIdentity(subject: "site-op", tenantID: seeded.site, roles: [.operator])
        let stranger = CallerIdentity(subject: "stranger", tenantID: seeded.stranger, roles: [.tenantAdmin])
        try await AlertsTestApp.make(topicPrefix: prefix).test(.live) { client in
            // The organisation watches its site's device; viewers may not write.
            let deviceScope = #"{"kind":"device","deviceId":"\#(seeded.device)"}"#
            let (created, first) = try await client.call(.post, "/api/v1/alerts/rules", as: orgAdmin, json: Self.rule(name: "hot turbine", scope: deviceScope))
            #expect(created == .created)
            #expect(first["revision"] == .number(1))
            #expect(first["condition"]?["type"] == .string("threshold"))
            let ruleID = try #require(first["id"]?.string)
            #expect(try await client.call(.post, "/api/v1/alerts/rules", as: orgViewer, json: Self.rule(name: "x", scope: deviceScope)).0 == .forbidden)

            // A rule of the organisation's type, applied to its sites as well.
            let typeScope = #"{"kind":"deviceType","deviceTypeId":"\#(seeded.deviceType)"}"#
            let (inheritedStatus, inherited) = try await client.call(.post, "/api/v1/alerts/rules", as: orgAdmin,
                                                                     json: Self.rule(name: "fleet rpm", scope: typeScope, extra: #","appliesToSubTenants":true"#))
            #expect(inheritedStatus == .created)
            let inheritedID = try #require(inherited["id"]?.string)

            let (_, orgList) = try await client.call(.get, "/api/v1/alerts/rules", as: orgViewer)
            #expect(orgList["items"]?.array?.compactMap { $0["name"]?.string } == ["fleet rpm", "hot turbine"])
            // The site reads the inherited rule only, and cannot change it.
            let (_, siteList) = try await client.call(.get, "/api/v1/alerts/rules", as: siteOperator)
            #expect(siteList["items"]?.array?.compactMap { $0["id"]?.string } == [inheritedID])
            #expect(try await client.call(.put, "/api/v1/alerts/rules/\(inheritedID)", as: siteOperator, json: Self.rule(name: "mine", scope: typeScope)).0 == .notFound)
            #expect(try await client.call(.delete, "/api/v1/alerts/rules/\(inheritedID)", as: siteOperator).0 == .notFound)
            // Another tenant sees none of it and cannot aim a rule at the organisation's device.
            #expect(try await client.call(.get, "/api/v1/alerts/rules/\(ruleID)", as: stranger).0 == .notFound)
            let (crossStatus, cross) = try await client.call(.post, "/api/v1/alerts/rules", as: stranger, json: Self.rule(name: "spy", scope: deviceScope))
            #expect(crossStatus == .unprocessableContent)
            #expect(cross["errors"]?.array?.first?["pointer"] == .string("/scope/deviceId"))
            #expect(try await client.call(.post, "/api/v1/alerts/rules?tenantId=\(seeded.organisation)", as: stranger, json: Self.rule(name: "spy", scope: deviceScope)).0 == .notFound)

            // Replacing raises the revision; deleting leaves a tombstone.
            let (replaced, second) = try await client.call(.put, "/api/v1/alerts/rules/\(ruleID)", as: orgAdmin,
                                                           json: Self.rule(name: "hot turbine", scope: deviceScope,
                                                                           condition: #"{"type":"window","metric":"temperature","aggregate":"avg","minutes":5,"comparison":"above","level":850}"#))
            #expect(replaced == .ok)
            #expect(second["revision"] == .number(2))
            #expect(second["condition"]?["aggregate"] == .string("avg"))
            #expect(try await client.call(.delete, "/api/v1/alerts/rules/\(ruleID)", as: orgAdmin).0 == .noContent)
            #expect(try await client.call(.get, "/api/v1/alerts/rules/\(ruleID)", as: orgAdmin).0 == .notFound)

            // What reached alerts.rules, per rule in order: revisions 1 and 2, then a tombstone.
            let consumer = try KafkaConsumer(configuration: .init(kafka: kafka.kafka, groupID: "\(prefix).reader", topics: [kafka.topics.alertRules]),
                                             logger: AlertsTestApp.logger)
            var seen: [String: [String]] = [:]
            for _ in 0..<150 where (seen[ruleID]?.count ?? 0) < 3 || seen[inheritedID] == nil {
                // Rules of other tests' tenants are republished at start too: only this test's count.
                for message in try await consumer.poll(timeout: .milliseconds(200)) {
                    let key = String(decoding: message.key ?? [], as: UTF8.self)
                    guard key == ruleID || key == inheritedID else { continue }
                    if message.value.isEmpty {
                        seen[key, default: []].append("tombstone")
                    } else {
                        let rule = try ContractCoding.decoder().decode(AlertRule.self, from: Data(message.value))
                        #expect(rule.id.uuidString.lowercased() == key)
                        #expect(message.header("tenant") == seeded.organisation.uuidString.lowercased())
                        seen[key, default: []].append("revision \(rule.revision)")
                    }
                }
            }
            await consumer.close()
            #expect(seen[ruleID] == ["revision 1", "revision 2", "tombstone"])
            #expect(seen[inheritedID] == ["revision 1"])
        }
    }

    @Test("invalid rules answer 422 naming each field by its JSON pointer", arguments: [
        (#"{"name":"r","scope":{"kind":"tag","tag":"a"},"condition":{"type":"spike","metric":"t"}}"#, "/condition/type"),
        (#"{"name":"r","scope":{"kind":"tag","tag":"a"},"condition":{"type":"noData","seconds":-5}}"#, "/condition/seconds"),
        (#"{"name":"r","scope":{"kind":"tag","tag":"a"},"condition":{"type":"threshold","metric":"t","comparison":"above","level":1},"forSeconds":-1}"#, "/forSeconds"),
        (#"{"name":"r","scope":{"kind":"tag"},"condition":{"type":"threshold","metric":"t","comparison":"above","level":1}}"#, "/scope/tag"),
        (#"{"name":"r","scope":{"kind":"device"},"condition":{"type":"threshold","metric":"t","comparison":"above","level":1}}"#, "/scope/deviceId"),
        (#"{"name":"r","scope":{},"condition":{"type":"threshold","metric":"t","comparison":"above","level":1}}"#, "/scope/kind"),
        (#"{"name":"r","scope":{"kind":"tag","tag":"a"},"condition":{"type":"any","conditions":[{"type":"threshold","metric":"t","comparison":"sideways","level":1}]}}"#, "/condition/conditions/0/comparison"),
        (#"{"name":"r","scope":{"kind":"tag","tag":"a"},"condition":{"type":"window","metric":"t","aggregate":"median","minutes":5,"comparison":"above","level":1}}"#, "/condition/aggregate"),
        (#"{"name":"r","scope":{"kind":"tag","tag":"a"},"condition":{"type":"anomaly","metric":"t","level":7}}"#, "/condition/level"),
        (#"{"name":"","scope":{"kind":"tag","tag":"a"},"condition":{"type":"anomaly","metric":"t","level":0.9}}"#, "/name"),
    ])
    func invalid(body: String, pointer: String) async throws {
        let caller = CallerIdentity(subject: "op", tenantID: UUID(), roles: [.operator])
        try await AlertsTestApp.make(topicPrefix: "alerts-invalid").test(.router) { client in
            let (status, problem) = try await client.call(.post, "/api/v1/alerts/rules", as: caller, json: body)
            #expect(status == .unprocessableContent)
            let pointers = problem["errors"]?.array?.compactMap { $0["pointer"]?.string } ?? []
            #expect(pointers.contains(pointer), "\(pointers)")
        }
    }

    @Test("`Alerts migrate` creates the topics Alerts depends on, with their partitions, where they are missing")
    func migrateCreatesTopics() async throws {
        let prefix = "alerts-migrate-\(UUID().uuidString.prefix(8).lowercased())"
        let configuration = try AlertsConfiguration(reader: ConfigReader(values: AlertsTestApp.values(topicPrefix: prefix)))
        try await AlertsService.migrate(configuration, logger: AlertsTestApp.logger)
        try await AlertsService.migrate(configuration, logger: AlertsTestApp.logger)  // existing topics are fine
        func assignedPartitions(_ topic: String, polls: Int) async throws -> Int {
            let consumer = try KafkaConsumer(configuration: .init(kafka: configuration.kafka.kafka, groupID: "\(prefix).\(topic)", topics: [topic]),
                                             logger: AlertsTestApp.logger)
            var assigned = 0
            for _ in 0..<polls where assigned == 0 {
                _ = try await consumer.poll(timeout: .milliseconds(100))
                assigned = try await consumer.assignedPartitionCount()
            }
            await consumer.close()
            return assigned
        }
        // The broker does not create topics a consumer merely asks for: without `migrate` there is nothing to assign.
        #expect(try await assignedPartitions("\(prefix).never-created", polls: 30) == 0)
        for topic in [configuration.kafka.topics.alertRules, configuration.kafka.topics.alertsTriggered] {
            #expect(try await assignedPartitions(topic, polls: 100) == 3, "\(topic)")
        }
    }

    @Test("the condition contract round-trips through JSON for every type, nested")
    func conditionContract() throws {
        let condition = AlertCondition.any([
            .threshold(metric: "t", comparison: .above, level: 900, hysteresis: 5),
            .all([.rate(metric: "p", comparison: .below, level: -2, unit: .perMinute), .noData(metric: nil, seconds: 300)]),
            .window(metric: "rpm", aggregate: .max, minutes: 15, comparison: .above, level: 3600),
            .anomaly(metric: "vibration", level: 0.95),
        ])
        let data = try ContractCoding.encoder().encode(condition)
        #expect(try ContractCoding.decoder().decode(AlertCondition.self, from: data) == condition)
        #expect(throws: DecodingError.self) { try ContractCoding.decoder().decode(AlertCondition.self, from: Data(#"{"type":"spike"}"#.utf8)) }
    }
}
