import ClientRuntime
import Curl
import Hiredis
import LibPQ
import Mosquitto
import RdKafka
import SensormineCore

extension ReadinessCheck {
    /// The database answers `SELECT 1`.
    public static func postgres(_ client: PostgresClient) -> ReadinessCheck {
        ReadinessCheck(name: client.configuration.name) { try await client.ping() }
    }

    /// Redis answers PING.
    public static func redis(_ client: RedisClient) -> ReadinessCheck {
        ReadinessCheck(name: "redis") { try await client.ping() }
    }

    /// A Kafka broker answers a metadata request.
    public static func kafka(_ producer: KafkaProducer) -> ReadinessCheck {
        ReadinessCheck(name: "kafka") { try await producer.ping(timeout: .seconds(2)) }
    }

    /// The MQTT connection is up.
    public static func mqtt(_ client: MQTTClient) -> ReadinessCheck {
        ReadinessCheck(name: "mqtt") {
            guard client.isConnected else { throw ClientError(.unreachable, client: "mqtt", "not connected to the broker") }
        }
    }

    /// Another service's GET /health answers 200.
    public static func upstream(_ upstream: UpstreamService, client: HTTPClient) -> ReadinessCheck {
        ReadinessCheck(name: upstream.name) {
            let response = try await client.execute(HTTPClientRequest(url: upstream.baseURL + "/health", timeout: .seconds(2)))
            guard response.status == 200 else {
                throw ClientError(.serverError, client: "http", "\(upstream.name) /health answered \(response.status)")
            }
        }
    }
}
