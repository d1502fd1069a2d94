import Foundation
import HTTPTypes
import Logging
import Metrics
import NIOConcurrencyHelpers
import RdKafka
import SensormineClients
import SensormineContracts
import SensormineCore
import ServiceLifecycle

/// Billing's quota states, as `billing.quotas` (compacted) says, by tenant: telemetry of a tenant
/// whose organisation has used up what its plan includes (data ingested or storage, when the plan
/// hard-limits them) is refused over HTTP (429) and dead-lettered over MQTT, never dropped
/// silently. Until the topic is read, nothing is refused.
final class QuotaBook: Service, Sendable {
    private let states: NIOLockedValueBox<States>
    private let feed: CompactedTopicFeed
    private let refusedCounter = Counter(label: "sensormine_edge_quota_refused_total")

    private struct States {
        var byTenant: [String: QuotaState] = [:]
        var tenantsOf: [UUID: [String]] = [:]

        mutating func apply(organisation: UUID, _ state: QuotaState?) {
            for tenant in self.tenantsOf[organisation] ?? [] { self.byTenant[tenant] = nil }
            guard let state else {
                self.tenantsOf[organisation] = nil
                return
            }
            let tenants = Set(state.tenants.map { $0.lowercasedString } + [organisation.lowercasedString])
            for tenant in tenants { self.byTenant[tenant] = state }
            self.tenantsOf[organisation] = Array(tenants)
        }
    }

    init(kafka: KafkaConfiguration, topic: String, logger: Logger) throws {
        let states = NIOLockedValueBox(States())
        self.states = states
        let decoder = ContractCoding.decoder()
        self.feed = try CompactedTopicFeed(kafka: kafka, groupPrefix: "edge-quotas", topic: topic, logger: logger) { messages in
            states.withLockedValue { states in
                for message in messages {
                    guard let key = message.key, let organisation = UUID(uuidString: String(decoding: key, as: UTF8.self)) else { continue }
                    if message.value.isEmpty {
                        states.apply(organisation: organisation, nil)
                    } else if let state = try? decoder.decode(QuotaState.self, from: Data(message.value)), state.organisationId == organisation {
                        states.apply(organisation: organisation, state)
                    } else {
                        logger.warning("unreadable record on billing.quotas skipped", metadata: ["offset": "\(message.partition)/\(message.offset)"])
                    }
                }
            }
        }
    }

    func run() async throws {
        try await self.feed.run()
    }

    /// The state refusing `tenant`'s telemetry, if its organisation's is refused (counted).
    func refusal(tenant: String) -> QuotaState? {
        guard let state = self.states.withLockedValue({ $0.byTenant[tenant] }), state.refusesTelemetry, state.periodEnd > Date() else { return nil }
        self.refusedCounter.increment()
        return state
    }

    /// Why `state` refuses telemetry, for a problem's detail or a dead letter's.
    static func detail(_ state: QuotaState) -> String {
        let resources = [MeteredResource.dataIngested, .timeseriesStorage].filter { state.refuses($0) }.map(\.rawValue).joined(separator: " and ")
        return "the organisation has used the \(resources) its \(state.plan) plan includes this period; telemetry is refused until the period ends or the plan is raised"
    }

    /// The 429 for an HTTP request refused by `state`.
    static func problem(_ state: QuotaState) -> APIError {
        APIError(status: .tooManyRequests, slug: "quota-exceeded", title: "Quota exceeded", detail: Self.detail(state),
                 headers: [.retryAfter: String(max(1, Int(state.periodEnd.timeIntervalSinceNow.rounded(.up))))])
    }
}
