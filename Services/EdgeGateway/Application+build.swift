import Hummingbird
import SensormineClients
import SensormineCore

/// EdgeGateway: how it is configured and built. Domain routes arrive with later issues; for now it
/// serves the standard operational endpoints and checks its real dependencies.
enum EdgeGatewayService: SensormineService {
    static let descriptor = ServiceDescriptor(
        name: "EdgeGateway",
        summary: "Receives device telemetry over MQTT (shared subscription) and HTTP and hands it to Kafka, spooling to disk when Kafka is away.",
        defaultPort: 8085
    )

    static let configurationHelp = [
        ConfigurationHelp.mqtt,
        ConfigurationHelp.kafka,
    ].joined(separator: "\n")

    static func buildApplication(_ configuration: EdgeGatewayConfiguration, observability: Observability) async throws -> ServiceApplication {
        var builder = ServiceApplicationBuilder(descriptor: descriptor, http: configuration.http, observability: observability)
        _ = try builder.addKafkaProducer(configuration.kafka)
        _ = try builder.addMQTT(configuration.mqtt)
        return builder.build()
    }
}
