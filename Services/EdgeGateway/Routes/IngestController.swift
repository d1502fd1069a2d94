import Foundation
import Hummingbird
import Logging
import SensormineCore
import SensormineTelemetry

/// POST /api/v1/ingest: telemetry from a device authenticated by its API key at the gateway.
struct IngestController: Sendable {
    let forwarder: TelemetryForwarder
    let maximumBodyBytes: Int
    /// Billing's quota states: a tenant whose organisation is past its quota is refused (429).
    let quotas: QuotaBook?

    func addRoutes(to group: RouterGroup<SensormineRequestContext>) {
        group.post(use: self.ingest)
    }

    /// The answer: how many messages Kafka acknowledged.
    struct Accepted: ResponseEncodable {
        var accepted: Int
    }

    /// Accepts one JSON object or an array of up to 1000; answers 202 once Kafka, or the spool
    /// while Kafka is away, holds them all.
    @Sendable func ingest(_ request: Request, context: SensormineRequestContext) async throws -> EditedResponse<Accepted> {
        let caller = try context.requireIdentity()
        guard caller.roles.contains(.device), let device = UUID(uuidString: caller.subject) else {
            throw APIError.forbidden("telemetry is sent by a device, authenticated with its API key (X-API-Key)")
        }
        if let state = self.quotas?.refusal(tenant: caller.tenantID.uuidString.lowercased()) { throw QuotaBook.problem(state) }
        let body = try await request.body.collect(upTo: self.maximumBodyBytes)
        let parsed = TelemetryForwarder.envelopes(Array(buffer: body), tenant: caller.tenantID.uuidString.lowercased(),
                                                  device: device.uuidString.lowercased(), source: .http, receivedAt: TelemetryForwarder.now())
        let envelopes: [TelemetryEnvelope]
        switch parsed {
        case .notJSON(_, let reason):
            throw APIError.badRequest("the body is not JSON: \(reason)")
        case .messages(let messages):
            envelopes = messages
        }
        guard !envelopes.isEmpty else { throw APIError.validationFailed("the batch is empty", errors: [.init(pointer: "", detail: "send one object or an array of 1 to \(TelemetryForwarder.maximumBatch)")]) }
        guard envelopes.count <= TelemetryForwarder.maximumBatch else {
            throw APIError.validationFailed("the batch is too large", errors: [.init(pointer: "", detail: "at most \(TelemetryForwarder.maximumBatch) messages per request")])
        }
        do {
            try await self.forwarder.deliver(envelopes)
        } catch {
            context.logger.error("telemetry can be neither forwarded nor spooled", metadata: [LogKey.error: "\(error)"])
            throw APIError(status: .serviceUnavailable, slug: "ingest-unavailable", title: "Service unavailable",
                           detail: "telemetry cannot be taken right now (Kafka is unreachable and the spool is full); retry the whole request later",
                           headers: [.retryAfter: "5"])
        }
        return EditedResponse(status: .accepted, response: Accepted(accepted: envelopes.count))
    }
}
