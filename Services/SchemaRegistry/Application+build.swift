import Curl
import Hummingbird
import JSONSchema
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
          SENSORMINE_SCHEMA_ASSERT_FORMATS  true: format asserts in every schema (default: only under the format-assertion vocabulary)
          SENSORMINE_AI_URL             Anthropic-compatible Messages API that refines inferred schemas (optional)
          SENSORMINE_AI_KEY / _MODEL    its key (secret) and model (default claude-3-5-haiku-latest)
          SENSORMINE_AI_PRICE_IN / _PRICE_OUT  USD per million tokens, for metered cost (0.8 / 4)
          SENSORMINE_AI_TIMEOUT         deadline of one call (default 30s)
        """,
        ConfigurationHelp.metadataDatabase,
        ConfigurationHelp.redis,
        ConfigurationHelp.kafka,
    ].joined(separator: "\n")

    /// SchemaRegistry's tables, versioned; applied before the server starts and by `SchemaRegistry migrate`.
    static let migrations = SchemaRegistryMigrations.runner

    static func migrationDatabase(_ configuration: SchemaRegistryConfiguration) -> PostgresClient.Configuration {
        configuration.metadataDatabase
    }

    static func buildApplication(_ configuration: SchemaRegistryConfiguration, observability: Observability) async throws -> ServiceApplication {
        var builder = ServiceApplicationBuilder(descriptor: descriptor, http: configuration.http, observability: observability)
        let database = builder.addPostgres(configuration.metadataDatabase, migrations: migrations)
        // Kafka only for platform.topology: a statement stuck on a primary that hangs (stopped, not
        // dead) would otherwise hold schema lookups, and with them Ingestion, until TCP gives up.
        try builder.followDatabaseTopology(configuration.kafka, clients: [database])
        let redis = builder.addRedis(configuration.redis)
        builder.openAPIPaths = SchemaRegistryOpenAPI.paths
        builder.openAPISchemas = SchemaRegistryOpenAPI.schemas
        let subjects = SubjectController(repository: SubjectRepository(database: database, cache: SchemaCache(redis: redis)),
                                         compiled: CompiledSchemas(options: SchemaOptions(assertFormats: configuration.assertFormats)),
                                         defaultMode: configuration.defaultCompatibility)
        let usage = AIUsageRepository(database: database, logger: observability.logger)
        var refinement: AIRefinement?
        if let provider = configuration.aiProvider {
            let client = builder.addHTTPClient(configuration: HTTPClient.Configuration(timeout: provider.timeout, maximumRetries: 0, maximumConcurrentRequests: 8, name: "ai"))
            refinement = AIRefinement(settings: provider, client: client) { await usage.record($0) }
        }
        let inference = InferenceController(refinement: refinement)
        let aiUsage = AIUsageController(usage: usage)
        return builder.build { router in
            let trusted = TrustedIdentityMiddleware(callers: configuration.callers)
            let schemas = router.group("/api/v1/schemas").add(middleware: trusted)
            subjects.addRoutes(to: schemas)
            inference.addRoutes(to: schemas)
            aiUsage.addRoutes(to: router.group("/api/v1/aiusage").add(middleware: trusted))
        }
    }
}
