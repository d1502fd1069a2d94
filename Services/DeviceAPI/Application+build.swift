import Hummingbird
import LibPQ
import Logging
import SensormineAuth
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
        TokenSettings.help,
        """
          SENSORMINE_REFRESH_TOKEN_TTL  refresh-token lifetime (default 720h)
          SENSORMINE_BOOTSTRAP_ADMIN_EMAIL     first platform-admin (default admin@sensormine.local)
          SENSORMINE_BOOTSTRAP_ADMIN_PASSWORD  its password (secret; generated and logged once when unset)
        """,
        ConfigurationHelp.metadataDatabase,
        ConfigurationHelp.kafka,
        ConfigurationHelp.mqtt,
    ].joined(separator: "\n")

    /// DeviceAPI's tables, versioned; applied before the server starts and by `DeviceAPI migrate`.
    static let migrations = DeviceAPIMigrations.runner

    static func migrationDatabase(_ configuration: DeviceAPIConfiguration) -> PostgresClient.Configuration {
        configuration.metadataDatabase
    }

    /// `DeviceAPI migrate`: the tables, then the first platform-admin when none exists (its
    /// password from config, or generated and logged once). Deployments run it as a pre-upgrade
    /// hook and `make run` runs it before the services start.
    static func migrate(_ configuration: DeviceAPIConfiguration, logger: Logger) async throws {
        try await MigrationCommand.run(migrations, database: configuration.metadataDatabase, logger: logger)
        let database = PostgresClient(configuration: configuration.metadataDatabase)
        let hasher = PasswordHasher()
        let tenants = TenantRepository(database: database)
        let signIn = SignIn(users: UserRepository(tenants: tenants), tenants: tenants, hasher: hasher,
                            tokens: await AccessTokens(settings: configuration.tokens), refreshTokenLifetime: configuration.refreshTokenLifetime)
        do {
            try await signIn.bootstrap(email: configuration.bootstrapAdminEmail, password: configuration.bootstrapAdminPassword, logger: logger)
        } catch {
            await database.shutdown()
            await hasher.shutdown()
            throw error
        }
        await database.shutdown()
        await hasher.shutdown()
    }

    static func buildApplication(_ configuration: DeviceAPIConfiguration, observability: Observability) async throws -> ServiceApplication {
        var builder = ServiceApplicationBuilder(descriptor: descriptor, http: configuration.http, observability: observability)
        let metadata = builder.addPostgres(configuration.metadataDatabase, migrations: migrations)
        _ = try builder.addKafkaProducer(configuration.kafka)
        _ = try builder.addMQTT(configuration.mqtt)
        builder.openAPIPaths = DeviceAPIOpenAPI.paths
        builder.openAPISchemas = DeviceAPIOpenAPI.schemas
        let tenantRepository = TenantRepository(database: metadata)
        let userRepository = UserRepository(tenants: tenantRepository)
        let hasher = PasswordHasher()
        builder.services.append(ClosingService("password-hasher") { await hasher.shutdown() })
        let signIn = SignIn(users: userRepository, tenants: tenantRepository, hasher: hasher,
                            tokens: await AccessTokens(settings: configuration.tokens), refreshTokenLifetime: configuration.refreshTokenLifetime)
        let tenants = TenantController(repository: tenantRepository)
        let users = UserController(users: userRepository, hasher: hasher)
        let auth = AuthController(signIn: signIn)
        return builder.build { router in
            let api = router.group("/api/v1").add(middleware: TrustedIdentityMiddleware(gatewayToken: configuration.gatewayToken))
            tenants.addRoutes(to: api.group("tenants"))
            users.addRoutes(to: api.group("tenants"))
            let signInGroup = router.group("/api/v1/auth").add(middleware: TrustedIdentityMiddleware(gatewayToken: configuration.gatewayToken, identityRequired: false))
            auth.addRoutes(to: signInGroup)
        }
    }
}
