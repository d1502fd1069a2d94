import ClientRuntime
import Foundation
import Hummingbird
import LibPQ
import Logging
import SensormineAuth
import SensormineClients
import SensormineCore
import ServiceLifecycle

/// DeviceAPI: the control plane (tenants, users, devices, device types, credentials, assets),
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
          SENSORMINE_DEVICE_OFFLINE_AFTER  silence after which a device counts as offline (default 5m)
          SENSORMINE_BOOTSTRAP_ADMIN_EMAIL     first platform-admin (default admin@sensormine.local)
          SENSORMINE_BOOTSTRAP_ADMIN_PASSWORD  its password (secret; when unset one is generated and shown once on the terminal, never logged)
          SENSORMINE_BOOTSTRAP_ADMIN_PASSWORD_FILE  write a generated password to this new file (mode 0600) instead
        """,
        ConfigurationHelp.metadataDatabase,
        ConfigurationHelp.kafka,
        ConfigurationHelp.redis,
        ConfigurationHelp.mqttAdmin,
    ].joined(separator: "\n")

    /// DeviceAPI's tables, versioned; applied before the server starts and by `DeviceAPI migrate`.
    static let migrations = DeviceAPIMigrations.runner

    static func migrationDatabase(_ configuration: DeviceAPIConfiguration) -> PostgresClient.Configuration {
        configuration.metadataDatabase
    }

    /// Device and asset events, which DeviceAPI publishes.
    static func ownedTopics(_ configuration: DeviceAPIConfiguration) -> (settings: KafkaSettings, topics: [String])? {
        (configuration.kafka, [configuration.kafka.topics.deviceEvents, configuration.kafka.topics.assetUpdates])
    }

    /// `DeviceAPI migrate`: the tables, then the first platform-admin when none exists (its
    /// password from config, or generated and logged once). Deployments run it as a pre-upgrade
    /// hook and `make run` runs it before the services start.
    static func migrate(_ configuration: DeviceAPIConfiguration, logger: Logger) async throws {
        try await MigrationCommand.run(migrations, database: configuration.metadataDatabase, logger: logger)
        if let owned = ownedTopics(configuration) { try await owned.settings.createTopics(owned.topics, logger: logger) }
        let database = PostgresClient(configuration: configuration.metadataDatabase)
        let hasher = PasswordHasher()
        let tenants = TenantRepository(database: database)
        let signIn = SignIn(users: UserRepository(tenants: tenants), tenants: tenants, hasher: hasher,
                            tokens: try await AccessTokens(settings: configuration.tokens), refreshTokenLifetime: configuration.refreshTokenLifetime)
        do {
            try await signIn.bootstrap(email: configuration.bootstrapAdminEmail, password: configuration.bootstrapAdminPassword,
                                       passwordFile: configuration.bootstrapAdminPasswordFile, logger: logger)
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
        let producer = try builder.addKafkaProducer(configuration.kafka)
        try builder.followDatabaseTopology(configuration.kafka, clients: [metadata])
        let redis = builder.addRedis(configuration.redis)
        let broker = try BrokerAccounts(configuration: configuration.brokerAdmin, logger: observability.logger)
        builder.readinessChecks.append(broker.readiness)
        builder.services.append(broker)
        builder.services.append(OutboxRelay.kafka(database: metadata, producer: producer, logger: observability.logger))
        builder.openAPIPaths = DeviceAPIOpenAPI.paths
        builder.openAPISchemas = DeviceAPIOpenAPI.schemas
        let tenantRepository = TenantRepository(database: metadata)
        let userRepository = UserRepository(tenants: tenantRepository)
        let hasher = PasswordHasher()
        builder.services.append(ClosingService("password-hasher") { await hasher.shutdown() })
        let tokens = try await AccessTokens(settings: configuration.tokens)
        let signIn = SignIn(users: userRepository, tenants: tenantRepository, hasher: hasher,
                            tokens: tokens, refreshTokenLifetime: configuration.refreshTokenLifetime)
        let deviceRepository = DeviceRepository(tenants: tenantRepository, topics: configuration.kafka.topics)
        let index = APIKeyIndex(redis: redis)
        let credentialOutbox = CredentialOutbox(database: metadata, index: index, broker: broker, logger: observability.logger)
        builder.services.append(credentialOutbox.relay)
        let credentials = CredentialRepository(devices: deviceRepository, index: index, broker: broker, outbox: credentialOutbox)
        builder.services.append(APIKeyIndexRepair(credentials: credentials, logger: observability.logger))
        builder.services.append(ConnectivitySweeper(devices: deviceRepository, offlineAfter: configuration.offlineAfter, logger: observability.logger))
        let devices = DeviceController(devices: deviceRepository, credentials: credentials,
                                       quota: DeviceQuota(database: metadata, redis: redis, logger: observability.logger))
        let deviceTypes = DeviceTypeController(devices: deviceRepository)
        let assets = AssetController(assets: AssetRepository(tenants: tenantRepository, topics: configuration.kafka.topics))
        let tenants = TenantController(repository: tenantRepository)
        let users = UserController(users: userRepository, hasher: hasher)
        let auth = AuthController(signIn: signIn)
        let jwks = try tokens.jwks()
        return builder.build { router in
            let api = router.group("/api/v1").add(middleware: TrustedIdentityMiddleware(callers: configuration.callers))
            tenants.addRoutes(to: api.group("tenants"))
            users.addRoutes(to: api.group("tenants"))
            devices.addRoutes(to: api.group("devices"))
            deviceTypes.addRoutes(to: api.group("device-types"))
            assets.addRoutes(to: api.group("assets"))
            let signInGroup = router.group("/api/v1/auth").add(middleware: TrustedIdentityMiddleware(callers: configuration.callers, identityRequired: false))
            auth.addRoutes(to: signInGroup)
            // Public keys are public: the gateway and other verifiers fetch them unauthenticated.
            router.get("/.well-known/jwks.json") { _, _ in
                Response(status: .ok, headers: [.contentType: "application/jwk-set+json", .cacheControl: "max-age=300"],
                         body: ResponseBody(byteBuffer: ByteBuffer(string: jwks)))
            }
        }
    }
}

/// Re-adds active API keys to the gateway's Redis index once at start-up, so a Redis that lost
/// its data (no persistence, failover) is repaired by restarting DeviceAPI. Tombstones win.
struct APIKeyIndexRepair: Service, CustomStringConvertible {
    var description: String { "APIKeyIndexRepair" }
    let credentials: CredentialRepository
    let logger: Logger

    func run() async throws {
        let backoff = Backoff(base: .milliseconds(500), maximum: .seconds(30))
        var attempt = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let keys = try await self.credentials.activeKeys()
                try await self.credentials.index.restore(keys)
                self.logger.info("api-key index checked", metadata: ["keys": "\(keys.count)"])
                break
            } catch {
                attempt += 1
                if (error as? ClientError)?.serverCode == SQLState.undefinedTable {
                    self.logger.debug("api_keys table not created yet; waiting for migrations")
                } else {
                    self.logger.warning("api-key index repair failed; retrying", metadata: [LogKey.error: "\(error)"])
                }
                let pause = backoff.delay(attempt: attempt)
                _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) }
            }
        }
        try? await gracefulShutdown()
    }
}

/// Marks devices offline once nothing has been heard from them for `offlineAfter` (EdgeGateway
/// reports activity, which marks them online).
struct ConnectivitySweeper: Service, CustomStringConvertible {
    var description: String { "ConnectivitySweeper" }
    let devices: DeviceRepository
    let offlineAfter: Duration
    let logger: Logger

    func run() async throws {
        let interval = min(self.offlineAfter / 4, .seconds(30))
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let cutoff = Date().addingTimeInterval(-Double(self.offlineAfter.components.seconds))
                let changed = try await self.devices.markSilentOffline(before: cutoff)
                if changed > 0 { self.logger.info("devices went offline", metadata: ["devices": "\(changed)"]) }
            } catch {
                if (error as? ClientError)?.serverCode != SQLState.undefinedTable {
                    self.logger.warning("connectivity sweep failed", metadata: [LogKey.error: "\(error)"])
                }
            }
            _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
