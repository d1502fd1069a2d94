import Foundation

/// The `--help` lines for each client's settings, kept beside the readers that define them.
public enum ConfigurationHelp {
    /// Keys read by the metadata settings.
    public static let metadataDatabase = """
          SENSORMINE_METADATA_DB_URL    postgresql:// URL of sensormine_metadata (required, secret)
          SENSORMINE_METADATA_DB_POOL_SIZE / _STATEMENT_TIMEOUT / _CONNECT_TIMEOUT (10 / 30s / 5s)
        """
    /// Keys read by the timeseries settings.
    public static let timeseriesDatabase = """
          SENSORMINE_TIMESERIES_DB_URL  postgresql:// URL of sensormine_timeseries (required, secret)
          SENSORMINE_TIMESERIES_DB_POOL_SIZE / _STATEMENT_TIMEOUT / _CONNECT_TIMEOUT (10 / 30s / 5s)
        """
    /// Keys read by the redis settings.
    public static let redis = """
          SENSORMINE_REDIS_URL          redis://[:password@]host:port[/db] (required, secret)
          SENSORMINE_REDIS_POOL_SIZE    connections (default 16)
        """
    /// Keys read by the kafka settings.
    public static let kafka = """
          SENSORMINE_KAFKA_BROKERS      host:port[,host:port] (required)
          SENSORMINE_KAFKA_TOPIC_PREFIX environment prefix of topic names (optional)
          SENSORMINE_KAFKA_TOPIC_REPLICATION  replicas of the topics `migrate` creates (default 1)
        """
    /// Keys read by the mqtt settings.
    public static let mqtt = """
          SENSORMINE_MQTT_HOST          broker host (required)
          SENSORMINE_MQTT_PORT          broker port (default 1883)
          SENSORMINE_MQTT_USERNAME      username (optional)
          SENSORMINE_MQTT_PASSWORD      password (optional, secret)
        """
    /// The callers a service trusts, each by its own token.
    public static let gatewayToken = """
        Callers (each service that calls another presents a token of its own; see ADR 17):
          SENSORMINE_GATEWAY_TOKEN      the ApiGateway's token, which may assert any user (required, secret, at least 32 characters)
          SENSORMINE_INGESTION_TOKEN    Ingestion's token: a viewer's reads only (secret; accepted when set)
          SENSORMINE_EDGE_TOKEN         EdgeGateway's token: device activity reports only (secret; accepted when set)
          SENSORMINE_<CALLER>_TOKEN_SHA256  the token's SHA-256 in hex instead: the service can check it but not present it
        """
    /// The key naming another service's base URL.
    public static func upstream(_ key: String, name: String) -> String {
        "  \(key.padding(toLength: max(29, key.count), withPad: " ", startingAt: 0)) base URL of the \(name) (required)"
    }
    /// Keys read by the broker-admin settings (dynamic security).
    public static let mqttAdmin = """
          SENSORMINE_MQTT_HOST / _PORT  broker (required / default 1883)
          SENSORMINE_MQTT_ADMIN_USERNAME  dynamic-security admin (required)
          SENSORMINE_MQTT_ADMIN_PASSWORD  its password (required, secret)
        """
}
