import Foundation
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

@testable import Billing

/// An organisation on the Pro plan with two sites, and a stranger, seeded by SQL.
struct BillingTenants {
    let organisation = UUID()
    let north = UUID()
    let south = UUID()
    let stranger = UUID()

    static func seed() async throws -> BillingTenants {
        let seeded = BillingTenants()
        let database = PostgresClient(configuration: .init(url: try #require(ProcessInfo.processInfo.environment["SENSORMINE_METADATA_DB_URL"]), name: "billing-seed"))
        defer { Task { await database.shutdown() } }
        try await database.withTransaction { session in
            try await session.query("SELECT set_config('sensormine.platform_admin', 'on', true)")
            let (org, north, south, stranger) = (seeded.organisation, seeded.north, seeded.south, seeded.stranger)
            try await session.execute("""
                INSERT INTO tenants (id, parent_id, path, name, kind, settings) VALUES ($1, NULL, $2::uuid[], $3, 'organisation', '{"plan":"pro"}')
                """, [org, "{\(org)}", "billing-org-\(org)"])
            try await session.execute("INSERT INTO tenants (id, parent_id, path, name, kind) VALUES ($1, $2, $3::uuid[], 'north', 'site')", [north, org, "{\(org),\(north)}"])
            try await session.execute("INSERT INTO tenants (id, parent_id, path, name, kind) VALUES ($1, $2, $3::uuid[], 'south', 'site')", [south, org, "{\(org),\(south)}"])
            try await session.execute("INSERT INTO tenants (id, parent_id, path, name, kind) VALUES ($1, NULL, $2::uuid[], $3, 'organisation')",
                                      [stranger, "{\(stranger)}", "billing-stranger-\(stranger)"])
        }
        return seeded
    }
}

enum BillingTestApp {
    static let logger: Logger = {
        var logger = Logger(label: "billing-tests")
        logger.logLevel = .warning
        return logger
    }()

    static func values(prefix: String) -> [String: String] {
        var values = ProcessInfo.processInfo.environment.filter { $0.key.hasPrefix("SENSORMINE_") }
        values["SENSORMINE_HTTP_PORT"] = "0"
        values["SENSORMINE_HTTP_HOST"] = "127.0.0.1"
        values["SENSORMINE_KAFKA_TOPIC_PREFIX"] = prefix
        values["SENSORMINE_BILLING_GROUP"] = prefix + ".billing"
        return values
    }
}

@Suite("Billing usage", .serialized)
struct UsageTests {
    static func eventually(_ what: Comment, seconds: Int = 60, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        Issue.record("not within \(seconds) s: \(what)")
    }

    static func quantity(_ report: JSON, _ resource: String) -> Double? {
        report["resources"]?.array?.first { $0["resource"]?.string == resource }?["quantity"]?.number
    }

    @Test("usage records from metering.events are counted once each (a redelivery, a record sent twice and a restart change no total), summed per resource for the tenant's subtree and per sub-tenant against its plan, as JSON and CSV; another tenant sees none of it")
    func usageAgainstPlan() async throws {
        let tenants = try await BillingTenants.seed()
        let prefix = "billing-\(UUID().uuidString.prefix(8).lowercased())"
        let values = BillingTestApp.values(prefix: prefix)
        let configuration = try BillingConfiguration(reader: ConfigReader(values: values))
        try await BillingService.migrate(configuration, logger: BillingTestApp.logger)
        let producer = try KafkaProducer(configuration: configuration.kafka.kafka, logger: BillingTestApp.logger)
        let topic = configuration.kafka.topics.meteringEvents
        let encoder = ContractCoding.encoder()
        let now = Date()
        func record(_ id: String, _ tenant: UUID, _ resource: MeteredResource, _ quantity: Double, at time: Date = now) -> UsageRecord {
            UsageRecord(eventId: "\(prefix)/\(id)", tenantId: tenant, time: time, resource: resource, quantity: quantity, producer: "billing-test")
        }
        let lastYear = now.addingTimeInterval(-400 * 86_400)
        let records = [
            record("n1", tenants.north, .dataIngested, 1000), record("n2", tenants.north, .dataIngested, 2000), record("n3", tenants.north, .apiCalls, 500),
            record("s1", tenants.south, .mlInference, 7), record("o1", tenants.organisation, .apiCalls, 100),
            record("old", tenants.north, .dataIngested, 99_999, at: lastYear), record("x1", tenants.stranger, .apiCalls, 999),
            // The same event again (a producer's repeat after a crash).
            record("n2", tenants.north, .dataIngested, 2000),
        ]
        func send(_ records: [UsageRecord]) async throws {
            let batch = try records.map { KafkaRecord(topic: topic, key: Array($0.tenantId.uuidString.lowercased().utf8), value: Array(try encoder.encode($0))) }
            for result in try await producer.send(batch) { _ = try result.get() }
        }
        let admin = CallerIdentity(subject: "org-admin", tenantID: tenants.organisation, roles: [.tenantAdmin])
        let northViewer = CallerIdentity(subject: "north-viewer", tenantID: tenants.north, roles: [.viewer])
        let stranger = CallerIdentity(subject: "stranger", tenantID: tenants.stranger, roles: [.tenantAdmin])
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await producer.run() }
            defer { group.cancelAll() }
            try await send(records)
            try await BillingService.buildApplication(configuration, observability: Observability(logger: BillingTestApp.logger)).test(.live) { client in
                var report = JSON.null
                try await Self.eventually("the organisation's usage") {
                    report = try await client.call(.get, "/api/v1/billing/usage", as: admin).1
                    return Self.quantity(report, "ml-inference") == 7 && Self.quantity(report, "api-calls") == 600 && Self.quantity(report, "data-ingested") == 3000
                }
                #expect(report["plan"] == .string("pro"))
                let calls = report["resources"]?.array?.first { $0["resource"] == .string("api-calls") }
                #expect(calls?["included"] == .number(1_000_000))
                #expect(calls?["percentOfPlan"]?.number.map { abs($0 - 0.06) < 1e-9 } == true)
                #expect(report["resources"]?.array?.count == MeteredResource.allCases.count)
                let subs = report["subTenants"]?.array ?? []
                #expect(subs.compactMap { $0["name"]?.string } == ["north", "south"])
                #expect(Self.quantity(subs.first ?? .null, "data-ingested") == 3000)
                #expect(Self.quantity(subs.first ?? .null, "api-calls") == 500)
                #expect(Self.quantity(subs.last ?? .null, "ml-inference") == 7)
                // Last year's record counts when the period covers it.
                let from = ISO8601DateFormatter().string(from: lastYear.addingTimeInterval(-86_400))
                let to = ISO8601DateFormatter().string(from: lastYear.addingTimeInterval(86_400))
                #expect(Self.quantity(try await client.call(.get, "/api/v1/billing/usage?from=\(from)&to=\(to)", as: admin).1, "data-ingested") == 99_999)

                // A site sees its own usage only; a stranger, nothing.
                let (northStatus, north) = try await client.call(.get, "/api/v1/billing/usage", as: northViewer)
                #expect(northStatus == .ok)
                #expect(Self.quantity(north, "api-calls") == 500)
                #expect(try await client.call(.get, "/api/v1/billing/usage?tenantId=\(tenants.organisation)", as: northViewer).0 == .notFound)
                #expect(try await client.call(.get, "/api/v1/billing/usage?tenantId=\(tenants.organisation)", as: stranger).0 == .notFound)
                let (badStatus, bad) = try await client.call(.get, "/api/v1/billing/usage?from=yesterday&to=2026-01-01", as: admin)
                #expect(badStatus == .badRequest)
                #expect(bad["errors"]?.array?.first?["pointer"] == .string("from"))

                // CSV: a line per resource, the subtree's totals first.
                let csv = try await client.execute(uri: "/api/v1/billing/usage?format=csv", method: .get, headers: try TrustedCallerRequests.headers(admin))
                #expect(csv.headers[.contentType]?.hasPrefix("text/csv") == true)
                let lines = String(buffer: csv.body).split(separator: "\n").map(String.init)
                #expect(lines.first == "tenant_id,scope,resource,unit,quantity,included,percent_of_plan")
                #expect(lines.contains("\(tenants.organisation.uuidString.lowercased()),total,api-calls,calls,600,1000000,0.06"))
                #expect(lines.contains("\(tenants.north.uuidString.lowercased()),sub-tenant,data-ingested,bytes,3000,,"))

                let (_, plans) = try await client.call(.get, "/api/v1/billing/plans", as: northViewer)
                #expect(plans["items"]?.array?.compactMap { $0["id"]?.string } == ["free", "pro", "enterprise"])
                #expect(plans["items"]?.array?.first { $0["id"] == .string("pro") }?["monthlyPriceMinor"] == .number(9900))
            }
            // A restart of Billing, every record delivered again, and one new: only the new one counts.
            try await send(records + [record("o2", tenants.organisation, .apiCalls, 1)])
            try await BillingService.buildApplication(configuration, observability: Observability(logger: BillingTestApp.logger)).test(.live) { client in
                var report = JSON.null
                try await Self.eventually("the new record") {
                    report = try await client.call(.get, "/api/v1/billing/usage", as: admin).1
                    return Self.quantity(report, "api-calls") == 601
                }
                #expect(Self.quantity(report, "data-ingested") == 3000)
                #expect(Self.quantity(report, "ml-inference") == 7)
            }
        }
        let database = PostgresClient(configuration: .init(url: try #require(ProcessInfo.processInfo.environment["SENSORMINE_METADATA_DB_URL"]), name: "billing-clean"))
        defer { Task { await database.shutdown() } }
        try await database.withTransaction { session in
            try await session.query("SELECT set_config('sensormine.platform_admin', 'on', true)")
            try await session.execute("DELETE FROM usage_events WHERE event_id LIKE $1", [prefix + "/%"])
            try await session.execute("DELETE FROM tenants WHERE id = ANY ($1::uuid[])", ["{\(tenants.north),\(tenants.south)}"])
            try await session.execute("DELETE FROM tenants WHERE id = ANY ($1::uuid[])", ["{\(tenants.organisation),\(tenants.stranger)}"])
        }
    }
}
