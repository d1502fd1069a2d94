import Foundation
import Hummingbird
import HummingbirdTesting
import LibPQ
import SensormineAuth
import SensormineClients
import SensormineContracts
import SensormineCore
import SensormineJSON
import TestSupport
import Testing

@testable import Billing

@Suite("Billing Stripe webhooks", .serialized)
struct StripeWebhookTests {
    static let secret = "whsec_test_\(UUID().uuidString)"

    /// A signed delivery of `event` as Stripe makes it, at `time`.
    static func delivery(_ event: String, secret: String = secret, time: Date = Date()) -> (headers: HTTPFields, body: ByteBuffer) {
        let timestamp = String(Int(time.timeIntervalSince1970))
        var headers = try! TrustedCallerRequests.headers(nil)
        headers[StripeWebhookController.signature] = "t=\(timestamp),v1=\(WebhookSignature.hex(secret: secret, timestamp: timestamp, body: Array(event.utf8)))"
        return (headers, ByteBuffer(string: event))
    }

    static func event(_ id: String, _ type: String, created: Int, object: String) -> String {
        #"{"id":"\#(id)","object":"event","type":"\#(type)","created":\#(created),"data":{"object":\#(object)}}"#
    }

    @Test("a signature that does not match, one older than five minutes and a missing one are refused; each event applies once however often and in whatever order it comes; a failed payment starts the grace period, a later success ends it, an older event changes nothing; a grace period that ends leaves Free's limits")
    func webhooks() async throws {
        let tenants = try await ChargebackTenants.seed()
        var values = BillingTestApp.values(prefix: "stripe-\(UUID().uuidString.prefix(8).lowercased())")
        values["SENSORMINE_BILLING_STRIPE_WEBHOOK_SECRET"] = Self.secret
        values["SENSORMINE_BILLING_INVOICE_INTERVAL"] = "off"
        values["SENSORMINE_BILLING_GRACE"] = "1h"
        let configuration = try BillingConfiguration(reader: ConfigReader(values: values))
        try await BillingService.migrate(configuration, logger: BillingTestApp.logger)
        let database = PostgresClient(configuration: configuration.metadataDatabase)
        defer { Task { await database.shutdown() } }
        let customer = "cus_\(UUID().uuidString.prefix(12))"
        var subscription = Subscription.free(tenants.organisation)
        subscription.plan = "pro"
        try await SubscriptionStore(database: database).save(subscription)
        try await database.withPlatformScope { session in
            try await session.execute("UPDATE billing_subscriptions SET stripe_customer_id = $2 WHERE organisation_id = $1", [tenants.organisation, customer])
        }
        @Sendable func state() async throws -> (status: String?, graceUntil: Date?) {
            let row = try await database.withPlatformScope { session in
                try await session.query("SELECT status, grace_until FROM billing_subscriptions WHERE organisation_id = $1", [tenants.organisation]).first
            }
            return (row?["status"], row?.date("grace_until"))
        }
        let root = CallerIdentity(subject: "root", tenantID: UUID(), roles: [.platformAdmin])
        let path = "/api/v1/billing/stripe/webhook"
        let now = Int(Date().timeIntervalSince1970)
        let invoiceID = UUID().uuidString.prefix(12)
        let failed = Self.event("evt_failed_\(UUID().uuidString.prefix(8))", "invoice.payment_failed", created: now - 60,
                                object: #"{"id":"in_\#(invoiceID)","object":"invoice","customer":"\#(customer)"}"#)
        let succeeded = Self.event("evt_paid_\(UUID().uuidString.prefix(8))", "invoice.payment_succeeded", created: now - 30,
                                   object: #"{"id":"in_\#(invoiceID)","object":"invoice","customer":"\#(customer)"}"#)
        try await BillingService.buildApplication(configuration, observability: Observability(logger: BillingTestApp.logger)).test(.live) { client in
            func send(_ delivery: (headers: HTTPFields, body: ByteBuffer)) async throws -> (HTTPResponse.Status, JSON) {
                let response = try await client.execute(uri: path, method: .post, headers: delivery.headers, body: delivery.body)
                let text = String(buffer: response.body)
                return (response.status, text.isEmpty ? .null : try JSON.parse(text))
            }
            // Refusals: another secret, a stale timestamp, no header, a body changed after signing.
            #expect(try await send(Self.delivery(failed, secret: "whsec_other")).0 == .badRequest)
            #expect(try await send(Self.delivery(failed, time: Date().addingTimeInterval(-301))).0 == .badRequest)
            var unsigned = Self.delivery(failed)
            unsigned.headers[StripeWebhookController.signature] = nil
            #expect(try await send(unsigned).0 == .badRequest)
            var tampered = Self.delivery(failed)
            tampered.body = ByteBuffer(string: failed.replacingOccurrences(of: "payment_failed", with: "payment_succeeded"))
            #expect(try await send(tampered).0 == .badRequest)
            #expect(try await state().status == "active", "no refused delivery changed anything")

            // The failed payment, three times: applied once, the grace period set once.
            let first = try await send(Self.delivery(failed))
            #expect(first.0 == .ok && first.1["duplicate"] == .bool(false))
            let grace = try await state()
            #expect(grace.status == "grace")
            let until = try #require(grace.graceUntil)
            #expect(abs(until.timeIntervalSinceNow - 3600) < 120)
            for _ in 0..<2 {
                let again = try await send(Self.delivery(failed))
                #expect(again.0 == .ok && again.1["duplicate"] == .bool(true))
            }
            #expect(try await state().graceUntil == until)
            // The quota state still has the plan during the grace period.
            #expect(try await client.call(.get, "/api/v1/billing/subscriptions/\(tenants.organisation)", as: root).1["quota"]?["plan"]?.string == "pro")

            // The success, then the older failure again and the success again: active, once.
            #expect(try await send(Self.delivery(succeeded)).1["duplicate"] == .bool(false))
            #expect(try await state().status == "active")
            let olderFailure = Self.event("evt_old_\(UUID().uuidString.prefix(8))", "payment_intent.payment_failed", created: now - 90,
                                          object: #"{"id":"pi_1","object":"payment_intent","customer":"\#(customer)"}"#)
            for delivery in [olderFailure, succeeded, olderFailure, failed] {
                #expect(try await send(Self.delivery(delivery)).0 == .ok)
            }
            #expect(try await state().status == "active", "an event older than the state applied changes nothing")
            let recorded = try await database.withPlatformScope { session in
                try await session.query("SELECT count(*) AS n FROM stripe_events WHERE organisation_id = $1", [tenants.organisation]).first?.int("n")
            }
            #expect(recorded == 3)

            // A cancellation, then the grace period ends: Free's limits.
            let deleted = Self.event("evt_del_\(UUID().uuidString.prefix(8))", "customer.subscription.deleted", created: now,
                                     object: #"{"id":"sub_\#(UUID().uuidString.prefix(12))","object":"subscription","customer":"\#(customer)","status":"canceled"}"#)
            #expect(try await send(Self.delivery(deleted)).0 == .ok)
            #expect(try await state().status == "grace")
            let lapsed = try await StripeEventStore(database: database, topics: configuration.kafka.topics, grace: .seconds(3600))
                .lapseExpired(now: Date().addingTimeInterval(7200))
            #expect(lapsed.contains(tenants.organisation))
            #expect(try await state().status == "lapsed")
            let view = try await client.call(.get, "/api/v1/billing/subscriptions/\(tenants.organisation)", as: root).1
            #expect(view["quota"]?["plan"]?.string == "free")
            #expect(view["quota"]?["resources"]?["api-calls"]?["included"]?.number == 10_000)
            // An event that is not JSON, or not an event, is a 422 once its signature holds.
            #expect(try await send(Self.delivery("[1,2]")).0 == .unprocessableContent)
        }
    }
}
