import JSONSchema
import SensormineJSON
import SensormineTelemetry

/// What the platform decides about one message of `device.telemetry`: its points are accepted,
/// or it is refused with a reason (Ingestion dead-letters it; StreamProcessing skips it). One
/// decision for both consumers, so a window or an alert never counts a point storage refused.
public struct TelemetryAdmission: Sendable {
    /// A message whose points are accepted.
    public struct Admitted: Sendable {
        public var envelope: TelemetryEnvelope
        public var points: [TelemetryPoint]
        /// The schema it was validated against, when its type names one.
        public var subject: String?
        public var version: Int?
    }

    /// A message refused, and why.
    public struct Refused: Sendable, Error {
        /// The envelope, when the bytes were one.
        public var envelope: TelemetryEnvelope?
        public var reason: String
        public var subject: String?
        public var version: Int?
    }

    public let directory: SchemaDirectory
    public let eventTimes: EventTimeWindow

    /// Creates the decision over `directory`'s schemas and the accepted event times.
    public init(directory: SchemaDirectory, eventTimes: EventTimeWindow) {
        self.directory = directory
        self.eventTimes = eventTimes
    }

    /// Decodes, validates and extracts one message.
    /// - Throws: ``ClientError`` when DeviceAPI or the SchemaRegistry cannot answer (retry the
    ///   batch; an outage is never a refusal).
    public func examine(_ bytes: [UInt8]) async throws -> Result<Admitted, Refused> {
        let decoded: TelemetryEnvelope.Decoded
        do {
            decoded = try TelemetryEnvelope.decode(bytes)
        } catch {
            return .failure(Refused(envelope: nil, reason: error.reason))
        }
        let envelope = decoded.envelope
        guard let payload = decoded.payload else { return .failure(Refused(envelope: envelope, reason: "the payload is not JSON")) }
        var subject: String?
        var version: Int?
        switch try await self.directory.resolve(tenant: envelope.tenantID, device: envelope.deviceID) {
        case .refused(let reason):
            return .failure(Refused(envelope: envelope, reason: reason))
        case .unvalidated:
            break
        case .schema(let schema, let name, let number):
            subject = name
            version = number
            if !schema.isValid(payload) {
                let violations = schema.validate(payload).prefix(5).map { "\($0.instanceLocation.isEmpty ? "/" : $0.instanceLocation): \($0.message)" }
                return .failure(Refused(envelope: envelope, reason: "invalid against schema \(name) v\(number): " + violations.joined(separator: "; "),
                                        subject: name, version: number))
            }
        }
        do {
            let extracted = try TelemetryPoints.extract(from: payload, receivedAt: envelope.receivedAt)
            if let refusal = extracted.lazy.compactMap({ self.eventTimes.refusal(time: $0.time, receivedAt: envelope.receivedAt) }).first {
                return .failure(Refused(envelope: envelope, reason: refusal, subject: subject, version: version))
            }
            return .success(Admitted(envelope: envelope, points: extracted, subject: subject, version: version))
        } catch {
            return .failure(Refused(envelope: envelope, reason: error.reason, subject: subject, version: version))
        }
    }

    /// Resolves the distinct devices of a batch (tenant header and device key of each record):
    /// their records read a hundred at a time, what else is missing (types, schemas) 16 at a
    /// time, so a cold cache costs a few round trips rather than one per device.
    /// - Throws: ``ClientError`` when DeviceAPI or the SchemaRegistry cannot answer.
    public func warm(_ devices: [(tenant: String, device: String)]) async throws {
        var seen = Set<String>()
        let all = devices.filter { seen.insert($0.tenant + "/" + $0.device).inserted }
        // Device records in a few calls; a failure leaves them to the lookups below, which report it.
        try? await self.directory.prefetchDevices(all)
        let distinct = all.filter { !self.directory.isCached(tenant: $0.tenant, device: $0.device) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, pair) in distinct.enumerated() {
                if index >= 16 { try await group.next() }
                group.addTask { _ = try await self.directory.resolve(tenant: pair.tenant, device: pair.device) }
            }
            try await group.waitForAll()
        }
    }
}
