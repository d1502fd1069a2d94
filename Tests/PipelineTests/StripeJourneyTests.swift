import Curl
import Foundation
import SensormineAuth
import SensormineCore
import SensormineJSON
import TestSupport
import Testing

/// Billing against localstripe (PyPI), a stateful fake of Stripe's API that signs the webhooks it
/// sends as Stripe does, with every service behind the real gateway.
@Suite("Stripe journey", .serialized)
struct StripeJourneyTests {
    @Test("a paying organisation gets one Stripe customer and subscription (a refusal for want of a payment method is recorded, then overcome); its finalised invoice is pushed, charged, and marked paid by localstripe's own signed webhook through the gateway; Stripe's total is the platform's")
    func localstripe() async throws {
        let stripe = try await LocalStripe.start()
        defer { stripe.stop() }
        let secret = "whsec_sensormine_\(UUID().uuidString)"
        let overrides = [
            "SENSORMINE_BILLING_STRIPE_URL": stripe.url, "SENSORMINE_BILLING_STRIPE_SECRET_KEY": LocalStripe.secretKey,
            "SENSORMINE_BILLING_STRIPE_WEBHOOK_SECRET": secret, "SENSORMINE_BILLING_INVOICE_INTERVAL": "off",
        ]
        let tokens = try await AccessTokens(settings: try TokenSettings(reader: ConfigReader(values: PipelineTestStack.values(port: 0))))
        try await PipelineTestStack.run(billing: true, overrides: overrides) { gateway in
            try await stripe.configureWebhook(url: gateway + "/api/v1/billing/stripe/webhook", secret: secret)
            let client = HTTPClient(configuration: .init(maximumRetries: 0))
            let root = try await tokens.issue(for: CallerIdentity(subject: "root", tenantID: UUID(), roles: [.platformAdmin])).token
            let org = try await PipelineTests.call(client, "POST", gateway + "/api/v1/tenants", token: root,
                                                   json: #"{"name":"Stripe \#(UUID().uuidString.prefix(8))","kind":"organisation"}"#)
            let organisation = try #require(org.body["id"]?.string).lowercased()
            let subscription = gateway + "/api/v1/billing/subscriptions/\(organisation)"
            func current() async throws -> JSON { try await PipelineTests.call(client, "GET", subscription, token: root).body["subscription"] ?? .null }
            func eventually(_ what: Comment, _ condition: () async throws -> Bool) async throws {
                for _ in 0..<300 {
                    if try await condition() { return }
                    try await Task.sleep(for: .milliseconds(100))
                }
                Issue.record("not within 30 s: \(what)")
            }

            // Pro without a payment method: the customer is made, the subscription refused and the reason kept.
            #expect(try await PipelineTests.call(client, "PUT", subscription, token: root, json: #"{"plan":"pro","taxRateBasisPoints":2000}"#).status == 200)
            var customer = ""
            try await eventually("the Stripe customer, and the refusal recorded") {
                let state = try await current()
                customer = state["stripeCustomerId"]?.string ?? ""
                return !customer.isEmpty && state["stripeSyncError"]?.string?.contains("payment method") == true
            }
            let made = try JSON.parse(try await stripe.request("GET", "/v1/customers/\(customer)").body)
            #expect(made["metadata"]?["organisation_id"]?.string == organisation)

            // The customer adds a card (as Stripe Elements would); the next change goes through.
            let method = try JSON.parse(try await stripe.request("POST", "/v1/payment_methods",
                                                                 form: "type=card&card[number]=4242424242424242&card[exp_month]=12&card[exp_year]=2030&card[cvc]=123").body)
            let methodID = try #require(method["id"]?.string)
            try await stripe.request("POST", "/v1/payment_methods/\(methodID)/attach", form: "customer=\(customer)")
            try await stripe.request("POST", "/v1/customers/\(customer)", form: "invoice_settings[default_payment_method]=\(methodID)")
            #expect(try await PipelineTests.call(client, "PUT", subscription, token: root, json: #"{"plan":"pro","taxRateBasisPoints":2000}"#).status == 200)
            var stripeSubscription = ""
            try await eventually("the Stripe subscription") {
                let state = try await current()
                stripeSubscription = state["stripeSubscriptionId"]?.string ?? ""
                return !stripeSubscription.isEmpty && state["stripeSyncError"] == nil
            }
            let made2 = try JSON.parse(try await stripe.request("GET", "/v1/subscriptions/\(stripeSubscription)").body)
            #expect(made2["items"]?["data"]?.array?.first?["plan"]?["id"]?.string == "sensormine-pro-month-usd")
            #expect(try await current()["stripeCustomerId"]?.string == customer, "one customer, however many changes")

            // This month's invoice: computed, finalised, pushed and charged; localstripe's webhook marks it paid.
            let month = Date().formatted(.iso8601.year().month())
            let draft = try await PipelineTests.call(client, "POST", gateway + "/api/v1/billing/invoices", token: root,
                                                     json: #"{"tenantId":"\#(organisation)","period":"\#(month)"}"#)
            let invoiceID = try #require(draft.body["id"]?.string)
            let total = try #require(draft.body["totalMinor"]?.number)
            #expect(try await PipelineTests.call(client, "POST", gateway + "/api/v1/billing/invoices/\(invoiceID)/finalize", token: root).status == 200)
            var paid = JSON.null
            try await eventually("the invoice paid through localstripe's webhook") {
                paid = try await PipelineTests.call(client, "GET", gateway + "/api/v1/billing/invoices/\(invoiceID)", token: root).body
                return paid["status"]?.string == "paid"
            }
            let stripeInvoice = try #require(paid["stripeInvoiceId"]?.string)
            let charged = try JSON.parse(try await stripe.request("GET", "/v1/invoices/\(stripeInvoice)").body)
            #expect(charged["total"]?.number == total, "Stripe's invoice (the subscription's base price and the pushed tax) totals the platform's")
            #expect(charged["customer"]?.string == customer && charged["status"]?.string == "paid")
            await client.shutdown()
        }
    }
}
