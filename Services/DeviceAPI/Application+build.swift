import Hummingbird
import LibPQ
import SensormineClients
import SensormineCore

/// DeviceAPI: how it is configured and built. Domain routes arrive with later issues; for now it
/// serves the standard operational endpoints and checks its real dependencies.
enum DeviceAPIService: MigratingService {
    static let descriptor = ServiceDescriptor(
        name: "DeviceAPI",
        summary: "Tenants, users, devices, credentials and assets: the control plane.",
        defaultPort: 8081
    )

    static let configurationHelp = [
        ConfigurationHelp.metadataDatabase,
        ConfigurationHelp.kafka,
        ConfigurationHelp.mqtt,
    ].joined(separator: "\n")

    /// DeviceAPI's tables, versioned; applied before the server starts and by `DeviceAPI migrate`.
    static let migrations = MigrationRunner(scope: "DeviceAPI", migrations: [])

    static func migrationDatabase(_ configuration: DeviceAPIConfiguration) -> PostgresClient.Configuration {
        configuration.metadataDatabase
    }

    static func buildApplication(_ configuration: DeviceAPIConfiguration, observability: Observability) async throws -> ServiceApplication {
        var builder = ServiceApplicationBuilder(descriptor: descriptor, http: configuration.http, observability: observability)
        _ = builder.addPostgres(configuration.metadataDatabase, migrations: migrations)
        _ = try builder.addKafkaProducer(configuration.kafka)
        _ = try builder.addMQTT(configuration.mqtt)
        return builder.build()
    }
}
