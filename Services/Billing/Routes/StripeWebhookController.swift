import Foundation
import HTTPTypes
import Hummingbird
import Logging
import SensormineAuth
import SensormineCore

/// POST /api/v1/billing/stripe/webhook: Stripe's events, public at the gateway and trusted only
/// by their `Stripe-Signature` (HMAC-SHA256 with the endpoint's secret, at most five minutes
/// old). Each event is applied once whatever the number or order of its deliveries; an
/// organisation whose state changed has its quota state computed again at once.
struct StripeWebhookController: Sendable {
    let events: StripeEventStore
    let quotas: QuotaKeeper
    /// The endpoint's signing secret (`whsec_…`); nil: Stripe is not configured.
    let secret: String?
    let tolerance: TimeInterval

    static let signature = HTTPField.Name("Stripe-Signature")!

    /// The answer Stripe reads.
    struct Received: ResponseEncodable, Sendable {
        var received: Bool
        var duplicate: Bool
    }

    func addRoutes(to group: RouterGroup<SensormineRequestContext>) {
        group.post("webhook", use: self.receive)
    }

    @Sendable func receive(_ request: Request, context: SensormineRequestContext) async throws -> Received {
        guard let secret = self.secret else { throw BillingError.notFound("Stripe webhooks are not configured (SENSORMINE_BILLING_STRIPE_WEBHOOK_SECRET)") }
        let body = Array(buffer: try await request.body.collect(upTo: 1 << 20))
        guard let header = request.headers[Self.signature] else {
            throw APIError.badRequest("the Stripe-Signature header is missing", errors: [.init(pointer: "Stripe-Signature", detail: "required")])
        }
        do {
            try WebhookSignature.verify(header: header, body: body, secret: secret, tolerance: self.tolerance)
        } catch {
            context.logger.warning("Stripe webhook refused", metadata: ["reason": "\(error)"])
            throw APIError.badRequest("the Stripe signature is not accepted", errors: [.init(pointer: "Stripe-Signature", detail: "\(error)")])
        }
        let event = try StripeEvent.parse(body)
        switch try await self.events.apply(event) {
        case .duplicate:
            return Received(received: true, duplicate: true)
        case .applied(let organisation):
            if let organisation {
                do {
                    try await self.quotas.evaluate([organisation])
                } catch {
                    // The change is stored; the next sweep brings the quota state up to date.
                    context.logger.warning("quota state not updated after a Stripe event", metadata: ["error": "\(error)"])
                }
            }
            return Received(received: true, duplicate: false)
        }
    }
}
