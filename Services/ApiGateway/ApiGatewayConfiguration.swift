import Foundation
import Hiredis
import SensormineAuth
import SensormineClients
import SensormineCore

/// ApiGateway's settings, read once at start-up; see `ApiGateway --help` for every key.
struct ApiGatewayConfiguration: ServiceConfiguration {
    var http: HTTPSettings
    var logging: LoggingSettings
    /// Redis, for the rate-limit buckets.
    var redis: RedisClient.Configuration
    /// Shared secret presented to upstreams with the identity headers.
    var gatewayToken: String
    /// Access-token verification.
    var tokens: TokenSettings
    /// Which service owns which path prefix.
    var routes: RoutingTable
    /// Prefixes served without authentication (the token endpoint).
    var publicPrefixes: [String]
    /// Prefixes outside the API (the console's pages) forwarded for GET without credentials.
    var staticPrefixes: [String]
    /// Per-tenant limit when the tenant's plan has none of its own.
    var rateLimit: RateLimiter.Limit
    /// Per-tenant limits by plan.
    var planLimits: [String: RateLimiter.Limit]
    /// Prefixes devices (API keys) may call; everything else is for users.
    var devicePrefixes: [String]
    /// Largest request body forwarded.
    var maximumBodyBytes: Int
    /// Deadline for an upstream answer.
    var upstreamTimeout: Duration
    /// Keep-alive connections open at most per upstream service.
    var upstreamConnections: Int
    /// The token endpoint and how often one account, and one client address, may call it.
    var signIn: SignInThrottle.Settings
    /// Origin allowed by CORS (`*` for any); nil disables CORS.
    var corsOrigin: String?
    /// Kafka, for the API-call usage records.
    var kafka: KafkaSettings
    /// How often each tenant's API calls are published (nil: not metered).
    var usageInterval: Duration?
    /// Whether Billing's quota states are read and enforced.
    var quotas: Bool
    /// Whether requests that need no waiting are forwarded on their connection's event loop
    /// (ADR 33); off, every request goes through the router.
    var eventLoopForwarding: Bool

    init(reader: ConfigReader) throws {
        self.http = try HTTPSettings(reader: reader, defaultPort: ApiGatewayService.descriptor.defaultPort)
        self.logging = try LoggingSettings(reader: reader)
        self.redis = try RedisClient.Configuration(reader: reader)
        self.gatewayToken = try GatewaySettings.token(reader: reader)
        self.tokens = try TokenSettings(reader: reader)
        self.routes = try RoutingTable(parsing: try reader.string("SENSORMINE_GATEWAY_ROUTES"), key: "SENSORMINE_GATEWAY_ROUTES")
        self.publicPrefixes = try reader.list("SENSORMINE_GATEWAY_PUBLIC_PREFIXES", default: ["/api/v1/auth/", "/api/v1/billing/stripe/"])
        self.staticPrefixes = try reader.list("SENSORMINE_GATEWAY_STATIC_PREFIXES", default: ["/console"])
        for prefix in self.staticPrefixes where !prefix.hasPrefix("/") || prefix.hasSuffix("/") || prefix.hasPrefix("/api/") || PathGuard.refusal(prefix) != nil {
            throw ConfigurationError(key: "SENSORMINE_GATEWAY_STATIC_PREFIXES", problem: "'\(prefix)' must be a plain path outside /api/ without a trailing /")
        }
        self.rateLimit = RateLimiter.Limit(
            perSecond: Double(try reader.int("SENSORMINE_GATEWAY_RATE_PER_SECOND", default: 100, range: 1...1_000_000)),
            burst: try reader.int("SENSORMINE_GATEWAY_RATE_BURST", default: 200, range: 1...10_000_000)
        )
        self.planLimits = try RateLimiter.Limit.parsePlans(
            try reader.string("SENSORMINE_GATEWAY_PLAN_LIMITS", default: ""), key: "SENSORMINE_GATEWAY_PLAN_LIMITS")
        self.devicePrefixes = try reader.list("SENSORMINE_GATEWAY_DEVICE_PREFIXES", default: ["/api/v1/ingest"])
        self.maximumBodyBytes = try reader.int("SENSORMINE_GATEWAY_MAX_BODY_BYTES", default: 1 << 20, range: 1...(64 << 20))
        self.upstreamTimeout = try reader.duration("SENSORMINE_GATEWAY_UPSTREAM_TIMEOUT", default: .seconds(10))
        self.upstreamConnections = try reader.int("SENSORMINE_GATEWAY_UPSTREAM_CONNECTIONS", default: 64, range: 1...4_096)
        self.corsOrigin = reader.optionalString("SENSORMINE_GATEWAY_CORS_ORIGIN")
        self.kafka = try KafkaSettings(reader: reader)
        self.usageInterval = try reader.durationOrOff("SENSORMINE_GATEWAY_USAGE_INTERVAL", default: .seconds(5))
        self.quotas = try reader.bool("SENSORMINE_GATEWAY_QUOTAS", default: true)
        self.eventLoopForwarding = try reader.bool("SENSORMINE_GATEWAY_EVENT_LOOP_FORWARDING", default: true)
        self.signIn = SignInThrottle.Settings(
            path: try reader.string("SENSORMINE_GATEWAY_SIGNIN_PATH", default: "/api/v1/auth/token"),
            perAccount: try RateLimiter.Limit.parsePerMinute(try reader.string("SENSORMINE_GATEWAY_SIGNIN_ACCOUNT_LIMIT", default: "10/10"),
                                                             key: "SENSORMINE_GATEWAY_SIGNIN_ACCOUNT_LIMIT"),
            perAddress: try RateLimiter.Limit.parsePerMinute(try reader.string("SENSORMINE_GATEWAY_SIGNIN_ADDRESS_LIMIT", default: "60/30"),
                                                             key: "SENSORMINE_GATEWAY_SIGNIN_ADDRESS_LIMIT"))
    }
}
