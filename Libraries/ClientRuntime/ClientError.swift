/// The error every client wrapper throws: a stable code to match on and a message for people.
///
/// The message never carries SQL, credentials or payloads, so it is safe to log.
public struct ClientError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let raw: String
        public var description: String { self.raw }

        /// The server could not be reached or the connection dropped.
        public static let unreachable = Code(raw: "unreachable")
        /// The server answered with an error for this request.
        public static let serverError = Code(raw: "server_error")
        /// The operation did not finish in time.
        public static let timeout = Code(raw: "timeout")
        /// The client or its pool is shut down.
        public static let shutdown = Code(raw: "shutdown")
        /// The request or configuration was invalid before it reached the server.
        public static let invalidRequest = Code(raw: "invalid_request")
        /// The server refused the credentials or the operation.
        public static let notAuthorized = Code(raw: "not_authorized")
        /// The loaded C library is unsuitable (for example too old).
        public static let unsupportedLibrary = Code(raw: "unsupported_library")
    }

    /// The failure's kind.
    public var code: Code
    /// Which client raised it, e.g. "postgres", "kafka".
    public var client: String
    /// A human-readable explanation.
    public var message: String
    /// A server-specific code where one exists (SQLSTATE, librdkafka error name, MQTT reason).
    public var serverCode: String?

    /// Creates an error.
    public init(_ code: Code, client: String, _ message: String, serverCode: String? = nil) {
        self.code = code
        self.client = client
        self.message = message
        self.serverCode = serverCode
    }

    /// Whether the server refused the data itself, so the same request fails again however
    /// often it is retried: PostgreSQL's SQLSTATE classes 22 (data exception: U+0000 in text, a
    /// number out of range), 23 (integrity constraint) and 54 (program limit). A lost
    /// connection, a timeout, a deadlock or a server shutting down can succeed later.
    public var isDataRefusal: Bool {
        guard self.client == "postgres", self.code == .serverError || self.code == .invalidRequest, let state = self.serverCode else { return false }
        return state.hasPrefix("22") || state.hasPrefix("23") || state.hasPrefix("54")
    }

    /// Whether a dependency was down, slow or shutting down: worth a retry later (HTTP 503).
    /// For PostgreSQL that includes SQLSTATE classes 08 (connection), 40 (transaction rolled
    /// back: serialization failure, deadlock), 53 (insufficient resources) and 57P (shutdown).
    public var isUnavailable: Bool {
        if self.code == .unreachable || self.code == .timeout || self.code == .shutdown { return true }
        guard self.client == "postgres", let state = self.serverCode else { return false }
        return state.hasPrefix("08") || state.hasPrefix("40") || state.hasPrefix("53") || state.hasPrefix("57P")
    }

    public var description: String {
        if let serverCode { return "\(self.client) \(self.code) [\(serverCode)]: \(self.message)" }
        return "\(self.client) \(self.code): \(self.message)"
    }
}
