import ClientRuntime
import Curl
import Foundation
import Hummingbird
import MQTTWire
import RdKafka
import SensormineClients
import SensormineCore
import ServiceLifecycle

/// EdgeGateway: device telemetry in (MQTT shared subscription, HTTP ingest), envelopes out to
/// `device.telemetry`.
enum EdgeGatewayService: SensormineService {
    static let descriptor = ServiceDescriptor(
        name: "EdgeGateway",
        summary: "Receives device telemetry over MQTT (shared subscription) and HTTP and hands it to Kafka, spooling to disk when Kafka is away.",
        defaultPort: 8085
    )

    static let configurationHelp = [
        ConfigurationHelp.mqtt,
        ConfigurationHelp.kafka,
        ConfigurationHelp.gatewayToken,
        """
        MQTT intake (at least once: a message is acknowledged to the broker once Kafka or the spool holds it):
          SENSORMINE_EDGE_MQTT_CLIENT_ID       stem of the persistent sessions' client ids; keep it stable across restarts (default edgegateway-HOSTNAME)
          SENSORMINE_EDGE_MQTT_CONNECTIONS     connections in the shared subscription (default 2)
          SENSORMINE_EDGE_MQTT_RECEIVE_MAXIMUM messages in flight per connection, handed on in batches (default 1000)
          SENSORMINE_EDGE_MQTT_BATCHES_IN_FLIGHT batches each connection hands to Kafka at once (default 4)
          SENSORMINE_EDGE_MQTT_SESSION_EXPIRY  how long the broker queues for a session whose EdgeGateway is away (default 1h)
          SENSORMINE_EDGE_MQTT_SHARE_GROUP     the shared subscription's group (default edge)
        Ingest:
          SENSORMINE_EDGE_MAX_BODY_BYTES  largest HTTP ingest body (default 1048576)
          SENSORMINE_EDGE_SPOOL_DIR       store-and-forward spool directory (default /var/lib/sensormine/edge-spool)
          SENSORMINE_EDGE_SPOOL_MAX_BYTES spool bound; past it HTTP ingest answers 503 and MQTT intake waits (default 1073741824)
          SENSORMINE_EDGE_KAFKA_TIMEOUT   how long Kafka may take to confirm before telemetry is spooled (default 5s)
          SENSORMINE_EDGE_KAFKA_LINGER    how long the producer gathers records into one request (default 10ms, at most 1s)
          SENSORMINE_DEVICE_API_URL       DeviceAPI, told which devices were heard from (optional)
          SENSORMINE_EDGE_ACTIVITY_INTERVAL how often it is told (default 5s)
          SENSORMINE_EDGE_QUOTAS           whether Billing's quota states (billing.quotas) refuse telemetry past the plan's data
                                           ingested or storage: HTTP 429, MQTT to device.telemetry.dlq (reason quota-exceeded) (default true)
        """,
    ].joined(separator: "\n")

    static func buildApplication(_ configuration: EdgeGatewayConfiguration, observability: Observability) async throws -> ServiceApplication {
        var builder = ServiceApplicationBuilder(descriptor: descriptor, http: configuration.http, observability: observability)
        var kafka = configuration.kafka
        kafka.kafka.properties["message.timeout.ms"] = String(configuration.kafkaTimeout.milliseconds)
        // Records gathered for 10 ms go to the broker in one request: a request per message or
        // two (1 ms) cost the broker twice the CPU at 2,000 messages/s and the whole pipeline
        // its tail latency once the machine is busy (ADR 31); the wait adds at most 10 ms.
        kafka.kafka.properties["linger.ms"] = String(configuration.kafkaLinger.milliseconds)
        let producer = try builder.addKafkaProducer(kafka)
        let spool = try Spool(directory: URL(fileURLWithPath: configuration.spoolDirectory), maximumBytes: configuration.spoolMaximumBytes, logger: observability.logger)
        builder.services.append(ClosingService("spool") { await spool.shutdown() })
        var activity: ActivityReporter?
        if let deviceAPI = configuration.deviceAPI, let serviceToken = configuration.serviceToken {
            let client = builder.addHTTPClient(configuration: .init(maximumRetries: 1, maximumConcurrentRequests: 4, name: "device-activity"))
            let reporter = ActivityReporter(client: client, deviceAPI: deviceAPI, serviceToken: serviceToken,
                                            interval: configuration.activityInterval, logger: observability.logger)
            builder.services.append(reporter)
            activity = reporter
        }
        let forwarder = TelemetryForwarder(producer: producer, topic: configuration.kafka.topics.telemetry, deadLetterTopic: configuration.kafka.topics.telemetryDeadLetter,
                                           spool: spool, activity: activity, logger: observability.logger)
        var quotas: QuotaBook?
        if configuration.quotas {
            let book = try QuotaBook(kafka: configuration.kafka.kafka, topic: configuration.kafka.topics.billingQuotas, logger: observability.logger)
            builder.services.append(book)
            quotas = book
        }
        builder.services.append(SpoolDrainer(spool: spool, forwarder: forwarder, logger: observability.logger))
        // The subscribers come after the producer and the spool: on shutdown each finishes the
        // batch in hand and disconnects (keeping its session) before the producer flushes.
        let intake = MQTTIntake(settings: configuration.mqtt, forwarder: forwarder, quotas: quotas, logger: observability.logger)
        builder.services += intake.subscribers.map { $0 as any Service }
        // Until the shared subscription stands, the broker drops what devices publish to it.
        builder.readinessChecks.append(ReadinessCheck(name: "mqtt-intake") {
            guard intake.isSubscribed else { throw ClientError(.unreachable, client: "mqtt", "the telemetry subscription is not granted on every intake connection") }
        })
        builder.openAPIPaths = EdgeGatewayOpenAPI.paths
        builder.openAPISchemas = EdgeGatewayOpenAPI.schemas
        let ingest = IngestController(forwarder: forwarder, maximumBodyBytes: configuration.maximumBodyBytes, quotas: quotas)
        return builder.build { router in
            ingest.addRoutes(to: router.group("/api/v1/ingest").add(middleware: TrustedIdentityMiddleware(callers: configuration.callers)))
        }
    }
}
