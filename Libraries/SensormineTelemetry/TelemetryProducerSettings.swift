/// The Kafka producer settings telemetry is published with: EdgeGateway's defaults, which the
/// bench's Kafka hop anchor uses too, so that the pipeline is measured against a hop with its own
/// settings.
public enum TelemetryProducerSettings {
    /// How long the producer gathers records into one request by default (`linger.ms`): at 1 ms
    /// the broker spent most of a core on tiny produce requests (ADR 31's addendum).
    public static let defaultLinger = Duration.milliseconds(10)
}
