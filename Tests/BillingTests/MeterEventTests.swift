import Curl
import Foundation
import Hummingbird
import HummingbirdTesting
import LibPQ
import RdKafka
import SensormineAuth
import SensormineClients
import SensormineContracts
import SensormineCore
import TestSupport
import Testing

@testable import Billing

@Suite("Billing Stripe meter events", .serialized)
struct MeterEventTests {
    @Test("usage records of an organisation with a Stripe customer become Billing Meter events in Stripe's wire format, one per record id (a long id hashed), a redelivered record never twice; a resource without a meter is refused and dropped; an organisation without a customer reports nothing")
    func meterEvents() async throws {
        let secretKey = "sk_test_meter_\(UUID().uuidString.prefix(8))"
        let server = StripeMeterServer(secretKey: secretKey)
        let tenants = try await ChargebackTenants.seed()
        let stranger = try await ChargebackTenants.seed()
        try await server.run { url in
            let client = HTTPClient(configuration: .init(maximumRetries: 0))
            defer { Task { await client.shutdown() } }
            // The account's meters (a Stripe user makes these once): API calls and data ingested, not inference.
            for name in ["sensormine_api_calls", "sensormine_data_ingested"] {
                let made = try await client.execute(HTTPClientRequest(method: "POST", url: url + "/v1/billing/meters",
                                                                      headers: [("Authorization", "Bearer \(secretKey)"), ("Content-Type", "application/x-www-form-urlencoded")],
                                                                      body: Array("event_name=\(name)&display_name=\(name)&default_aggregation[formula]=sum".utf8)))
                #expect(made.status == 200)
            }
            let prefix = "meter-\(UUID().uuidString.prefix(8).lowercased())"
            var values = BillingTestApp.values(prefix: prefix)
            values["SENSORMINE_BILLING_STRIPE_URL"] = url
            values["SENSORMINE_BILLING_STRIPE_SECRET_KEY"] = secretKey
            values["SENSORMINE_BILLING_STRIPE_METER_EVENTS"] = "true"
            values["SENSORMINE_BILLING_INVOICE_INTERVAL"] = "off"
            let configuration = try BillingConfiguration(reader: ConfigReader(values: values))
            try await BillingService.migrate(configuration, logger: BillingTestApp.logger)
            let database = PostgresClient(configuration: configuration.metadataDatabase)
            defer { Task { await database.shutdown() } }
            let customer = "cus_meter_\(UUID().uuidString.prefix(8))"
            var subscription = Subscription.free(tenants.organisation)
            subscription.plan = "pro"
            try await SubscriptionStore(database: database).save(subscription)
            try await database.withPlatformScope { session in
                try await session.execute("UPDATE billing_subscriptions SET stripe_customer_id = $2 WHERE organisation_id = $1", [tenants.organisation, customer])
                // The plan change of the save above would go to Stripe's customers API, which this server lacks.
                try await session.execute("DELETE FROM billing_stripe_sync WHERE organisation_id = $1", [tenants.organisation])
            }
            let producer = try KafkaProducer(configuration: configuration.kafka.kafka, logger: BillingTestApp.logger)
            let encoder = ContractCoding.encoder()
            let now = Date()
            let longID = "\(prefix)/" + String(repeating: "x", count: 120)
            func record(_ id: String, _ tenant: UUID, _ resource: MeteredResource, _ quantity: Double) -> UsageRecord {
                UsageRecord(eventId: id, tenantId: tenant, time: now, resource: resource, quantity: quantity, producer: "meter-test")
            }
            let calls = record("\(prefix)/calls", tenants.subTenants[0], .apiCalls, 5)
            let data = record("\(prefix)/data", tenants.organisation, .dataIngested, 1234.5)
            let long = record(longID, tenants.subTenants[1], .apiCalls, 7)
            let inference = record("\(prefix)/inference", tenants.organisation, .mlInference, 3)
            let strangers = record("\(prefix)/stranger", stranger.organisation, .apiCalls, 9)
            let sentinel = record("\(prefix)/sentinel", tenants.organisation, .apiCalls, 1)
            @Sendable func send(_ records: [UsageRecord]) async throws {
                // One key for all: one partition, so the sentinel comes after what precedes it.
                let batch = try records.map { KafkaRecord(topic: configuration.kafka.topics.meteringEvents, key: Array(tenants.organisation.uuidString.utf8),
                                                         value: Array(try encoder.encode($0))) }
                for result in try await producer.send(batch) { _ = try result.get() }
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await producer.run() }
                defer { group.cancelAll() }
                try await send([calls, data, long, inference, strangers, calls])
                try await BillingService.buildApplication(configuration, observability: Observability(logger: BillingTestApp.logger)).test(.live) { _ in
                    try await UsageTests.eventually("three meter events") { server.events.count >= 3 }
                    let events = server.events
                    let seen = Set(events.map { "\($0.identifier) \($0.eventName) \($0.value)" })
                    #expect(seen == ["\(calls.eventId) sensormine_api_calls 5", "\(data.eventId) sensormine_data_ingested 1234.5",
                                     "sm_\(OpaqueSecret.digest(longID)) sensormine_api_calls 7"])
                    #expect(events.allSatisfy { $0.customer == customer && abs($0.timestamp - Int(now.timeIntervalSince1970)) <= 1 })
                    // Redelivered records change nothing; the sentinel shows they were read.
                    try await send([calls, data, sentinel])
                    try await UsageTests.eventually("the sentinel's meter event") { server.events.contains { $0.identifier == sentinel.eventId } }
                    #expect(server.events.count == 4)
                    #expect(server.requests == 5, "the inference record was tried once and refused (no meter); nothing else was sent")
                }
            }
        }
    }
}
