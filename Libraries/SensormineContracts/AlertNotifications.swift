import Foundation

/// The body Alerts POSTs to a webhook channel: the alerts of one group and transition. Signed:
/// `X-Sensormine-Signature: v1=<hex HMAC-SHA256 of "<X-Sensormine-Timestamp>.<body>" with the
/// channel's secret>`; a receiver rejects stale timestamps and deduplicates on the alerts'
/// `idempotencyKey` (delivery is at least once).
public struct AlertNotificationPayload: Codable, Sendable, Equatable {
    /// One alert in the message.
    public struct Alert: Codable, Sendable, Equatable {
        /// Unique per (alert, transition, channel): the same notice delivered twice carries the same key.
        public var idempotencyKey: String
        public var id: UUID
        public var state: String
        public var severity: AlertSeverity
        public var source: AlertSource
        public var summary: String
        public var message: String
        public var labels: [String: String]
        public var values: [String: Double]
        public var ruleId: UUID?
        public var ruleName: String?
        public var deviceId: UUID?
        public var openedAt: Date
        public var resolvedAt: Date?
        public var acknowledged: Bool
        public var flapping: Bool
        public var triggerCount: Int64

        /// Creates an entry.
        public init(idempotencyKey: String, id: UUID, state: String, severity: AlertSeverity, source: AlertSource, summary: String, message: String,
                    labels: [String: String], values: [String: Double], ruleId: UUID?, ruleName: String?, deviceId: UUID?, openedAt: Date, resolvedAt: Date?,
                    acknowledged: Bool, flapping: Bool, triggerCount: Int64) {
            self.idempotencyKey = idempotencyKey
            self.id = id
            self.state = state
            self.severity = severity
            self.source = source
            self.summary = summary
            self.message = message
            self.labels = labels
            self.values = values
            self.ruleId = ruleId
            self.ruleName = ruleName
            self.deviceId = deviceId
            self.openedAt = openedAt
            self.resolvedAt = resolvedAt
            self.acknowledged = acknowledged
            self.flapping = flapping
            self.triggerCount = triggerCount
        }
    }

    /// `firing` or `resolved`.
    public var kind: String
    public var tenantId: UUID
    public var channelId: UUID
    /// Alerts sharing the policy's group labels travel together.
    public var groupKey: String
    public var alerts: [Alert]
    public var sentAt: Date

    /// Creates a payload.
    public init(kind: String, tenantId: UUID, channelId: UUID, groupKey: String, alerts: [Alert], sentAt: Date) {
        self.kind = kind
        self.tenantId = tenantId
        self.channelId = channelId
        self.groupKey = groupKey
        self.alerts = alerts
        self.sentAt = sentAt
    }
}
