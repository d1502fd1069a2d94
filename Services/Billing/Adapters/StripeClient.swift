import ClientRuntime
import Curl
import Foundation
import SensormineJSON

/// Stripe's REST API over libcurl: bodies form-encoded as Stripe expects (`metadata[key]=…`,
/// `items[0][plan]=…`), the secret key as a bearer token, an `Idempotency-Key` on every POST,
/// and retries on 429 and 5xx with the same key, so a retried create is made once.
struct StripeClient: Sendable {
    /// Where Stripe is and the account's secret key.
    struct Settings: Sendable {
        /// `https://api.stripe.com`, or a local fake's URL.
        var baseURL: String
        var secretKey: String
    }

    /// Stripe's error object, or the transport's.
    struct Failure: Error, CustomStringConvertible {
        var status: Int
        var type: String
        var message: String
        var code: String?

        var description: String { "Stripe answered \(self.status) \(self.type)\(self.code.map { " (\($0))" } ?? ""): \(self.message)" }
        /// Whether the same request may succeed later.
        var isRetryable: Bool { self.status == 429 || self.status >= 500 || self.status == 0 }
    }

    let client: HTTPClient
    let settings: Settings
    var backoff = Backoff(base: .milliseconds(200), maximum: .seconds(5))
    var attempts = 4

    /// POSTs `form` to `path` (e.g. `/v1/customers`) with `idempotencyKey`.
    /// - Throws: ``Failure``.
    func post(_ path: String, _ form: [(String, String)], idempotencyKey: String) async throws -> JSON {
        try await self.send("POST", path, body: Array(Self.encode(form).utf8), idempotencyKey: idempotencyKey)
    }

    /// GETs `path`.
    /// - Throws: ``Failure``.
    func get(_ path: String) async throws -> JSON {
        try await self.send("GET", path, body: nil, idempotencyKey: nil)
    }

    /// DELETEs `path` (e.g. cancels a subscription).
    /// - Throws: ``Failure``.
    func delete(_ path: String) async throws -> JSON {
        try await self.send("DELETE", path, body: nil, idempotencyKey: nil)
    }

    private func send(_ method: String, _ path: String, body: [UInt8]?, idempotencyKey: String?) async throws -> JSON {
        var headers: [(name: String, value: String)] = [("Authorization", "Bearer \(self.settings.secretKey)"), ("Stripe-Version", "2024-06-20")]
        if body != nil { headers.append(("Content-Type", "application/x-www-form-urlencoded")) }
        if let idempotencyKey { headers.append(("Idempotency-Key", idempotencyKey)) }
        let request = HTTPClientRequest(method: method, url: self.settings.baseURL + path, headers: headers, body: body, timeout: .seconds(30))
        var attempt = 0
        // Retryable failures are thrown for the backoff; the rest come back as a value, final.
        let outcome: Result<JSON, Failure> = try await self.backoff.retryingUntilSuccess({
            attempt += 1
            let response: HTTPClientResponse
            do {
                response = try await self.client.execute(request)
            } catch {
                throw Failure(status: 0, type: "transport", message: "\(error)")
            }
            let document = try? JSON.parse(response.body)
            if (200..<300).contains(response.status), let document { return .success(document) }
            let error = document?["error"]
            let failure = Failure(status: response.status, type: error?["type"]?.string ?? "api_error",
                                  message: error?["message"]?.string ?? String(decoding: response.body.prefix(200), as: UTF8.self), code: error?["code"]?.string)
            if failure.isRetryable { throw failure }
            return .failure(failure)
        }, failed: { _, _ in }, giveUp: { attempt >= self.attempts })
        return try outcome.get()
    }

    /// `application/x-www-form-urlencoded`: each name and value percent-encoded, pairs joined by `&`.
    static func encode(_ form: [(String, String)]) -> String {
        form.map { Self.escape($0.0) + "=" + Self.escape($0.1) }.joined(separator: "&")
    }

    private static let unreserved = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")

    private static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: Self.unreserved) ?? ""
    }
}
