import Crypto
import Foundation

/// Webhook signatures as Stripe makes them and the Alerts service sends them: HMAC-SHA256 over
/// `<timestamp>.<body>` with a shared secret, in lower-case hex.
public enum WebhookSignature {
    /// Why a signature header was not accepted.
    public enum Refusal: Error, Equatable, CustomStringConvertible {
        case malformed
        case stale(seconds: Int)
        case mismatch

        public var description: String {
            switch self {
            case .malformed: "the signature header is not t=<unix time>,v1=<hex>"
            case .stale(let seconds): "the signature's timestamp is \(seconds) s away from now, beyond the tolerance"
            case .mismatch: "no v1 signature matches the body"
            }
        }
    }

    /// HMAC-SHA256 of `timestamp.body` with `secret`, in lower-case hex.
    public static func hex(secret: String, timestamp: String, body: [UInt8]) -> String {
        var signed = Array(timestamp.utf8)
        signed.append(UInt8(ascii: "."))
        signed.append(contentsOf: body)
        return OpaqueSecret.hex(HMAC<SHA256>.authenticationCode(for: signed, using: SymmetricKey(data: Array(secret.utf8))))
    }

    /// Checks a `Stripe-Signature` header (`t=<unix>,v1=<hex>[,v1=<hex>…]`; other schemes are
    /// ignored): the timestamp within `tolerance` of `now`, and some v1 signature equal to the
    /// body's, compared in constant time.
    /// - Throws: ``Refusal``.
    public static func verify(header: String, body: [UInt8], secret: String, tolerance: TimeInterval = 300, now: Date = Date()) throws(Refusal) {
        var timestamp: String?
        var signatures: [String] = []
        for part in header.split(separator: ",").prefix(32) {
            let pair = part.split(separator: "=", maxSplits: 1)
            guard pair.count == 2 else { continue }
            let key = pair[0].trimmingCharacters(in: .whitespaces)
            if key == "t" { timestamp = String(pair[1]) } else if key == "v1" { signatures.append(String(pair[1])) }
        }
        guard let timestamp, timestamp.count <= 12, let seconds = Int(timestamp), !signatures.isEmpty else { throw .malformed }
        let age = Int(now.timeIntervalSince1970) - seconds
        guard abs(age) <= Int(tolerance) else { throw .stale(seconds: age) }
        let expected = Array(Self.hex(secret: secret, timestamp: timestamp, body: body).utf8)
        var matched = false
        for signature in signatures {
            let presented = Array(signature.utf8)
            guard presented.count == expected.count else { continue }
            var difference: UInt8 = 0
            for (left, right) in zip(presented, expected) { difference |= left ^ right }
            if difference == 0 { matched = true }
        }
        guard matched else { throw .mismatch }
    }
}
