import Foundation
import Hummingbird
import Metrics
import RdKafka
import SensormineCore

/// GET /api/v1/deadletters (viewer) and POST /api/v1/deadletters/replay (operator): a tenant's
/// rejected telemetry, and sending it through the normal path again once the schema or the
/// device is fixed.
struct DeadLetterController: Sendable {
    let repository: DeadLetterRepository
    let producer: KafkaProducer
    let telemetryTopic: String
    private let replayed = Counter(label: "sensormine_ingestion_dead_letters_replayed_total")

    init(repository: DeadLetterRepository, producer: KafkaProducer, telemetryTopic: String) {
        self.repository = repository
        self.producer = producer
        self.telemetryTopic = telemetryTopic
    }

    func addRoutes(to group: RouterGroup<SensormineRequestContext>) {
        group.get(use: self.list)
        group.post("replay", use: self.replay)
    }

    struct Page: ResponseEncodable {
        var items: [DeadLetterRecord]
        var next: String?
    }

    @Sendable func list(_ request: Request, context: SensormineRequestContext) async throws -> Page {
        let caller = try context.requireIdentity()
        guard caller.has(atLeast: .viewer) else { throw APIError.forbidden("reading dead letters needs the viewer role or above") }
        let filter = try Self.filter(request, caller: caller, includeReplayed: request.uri.queryParameters.get("replayed") != "false")
        let limit = try RouteParameters.integer(request, "limit", default: 100, range: 1...1000)
        let cursor = try RouteParameters.integer(request, "cursor", default: 0, range: 0...Int.max)
        let items = try await self.repository.list(filter, after: cursor, limit: limit)
        return Page(items: items, next: items.count == limit ? items.last.map { String($0.id) } : nil)
    }

    /// Body of POST /api/v1/deadletters/replay: `ids`, or `all` with the list's filters.
    struct ReplayRequest: Decodable {
        var ids: [Int]?
        var all: Bool?
        var deviceId: UUID?
        var schemaSubject: String?
        var reason: String?
    }

    struct ReplayAnswer: ResponseEncodable {
        var replayed: Int
    }

    @Sendable func replay(_ request: Request, context: SensormineRequestContext) async throws -> ReplayAnswer {
        let caller = try context.requireIdentity()
        guard caller.has(atLeast: .operator) else { throw APIError.forbidden("replaying dead letters needs the operator role or above") }
        let body = try await request.decode(as: ReplayRequest.self, context: context)
        if let ids = body.ids {
            guard (1...1000).contains(ids.count) else { throw APIError.validationFailed("ids is out of range", errors: [.init(pointer: "/ids", detail: "1 to 1000 ids")]) }
        } else {
            guard body.all == true else { throw APIError.validationFailed("nothing to replay", errors: [.init(pointer: "/ids", detail: "give ids, or all: true with optional filters")]) }
        }
        let filter = DeadLetterFilter(tenantID: caller.tenantID, deviceID: body.deviceId, schemaSubject: body.schemaSubject,
                                      reasonContains: body.reason, includeReplayed: false)
        let topic = self.telemetryTopic
        let producer = self.producer
        let count = try await self.repository.replay(filter, ids: body.ids, limit: 10_000) { letters in
            let records = letters.map { letter in
                KafkaRecord(topic: topic, key: letter.record.deviceId.map { Array($0.utf8) }, value: letter.original,
                            headers: letter.headers + [("replay-of", Array(String(letter.record.id).utf8))])
            }
            for start in stride(from: 0, to: records.count, by: 5000) {
                for result in try await producer.send(Array(records[start..<min(start + 5000, records.count)])) {
                    if case .failure(let error) = result { throw error }
                }
            }
        }
        self.replayed.increment(by: Int64(count))
        return ReplayAnswer(replayed: count)
    }

    private static func filter(_ request: Request, caller: CallerIdentity, includeReplayed: Bool) throws -> DeadLetterFilter {
        DeadLetterFilter(tenantID: caller.tenantID, deviceID: try RouteParameters.optionalUUID(request, "device"),
                         schemaSubject: RouteParameters.string(request, "schema"), reasonContains: RouteParameters.string(request, "reason"),
                         includeReplayed: includeReplayed)
    }
}
