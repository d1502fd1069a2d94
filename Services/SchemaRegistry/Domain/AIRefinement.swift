import ClientRuntime
import Curl
import Foundation
import JSONSchema
import SensormineCore
import SensormineJSON

/// An Anthropic-compatible Messages API that may refine inferred schemas.
struct AIProviderSettings: Sendable, Equatable {
    /// Base URL, e.g. https://api.anthropic.com.
    var url: String
    /// API key; secret.
    var key: String
    var model: String
    /// Price in USD per million input and output tokens, for the metered cost.
    var inputPricePerMillion: Double
    var outputPricePerMillion: Double
    var timeout: Duration

    /// Reads `SENSORMINE_AI_URL`, `_KEY`, `_MODEL`, `_PRICE_IN`, `_PRICE_OUT`, `_TIMEOUT`; nil when no URL is set.
    /// - Throws: ``ConfigurationError``.
    static func read(_ reader: ConfigReader) throws -> AIProviderSettings? {
        guard let url = reader.optionalString("SENSORMINE_AI_URL") else { return nil }
        func price(_ key: String, _ fallback: Double) throws -> Double {
            guard let text = reader.optionalString(key) else { return fallback }
            guard let value = Double(text), value >= 0 else { throw ConfigurationError(key: key, problem: "must be a non-negative number") }
            return value
        }
        return AIProviderSettings(
            url: url.hasSuffix("/") ? String(url.dropLast()) : url, key: try reader.secret("SENSORMINE_AI_KEY"),
            model: try reader.string("SENSORMINE_AI_MODEL", default: "claude-3-5-haiku-latest"),
            inputPricePerMillion: try price("SENSORMINE_AI_PRICE_IN", 0.8), outputPricePerMillion: try price("SENSORMINE_AI_PRICE_OUT", 4),
            timeout: try reader.duration("SENSORMINE_AI_TIMEOUT", default: .seconds(30)))
    }
}

/// One metered AI call.
struct AIUsageRecord: Sendable, Equatable {
    var tenantID: UUID
    var provider: String
    var model: String
    var tokensIn: Int
    var tokensOut: Int
    var costUSD: Double
    var duration: Duration
    var success: Bool
}

/// Asks the provider to refine a deterministic proposal; every call, failed or not, is metered.
struct AIRefinement: Sendable {
    let settings: AIProviderSettings
    let client: HTTPClient
    let meter: @Sendable (AIUsageRecord) async -> Void

    private struct MessagesRequest: Encodable {
        struct Message: Encodable { var role: String; var content: String }
        var model: String
        var max_tokens: Int
        var system: String
        var messages: [Message]
    }

    /// The refined result, or the proposal unchanged (with a suggestion saying why) when the
    /// provider fails or answers something that is not a valid schema.
    func refine(_ proposal: InferenceResult, sample: [UInt8], tenantID: UUID) async -> InferenceResult {
        let excerpt = String(decoding: sample.prefix(4_000), as: UTF8.self)
        let request = MessagesRequest(
            model: self.settings.model, max_tokens: 2_048,
            system: "You improve JSON Schemas (draft 2020-12) for industrial IoT telemetry. Answer with the improved schema only, as one JSON object.",
            messages: [.init(role: "user", content: "Sample data:\n\(excerpt)\n\nProposed schema:\n\(proposal.schema.canonicalText)\n\nTighten types, ranges and required fields where the sample supports it; keep x-unit annotations.")]
        )
        let started = ContinuousClock.now
        var record = AIUsageRecord(tenantID: tenantID, provider: "anthropic", model: self.settings.model, tokensIn: 0, tokensOut: 0, costUSD: 0, duration: .zero, success: false)
        var result = proposal
        do {
            let body = try JSONEncoder().encode(request)
            let response = try await self.client.execute(HTTPClientRequest(
                method: "POST", url: self.settings.url + "/v1/messages",
                headers: [("x-api-key", self.settings.key), ("anthropic-version", "2023-06-01"), ("content-type", "application/json")],
                body: Array(body), timeout: self.settings.timeout))
            let answer = try JSON.parse(response.body)
            if let usage = answer["usage"] {
                record.tokensIn = Int(usage["input_tokens"]?.number ?? 0)
                record.tokensOut = Int(usage["output_tokens"]?.number ?? 0)
            }
            guard response.status == 200 else { throw ClientError(.serverError, client: "ai", "the provider answered \(response.status)") }
            let text = (answer["content"]?.array ?? []).compactMap { $0["type"]?.string == "text" ? $0["text"]?.string : nil }.joined()
            let refined = try JSON.parse(Self.jsonObject(in: text))
            _ = try CompiledSchema(refined)
            result.schema = refined
            result.engine = "anthropic:\(self.settings.model)"
            record.success = true
        } catch {
            result.fields = result.fields.map { field in
                var field = field
                if field.name == result.fields.first?.name { field.suggestions.append("AI refinement unavailable (\(error)); deterministic proposal kept") }
                return field
            }
        }
        record.duration = ContinuousClock.now - started
        record.costUSD = (Double(record.tokensIn) * self.settings.inputPricePerMillion + Double(record.tokensOut) * self.settings.outputPricePerMillion) / 1_000_000
        await self.meter(record)
        return result
    }

    /// The outermost `{…}` of a reply that may wrap the JSON in prose or a code fence.
    static func jsonObject(in text: String) -> String {
        guard let start = text.firstIndex(of: "{"), let end = text.lastIndex(of: "}"), start < end else { return text }
        return String(text[start...end])
    }
}
