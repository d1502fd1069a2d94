import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import RdKafka
import SensormineClients
import SensormineContracts
import SensormineCore
import SensormineJSON
import TestSupport
import Testing

@testable import Alerts

@Suite("Alert lifecycle rules (no database)")
struct AlertFoldTests {
    let tenant = UUID()
    let rule = UUID()
    let device = UUID()
    let facts: RuleFacts

    init() {
        self.facts = RuleFacts(tenantId: self.tenant, name: "hot turbine", severity: .critical, labels: ["site": "north"], enabled: true, appliesToSubTenants: false, notificationPolicyId: nil)
    }

    func event(_ action: AlertEvent.Action, _ sequence: Int64, at seconds: TimeInterval = 0) -> AlertEvent {
        AlertEvent(action: action, source: .rule, tenantId: self.tenant, ruleId: self.rule, deviceId: self.device, sequence: sequence,
                   occurredAt: Date(timeIntervalSince1970: 1_800_000_000 + seconds), labels: ["line": "2"], values: ["temperature": 912], producer: "test")
    }

    @Test("repeated triggers join the open instance; a resolve closes it; a later trigger opens a new one")
    func joinResolveReopen() {
        var fold = AlertKeyFold(state: AlertKeyState(lastSequence: -1, open: nil, recentOpenings: []), flapPolicy: .standard)
        for sequence in 1...50 { fold.apply(self.event(.trigger, Int64(sequence), at: Double(sequence)), rule: self.facts) }
        #expect(fold.touched.count == 1)
        #expect(fold.state.open?.triggerCount == 50)
        #expect(fold.joined == 49)
        #expect(fold.state.open?.severity == .critical)
        #expect(fold.state.open?.labels == ["site": "north", "line": "2"])
        fold.apply(self.event(.resolve, 51, at: 51), rule: self.facts)
        #expect(fold.state.open == nil)
        #expect(fold.touched.first?.state == .resolved)
        fold.apply(self.event(.trigger, 52, at: 52), rule: self.facts)
        #expect(fold.touched.count == 2)
        #expect(fold.transitions.map(\.kind) == [.opened, .resolved, .opened])
    }

    @Test("a late copy of an older event changes nothing: a stale trigger never reopens a resolved alert")
    func staleEvents() {
        var fold = AlertKeyFold(state: AlertKeyState(lastSequence: -1, open: nil, recentOpenings: []), flapPolicy: .standard)
        fold.apply(self.event(.trigger, 10), rule: self.facts)
        fold.apply(self.event(.resolve, 20), rule: self.facts)
        fold.apply(self.event(.trigger, 15), rule: self.facts)
        fold.apply(self.event(.trigger, 20), rule: self.facts)
        #expect(fold.stale == 2)
        #expect(fold.state.open == nil)
        #expect(fold.state.lastSequence == 20)
        #expect(fold.touched.count == 1)
    }

    @Test("an alert opening more often than the policy allows is held firing as flapping")
    func flapping() {
        var fold = AlertKeyFold(state: AlertKeyState(lastSequence: -1, open: nil, recentOpenings: []),
                                flapPolicy: FlapPolicy(maximumOpenings: 3, window: .seconds(600)))
        var sequence: Int64 = 0
        for cycle in 0..<4 {
            sequence += 1
            fold.apply(self.event(.trigger, sequence, at: Double(cycle * 60)), rule: self.facts)
            sequence += 1
            fold.apply(self.event(.resolve, sequence, at: Double(cycle * 60 + 30)), rule: self.facts)
        }
        // Three openings resolve normally; the fourth is held.
        #expect(fold.touched.filter { $0.state == .resolved }.count == 3)
        #expect(fold.state.open?.flapping == true)
        #expect(fold.state.open?.heldResolveAt != nil)
        #expect(fold.transitions.filter { $0.kind == .flapping }.count == 1)
        // A trigger while held clears the held resolve; the alert stays the same instance.
        sequence += 1
        let held = fold.state.open?.id
        fold.apply(self.event(.trigger, sequence, at: 300), rule: self.facts)
        #expect(fold.state.open?.id == held)
        #expect(fold.state.open?.heldResolveAt == nil)
    }

    @Test("events that would corrupt the store or the lifecycle are refused with a reason")
    func eventChecks() {
        var noRule = self.event(.trigger, 1)
        noRule.ruleId = nil
        #expect(AlertEventCheck.problem(noRule) != nil)
        var nul = self.event(.trigger, 1)
        nul.labels["a\u{0}b"] = "x"
        #expect(AlertEventCheck.problem(nul)?.contains("U+0000") == true)
        var infinite = self.event(.trigger, 1)
        infinite.values["t"] = .infinity
        #expect(AlertEventCheck.problem(infinite) != nil)
        let quota = AlertEvent(action: .trigger, source: .quota, tenantId: self.tenant, key: "api-calls", sequence: 1, occurredAt: Date(), producer: "billing")
        #expect(AlertEventCheck.problem(quota)?.contains("severity") == true)
        #expect(AlertEventCheck.problem(self.event(.trigger, 1)) == nil)
    }
}

@Suite("Alert lifecycle through alerts.triggered and the API")
struct AlertLifecycleTests {
    @Test("1,000 repeated triggers make one alert; resolve, stale and new triggers; acknowledge and resolve by API; service-raised alerts; history and CSV")
    func lifecycle() async throws {
        let seeded = try await SeededTenants.seed()
        let prefix = "alerts-life-\(UUID().uuidString.prefix(8).lowercased())"
        var values = AlertsTestApp.values(topicPrefix: prefix)
        values["SENSORMINE_ALERTS_GROUP"] = "\(prefix).alerts"
        values["SENSORMINE_ALERTS_INSTANCE_ID"] = "\(prefix)-1"
        // A second opening within 2 s counts as flapping (the rule's alerts below open at most once per key in that time).
        values["SENSORMINE_ALERTS_FLAP_MAX_OPENINGS"] = "1"
        values["SENSORMINE_ALERTS_FLAP_WINDOW"] = "2s"
        let configuration = try AlertsConfiguration(reader: ConfigReader(values: values))
        try await AlertsService.migrate(configuration, logger: AlertsTestApp.logger)
        let producer = try KafkaProducer(configuration: configuration.kafka.kafka, logger: AlertsTestApp.logger)
        let topic = configuration.kafka.topics.alertsTriggered
        @Sendable func send(_ events: [AlertEvent]) async throws {
            let encoder = ContractCoding.encoder()
            let records = try events.map { KafkaRecord(topic: topic, key: Array($0.partitionKey.utf8), value: Array(try encoder.encode($0))) }
            for result in try await producer.send(records) { _ = try result.get() }
        }

        let admin = CallerIdentity(subject: "org-admin", tenantID: seeded.organisation, roles: [.tenantAdmin])
        let viewer = CallerIdentity(subject: "org-viewer", tenantID: seeded.organisation, roles: [.viewer])
        let siteOperator = CallerIdentity(subject: "site-operator", tenantID: seeded.site, roles: [.operator])
        let stranger = CallerIdentity(subject: "stranger", tenantID: seeded.stranger, roles: [.tenantAdmin])
        let app = try await AlertsService.buildApplication(configuration, observability: Observability(logger: AlertsTestApp.logger))
        try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await producer.run() }
        defer { group.cancelAll() }
        try await app.test(.live) { client in
            let scope = #"{"kind":"device","deviceId":"\#(seeded.device)"}"#
            let (_, rule) = try await client.call(.post, "/api/v1/alerts/rules", as: admin, json: RuleTests.rule(name: "hot turbine", scope: scope))
            let ruleID = try #require(rule["id"]?.string.flatMap(UUID.init(uuidString:)))
            // The device belongs to the site; the organisation's rule watches it, so its alerts are the site's.
            func trigger(_ sequence: Int64, _ action: AlertEvent.Action = .trigger) -> AlertEvent {
                AlertEvent(action: action, source: .rule, tenantId: seeded.site, ruleId: ruleID, deviceId: seeded.device, sequence: sequence,
                           occurredAt: Date(timeIntervalSinceNow: Double(sequence - 2000) / 1000), values: ["temperature": 900 + Double(sequence % 50)], producer: "test")
            }
            func alerts(_ query: String, as caller: CallerIdentity = admin) async throws -> [JSON] {
                let (status, page) = try await client.call(.get, "/api/v1/alerts/instances?ruleId=\(ruleID)\(query)", as: caller)
                #expect(status == .ok)
                return page["items"]?.array ?? []
            }
            func eventually(_ what: Comment, _ condition: () async throws -> Bool) async throws {
                for _ in 0..<300 {
                    if try await condition() { return }
                    try await Task.sleep(for: .milliseconds(100))
                }
                Issue.record("not within 30 s: \(what)")
            }

            // 1,000 triggers, a few delivered twice, an unreadable message and an event for a rule that does not exist among them.
            var storm = (1...1000).map { trigger(Int64($0)) }
            storm.insert(contentsOf: storm[100..<105], at: 500)
            try await send(Array(storm[..<300]))
            for result in try await producer.send([KafkaRecord(topic: topic, key: nil, value: Array("{not json".utf8))]) { _ = try result.get() }
            var unknownRule = trigger(1)
            unknownRule.ruleId = UUID()
            try await send([unknownRule] + Array(storm[300...]))
            try await eventually("one alert with 1,000 triggers") { try await alerts("").first?["triggerCount"] == .number(1000) }
            var list = try await alerts("")
            #expect(list.count == 1)
            let first = try #require(list.first)
            #expect(first["state"] == .string("firing"))
            #expect(first["severity"] == .string("critical"))
            #expect(first["tenantId"]?.string == seeded.site.uuidString.lowercased())
            #expect(first["labels"]?["site"] == .string("north"))
            let firstID = try #require(first["id"]?.string)

            // Acknowledge: not as a viewer; the first acknowledgement's who and when stay.
            #expect(try await client.call(.post, "/api/v1/alerts/instances/\(firstID)/acknowledge", as: viewer).0 == .forbidden)
            let (ackStatus, acknowledged) = try await client.call(.post, "/api/v1/alerts/instances/\(firstID)/acknowledge", as: siteOperator)
            #expect(ackStatus == .ok)
            #expect(acknowledged["acknowledged"] == .bool(true))
            #expect(acknowledged["acknowledgedBy"] == .string("site-operator"))
            let (_, again) = try await client.call(.post, "/api/v1/alerts/instances/\(firstID)/acknowledge", as: admin)
            #expect(again["acknowledgedBy"] == .string("site-operator"))
            #expect(again["acknowledgedAt"] == acknowledged["acknowledgedAt"])

            // Resolve by event; a stale trigger (older sequence) changes nothing; a newer one opens a second alert.
            try await send([trigger(1001, .resolve), trigger(400)])
            try await eventually("the alert resolved") { try await alerts("&state=resolved").count == 1 }
            try await send([trigger(1002)])
            try await eventually("a new alert after the resolve") { try await alerts("&state=firing").count == 1 }
            list = try await alerts("")
            #expect(list.count == 2)
            let secondID = try #require(list.first?["id"]?.string)
            #expect(secondID != firstID)
            #expect(list.first?["triggerCount"] == .number(1))

            // Resolve by hand: who is recorded; the history holds every change.
            let (resolvedStatus, resolved) = try await client.call(.post, "/api/v1/alerts/instances/\(secondID)/resolve", as: siteOperator)
            #expect(resolvedStatus == .ok)
            #expect(resolved["state"] == .string("resolved"))
            #expect(resolved["resolvedBy"] == .string("site-operator"))
            let (_, detail) = try await client.call(.get, "/api/v1/alerts/instances/\(firstID)", as: viewer)
            #expect(detail["history"]?.array?.compactMap { $0["kind"]?.string } == ["opened", "acknowledged", "resolved"])
            #expect(detail["history"]?.array?.map { $0["actor"]?.string ?? "" } == ["test", "site-operator", "test"])

            // A service raises an alert of its own for the organisation (no rule, no device).
            let quota = AlertEvent(action: .trigger, source: .quota, tenantId: seeded.organisation, key: "api-calls-80", sequence: 1, occurredAt: Date(),
                                   severity: .warning, summary: "API calls at 80% of the plan", labels: ["resource": "api-calls"], producer: "billing")
            try await send([quota])
            try await eventually("the quota alert") {
                try await client.call(.get, "/api/v1/alerts/instances?source=quota&tenantId=\(seeded.organisation)", as: admin).1["items"]?.array?.count == 1
            }
            let (_, quotaPage) = try await client.call(.get, "/api/v1/alerts/instances?source=quota&tenantId=\(seeded.organisation)", as: admin)
            #expect(quotaPage["items"]?.array?.first?["summary"] == .string("API calls at 80% of the plan"))
            #expect(quotaPage["items"]?.array?.first?["dedupKey"] == .string("quota:api-calls-80"))

            // Flapping: a second opening within the window holds the alert firing, marked; quiet for a window, it resolves.
            func flap(_ sequence: Int64, _ action: AlertEvent.Action) -> AlertEvent {
                AlertEvent(action: action, source: .system, tenantId: seeded.organisation, key: "flappy", sequence: sequence, occurredAt: Date(),
                           severity: .info, producer: "test")
            }
            try await send([flap(1, .trigger), flap(2, .resolve), flap(3, .trigger), flap(4, .resolve)])
            func flappy() async throws -> [JSON] {
                try await client.call(.get, "/api/v1/alerts/instances?source=system&tenantId=\(seeded.organisation)", as: admin).1["items"]?.array ?? []
            }
            // Both instances opened within the same second: the list's order between them is not
            // fixed, so the flapping one is found by its flag.
            func flapping() async throws -> JSON? { try await flappy().first { $0["flapping"] == .bool(true) } }
            try await eventually("held firing as flapping") { try await flapping() != nil }
            #expect(try await flapping()?["state"] == .string("firing"))
            #expect(try await flappy().count == 2)
            try await eventually("resolved once quiet") { try await flapping()?["state"] == .string("resolved") }
            let flappingID = try #require(try await flapping()?["id"]?.string)
            let (_, flapDetail) = try await client.call(.get, "/api/v1/alerts/instances/\(flappingID)", as: admin)
            #expect(flapDetail["history"]?.array?.compactMap { $0["kind"]?.string } == ["opened", "flapping", "resolved"])

            // Paging and CSV; another tenant sees none of it; bad parameters are 400s.
            let (_, page) = try await client.call(.get, "/api/v1/alerts/instances?ruleId=\(ruleID)&limit=1", as: admin)
            let next = try #require(page["next"]?.string)
            let (_, rest) = try await client.call(.get, "/api/v1/alerts/instances?ruleId=\(ruleID)&limit=1&cursor=\(next)", as: admin)
            #expect(rest["items"]?.array?.first?["id"]?.string == firstID)
            let csv = try await client.execute(uri: "/api/v1/alerts/instances?ruleId=\(ruleID)&format=csv", method: .get, headers: try TrustedCallerRequests.headers(viewer))
            #expect(csv.headers[.contentType]?.hasPrefix("text/csv") == true)
            let lines = String(buffer: csv.body).split(separator: "\r\n")
            #expect(lines.count == 3)
            #expect(lines.first?.hasPrefix("id,tenant_id,source,rule_id") == true)
            #expect(lines.dropFirst().allSatisfy { $0.contains(",rule,\(ruleID.uuidString.lowercased()),") })
            #expect(try await client.call(.get, "/api/v1/alerts/instances/\(firstID)", as: stranger).0 == .notFound)
            #expect(try await client.call(.post, "/api/v1/alerts/instances/\(firstID)/resolve", as: stranger).0 == .notFound)
            #expect(try await alerts("", as: stranger).isEmpty)
            for query in ["state=burning", "from=yesterday", "limit=0", "cursor=12", "acknowledged=maybe", "from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z"] {
                let (status, problem) = try await client.call(.get, "/api/v1/alerts/instances?\(query)", as: admin)
                #expect(status == .badRequest, "\(query)")
                #expect(problem["errors"]?.array?.isEmpty == false, "\(query)")
            }
        }
        }
    }
}
