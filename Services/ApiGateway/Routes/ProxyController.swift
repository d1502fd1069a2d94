import ClientRuntime
import Curl
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOHTTP1
import SensormineAuth
import SensormineClients
import SensormineContracts
import SensormineCore

/// The gateway's one job: authenticate the caller once, apply the tenant's rate limit, and
/// forward the request to the service that owns the path, with the verified identity attached.
struct ProxyController: Sendable {
    let routes: RoutingTable
    let publicPrefixes: [String]
    /// Read-only prefixes outside the API (the console), forwarded without credentials.
    let staticPrefixes: [String]
    let tokens: AccessTokens
    let apiKeys: APIKeyIndex
    let devicePrefixes: [String]
    let rateLimiter: RateLimiter
    /// For the platform's health (readiness probes); the proxy hop uses ``upstream``.
    let client: Curl.HTTPClient
    let upstream: UpstreamClient
    let gatewayToken: String
    let maximumBodyBytes: Int
    let upstreamTimeout: Duration
    let signIn: SignInThrottle
    /// Counts each tenant's API calls for billing (nil: not metered).
    let meter: UsageMeter?
    /// Whether Billing's quota state is read and API calls past the quota refused.
    let quotas: Bool
    private let rateLimited = Counter(label: "sensormine_gateway_rate_limited_total")
    private let limiterErrors = Counter(label: "sensormine_gateway_rate_limiter_errors_total")
    private let quotaRefused = Counter(label: "sensormine_gateway_quota_refused_total")

    init(routes: RoutingTable, publicPrefixes: [String], staticPrefixes: [String] = [], tokens: AccessTokens, apiKeys: APIKeyIndex, devicePrefixes: [String],
         rateLimiter: RateLimiter, client: Curl.HTTPClient, upstream: UpstreamClient, gatewayToken: String, maximumBodyBytes: Int, upstreamTimeout: Duration,
         signIn: SignInThrottle.Settings, meter: UsageMeter? = nil, quotas: Bool = true) {
        self.signIn = SignInThrottle(settings: signIn, limiter: rateLimiter)
        self.meter = meter
        self.quotas = quotas
        self.routes = routes
        self.publicPrefixes = publicPrefixes
        self.staticPrefixes = staticPrefixes.filter { routes.route(for: $0) != nil }
        self.tokens = tokens
        self.apiKeys = apiKeys
        self.devicePrefixes = devicePrefixes
        self.rateLimiter = rateLimiter
        self.client = client
        self.upstream = upstream
        self.gatewayToken = gatewayToken
        self.maximumBodyBytes = maximumBodyBytes
        self.upstreamTimeout = upstreamTimeout
    }

    /// Bodies up to this size with a Content-Length are forwarded whole rather than streamed.
    static let wholeBodyBytes = 64 * 1024

    /// Where a tenant past its API-call quota may still go: its usage and subscription.
    static let quotaExemptPrefixes = ["/api/v1/billing"]

    /// The header naming the resources past 80 % of what the plan includes.
    static let quotaWarning = HTTPField.Name("Sensormine-Quota-Warning")!

    /// Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus those the
    /// gateway owns: a client must never be able to set the identity headers itself.
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te", "trailer",
        "transfer-encoding", "upgrade", "host", "content-length", "expect", "x-request-id", "traceparent",
    ]

    func addRoutes(to router: Router<SensormineRequestContext>) {
        for method in [HTTPRequest.Method.get, .post, .put, .patch, .delete] {
            router.on("/api/v1/**", method: method, use: self.forward)
        }
        router.get("/api/v1/platform/health", use: self.platformHealth)
        // The console's pages and files: GET only, public (the page signs in through the API).
        for prefix in self.staticPrefixes {
            router.get(RouterPath(prefix), use: self.forward)
            router.get(RouterPath(prefix + "/**"), use: self.forward)
        }
        if let console = self.staticPrefixes.first {
            router.get("/") { _, _ in Response(status: .found, headers: [.location: console + "/"]) }
        }
    }

    /// Every service's readiness, for platform-admins (the gateway's own endpoint).
    @Sendable func platformHealth(_ request: Request, context: SensormineRequestContext) async throws -> PlatformHealth {
        let caller = try await self.authenticate(request)
        guard caller.isPlatformAdmin else { throw APIError.forbidden("the platform's health is for platform-admins") }
        _ = try await self.applyRateLimit(caller, path: request.uri.path, logger: context.logger)
        return await PlatformHealthController(routes: self.routes, client: self.client, timeout: .seconds(2)).check()
    }

    @Sendable func forward(_ request: Request, context: SensormineRequestContext) async throws -> Response {
        var request = request
        let path = request.uri.path
        if let refusal = PathGuard.refusal(path) {
            throw APIError.badRequest("the request path is not accepted", errors: [.init(pointer: "path", detail: refusal)])
        }
        guard let route = self.routes.route(for: path) else {
            throw APIError.notFound("no service serves \(path)")
        }
        if self.signIn.applies(method: request.method, path: path) {
            // The body is small; read it to find the account, then forward what was read.
            let body = try await request.body.collect(upTo: SignInThrottle.maximumBodyBytes)
            try await self.throttleSignIn(account: SignInThrottle.account(in: body), address: context.clientAddress, logger: context.logger)
            request.body = RequestBody(buffer: body)
        }
        var identity: CallerIdentity?
        var quotaWarning: String?
        let isPublic = self.publicPrefixes.contains(where: { PathGuard.isUnder(path, prefix: $0) })
            || self.staticPrefixes.contains(where: { PathGuard.isUnder(path, prefix: $0) })
        if !isPublic {
            let caller = try await self.authenticate(request)
            if caller.roles == [.device], !self.devicePrefixes.contains(where: { PathGuard.isUnder(path, prefix: $0) }) {
                throw APIError.forbidden("an API key authenticates a device, which may call only \(self.devicePrefixes.joined(separator: ", "))")
            }
            quotaWarning = try await self.applyRateLimit(caller, path: path, logger: context.logger)
            // A device's calls are its telemetry, metered as data ingested, not as API calls.
            if caller.roles != [.device] { self.meter?.record(caller.tenantID, .apiCalls) }
            identity = caller
        }
        let declaredLength = request.headers[.contentLength].flatMap { Int($0) }
        if let declaredLength, declaredLength > self.maximumBodyBytes {
            throw Self.tooLarge(self.maximumBodyBytes)
        }
        let headers = self.upstreamHeaders(request.headers, requestID: context.requestID, traceparent: context.trace?.description, identity: identity)
        let hasBody = declaredLength.map { $0 > 0 } ?? (request.headers[.transferEncoding] != nil)
        let streamsBody = hasBody || [.post, .put, .patch].contains(request.method)
        // The client's body streams to the upstream while the upstream may already answer, so
        // the relay's pump runs beside the handler; it ends before the response does.
        let limit = self.maximumBodyBytes
        let relay = streamsBody ? RequestBodyRelay(request.body, length: declaredLength, limit: limit, tooLarge: { Self.tooLarge(limit) }) : nil
        let answer: UpstreamClient.Answer
        do {
            answer = try await self.upstream.send(method: HTTPMethod(rawValue: request.method.rawValue), to: route.address, target: request.uri.description,
                                                  headers: headers, body: relay, timeout: self.upstreamTimeout)
        } catch {
            await relay?.close()
            throw Self.upstreamFailure(error, route: route, timeout: self.upstreamTimeout, logger: context.logger)
        }
        if answer.status == 204 || answer.status == 304 {
            // No body will be written, so the writer below may never run: end the relay here.
            await relay?.close()
        }
        let fields = Self.answerFields(answer.headers, quotaWarning: quotaWarning)
        let status = HTTPResponse.Status(code: answer.status)
        // A small body of a declared length is read whole and answered in one write with the
        // head (a streamed body costs a write per part); it arrives at once anyway.
        if let length = answer.headers.first(name: "content-length").flatMap({ Int($0) }), length <= Self.wholeBodyBytes {
            let whole: ByteBuffer
            do {
                whole = try await answer.collect(upTo: length)
            } catch {
                await relay?.close()
                throw Self.upstreamFailure(error, route: route, timeout: self.upstreamTimeout, logger: context.logger)
            }
            await relay?.close()
            return Response(status: status, headers: fields, body: length == 0 ? ResponseBody() : ResponseBody(byteBuffer: whole))
        }
        // The body streams from the upstream to the client as it arrives; if the client goes away
        // the writer fails and the upstream exchange is dropped with it.
        let body = answer.body
        return Response(status: status, headers: fields, body: ResponseBody { writer in
            do {
                for try await chunk in body { try await writer.write(chunk) }
            } catch {
                await relay?.close()
                throw error
            }
            await relay?.close()
            try await writer.finish(nil)
        })
    }

    /// The headers sent upstream: the client's forwardable ones, then those the gateway asserts
    /// (its token, the request's id and trace, and the verified caller, if any).
    func upstreamHeaders(_ fields: HTTPFields, requestID: String, traceparent: String?, identity: CallerIdentity?) -> HTTPHeaders {
        var headers = HTTPHeaders()
        headers.reserveCapacity(fields.count + 6)
        Self.appendForwardable(fields, to: &headers)
        headers.add(name: HTTPField.Name.gatewayToken.rawName, value: self.gatewayToken)
        headers.add(name: HTTPField.Name.requestID.rawName, value: requestID)
        if let traceparent { headers.add(name: HTTPField.Name.traceparent.rawName, value: traceparent) }
        if let identity {
            headers.add(name: HTTPField.Name.callerSubject.rawName, value: identity.subject)
            headers.add(name: HTTPField.Name.callerTenant.rawName, value: identity.tenantID.lowercasedString)
            headers.add(name: HTTPField.Name.callerRoles.rawName, value: identity.roles.map(\.rawValue).sorted().joined(separator: ","))
        }
        return headers
    }

    /// The upstream answer's headers for the client: minus hop-by-hop ones (Content-Length kept)
    /// and those its Connection header names, plus the quota warning.
    static func answerFields(_ headers: HTTPHeaders, quotaWarning: String?) -> HTTPFields {
        var fields = HTTPFields()
        fields.reserveCapacity(headers.count + 5)
        let dropped = Self.connectionNamed(headers.first(name: "connection"))
        for (name, value) in headers {
            guard let fieldName = HTTPField.Name(name) else { continue }
            let canonical = fieldName.canonicalName
            if (canonical != "content-length" && Self.hopByHop.contains(canonical)) || dropped.contains(canonical) { continue }
            fields.append(HTTPField(name: fieldName, value: value))
        }
        if let quotaWarning { fields[Self.quotaWarning] = quotaWarning }
        return fields
    }

    /// The problem for a failed upstream exchange: 504 on a timeout, 502 when unreachable, and
    /// any other error (413 from the relay, cancellation) as it is.
    static func upstreamFailure(_ error: any Error, route: GatewayRoute, timeout: Duration, logger: Logger) -> any Error {
        guard let failure = error as? UpstreamClient.Failure else { return error }
        switch failure {
        case .timeout:
            return APIError(status: .gatewayTimeout, slug: "upstream-timeout", title: "Gateway timeout",
                            detail: "the service behind \(route.prefix) did not answer within \(timeout)")
        case .unreachable(let reason):
            logger.warning("upstream failed", metadata: ["upstream": "\(route.upstream)", LogKey.error: "\(reason)"])
            return APIError(status: .badGateway, slug: "upstream-unavailable", title: "Bad gateway",
                            detail: "the service behind \(route.prefix) is not reachable")
        }
    }

    static func tooLarge(_ limit: Int) -> APIError {
        APIError(status: .contentTooLarge, slug: "payload-too-large", title: "Payload too large",
                 detail: "the request body exceeds the gateway's limit of \(limit) bytes")
    }

    /// Appends the request's headers minus hop-by-hop ones, those its Connection header names,
    /// the credentials, and every `X-Sensormine-*` header (only the gateway may assert those).
    static func appendForwardable(_ fields: HTTPFields, to headers: inout HTTPHeaders) {
        let dropped = fields[.connection].map { self.connectionNamed($0) } ?? []
        for field in fields {
            let name = field.name.canonicalName
            if self.hopByHop.contains(name) || name == "authorization" || name == "x-api-key" || name.hasPrefix("x-sensormine-")
                || (!dropped.isEmpty && dropped.contains(name)) {
                continue
            }
            headers.add(name: field.name.rawName, value: field.value)
        }
    }

    static let apiKey = HTTPField.Name("X-API-Key")!

    /// The header names a Connection header lists (lower-cased), without its options
    /// (`keep-alive`, `close`), which name no header. Plain Swift: this runs for every answer.
    static func connectionNamed(_ value: String?) -> Set<String> {
        guard let value, !value.isEmpty else { return [] }
        var names = Set<String>()
        for item in value.utf8.split(separator: UInt8(ascii: ",")) {
            let trimmed = item.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
            guard let last = trimmed.lastIndex(where: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }) else { continue }
            let name = String(decoding: trimmed[...last], as: UTF8.self).lowercased()
            if name != "keep-alive" && name != "close" { names.insert(name) }
        }
        return names
    }

    private func authenticate(_ request: Request) async throws -> CallerIdentity {
        if let authorization = request.headers[.authorization] {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else {
                throw APIError.unauthorized("use Authorization: Bearer <access token>")
            }
            do {
                return try await self.tokens.verify(String(parts[1]))
            } catch {
                throw APIError.unauthorized(error.reason)
            }
        }
        if let key = request.headers[Self.apiKey] {
            let lookup: APIKeyIndex.Lookup
            do {
                lookup = try await self.apiKeys.lookup(digest: OpaqueSecret.digest(key))
            } catch {
                // Failing closed: a key that cannot be checked might have been revoked.
                throw APIError.serviceUnavailable("API keys cannot be checked right now; retry shortly")
            }
            guard case .active(let entry) = lookup, let tenant = UUID(uuidString: entry.tenantID) else {
                throw APIError.unauthorized("this API key is not valid")
            }
            return CallerIdentity(subject: entry.deviceID, tenantID: tenant, roles: [.device], plan: entry.plan,
                                  organisationID: entry.organisationID.flatMap(UUID.init(uuidString:)))
        }
        throw APIError.unauthorized("credentials are required: Authorization: Bearer <token> or X-API-Key")
    }

    /// Refuses with 429 and Retry-After past the tenant's limit. If Redis is down the gateway
    /// lets traffic through (and counts it): losing rate limiting beats losing the API.
    /// Refuses a sign-in attempt with 429 once its account or its address has used its budget.
    private func throttleSignIn(account: String?, address: String?, logger: Logger) async throws {
        let refusal: RateLimiter.Decision?
        do {
            refusal = try await self.signIn.take(account: account, address: address)
        } catch {
            self.limiterErrors.increment()
            logger.warning("sign-in limiter unavailable; attempt allowed", metadata: [LogKey.error: "\(error)"])
            return
        }
        guard let refusal else { return }
        self.rateLimited.increment()
        throw APIError(status: .tooManyRequests, slug: "sign-in-rate-limited", title: "Too many sign-in attempts",
                       detail: "too many sign-in attempts for this account or from this address; retry after \(refusal.retryAfterSeconds) s",
                       headers: [.retryAfter: String(refusal.retryAfterSeconds)])
    }

    /// Refuses with 429 and Retry-After past the tenant's rate limit, or (for a user's API call
    /// outside Billing's routes) when Billing says the organisation's API calls are used up for
    /// the period. Answers the quota warning to add to the response, if any.
    private func applyRateLimit(_ caller: CallerIdentity, path: String, logger: Logger) async throws -> String? {
        let decision: RateLimiter.Decision
        let organisation = caller.rateLimitTenant
        let checksQuota = self.quotas && !caller.isPlatformAdmin
        let enforces = checksQuota && caller.roles != [.device] && !Self.quotaExemptPrefixes.contains { PathGuard.isUnder(path, prefix: $0) }
        do {
            // Sub-tenants spend their organisation's budget: splitting into sites multiplies nothing.
            decision = try await self.rateLimiter.take(tenant: organisation.lowercasedString, plan: caller.plan,
                                                       quota: checksQuota ? QuotaState.redisKey(organisation) : nil, enforceQuota: enforces)
        } catch {
            self.limiterErrors.increment()
            logger.warning("rate limiter unavailable; request allowed", metadata: [LogKey.error: "\(error)"])
            return nil
        }
        if decision.quotaRefused {
            self.quotaRefused.increment()
            let seconds = max(1, (decision.quotaUntil ?? 0) - Int(Date().timeIntervalSince1970))
            var headers: HTTPFields = [.retryAfter: String(seconds)]
            if let warning = decision.quotaWarning { headers[Self.quotaWarning] = warning }
            throw APIError(status: .tooManyRequests, slug: "quota-exceeded", title: "Quota exceeded",
                           detail: "the organisation has used the API calls its plan includes this period (resource api-calls); retry after the period ends in \(seconds) s, or raise the plan",
                           headers: headers)
        }
        guard decision.allowed else {
            self.rateLimited.increment()
            throw APIError(status: .tooManyRequests, slug: "rate-limited", title: "Too many requests",
                           detail: "the tenant's request rate limit is exhausted; retry after \(decision.retryAfterSeconds) s",
                           headers: [.retryAfter: String(decision.retryAfterSeconds)])
        }
        return decision.quotaWarning
    }
}
