import Hummingbird
import LibPQ
import Logging
import SensormineClients
import SensormineCore

/// DeviceAPI: how it is configured and built. Domain routes arrive with later issues; for now it
/// serves the standard operational endpoints and checks its real dependencies.
enum DeviceAPIService: SensormineService {
    static let descriptor = ServiceDescriptor(
        name: "DeviceAPI",
        summary: "Tenants, users, devices, credentials and assets: the control plane.",
        defaultPort: 8081
    )

    static let configurationHelp = """
          SENSORMINE_METADATA_DB_URL    postgresql:// URL of sensormine_metadata (required, secret)
          SENSORMINE_METADATA_DB_POOL_SIZE / _STATEMENT_TIMEOUT / _CONNECT_TIMEOUT (10 / 30s / 5s)
          SENSORMINE_KAFKA_BROKERS      host:port[,host:port] (required)
          SENSORMINE_KAFKA_TOPIC_PREFIX environment prefix of topic names (optional)
          SENSORMINE_MQTT_HOST          broker host (required)
          SENSORMINE_MQTT_PORT          broker port (default 1883)
          SENSORMINE_MQTT_USERNAME      username (optional)
          SENSORMINE_MQTT_PASSWORD      password (optional, secret)
        """

    /// DeviceAPI's tables, versioned; applied before the server starts and by `DeviceAPI migrate`.
    static let migrations = MigrationRunner(scope: "DeviceAPI", migrations: [])

    static func migrate(_ configuration: DeviceAPIConfiguration, logger: Logger) async throws {
        try await MigrationCommand.run(migrations, database: configuration.metadataDatabase, logger: logger)
    }

    static func configuration(from reader: ConfigReader) throws -> DeviceAPIConfiguration {
        try DeviceAPIConfiguration(reader: reader)
    }

    static func buildApplication(_ configuration: DeviceAPIConfiguration, observability: Observability) async throws -> ServiceApplication {
        var builder = ServiceApplicationBuilder(descriptor: descriptor, http: configuration.http, observability: observability)
        _ = builder.addPostgres(configuration.metadataDatabase, migrations: migrations)
        _ = try builder.addKafkaProducer(configuration.kafka)
        _ = try builder.addMQTT(configuration.mqtt)
        return builder.build()
    }
}
