import Hummingbird
import LibPQ
import SensormineClients
import SensormineCore

/// DeviceAPI: the control plane (tenants so far; users, devices, credentials and assets follow),
/// behind the identity the ApiGateway asserts.
enum DeviceAPIService: MigratingService {
    static let descriptor = ServiceDescriptor(
        name: "DeviceAPI",
        summary: "Tenants, users, devices, credentials and assets: the control plane.",
        defaultPort: 8081
    )

    static let configurationHelp = [
        ConfigurationHelp.gatewayToken,
        ConfigurationHelp.metadataDatabase,
        ConfigurationHelp.kafka,
        ConfigurationHelp.mqtt,
    ].joined(separator: "\n")

    /// DeviceAPI's tables, versioned; applied before the server starts and by `DeviceAPI migrate`.
    static let migrations = DeviceAPIMigrations.runner

    static func migrationDatabase(_ configuration: DeviceAPIConfiguration) -> PostgresClient.Configuration {
        configuration.metadataDatabase
    }

    static func buildApplication(_ configuration: DeviceAPIConfiguration, observability: Observability) async throws -> ServiceApplication {
        var builder = ServiceApplicationBuilder(descriptor: descriptor, http: configuration.http, observability: observability)
        let metadata = builder.addPostgres(configuration.metadataDatabase, migrations: migrations)
        _ = try builder.addKafkaProducer(configuration.kafka)
        _ = try builder.addMQTT(configuration.mqtt)
        builder.openAPIPaths = DeviceAPIOpenAPI.paths
        builder.openAPISchemas = DeviceAPIOpenAPI.schemas
        let tenants = TenantController(repository: TenantRepository(database: metadata))
        return builder.build { router in
            let api = router.group("/api/v1").add(middleware: TrustedIdentityMiddleware(gatewayToken: configuration.gatewayToken))
            tenants.addRoutes(to: api.group("tenants"))
        }
    }
}
