import Hummingbird
import SensormineClients
import SensormineCore

/// ApiGateway: how it is configured and built. Domain routes arrive with later issues; for now it
/// serves the standard operational endpoints and checks its real dependencies.
enum ApiGatewayService: SensormineService {
    static let descriptor = ServiceDescriptor(
        name: "ApiGateway",
        summary: "Single entry point: authenticates callers, applies per-tenant rate limits and routes /api/v1 to the owning service.",
        defaultPort: 8080
    )

    static let configurationHelp = [
        ConfigurationHelp.redis,
    ].joined(separator: "\n")

    static func buildApplication(_ configuration: ApiGatewayConfiguration, observability: Observability) async throws -> ServiceApplication {
        var builder = ServiceApplicationBuilder(descriptor: descriptor, http: configuration.http, observability: observability)
        _ = builder.addRedis(configuration.redis)
        return builder.build()
    }
}
