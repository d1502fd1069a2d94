import SensormineJSON

/// One measurement: what the telemetry table stores per row.
public struct TelemetryPoint: Sendable, Equatable {
    /// Metric name: the payload member's name, nested members joined with dots.
    public var metric: String
    /// Event time in microseconds since 1970.
    public var time: Int64
    /// The value; booleans are 0 and 1.
    public var value: Double

    /// Creates a point.
    public init(metric: String, time: Int64, value: Double) {
        self.metric = metric
        self.time = time
        self.value = value
    }
}

/// Turns a device payload into points.
///
/// A payload is a JSON object. Its event time is `time` (or `timestamp`): an RFC 3339 string or
/// a number of milliseconds since 1970; without one, the edge's receive time is used. Its
/// measurements are the members of `metrics` when present, else every other member; numbers and
/// booleans become points, nested objects are flattened (`bearing.temperature`), text and
/// arrays are kept out of the numeric table. `messageId` is reserved.
public enum TelemetryPoints {
    /// Members that are never measurements.
    public static let reserved: Set<String> = ["time", "timestamp", "messageId"]
    /// Longest metric name stored.
    public static let maximumMetricLength = 200
    /// Largest magnitude of a value stored. One series holds at most 3.6e9 points an hour (one
    /// per microsecond), so within this bound its hourly sum always fits a float8 (1.8e308):
    /// rollups are folded after the points are stored (ADR 32), too late to refuse a point whose
    /// sum would overflow, so no such point is admitted.
    public static let maximumMagnitude = 1e298

    /// The payload's points.
    /// - Throws: ``TelemetryError`` when the payload is not an object, its time is unreadable,
    ///   a measurement is beyond ``maximumMagnitude``, or it carries no numeric measurement.
    public static func extract(from payload: JSON, receivedAt: Int64) throws(TelemetryError) -> [TelemetryPoint] {
        guard case .object(let members) = payload else { throw TelemetryError("the payload is a JSON \(payload.typeName), not an object") }
        let time = try self.eventTime(members, receivedAt: receivedAt)
        var points: [TelemetryPoint] = []
        if case .object(let metrics)? = members["metrics"] {
            try self.flatten(metrics, prefix: "", time: time, into: &points)
        } else {
            try self.flatten(members.filter { !self.reserved.contains($0.key) }, prefix: "", time: time, into: &points)
        }
        guard !points.isEmpty else { throw TelemetryError("the payload carries no numeric or boolean measurement") }
        return points
    }

    private static func flatten(_ members: [String: JSON], prefix: String, time: Int64, into points: inout [TelemetryPoint]) throws(TelemetryError) {
        for (key, value) in members {
            let name = prefix.isEmpty ? key : prefix + "." + key
            switch value {
            case .number(let number):
                guard number.isFinite else { continue }
                try self.checkName(name)
                guard abs(number) <= self.maximumMagnitude else {
                    throw TelemetryError("measurement '\(name.prefix(40))' is \(number), beyond ±1e298, the largest magnitude whose hourly sums fit a float8")
                }
                points.append(TelemetryPoint(metric: name, time: time, value: number))
            case .bool(let flag):
                try self.checkName(name)
                points.append(TelemetryPoint(metric: name, time: time, value: flag ? 1 : 0))
            case .object(let nested):
                try self.flatten(nested, prefix: name, time: time, into: &points)
            case .string, .array, .null:
                continue
            }
        }
    }

    /// A metric name is stored as text: not empty, bounded, and without U+0000, which
    /// PostgreSQL text cannot hold.
    private static func checkName(_ name: String) throws(TelemetryError) {
        guard !name.isEmpty, name.utf8.count <= self.maximumMetricLength else {
            throw TelemetryError("metric name '\(name.prefix(40))…' is empty or longer than \(self.maximumMetricLength) bytes")
        }
        guard !name.utf8.contains(0) else {
            let shown = name.unicodeScalars.prefix(40).map { $0 == "\u{0}" ? "\\u0000" : String($0) }.joined()
            throw TelemetryError("metric name '\(shown)' contains U+0000, which cannot be stored")
        }
    }

    private static func eventTime(_ members: [String: JSON], receivedAt: Int64) throws(TelemetryError) -> Int64 {
        switch members["time"] ?? members["timestamp"] {
        case nil, .null?:
            return receivedAt
        case .number(let milliseconds)?:
            guard milliseconds.isFinite, abs(milliseconds) < 1e14 else { throw TelemetryError("time \(milliseconds) is not a number of milliseconds since 1970") }
            return Int64((milliseconds * 1000).rounded())
        case .string(let text)?:
            guard let micros = RFC3339.microseconds(text) else { throw TelemetryError("time '\(text.prefix(40))' is not an RFC 3339 date-time") }
            return micros
        case let other?:
            throw TelemetryError("time is a JSON \(other.typeName), not an RFC 3339 string or milliseconds")
        }
    }
}

/// RFC 3339 date-times to and from microseconds since 1970, without Foundation formatters (they
/// are slow and this is on the ingest path).
public enum RFC3339 {
    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`; nil when malformed.
    public static func microseconds(_ text: String) -> Int64? {
        let utf8 = Array(text.utf8)
        guard utf8.count >= 20 else { return nil }
        func digits(_ start: Int, _ count: Int) -> Int? {
            guard start + count <= utf8.count else { return nil }
            var value = 0
            for index in start..<(start + count) {
                let byte = utf8[index]
                guard byte >= 48, byte <= 57 else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard let year = digits(0, 4), utf8[4] == UInt8(ascii: "-"), let month = digits(5, 2), utf8[7] == UInt8(ascii: "-"),
              let day = digits(8, 2), utf8[10] == UInt8(ascii: "T") || utf8[10] == UInt8(ascii: "t") || utf8[10] == UInt8(ascii: " "),
              let hour = digits(11, 2), utf8[13] == UInt8(ascii: ":"), let minute = digits(14, 2), utf8[16] == UInt8(ascii: ":"),
              let second = digits(17, 2),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        var index = 19
        var fraction: Int64 = 0
        if index < utf8.count, utf8[index] == UInt8(ascii: ".") {
            index += 1
            var scale: Int64 = 100_000
            let start = index
            while index < utf8.count, utf8[index] >= 48, utf8[index] <= 57 {
                fraction += Int64(utf8[index] - 48) * scale
                scale /= 10
                index += 1
            }
            guard index > start else { return nil }
        }
        guard index < utf8.count else { return nil }
        var offsetSeconds = 0
        switch utf8[index] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            guard index + 1 == utf8.count else { return nil }
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard index + 6 == utf8.count, let offsetHours = digits(index + 1, 2), utf8[index + 3] == UInt8(ascii: ":"),
                  let offsetMinutes = digits(index + 4, 2), offsetHours < 24, offsetMinutes < 60 else { return nil }
            offsetSeconds = (offsetHours * 3600 + offsetMinutes * 60) * (utf8[index] == UInt8(ascii: "-") ? -1 : 1)
        default:
            return nil
        }
        let days = self.daysFromCivil(year: year, month: month, day: day)
        let seconds = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + min(second, 59)) - Int64(offsetSeconds)
        return seconds * 1_000_000 + fraction
    }

    /// Formats microseconds since 1970 as `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
    public static func string(microseconds: Int64) -> String {
        let seconds = microseconds >= 0 ? microseconds / 1_000_000 : (microseconds - 999_999) / 1_000_000
        let micros = microseconds - seconds * 1_000_000
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = Int(seconds - days * 86_400)
        let (year, month, day) = self.civilFromDays(Int(days))
        func pad(_ value: Int, _ width: Int) -> String {
            let text = String(value)
            return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2)).\(pad(Int(micros), 6))Z"
    }

    // Howard Hinnant's civil-calendar algorithms (proleptic Gregorian).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func civilFromDays(_ days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
