import ClientRuntime
import SensormineCore
import SensormineTelemetry

/// The event times the platform accepts, relative to when the edge received each message: a
/// device clock years off (or a payload saying year 1) is a dead letter, not a point that
/// makes a partition per day back to it. Relative to the receive time, not to now, so
/// reprocessing the same message later decides the same way.
public struct EventTimeWindow: Sendable, Equatable {
    /// How far before its receive time a point may be.
    public var past: Duration
    /// How far after its receive time a point may be.
    public var future: Duration

    /// Creates bounds.
    public init(past: Duration, future: Duration) {
        self.past = past
        self.future = future
    }

    /// Ten years back and one day ahead.
    public static let standard = EventTimeWindow(past: .seconds(3650 * 86_400), future: .seconds(86_400))

    /// Reads `SENSORMINE_INGESTION_MAX_EVENT_AGE` and `_LEAD`: Ingestion and StreamProcessing
    /// read the same keys, so both accept the same points.
    /// - Throws: ``ConfigurationError`` for a value that is not a duration.
    public init(reader: ConfigReader) throws {
        self.past = try reader.duration("SENSORMINE_INGESTION_MAX_EVENT_AGE", default: Self.standard.past)
        self.future = try reader.duration("SENSORMINE_INGESTION_MAX_EVENT_LEAD", default: Self.standard.future)
    }

    /// Why `time` is refused, or nil when it is inside the window (both in microseconds).
    public func refusal(time: Int64, receivedAt: Int64) -> String? {
        let earliest = receivedAt.subtractingReportingOverflow(self.past.milliseconds.multipliedReportingOverflow(by: 1000).partialValue).partialValue
        let latest = receivedAt.addingReportingOverflow(self.future.milliseconds.multipliedReportingOverflow(by: 1000).partialValue).partialValue
        if time < earliest {
            return "event time \(RFC3339.string(microseconds: time)) is more than \(Self.describe(self.past)) before the receive time (SENSORMINE_INGESTION_MAX_EVENT_AGE)"
        }
        if time > latest {
            return "event time \(RFC3339.string(microseconds: time)) is more than \(Self.describe(self.future)) after the receive time (SENSORMINE_INGESTION_MAX_EVENT_LEAD)"
        }
        return nil
    }

    private static func describe(_ duration: Duration) -> String {
        let seconds = duration.components.seconds
        if seconds >= 86_400, seconds % 86_400 == 0 { return "\(seconds / 86_400) days" }
        if seconds >= 3600, seconds % 3600 == 0 { return "\(seconds / 3600) hours" }
        return "\(seconds) seconds"
    }
}
