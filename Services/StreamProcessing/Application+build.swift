import Hummingbird
import LibPQ
import SensormineClients
import SensormineCore

/// StreamProcessing: how it is configured and built. Domain routes arrive with later issues; for now it
/// serves the standard operational endpoints and checks its real dependencies.
enum StreamProcessingService: MigratingService {
    static let descriptor = ServiceDescriptor(
        name: "StreamProcessing",
        summary: "Rollups and rule evaluation over device.telemetry; emits alerts.triggered and metering.events.",
        defaultPort: 8086
    )

    static let configurationHelp = [
        ConfigurationHelp.timeseriesDatabase,
        ConfigurationHelp.kafka,
    ].joined(separator: "\n")

    /// StreamProcessing's tables, versioned; applied before the server starts and by `StreamProcessing migrate`.
    static let migrations = MigrationRunner(scope: "StreamProcessing", migrations: [])

    static func migrationDatabase(_ configuration: StreamProcessingConfiguration) -> PostgresClient.Configuration {
        configuration.timeseriesDatabase
    }

    static func buildApplication(_ configuration: StreamProcessingConfiguration, observability: Observability) async throws -> ServiceApplication {
        var builder = ServiceApplicationBuilder(descriptor: descriptor, http: configuration.http, observability: observability)
        _ = builder.addPostgres(configuration.timeseriesDatabase, migrations: migrations)
        _ = try builder.addKafkaProducer(configuration.kafka)
        return builder.build()
    }
}
