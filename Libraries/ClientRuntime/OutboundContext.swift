/// The request identity that outbound calls carry: set by the HTTP layer for the duration of a
/// request (a task-local), read by the HTTP and Kafka clients to add `X-Request-ID` and
/// `traceparent` to what they send.
public struct OutboundContext: Sendable, Equatable {
    /// The caller's request id.
    public var requestID: String
    /// The W3C `traceparent` to send downstream (this service's span as parent).
    public var traceparent: String

    /// Creates a context.
    public init(requestID: String, traceparent: String) {
        self.requestID = requestID
        self.traceparent = traceparent
    }

    /// The context of the request the current task serves, if any.
    @TaskLocal public static var current: OutboundContext?
}
