import CRdKafka
import ClientRuntime
import Logging

/// Facts about the librdkafka the process loaded at run time.
public enum RdKafkaLibrary {
    /// The oldest librdkafka that parses the tagged fields of current brokers' ApiVersions
    /// responses (fixed upstream in 2.2.0; Debian 12 ships 2.0.2).
    public static let minimumVersion: Int32 = 0x0202_0000

    /// The loaded version as text, e.g. "2.16.0".
    public static var versionString: String { String(cString: rd_kafka_version_str()) }

    /// Logs the loaded version and refuses one older than ``minimumVersion``.
    /// - Throws: ``ClientError`` `unsupportedLibrary`, naming the version and the fix.
    public static func requireSupportedVersion(logger: Logger) throws {
        let version = rd_kafka_version()
        logger.info("librdkafka loaded", metadata: ["librdkafka.version": "\(versionString)"])
        guard version >= minimumVersion else {
            throw ClientError(
                .unsupportedLibrary, client: "kafka",
                "librdkafka \(versionString) is loaded but 2.2 or newer is required; put a current librdkafka.so.1 first on LD_LIBRARY_PATH (make deps provides one under .stack/lib)"
            )
        }
    }
}

/// librdkafka configuration properties with the defaults Sensormine relies on.
public struct KafkaConfiguration: Sendable {
    /// Comma-separated `host:port` bootstrap servers.
    public var bootstrapServers: String
    /// Extra librdkafka properties, applied last (they override the defaults).
    public var properties: [String: String]

    /// Creates a configuration.
    public init(bootstrapServers: String, properties: [String: String] = [:]) {
        self.bootstrapServers = bootstrapServers
        self.properties = properties
    }

    func merged(with defaults: [String: String]) -> [String: String] {
        var all = defaults
        all["bootstrap.servers"] = self.bootstrapServers
        all["log_level"] = all["log_level"] ?? "3"
        for (key, value) in self.properties { all[key] = value }
        return all
    }
}

/// Owns one `rd_kafka_t` and destroys it in `deinit`.
// @unchecked Sendable: librdkafka handles are thread-safe (documented in INTRODUCTION.md,
// "Threads and callbacks"); the pointer is immutable and only freed in deinit.
final class KafkaHandle: @unchecked Sendable {
    let pointer: OpaquePointer
    let kind: String

    init(type: rd_kafka_type_t, properties: [String: String], configure: (OpaquePointer) -> Void = { _ in }) throws {
        self.kind = type == RD_KAFKA_PRODUCER ? "producer" : "consumer"
        guard let conf = rd_kafka_conf_new() else {
            throw ClientError(.invalidRequest, client: "kafka", "could not allocate a librdkafka configuration")
        }
        var errorText = [CChar](repeating: 0, count: 512)
        for (key, value) in properties.sorted(by: { $0.key < $1.key }) {
            if rd_kafka_conf_set(conf, key, value, &errorText, errorText.count) != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                throw ClientError(.invalidRequest, client: "kafka", "property \(key): \(KafkaErrors.text(errorText))")
            }
        }
        configure(conf)
        guard let handle = rd_kafka_new(type, conf, &errorText, errorText.count) else {
            rd_kafka_conf_destroy(conf)
            throw ClientError(.invalidRequest, client: "kafka", KafkaErrors.text(errorText))
        }
        self.pointer = handle
    }

    deinit { rd_kafka_destroy(self.pointer) }

    /// Asks the cluster for metadata (blocking): proves at least one broker answers.
    func ping(timeoutMilliseconds: Int32) throws {
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let error = rd_kafka_metadata(self.pointer, 0, nil, &metadata, timeoutMilliseconds)
        if let metadata { rd_kafka_metadata_destroy(metadata) }
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaErrors.error(error, "brokers did not answer a metadata request")
        }
    }
}

enum KafkaErrors {
    /// The NUL-terminated text librdkafka wrote into an error buffer.
    static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func error(_ code: rd_kafka_resp_err_t, _ context: String) -> ClientError {
        let name = String(cString: rd_kafka_err2name(code))
        let text = String(cString: rd_kafka_err2str(code))
        let kind: ClientError.Code
        switch code {
        case RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, RD_KAFKA_RESP_ERR__RESOLVE:
            kind = .unreachable
        case RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
            kind = .timeout
        case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED,
            RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
            kind = .notAuthorized
        default:
            kind = .serverError
        }
        return ClientError(kind, client: "kafka", "\(context): \(text)", serverCode: name)
    }
}
