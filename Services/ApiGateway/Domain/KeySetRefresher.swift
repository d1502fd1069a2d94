import ClientRuntime
import Curl
import Logging
import NIOConcurrencyHelpers
import SensormineAuth
import SensormineCore
import ServiceLifecycle

/// Fetches the signing keys the gateway verifies against — the platform's JWKS (when it holds no
/// key itself) and the external OIDC issuer's — at start and every `interval`, so rotated keys
/// are picked up without a restart. The gateway is not ready until each set has loaded once.
struct KeySetRefresher: Service, CustomStringConvertible {
    var description: String { "KeySetRefresher" }

    /// One JWKS URL and where its keys go.
    struct Source: Sendable {
        var name: String
        var url: String
        var add: @Sendable (String) async throws -> Void
    }

    let sources: [Source]
    let client: HTTPClient
    let interval: Duration
    let logger: Logger
    private let loaded = NIOLockedValueBox(Set<String>())

    init(tokens: AccessTokens, settings: TokenSettings, client: HTTPClient, interval: Duration = .seconds(300), logger: Logger) {
        var sources: [Source] = []
        if let url = settings.jwksURL { sources.append(Source(name: "platform", url: url) { try await tokens.setPlatformKeys(jwks: $0) }) }
        if let external = settings.externalIssuer {
            sources.append(Source(name: "oidc", url: external.jwksURL) { try await tokens.setExternalKeys(jwks: $0) })
        }
        self.sources = sources
        self.client = client
        self.interval = interval
        self.logger = logger
    }

    /// Ready once every source has loaded at least once.
    var readiness: ReadinessCheck {
        ReadinessCheck(name: "signing-keys") {
            let missing = self.sources.map(\.name).filter { name in !self.loaded.withLockedValue { $0.contains(name) } }
            guard missing.isEmpty else { throw ClientError(.unreachable, client: "jwks", "not loaded yet: \(missing.joined(separator: ", "))") }
        }
    }

    func run() async throws {
        // Returning early would stop the service group: idle until shutdown instead.
        guard !self.sources.isEmpty else { return try await gracefulShutdown() }
        let backoff = Backoff(base: .milliseconds(250), maximum: .seconds(30))
        var failures = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            var failed = false
            for source in self.sources {
                do {
                    let response = try await self.client.get(source.url)
                    guard response.status == 200 else { throw ClientError(.serverError, client: "jwks", "\(source.url) answered \(response.status)") }
                    try await source.add(String(decoding: response.body, as: UTF8.self))
                    self.loaded.withLockedValue { _ = $0.insert(source.name) }
                } catch {
                    failed = true
                    self.logger.warning("could not load signing keys", metadata: ["source": "\(source.name)", LogKey.error: "\(error)"])
                }
            }
            failures = failed ? failures + 1 : 0
            // Sleeping must not hold up a graceful shutdown.
            let pause = failed ? backoff.delay(attempt: failures) : self.interval
            _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) }
        }
    }
}
