import ClientRuntime
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// The request context every Sensormine service uses.
public struct SensormineRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The request id (from X-Request-ID or generated).
    public var requestID: String = ""
    /// The W3C trace context of this request.
    public var trace: TraceParent?
    /// Who is calling, as asserted by the gateway; set by ``TrustedIdentityMiddleware``.
    public var identity: CallerIdentity?
    /// The service whose token the request carried (the gateway for users' requests).
    public var serviceCaller: ServiceCaller?
    /// The peer's IP address (the gateway's client, or a proxy in front of it).
    public var clientAddress: String?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.clientAddress = source.channel.remoteAddress?.ipAddress
    }
}

extension HTTPField.Name {
    /// `X-Request-ID`.
    public static let requestID = HTTPField.Name("X-Request-ID")!
}

/// A W3C Trace Context `traceparent` value (version 00).
public struct TraceParent: Sendable, Equatable, CustomStringConvertible {
    /// 32 lower-case hex digits, not all zero.
    public var traceID: String
    /// 16 lower-case hex digits: the span that sent the request.
    public var parentID: String
    /// Trace flags (01 = sampled).
    public var flags: String

    /// Parses a header value; nil when it is not a valid version-00 traceparent.
    public init?(header: String) {
        let parts = header.trimmingCharacters(in: .whitespaces).split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 4, parts[0].count == 2, parts[0] != "ff",
              parts[1].count == 32, parts[2].count == 16, parts[3].count == 2,
              parts.prefix(4).allSatisfy({ $0.allSatisfy(\.isHexDigit) && $0 == $0.lowercased() }),
              parts[1].contains(where: { $0 != "0" }), parts[2].contains(where: { $0 != "0" })
        else { return nil }
        self.traceID = String(parts[1])
        self.parentID = String(parts[2])
        self.flags = String(parts[3])
    }

    /// Creates a value from parts.
    public init(traceID: String, parentID: String, flags: String = "01") {
        self.traceID = traceID
        self.parentID = parentID
        self.flags = flags
    }

    /// A new trace, sampled.
    public static func random() -> TraceParent {
        TraceParent(traceID: randomHex(bytes: 16), parentID: randomHex(bytes: 8))
    }

    /// The same trace with a new span id: what this service sends downstream.
    public func child() -> TraceParent {
        TraceParent(traceID: self.traceID, parentID: Self.randomHex(bytes: 8), flags: self.flags)
    }

    public var description: String { "00-\(self.traceID)-\(self.parentID)-\(self.flags)" }

    static func randomHex(bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        var text = ""
        text.reserveCapacity(bytes * 2)
        for _ in 0..<bytes {
            let byte = UInt8.random(in: 0...255, using: &generator)
            text += String(byte >> 4, radix: 16) + String(byte & 0x0F, radix: 16)
        }
        return text
    }
}

/// Accepts X-Request-ID and traceparent (or generates them), echoes both on the response, tags
/// the request's logger, and makes them the ``OutboundContext`` for calls made while serving it.
public struct RequestIdentityMiddleware: RouterMiddleware {
    public typealias Context = SensormineRequestContext

    /// Creates the middleware.
    public init() {}

    /// A request id is accepted when it is 1–128 visible ASCII characters without separators.
    public static func isAcceptable(requestID: String) -> Bool {
        guard (1...128).contains(requestID.utf8.count) else { return false }
        return requestID.utf8.allSatisfy { byte in
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || [0x2D, 0x2E, 0x5F, 0x3A].contains(byte)
        }
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let incomingID = request.headers[.requestID]
        let requestID = incomingID.flatMap { Self.isAcceptable(requestID: $0) ? $0 : nil } ?? UUID().uuidString.lowercased()
        let incomingTrace = request.headers[.traceparent].flatMap(TraceParent.init(header:))
        let span = incomingTrace?.child() ?? TraceParent.random()
        context.requestID = requestID
        context.trace = span
        context.logger[metadataKey: LogKey.requestID] = .string(requestID)
        context.logger[metadataKey: LogKey.traceID] = .string(span.traceID)
        let outbound = OutboundContext(requestID: requestID, traceparent: span.description)
        var response = try await OutboundContext.$current.withValue(outbound) {
            try await next(request, context)
        }
        response.headers[.requestID] = requestID
        response.headers[.traceparent] = span.description
        return response
    }
}
