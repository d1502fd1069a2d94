import Curl
import HTTPTypes
import Hummingbird
import RdKafka
import SensormineAuth
import SensormineClients
import SensormineCore

/// ApiGateway: the single entry point. Authenticates once (JWT for users, X-API-Key for devices),
/// applies per-tenant rate limits by plan, and forwards /api/v1/… to the owning service.
enum ApiGatewayService: SensormineService {
    static let descriptor = ServiceDescriptor(
        name: "ApiGateway",
        summary: "Single entry point: authenticates callers, applies per-tenant rate limits and routes /api/v1 to the owning service.",
        defaultPort: 8080
    )

    static let configurationHelp = [
        ConfigurationHelp.redis,
        ConfigurationHelp.kafka,
        ConfigurationHelp.gatewayToken,
        TokenSettings.help,
        """
          SENSORMINE_GATEWAY_ROUTES     /prefix=http://host:port[,…]: which service owns which path (required)
          SENSORMINE_GATEWAY_PUBLIC_PREFIXES  prefixes served without credentials (default /api/v1/auth/,/api/v1/billing/stripe/:
                                              sign-in and Stripe's signed webhooks)
          SENSORMINE_GATEWAY_STATIC_PREFIXES  prefixes outside /api/ forwarded for GET without credentials, each needing a route
                                              (default /console: the web console; GET / redirects to the first)
          SENSORMINE_GATEWAY_RATE_PER_SECOND / _RATE_BURST  per-tenant token bucket (default 100 / 200)
          SENSORMINE_GATEWAY_PLAN_LIMITS      per-plan buckets, plan=perSecond/burst[,…] (e.g. free=10/20)
          SENSORMINE_GATEWAY_SIGNIN_PATH      the token endpoint, whose attempts are limited (default /api/v1/auth/token)
          SENSORMINE_GATEWAY_SIGNIN_ACCOUNT_LIMIT  sign-in attempts per account, perMinute/burst (default 10/10)
          SENSORMINE_GATEWAY_SIGNIN_ADDRESS_LIMIT  sign-in attempts per client address, perMinute/burst (default 60/30)
          SENSORMINE_GATEWAY_DEVICE_PREFIXES  prefixes devices may call with X-API-Key (default /api/v1/ingest)
          SENSORMINE_GATEWAY_MAX_BODY_BYTES   largest request body (default 1048576)
          SENSORMINE_GATEWAY_UPSTREAM_TIMEOUT deadline for an upstream answer (default 10s)
          SENSORMINE_GATEWAY_UPSTREAM_CONNECTIONS  keep-alive connections open at most per upstream service; a request
                                        beyond waits for one within its deadline (default 64)
          SENSORMINE_GATEWAY_CORS_ORIGIN      origin allowed by CORS, or * (default: CORS off)
          SENSORMINE_GATEWAY_USAGE_INTERVAL   how often each tenant's API calls go to metering.events (default 5s; off: not metered)
          SENSORMINE_GATEWAY_QUOTAS           whether Billing's quota states are read: 429 past the API-call quota and the
                                              Sensormine-Quota-Warning header past 80 % (default true)
          SENSORMINE_GATEWAY_EVENT_LOOP_FORWARDING  whether requests needing no wait (a token verified before, rate-limit
                                              tokens reserved, a small body) are forwarded on their connection's event loop
                                              without the router (default true; off under CORS)
        """,
    ].joined(separator: "\n")

    static func buildApplication(_ configuration: ApiGatewayConfiguration, observability: Observability) async throws -> ServiceApplication {
        var builder = ServiceApplicationBuilder(descriptor: descriptor, http: configuration.http, observability: observability)
        let redis = builder.addRedis(configuration.redis)
        // libcurl for the gateway's own calls (key sets, health probes); the proxy hop on SwiftNIO.
        let client = builder.addHTTPClient(configuration: HTTPClient.Configuration(
            timeout: configuration.upstreamTimeout, maximumRetries: 1, maximumConcurrentRequests: 16, name: "gateway-calls"))
        let upstream = try UpstreamClient(connectionsPerUpstream: configuration.upstreamConnections, connectTimeout: .seconds(2),
                                          wholeBodyBytes: ProxyController.wholeBodyBytes, logger: observability.logger)
        builder.services.append(ClosingService("upstream-client") { await upstream.shutdown() })
        builder.openAPIPaths = ApiGatewayOpenAPI.paths
        let tokens = try await AccessTokens(settings: configuration.tokens)
        // API-call metering: a Kafka outage delays usage records, never requests, so the producer
        // is not among the readiness checks.
        var meter: UsageMeter?
        if let interval = configuration.usageInterval {
            let producer = try KafkaProducer(configuration: configuration.kafka.kafka, logger: observability.logger)
            builder.services.append(producer)
            let counter = UsageMeter(producer: producer, topic: configuration.kafka.topics.meteringEvents, interval: interval, producerName: "api-gateway",
                                     logger: observability.logger)
            builder.services.append(counter)
            meter = counter
        }
        let keySets = KeySetRefresher(tokens: tokens, settings: configuration.tokens, client: client, logger: observability.logger)
        builder.services.append(keySets)
        if !keySets.sources.isEmpty { builder.readinessChecks.append(keySets.readiness) }
        let proxy = ProxyController(
            routes: configuration.routes, publicPrefixes: configuration.publicPrefixes, staticPrefixes: configuration.staticPrefixes,
            tokens: tokens,
            apiKeys: APIKeyIndex(redis: redis), devicePrefixes: configuration.devicePrefixes,
            rateLimiter: RateLimiter(redis: redis, defaultLimit: configuration.rateLimit, planLimits: configuration.planLimits), client: client, upstream: upstream,
            gatewayToken: configuration.gatewayToken, maximumBodyBytes: configuration.maximumBodyBytes,
            upstreamTimeout: configuration.upstreamTimeout, signIn: configuration.signIn, meter: meter, quotas: configuration.quotas
        )
        if configuration.eventLoopForwarding && configuration.corsOrigin == nil {
            let metrics = RequestMetricsCache()
            let (name, logger) = (descriptor.name, observability.logger)
            builder.channelHandlers = { [EventLoopProxyHandler(controller: proxy, serverName: name, metrics: metrics, logger: logger)] }
        }
        return builder.build { router in
            if let origin = configuration.corsOrigin {
                router.add(middleware: CORSMiddleware(
                    allowOrigin: origin == "*" ? .all : .custom(origin),
                    allowHeaders: [.authorization, .contentType, .accept, .requestID, HTTPField.Name("X-API-Key")!],
                    allowMethods: [.get, .post, .put, .patch, .delete, .options],
                    exposedHeaders: [HTTPField.Name.requestID.rawName, HTTPField.Name.retryAfter.rawName, HTTPField.Name.location.rawName],
                    maxAge: .seconds(600)
                ))
            }
            proxy.addRoutes(to: router)
        }
    }
}

/// The gateway's own paths in its OpenAPI document.
enum ApiGatewayOpenAPI {
    static let paths = """
          /api/v1/{path}:
            parameters:
              - { name: path, in: path, required: true, schema: { type: string }, description: Any path a service owns (see SENSORMINE_GATEWAY_ROUTES). }
            get: &forwarded
              summary: Forwarded to the owning service after authentication and rate limiting.
              security: [{ bearer: [] }, { apiKey: [] }]
              responses:
                '401': { $ref: '#/components/responses/Problem' }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
                '413': { $ref: '#/components/responses/Problem' }
                '429': { $ref: '#/components/responses/Problem' }
                '502': { $ref: '#/components/responses/Problem' }
                '504': { $ref: '#/components/responses/Problem' }
                default: { description: What the owning service answers. }
            post: *forwarded
            put: *forwarded
            patch: *forwarded
            delete: *forwarded
          /api/v1/platform/health:
            get:
              summary: Every service behind the gateway, its readiness probed now (platform-admin).
              operationId: platformHealth
              security: [{ bearer: [] }]
              responses:
                '200':
                  description: The services.
                  content:
                    application/json:
                      schema:
                        type: object
                        required: [checkedAt, services]
                        properties:
                          checkedAt: { type: string, format: date-time }
                          services:
                            type: array
                            items:
                              type: object
                              required: [name, upstream, prefixes, ready, checks, milliseconds, metrics]
                              properties:
                                name: { type: string }
                                upstream: { type: string }
                                prefixes: { type: array, items: { type: string } }
                                ready: { type: boolean }
                                checks: { type: object, additionalProperties: { type: string } }
                                detail: { type: string }
                                milliseconds: { type: number }
                                metrics: { type: object, additionalProperties: { type: number }, description: 'The pipeline''s series (consumer lag, points and messages counted) from one replica''s /metrics, summed over labels.' }
                '401': { $ref: '#/components/responses/Problem' }
                '403': { $ref: '#/components/responses/Problem' }
                '429': { $ref: '#/components/responses/Problem' }
          /:
            get:
              summary: Redirects to the web console (the first of SENSORMINE_GATEWAY_STATIC_PREFIXES).
              responses:
                '302': { description: To /console/. }
          /console:
            get: &console
              summary: The web console's page and files, forwarded to the Console service without credentials (GET only).
              responses:
                '200': { description: The page or file. }
                '304': { description: Not modified. }
                '308': { description: To /console/. }
                '404': { $ref: '#/components/responses/Problem' }
                '502': { $ref: '#/components/responses/Problem' }
          /console/{path}:
            parameters:
              - { name: path, in: path, required: true, schema: { type: string }, description: A view's URL or a static file. }
            get: *console
        """
}
