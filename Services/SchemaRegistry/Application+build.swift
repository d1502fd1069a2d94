import Hummingbird
import LibPQ
import SensormineClients
import SensormineCore

/// SchemaRegistry: per-tenant subjects with immutable versions, compatibility checks and
/// validation, behind the identity the ApiGateway asserts.
enum SchemaRegistryService: MigratingService {
    static let descriptor = ServiceDescriptor(
        name: "SchemaRegistry",
        summary: "Telemetry schemas: subjects, versions, compatibility and validation.",
        defaultPort: 8082
    )

    static let configurationHelp = [
        ConfigurationHelp.gatewayToken,
        """
          SENSORMINE_SCHEMA_DEFAULT_COMPATIBILITY  mode of new subjects: BACKWARD, FORWARD, FULL, their _TRANSITIVE forms, or NONE (default BACKWARD)
        """,
        ConfigurationHelp.metadataDatabase,
        ConfigurationHelp.redis,
    ].joined(separator: "\n")

    /// SchemaRegistry's tables, versioned; applied before the server starts and by `SchemaRegistry migrate`.
    static let migrations = SchemaRegistryMigrations.runner

    static func migrationDatabase(_ configuration: SchemaRegistryConfiguration) -> PostgresClient.Configuration {
        configuration.metadataDatabase
    }

    static func buildApplication(_ configuration: SchemaRegistryConfiguration, observability: Observability) async throws -> ServiceApplication {
        var builder = ServiceApplicationBuilder(descriptor: descriptor, http: configuration.http, observability: observability)
        let database = builder.addPostgres(configuration.metadataDatabase, migrations: migrations)
        let redis = builder.addRedis(configuration.redis)
        builder.openAPIPaths = SchemaRegistryOpenAPI.paths
        builder.openAPISchemas = SchemaRegistryOpenAPI.schemas
        let subjects = SubjectController(repository: SubjectRepository(database: database, cache: SchemaCache(redis: redis)),
                                         compiled: CompiledSchemas(), defaultMode: configuration.defaultCompatibility)
        let inference = InferenceController()
        return builder.build { router in
            let schemas = router.group("/api/v1/schemas").add(middleware: TrustedIdentityMiddleware(gatewayToken: configuration.gatewayToken))
            subjects.addRoutes(to: schemas)
            inference.addRoutes(to: schemas)
        }
    }
}
