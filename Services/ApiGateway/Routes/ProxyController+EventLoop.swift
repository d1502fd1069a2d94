import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import NIOCore
import NIOHTTP1
import SensormineAuth
import SensormineClients
import SensormineContracts
import SensormineCore

/// A request the gateway forwards from its connection's event loop, every check passed and its
/// rate-limit token spent (ADR 33).
struct EventLoopForward {
    let route: GatewayRoute
    /// What goes upstream, identity headers included.
    let head: HTTPRequestHead
    /// The declared body's length (0: none).
    let bodyLength: Int
    let method: HTTPRequest.Method
    let path: String
    /// The router's pattern for the path, the metrics' route label.
    let routePattern: String
    let requestID: String
    /// The request's span as its `traceparent` header, sent upstream and answered.
    let traceparent: String
    let quotaWarning: String?
}

extension ProxyController {
    /// The router's pattern for the proxied API routes.
    static let apiPattern = "/api/v1/**"

    /// `request` forwarded at once, with an upstream connection on `loop`, when nothing it
    /// needs would make the loop wait: a public route or a bearer token verified before, tokens
    /// already reserved for its tenant, a body of declared length no larger than
    /// ``wholeBodyBytes``. nil when the router must take it, with nothing spent: every request
    /// the router would refuse (bad path, no credentials, 413, 429) goes there, so each refusal
    /// is made in one place.
    func forwardNow(_ request: HTTPRequest, on loop: any EventLoop) -> (EventLoopForward, UpstreamPool.Checkout)? {
        let method = request.method
        guard method == .get || method == .post || method == .put || method == .patch || method == .delete,
              let target = request.path, target.utf8.first == UInt8(ascii: "/") else { return nil }
        let fields = request.headerFields
        // A request that asks for the connection's handling (close, upgrade, 100-continue) or
        // streams its body goes to the router, which knows every case. `Connection: keep-alive`
        // (what browsers send) asks for nothing; the other names it lists are not forwarded.
        if let connection = fields[.connection] {
            let options = connection.lowercased()
            if options.contains("close") || options.contains("upgrade") { return nil }
        }
        guard fields[.expect] == nil, fields[.transferEncoding] == nil, fields[.upgrade] == nil else { return nil }
        let bodyLength: Int
        if let declared = fields[.contentLength] {
            guard let length = Int(declared), (0...Self.wholeBodyBytes).contains(length), length <= self.maximumBodyBytes else { return nil }
            bodyLength = length
        } else {
            bodyLength = 0
        }
        let uri = URI(target)
        let path = uri.path
        guard PathGuard.refusal(path) == nil, let route = self.routes.route(for: path) else { return nil }
        let pattern: String
        let isPublic: Bool
        if path.hasPrefix("/api/v1/"), path.utf8.count > 8, path != "/api/v1/platform/health" {
            pattern = Self.apiPattern
            isPublic = self.publicPrefixes.contains { PathGuard.isUnder(path, prefix: $0) }
        } else if method == .get, let prefix = self.staticPrefixes.first(where: { PathGuard.isUnder(path, prefix: $0) }) {
            pattern = path == prefix ? prefix : prefix + "/**"
            isPublic = true
        } else {
            return nil
        }
        if self.signIn.applies(method: method, path: path) { return nil }
        var identity: CallerIdentity?
        if !isPublic {
            guard let authorization = fields[.authorization], authorization.utf8.count > 7,
                  authorization.prefix(7).lowercased() == "bearer " else { return nil }
            guard let caller = self.tokens.recentlyVerified(String(authorization.dropFirst(7))), caller.roles != [.device] else { return nil }
            identity = caller
        }
        guard let connection = self.upstream.checkout(to: route.address, on: loop) else { return nil }
        var quotaWarning: String?
        if let identity {
            let organisation = identity.rateLimitTenant
            let checksQuota = self.quotas && !identity.isPlatformAdmin
            let enforces = checksQuota && !Self.quotaExemptPrefixes.contains { PathGuard.isUnder(path, prefix: $0) }
            guard let decision = self.rateLimiter.takeNow(tenant: organisation.lowercasedString, plan: identity.plan,
                                                          quota: checksQuota ? QuotaState.redisKey(organisation) : nil, enforceQuota: enforces),
                  decision.allowed, !decision.quotaRefused
            else {
                switch connection {
                case .idle(let idle): idle.release()
                case .connecting(let opening): opening.whenSuccess { $0.release() }
                }
                return nil
            }
            quotaWarning = decision.quotaWarning
            self.meter?.record(identity.tenantID, .apiCalls)
        }
        let (requestID, span) = RequestIdentityMiddleware.identify(fields)
        let traceparent = span.description
        let headers = self.upstreamHeaders(fields, requestID: requestID, traceparent: traceparent, identity: identity)
        let sendsLength = bodyLength > 0 || method == .post || method == .put || method == .patch
        let head = UpstreamClient.head(method: HTTPMethod(rawValue: method.rawValue), to: route.address, target: uri.description, headers: headers,
                                       body: sendsLength ? bodyLength : nil)
        let forward = EventLoopForward(route: route, head: head, bodyLength: bodyLength, method: method, path: path, routePattern: pattern,
                                       requestID: requestID, traceparent: traceparent, quotaWarning: quotaWarning)
        return (forward, connection)
    }
}
