import ClientRuntime
import SensormineTelemetry

/// The event times Ingestion accepts, relative to when the edge received each message: a
/// device clock years off (or a payload saying year 1) is a dead letter, not a point that
/// makes a partition per day back to it. Relative to the receive time, not to now, so
/// reprocessing the same message later decides the same way.
struct EventTimeWindow: Sendable, Equatable {
    /// How far before its receive time a point may be.
    var past: Duration
    /// How far after its receive time a point may be.
    var future: Duration

    /// Ten years back and one day ahead.
    static let standard = EventTimeWindow(past: .seconds(3650 * 86_400), future: .seconds(86_400))

    /// Why `time` is refused, or nil when it is inside the window (both in microseconds).
    func refusal(time: Int64, receivedAt: Int64) -> String? {
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
