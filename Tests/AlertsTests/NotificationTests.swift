import Crypto
import Curl
import Foundation
import SensormineAuth
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOConcurrencyHelpers
import RdKafka
import SensormineClients
import SensormineContracts
import SensormineCore
import SensormineJSON
import TestSupport
import Testing

@testable import Alerts

@Suite("Notification rules (no database)")
struct NotificationRuleTests {
    let channelA = UUID(), channelB = UUID()

    func policy(ackTimeout: Int = 0, repeatCount: Int = 0, repeatInterval: Int = 0) -> NotificationPolicy {
        NotificationPolicy(id: UUID(), tenantId: UUID(), name: "p", levels: [.init(channelIds: [self.channelA], delaySeconds: 0), .init(channelIds: [self.channelB], delaySeconds: 300)],
                           repeatCount: repeatCount, groupBy: [], groupWaitSeconds: 30, repeatIntervalSeconds: repeatInterval,
                           acknowledgementTimeoutSeconds: ackTimeout, sendResolved: true, isDefault: false)
    }

    @Test("levels notify in order with their delays; acknowledgement stops; its timeout starts over; repeats; resolved ends")
    func escalation() {
        let first = EscalationStep.next(phase: .escalating, level: 0, cycle: 0, firing: true, acknowledged: false, policy: self.policy())
        #expect(first.channels == [self.channelA])
        #expect(first.nextLevel == 1 && first.dueInSeconds == 300 && first.phase == .escalating)
        let second = EscalationStep.next(phase: .escalating, level: 1, cycle: 0, firing: true, acknowledged: false, policy: self.policy())
        #expect(second.channels == [self.channelB])
        #expect(second.phase == .done)
        #expect(first.keyPart != second.keyPart)

        let acknowledged = EscalationStep.next(phase: .escalating, level: 1, cycle: 0, firing: true, acknowledged: true, policy: self.policy())
        #expect(acknowledged.channels.isEmpty && acknowledged.phase == .done)
        let timed = EscalationStep.next(phase: .escalating, level: 1, cycle: 0, firing: true, acknowledged: true, policy: self.policy(ackTimeout: 600))
        #expect(timed.phase == .acknowledged && timed.dueInSeconds == 600)
        let again = EscalationStep.next(phase: .acknowledged, level: 0, cycle: 0, firing: true, acknowledged: true, policy: self.policy(ackTimeout: 600))
        #expect(again.unacknowledge && again.channels == [self.channelA] && again.cycle == 1)

        let repeated = EscalationStep.next(phase: .escalating, level: 1, cycle: 0, firing: true, acknowledged: false, policy: self.policy(repeatCount: 2))
        #expect(repeated.nextLevel == 0 && repeated.cycle == 1 && repeated.phase == .escalating)
        let lastRun = EscalationStep.next(phase: .escalating, level: 1, cycle: 2, firing: true, acknowledged: false, policy: self.policy(repeatCount: 2, repeatInterval: 3600))
        #expect(lastRun.phase == .repeating && lastRun.dueInSeconds == 3600)
        let reminder = EscalationStep.next(phase: .repeating, level: 0, cycle: 0, firing: true, acknowledged: false, policy: self.policy(repeatInterval: 3600))
        #expect(Set(reminder.channels) == [self.channelA, self.channelB] && reminder.keyPart == "repeat-0")
        #expect(EscalationStep.next(phase: .escalating, level: 0, cycle: 0, firing: false, acknowledged: false, policy: self.policy()).phase == .done)
    }

    @Test("a nudge wakes a sleeping dispatcher at once, and one that came while it worked makes its next sleep return at once")
    func nudgeWakes() async throws {
        let nudge = DispatchNudge()
        // Each sleep below would last an hour unless woken: a lost nudge hangs the test (and the watchdog reports it).
        nudge.nudge()
        try await nudge.sleep(upTo: .seconds(3600))
        for round in 0..<50 {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await nudge.sleep(upTo: .seconds(3600)) }
                // Sometimes before the sleeper registered, sometimes after.
                if round % 2 == 1 { try await Task.sleep(for: .milliseconds(5)) }
                nudge.nudge()
                try await group.waitForAll()
            }
        }
        // Without a nudge it sleeps its interval and returns.
        let started = ContinuousClock.now
        try await nudge.sleep(upTo: .milliseconds(30))
        #expect(ContinuousClock.now - started >= .milliseconds(30))
    }

    @Test("webhooks may not reach loopback, link-local or private networks unless allow-listed; only http(s) URLs with a host")
    func serverSideRequestForgery() throws {
        let guardrail = AddressGuard(allowed: [])
        for host in ["127.0.0.1", "10.1.2.3", "169.254.169.254", "192.168.1.1", "172.20.0.1", "::1", "fe80::1", "::ffff:127.0.0.1", "localhost", "0.0.0.0"] {
            #expect(throws: AddressGuard.Refusal.self, "\(host)") { try guardrail.address(for: host) }
        }
        #expect(try guardrail.address(for: "93.184.215.14") == "93.184.215.14")
        let opened = AddressGuard(allowed: [try #require(IPNetwork("127.0.0.1/32"))])
        #expect(try opened.address(for: "127.0.0.1") == "127.0.0.1")
        #expect(throws: AddressGuard.Refusal.self) { try opened.address(for: "127.0.0.2") }
        for url in ["ftp://example.com/x", "file:///etc/passwd", "http://", "gopher://h/", "http://user:pw@example.com/", "example.com/hook"] {
            #expect(WebhookTarget.parse(url) == nil, "\(url)")
        }
        #expect(WebhookTarget.parse("https://hooks.example.com/alerts?x=1")?.port == 443)
        #expect(WebhookTarget.parse("http://[::1]:8080/h")?.host == "::1")
    }

    @Test("the signature is HMAC-SHA256 over timestamp.body with the channel's secret")
    func signature() {
        let body = Array(#"{"kind":"firing"}"#.utf8)
        let expected = HMAC<SHA256>.authenticationCode(for: Array("1700000000.".utf8) + body, using: SymmetricKey(data: Array("s3cret-s3cret-s3cret".utf8)))
        #expect(WebhookSignature.hex(secret: "s3cret-s3cret-s3cret", timestamp: "1700000000", body: body) == expected.map { String(format: "%02x", $0) }.joined())
    }
}

@Suite("Notifications through real receivers")
struct NotificationDeliveryTests {
    static func values(prefix: String, receiver: Int, smtp: Int) -> [String: String] {
        var values = AlertsTestApp.values(topicPrefix: prefix)
        values["SENSORMINE_ALERTS_GROUP"] = "\(prefix).alerts"
        values["SENSORMINE_ALERTS_INSTANCE_ID"] = "\(prefix)-1"
        values["SENSORMINE_ALERTS_WEBHOOK_ALLOWED_NETWORKS"] = "127.0.0.1/32"
        values["SENSORMINE_ALERTS_SMTP_URL"] = "smtp://127.0.0.1:\(smtp)"
        values["SENSORMINE_ALERTS_SMS_BASE_URL"] = "http://127.0.0.1:\(receiver)/sms"
        values["SENSORMINE_ALERTS_SMS_ACCOUNT_SID"] = "AC123"
        values["SENSORMINE_ALERTS_SMS_AUTH_TOKEN"] = "sms-token"
        values["SENSORMINE_ALERTS_SMS_FROM"] = "+15005550006"
        values["SENSORMINE_ALERTS_RETRY_BASE"] = "200ms"
        values["SENSORMINE_ALERTS_DISPATCH_INTERVAL"] = "100ms"
        return values
    }

    static func eventually(_ what: Comment, seconds: Int = 30, _ condition: () async throws -> Bool) async throws {
        for _ in 0..<(seconds * 10) {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("not within \(seconds) s: \(what)")
    }

    @Test("a trigger reaches the webhook (signed, after 500, 500, 200), the mailbox and the SMS receiver; escalation, acknowledgement, silences, resolved notices, bad input")
    func delivery() async throws {
        let seeded = try await SeededTenants.seed()
        let mailbox = try await Mailbox.start()
        let receiver = RecordingReceiver()
        try await receiver.run { port in
            let prefix = "alerts-notify-\(UUID().uuidString.prefix(8).lowercased())"
            let configuration = try AlertsConfiguration(reader: ConfigReader(values: Self.values(prefix: prefix, receiver: port, smtp: mailbox.port)))
            try await AlertsService.migrate(configuration, logger: AlertsTestApp.logger)
            let producer = try KafkaProducer(configuration: configuration.kafka.kafka, logger: AlertsTestApp.logger)
            let topic = configuration.kafka.topics.alertsTriggered
            @Sendable func send(_ events: [AlertEvent]) async throws {
                let records = try events.map { KafkaRecord(topic: topic, key: Array($0.partitionKey.utf8), value: Array(try ContractCoding.encoder().encode($0))) }
                for result in try await producer.send(records) { _ = try result.get() }
            }
            let admin = CallerIdentity(subject: "org-admin", tenantID: seeded.organisation, roles: [.tenantAdmin])
            let stranger = CallerIdentity(subject: "stranger", tenantID: seeded.stranger, roles: [.tenantAdmin])
            let app = try await AlertsService.buildApplication(configuration, observability: Observability(logger: AlertsTestApp.logger))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await producer.run() }
                defer { group.cancelAll() }
                try await app.test(.live) { client in
                    func create(_ path: String, _ body: String, as caller: CallerIdentity = admin) async throws -> JSON {
                        let (status, json) = try await client.call(.post, "/api/v1/alerts/\(path)", as: caller, json: body)
                        #expect(status == .created, "\(path): \(json)")
                        return json
                    }
                    // Bad input: unknown channel type, a URL that is not http(s), an invalid template, a policy naming another tenant's channel.
                    for (path, body, pointer) in [
                        ("channels", #"{"name":"x","type":"pager"}"#, "/type"),
                        ("channels", #"{"name":"x","type":"webhook","url":"ftp://example.com/h"}"#, "/url"),
                        ("channels", #"{"name":"x","type":"sms","recipients":["12345"]}"#, "/recipients/0"),
                        ("rules", RuleTests.rule(name: "bad", scope: #"{"kind":"tag","tag":"a"}"#, extra: #","summaryTemplate":"{{#open}} never closed""#), "/summaryTemplate"),
                        ("policies", #"{"name":"p","levels":[{"channelIds":["\#(UUID())"],"delaySeconds":0}]}"#, "/levels/0/channelIds/0"),
                        ("silences", #"{"labels":{"a":"b"},"startsAt":"2026-01-02T00:00:00Z","endsAt":"2026-01-01T00:00:00Z"}"#, "/endsAt"),
                    ] {
                        let (status, problem) = try await client.call(.post, "/api/v1/alerts/\(path)", as: admin, json: body)
                        #expect(status == .unprocessableContent, "\(path) \(body)")
                        #expect(problem["errors"]?.array?.compactMap { $0["pointer"]?.string }.contains(pointer) == true, "\(path): \(problem)")
                    }

                    let hookA = try await create("channels", #"{"name":"ops hook","type":"webhook","url":"http://127.0.0.1:\#(port)/hooks/a"}"#)
                    let secretA = try #require(hookA["secret"]?.string)
                    #expect(try await client.call(.get, "/api/v1/alerts/channels/\(hookA["id"]?.string ?? "")", as: admin).1["secret"] == nil)
                    let hookB = try await create("channels", #"{"name":"escalation hook","type":"webhook","url":"http://127.0.0.1:\#(port)/hooks/b","secret":"0123456789abcdef-b"}"#)
                    let mail = try await create("channels", #"{"name":"ops mail","type":"email","recipients":["ops@example.com"]}"#)
                    let sms = try await create("channels", #"{"name":"on call","type":"sms","recipients":["+4915112345678"]}"#)
                    // Another tenant's policy cannot use these channels.
                    let (foreign, _) = try await client.call(.post, "/api/v1/alerts/policies", as: stranger,
                                                             json: #"{"name":"p","levels":[{"channelIds":["\#(hookA["id"]?.string ?? "")"]}]}"#)
                    #expect(foreign == .unprocessableContent)
                    let ids = { (json: JSON) in json["id"]?.string ?? "" }
                    let policy = try await create("policies", """
                        {"name":"turbines","default":true,"sendResolved":true,"levels":[
                          {"channelIds":["\(ids(hookA))","\(ids(mail))","\(ids(sms))"],"delaySeconds":0},
                          {"channelIds":["\(ids(hookB))"],"delaySeconds":2}]}
                        """)
                    let scope = #"{"kind":"device","deviceId":"\#(seeded.device)"}"#
                    let rule = try await create("rules", RuleTests.rule(name: "hot turbine", scope: scope,
                                                                        extra: #","notificationPolicyId":"\#(ids(policy))","summaryTemplate":"{{rule.name}} at {{value.temperature}}""#))
                    let ruleID = try #require(UUID(uuidString: ids(rule)))

                    // The hook answers 500 twice, then 200.
                    receiver.plan("a", statuses: [500, 500])
                    try await send([AlertEvent(action: .trigger, source: .rule, tenantId: seeded.site, ruleId: ruleID, deviceId: seeded.device, sequence: 1,
                                               occurredAt: Date(), values: ["temperature": 912.5], producer: "test")])
                    try await Self.eventually("the webhook answered 200") { try receiver.payloads("a").count == 1 }
                    #expect(receiver.received("a").count == 3)
                    let delivered = try #require(receiver.received("a").last)
                    #expect(RecordingReceiver.verify(delivered, secret: secretA))
                    #expect(!RecordingReceiver.verify(delivered, secret: "0123456789abcdef-b"))
                    let payload = try #require(try receiver.payloads("a").first)
                    #expect(payload.kind == "firing")
                    #expect(payload.alerts.first?.summary == "hot turbine at 912.5")
                    #expect(payload.alerts.first?.idempotencyKey.isEmpty == false)
                    let alertID = try #require(payload.alerts.first?.id)

                    try await Self.eventually("the mail arrived") { mailbox.messages.count == 1 }
                    let message = try #require(mailbox.messages.first)
                    #expect(message.contains("To: ops@example.com"))
                    #expect(message.contains("Content-Type: text/plain; charset=utf-8") && message.contains("Content-Type: text/html; charset=utf-8"))
                    #expect(message.contains("=?UTF-8?B?\(Data("hot turbine at 912.5".utf8).base64EncodedString())?="))
                    try await Self.eventually("the SMS arrived") { receiver.received("sms").count == 1 }
                    let form = String(decoding: try #require(receiver.received("sms").first).body, as: UTF8.self)
                    #expect(form.contains("To=%2B4915112345678") && form.contains("From=%2B15005550006") && form.contains("Body=hot%20turbine%20at%20912.5"))
                    #expect(receiver.received("sms").first?.signature == "basic")

                    // Not acknowledged: level 2 after its delay.
                    try await Self.eventually("the escalation to level 2") { try receiver.payloads("b").count == 1 }
                    #expect(try receiver.payloads("b").first?.alerts.first?.id == alertID)

                    // The attempt log: three attempts for the hook (500, 500, 200), one for the mail (an SMTP reply).
                    let (_, log) = try await client.call(.get, "/api/v1/alerts/instances/\(alertID)/notifications", as: admin)
                    let notices = log["items"]?.array ?? []
                    let hookNotice = try #require(notices.first { $0["channelId"]?.string == ids(hookA) })
                    #expect(hookNotice["attempts"]?.array?.compactMap { $0["detail"]?.string } == ["HTTP 500", "HTTP 500", "HTTP 200"])
                    #expect(hookNotice["state"] == .string("sent"))
                    let mailNotice = try #require(notices.first { $0["channelId"]?.string == ids(mail) })
                    #expect(mailNotice["attempts"]?.array?.first?["detail"]?.string?.hasPrefix("SMTP 250") == true)

                    // A service-raised alert under the tenant's default policy, acknowledged at once: level 2 never hears of it.
                    try await send([AlertEvent(action: .trigger, source: .quota, tenantId: seeded.organisation, key: "api-calls-80", sequence: 1, occurredAt: Date(),
                                               severity: .warning, summary: "API calls at 80%", producer: "billing")])
                    try await Self.eventually("the quota alert's first notice") { try receiver.payloads("a").contains { $0.alerts.first?.summary.contains("API calls at 80%") == true } }
                    let quotaID = try #require(try receiver.payloads("a").first { $0.alerts.first?.summary.contains("API calls") == true }?.alerts.first?.id)
                    #expect(try await client.call(.post, "/api/v1/alerts/instances/\(quotaID)/acknowledge", as: admin).0 == .ok)
                    try await Task.sleep(for: .seconds(4))
                    #expect(try receiver.payloads("b").allSatisfy { $0.alerts.first?.id != quotaID })

                    // A silence holds notifications back; the alert and its history are kept.
                    let silence = try await create("silences", #"{"labels":{"window":"maintenance"},"endsAt":"\#(Date(timeIntervalSinceNow: 3600).formatted(.iso8601))","comment":"planned stop"}"#)
                    let hooksBefore = receiver.received("a").count
                    try await send([AlertEvent(action: .trigger, source: .system, tenantId: seeded.organisation, key: "historian-down", sequence: 1, occurredAt: Date(),
                                               severity: .major, summary: "historian down", labels: ["window": "maintenance"], producer: "test")])
                    try await Self.eventually("the silenced alert exists") {
                        try await client.call(.get, "/api/v1/alerts/instances?source=system&tenantId=\(seeded.organisation)", as: admin).1["items"]?.array?.count == 1
                    }
                    let silencedID = try #require(try await client.call(.get, "/api/v1/alerts/instances?source=system&tenantId=\(seeded.organisation)", as: admin)
                        .1["items"]?.array?.first?["id"]?.string)
                    try await Self.eventually("its notices silenced") {
                        let items = try await client.call(.get, "/api/v1/alerts/instances/\(silencedID)/notifications", as: admin).1["items"]?.array ?? []
                        return !items.isEmpty && items.allSatisfy { $0["state"] == .string("silenced") }
                    }
                    #expect(receiver.received("a").count == hooksBefore)
                    let (_, silences) = try await client.call(.get, "/api/v1/alerts/silences", as: admin)
                    #expect(silences["items"]?.array?.first?["id"] == silence["id"])
                    #expect(try await client.call(.delete, "/api/v1/alerts/silences/\(ids(silence))", as: admin).0 == .ok)

                    // Grouping: alerts with the same group labels (here the rule's site) go to a channel together; the
                    // first at once, those that follow within the group wait as one message.
                    let hookC = try await create("channels", #"{"name":"grouped hook","type":"webhook","url":"http://127.0.0.1:\#(port)/hooks/c"}"#)
                    let grouped = try await create("policies", #"{"name":"grouped","groupBy":["site"],"groupWaitSeconds":2,"levels":[{"channelIds":["\#(ids(hookC))"]}]}"#)
                    let fleet = try await create("rules", RuleTests.rule(name: "fleet", scope: #"{"kind":"tag","tag":"fleet"}"#,
                                                                         extra: #","notificationPolicyId":"\#(ids(grouped))""#))
                    let fleetID = try #require(UUID(uuidString: ids(fleet)))
                    func fleetTrigger() -> AlertEvent {
                        AlertEvent(action: .trigger, source: .rule, tenantId: seeded.organisation, ruleId: fleetID, deviceId: UUID(), sequence: 1, occurredAt: Date(), producer: "test")
                    }
                    try await send([fleetTrigger()])
                    try await Self.eventually("the group's first notice") { try receiver.payloads("c").count == 1 }
                    try await send([fleetTrigger(), fleetTrigger()])
                    try await Self.eventually("the rest of the group, together") { try receiver.payloads("c").count == 2 }
                    try await Task.sleep(for: .seconds(3))
                    #expect(try receiver.payloads("c").map(\.alerts.count) == [1, 2])
                    #expect(try receiver.payloads("c").allSatisfy { $0.groupKey.hasSuffix("|site=north") })

                    // An acknowledgement that times out while the alert still fires: unacknowledged (a history entry) and notified again.
                    let hookD = try await create("channels", #"{"name":"ack hook","type":"webhook","url":"http://127.0.0.1:\#(port)/hooks/d"}"#)
                    let ackPolicy = try await create("policies", #"{"name":"ack timeout","acknowledgementTimeoutSeconds":2,"levels":[{"channelIds":["\#(ids(hookD))"]}]}"#)
                    let watch = try await create("rules", RuleTests.rule(name: "watch", scope: #"{"kind":"tag","tag":"watch"}"#,
                                                                         extra: #","notificationPolicyId":"\#(ids(ackPolicy))""#))
                    try await send([AlertEvent(action: .trigger, source: .rule, tenantId: seeded.organisation, ruleId: UUID(uuidString: ids(watch)), deviceId: UUID(),
                                               sequence: 1, occurredAt: Date(), producer: "test")])
                    try await Self.eventually("the first notice") { try receiver.payloads("d").count == 1 }
                    let watched = try #require(try receiver.payloads("d").first?.alerts.first?.id)
                    #expect(try await client.call(.post, "/api/v1/alerts/instances/\(watched)/acknowledge", as: admin).0 == .ok)
                    try await Self.eventually("notified again after the acknowledgement timed out") { try receiver.payloads("d").count == 2 }
                    let (_, watchedDetail) = try await client.call(.get, "/api/v1/alerts/instances/\(watched)", as: admin)
                    #expect(watchedDetail["alert"]?["acknowledged"] == .bool(false))
                    #expect(watchedDetail["history"]?.array?.compactMap { $0["kind"]?.string } == ["opened", "acknowledged", "unacknowledged"])

                    // Resolving tells the channels that heard of it.
                    try await send([AlertEvent(action: .resolve, source: .rule, tenantId: seeded.site, ruleId: ruleID, deviceId: seeded.device, sequence: 2,
                                               occurredAt: Date(), producer: "test")])
                    try await Self.eventually("the resolved notice") { try receiver.payloads("a").contains { $0.kind == "resolved" && $0.alerts.first?.id == alertID } }
                    try await Self.eventually("the resolved notice to the escalation level too") {
                        try receiver.payloads("b").contains { $0.kind == "resolved" && $0.alerts.first?.id == alertID }
                    }
                }
            }
        }
        mailbox.process.signal(SIGKILL)
    }

    @Test("kill -9 Alerts between the trigger and the escalation; after a restart the escalation fires once")
    func escalationSurvivesKill() async throws {
        let seeded = try await SeededTenants.seed()
        let receiver = RecordingReceiver()
        try await receiver.run { port in
            let prefix = "alerts-kill-\(UUID().uuidString.prefix(8).lowercased())"
            var values = Self.values(prefix: prefix, receiver: port, smtp: 1)
            values["SENSORMINE_HTTP_PORT"] = String(Int.random(in: 40_000...45_000))
            values["SENSORMINE_LOG_LEVEL"] = "warning"
            let configuration = try AlertsConfiguration(reader: ConfigReader(values: values))
            try await AlertsService.migrate(configuration, logger: AlertsTestApp.logger)
            let admin = CallerIdentity(subject: "org-admin", tenantID: seeded.organisation, roles: [.tenantAdmin])
            // Channels, policy and rule through the API in this process (its routes only).
            let setup = try await AlertsService.buildApplication(configuration, observability: Observability(logger: AlertsTestApp.logger))
            let ruleID: UUID = try await setup.test(.router) { client in
                let first = try await client.call(.post, "/api/v1/alerts/channels", as: admin, json: #"{"name":"first","type":"webhook","url":"http://127.0.0.1:\#(port)/hooks/first"}"#).1
                let second = try await client.call(.post, "/api/v1/alerts/channels", as: admin, json: #"{"name":"second","type":"webhook","url":"http://127.0.0.1:\#(port)/hooks/second"}"#).1
                let policy = try await client.call(.post, "/api/v1/alerts/policies", as: admin, json: """
                    {"name":"kill","levels":[{"channelIds":["\(first["id"]?.string ?? "")"],"delaySeconds":0},{"channelIds":["\(second["id"]?.string ?? "")"],"delaySeconds":5}]}
                    """).1
                let rule = try await client.call(.post, "/api/v1/alerts/rules", as: admin,
                                                 json: RuleTests.rule(name: "kill", scope: #"{"kind":"device","deviceId":"\#(seeded.device)"}"#,
                                                                      extra: #","notificationPolicyId":"\#(policy["id"]?.string ?? "")""#)).1
                return try #require(rule["id"]?.string.flatMap(UUID.init(uuidString:)))
            }
            var environment = values
            environment["LD_LIBRARY_PATH"] = ProcessInfo.processInfo.environment["LD_LIBRARY_PATH"] ?? ""
            var alerts = try ChildProcess(executable: ServiceBinaries.path("Alerts"), arguments: [], environment: environment)
            let producer = try KafkaProducer(configuration: configuration.kafka.kafka, logger: AlertsTestApp.logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await producer.run() }
                defer { group.cancelAll() }
                let event = AlertEvent(action: .trigger, source: .rule, tenantId: seeded.site, ruleId: ruleID, deviceId: seeded.device, sequence: 1,
                                       occurredAt: Date(), values: ["temperature": 950], producer: "test")
                _ = try await producer.send(KafkaRecord(topic: configuration.kafka.topics.alertsTriggered, key: Array(event.partitionKey.utf8),
                                                        value: Array(try ContractCoding.encoder().encode(event))))
                try await Self.eventually("the first level's notice", seconds: 60) { receiver.received("first").count >= 1 }
                alerts.signal(SIGKILL)
                #expect(await alerts.waitForExit(timeout: .seconds(10)) != nil)
                #expect(receiver.received("second").isEmpty)
                alerts = try ChildProcess(executable: ServiceBinaries.path("Alerts"), arguments: [], environment: environment)
                try await Self.eventually("the escalation after the restart", seconds: 60) { receiver.received("second").count >= 1 }
                try await Task.sleep(for: .seconds(3))
                #expect(receiver.received("second").count == 1, "\(alerts.output.suffix(2000))")
                // The restarted process took the escalation from the queue and sent it: its stage
                // timers say how long each took.
                let client = HTTPClient(configuration: .init(maximumRetries: 0))
                let metrics = String(decoding: try await client.get("http://127.0.0.1:\(values["SENSORMINE_HTTP_PORT"] ?? "")/metrics").body, as: UTF8.self)
                await client.shutdown()
                for stage in ["queue", "deliver", "record"] {
                    let count = metrics.split(separator: "\n").first { $0.hasPrefix("sensormine_alerts_stage_seconds_count{stage=\"\(stage)\"}") }
                    #expect(count.flatMap { Double($0.split(separator: " ").last ?? "") }.map { $0 >= 1 } == true, "\(stage): \(metrics.prefix(3000))")
                }
                alerts.signal(SIGTERM)
                _ = await alerts.waitForExit(timeout: .seconds(10))
            }
        }
    }
}
