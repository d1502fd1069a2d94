import ClientRuntime
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

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
        RandomIdentifiers.hex(bytes: bytes)
    }
}

/// Random identifiers (requests, traces, telemetry messages) without a system call each: a
/// xoshiro256** generator seeded once from the system's, behind a lock. The identifiers must be
/// unique and spread, not secret (the gateway generates one set per request, and getrandom per
/// byte cost an eighth of its CPU; Foundation's `UUID()` opens /dev/urandom for each one).
public enum RandomIdentifiers {
    private static let state = Mutex<(UInt64, UInt64, UInt64, UInt64)>({
        var system = SystemRandomNumberGenerator()
        var seed = (system.next() as UInt64, system.next() as UInt64, system.next() as UInt64, system.next() as UInt64)
        if seed == (0, 0, 0, 0) { seed.0 = 1 }
        return seed
    }())

    private static func next() -> UInt64 {
        state.withLock { s in
            let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
            let t = s.1 << 17
            s.2 ^= s.0
            s.3 ^= s.1
            s.1 ^= s.2
            s.0 ^= s.3
            s.2 ^= t
            s.3 = s.3 << 45 | s.3 >> 19
            return result
        }
    }

    private static let digits = Array("0123456789abcdef".utf8)

    /// `bytes` random bytes as lower-case hex, never all zero.
    static func hex(bytes: Int) -> String {
        String(unsafeUninitializedCapacity: bytes * 2) { buffer in
            var written = 0
            var word: UInt64 = 0
            var nonZero = false
            for index in 0..<bytes {
                if index % 8 == 0 { word = next() }
                let byte = UInt8(truncatingIfNeeded: word >> (UInt64(index % 8) * 8))
                nonZero = nonZero || byte != 0
                buffer[written] = digits[Int(byte >> 4)]
                buffer[written + 1] = digits[Int(byte & 0x0F)]
                written += 2
            }
            if !nonZero && written > 0 { buffer[written - 1] = UInt8(ascii: "1") }
            return written
        }
    }

    /// A random (version 4) UUID in lower case, as request ids are.
    public static func uuidString() -> String {
        let high = next()
        let low = next()
        let version = (high & ~0xF000) | 0x4000  // version 4 in the third group
        let variant = (low & ~(0xC << 60)) | (0x8 << 60)  // RFC 4122 variant
        return String(unsafeUninitializedCapacity: 36) { buffer in
            var written = 0
            func put(_ word: UInt64, nibbles: Int) {
                for shift in stride(from: (nibbles - 1) * 4, through: 0, by: -4) {
                    buffer[written] = digits[Int((word >> UInt64(shift)) & 0xF)]
                    written += 1
                }
            }
            put(version >> 32, nibbles: 8)
            buffer[written] = UInt8(ascii: "-"); written += 1
            put(version >> 16, nibbles: 4)
            buffer[written] = UInt8(ascii: "-"); written += 1
            put(version, nibbles: 4)
            buffer[written] = UInt8(ascii: "-"); written += 1
            put(variant >> 48, nibbles: 4)
            buffer[written] = UInt8(ascii: "-"); written += 1
            put(variant, nibbles: 12)
            return written
        }
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

    /// The request's id (its own if acceptable, else a new one) and this service's span of its trace.
    public static func identify(_ headers: HTTPFields) -> (requestID: String, span: TraceParent) {
        let requestID = headers[.requestID].flatMap { Self.isAcceptable(requestID: $0) ? $0 : nil } ?? RandomIdentifiers.uuidString()
        let incomingTrace = headers[.traceparent].flatMap(TraceParent.init(header:))
        return (requestID, incomingTrace?.child() ?? TraceParent.random())
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let (requestID, span) = Self.identify(request.headers)
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
