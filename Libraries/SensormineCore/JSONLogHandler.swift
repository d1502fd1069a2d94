import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging

/// Metadata keys Sensormine attaches to log events.
public enum LogKey {
    /// The request id (X-Request-ID) of the request being served.
    public static let requestID = "request_id"
    /// The W3C trace id of the request being served.
    public static let traceID = "trace_id"
    /// An error's description.
    public static let error = "error"
}

/// A swift-log handler that writes one JSON object per line to standard output:
/// `{"ts":…,"level":…,"service":…,"logger":…,"msg":…,"request_id":…,"trace_id":…, …metadata}`.
public struct JSONLogHandler: LogHandler {
    /// Minimum level emitted.
    public var logLevel: Logger.Level
    /// Metadata attached to every event of this logger.
    public var metadata: Logger.Metadata = [:]
    private let label: String
    private let service: String

    /// Creates a handler for one logger.
    public init(label: String, service: String, level: Logger.Level) {
        self.label = label
        self.service = service
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line = "{\"ts\":\""
        line += Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
        line += "\",\"level\":\"\(event.level.rawValue)\",\"service\":"
        Self.appendQuoted(self.service, to: &line)
        line += ",\"logger\":"
        Self.appendQuoted(self.label, to: &line)
        line += ",\"msg\":"
        Self.appendQuoted(event.message.description, to: &line)
        var merged = self.metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        for key in merged.keys.sorted() {
            line += ","
            Self.appendQuoted(key, to: &line)
            line += ":"
            Self.appendQuoted("\(merged[key]!)", to: &line)
        }
        line += "}\n"
        // One write(2) per event, unbuffered: concurrent lines never interleave and nothing is
        // lost in a buffer when the process is killed.
        var bytes = Array(line.utf8)
        bytes.withUnsafeMutableBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(STDOUT_FILENO, buffer.baseAddress! + offset, buffer.count - offset)
                if written <= 0 { break }
                offset += written
            }
        }
    }

    static func appendQuoted(_ text: String, to line: inout String) {
        line.append("\"")
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": line.append("\\\"")
            case "\\": line.append("\\\\")
            case "\n": line.append("\\n")
            case "\r": line.append("\\r")
            case "\t": line.append("\\t")
            case _ where scalar.value < 0x20: line.append(String(format: "\\u%04x", scalar.value))
            default: line.unicodeScalars.append(scalar)
            }
        }
        line.append("\"")
    }
}
