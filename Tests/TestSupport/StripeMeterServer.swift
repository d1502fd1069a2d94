import Foundation
import Hummingbird
import Logging
import NIOConcurrencyHelpers

/// A small server of the project's own speaking Stripe's wire format for the two routes
/// localstripe lacks: `/v1/billing/meters` (create, list) and `/v1/billing/meter_events`
/// (create). Form-encoded bodies, a bearer secret key, Stripe's JSON objects and error shape; an
/// identifier seen before is refused as Stripe does (`resource_already_exists`), and an event
/// name without a meter is an `invalid_request_error`.
public final class StripeMeterServer: Sendable {
    /// One meter event received.
    public struct MeterEvent: Sendable, Equatable {
        public var eventName: String
        public var identifier: String
        public var customer: String
        public var value: String
        public var timestamp: Int
    }

    private struct State {
        var meters: [String: String] = [:]  // event name → meter id
        var events: [MeterEvent] = []
        var requests = 0
    }

    private let state = NIOLockedValueBox(State())
    private let secretKey: String

    public init(secretKey: String) { self.secretKey = secretKey }

    /// The events received, in order.
    public var events: [MeterEvent] { self.state.withLockedValue { $0.events } }
    /// Every meter-event request, refused ones included.
    public var requests: Int { self.state.withLockedValue { $0.requests } }

    /// Runs the server on a free loopback port while `body` runs; `body` gets its base URL.
    public func run<Result: Sendable>(_ body: @Sendable (String) async throws -> Result) async throws -> Result {
        let router = Router()
        router.post("/v1/billing/meters") { request, _ in try await self.createMeter(request) }
        router.get("/v1/billing/meters") { request, _ in try self.listMeters(request) }
        router.post("/v1/billing/meter_events") { request, _ in try await self.createEvent(request) }
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        var logger = Logger(label: "stripe-meter-server")
        logger.logLevel = .critical
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { continuation.yield($0.localAddress?.port ?? 0) }, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            defer { group.cancelAll() }
            var iterator = ports.makeAsyncIterator()
            let port = await iterator.next() ?? 0
            return try await body("http://127.0.0.1:\(port)")
        }
    }

    private static func json(_ status: HTTPResponse.Status, _ object: [String: Any]) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    private static func error(_ status: HTTPResponse.Status, _ message: String, code: String? = nil, parameter: String? = nil) -> Response {
        var error: [String: Any] = ["type": "invalid_request_error", "message": message]
        if let code { error["code"] = code }
        if let parameter { error["param"] = parameter }
        return Self.json(status, ["error": error])
    }

    /// The form's fields (application/x-www-form-urlencoded).
    private static func form(_ request: Request) async throws -> [String: String] {
        let body = String(buffer: try await request.body.collect(upTo: 1 << 20))
        var fields: [String: String] = [:]
        for pair in body.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
            if parts.count == 2 { fields[parts[0]] = parts[1] }
        }
        return fields
    }

    private func authorised(_ request: Request) -> Bool { request.headers[.authorization] == "Bearer \(self.secretKey)" }

    private func createMeter(_ request: Request) async throws -> Response {
        guard self.authorised(request) else { return Self.error(.unauthorized, "Invalid API Key provided") }
        let form = try await Self.form(request)
        guard let name = form["event_name"], !name.isEmpty else { return Self.error(.badRequest, "Missing required param: event_name.", parameter: "event_name") }
        let id = "mtr_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(24)
        let created = self.state.withLockedValue { state -> Bool in
            guard state.meters[name] == nil else { return false }
            state.meters[name] = String(id)
            return true
        }
        guard created else { return Self.error(.badRequest, "A meter with event_name \(name) already exists.", code: "resource_already_exists") }
        return Self.json(.ok, ["id": String(id), "object": "billing.meter", "event_name": name, "display_name": form["display_name"] ?? name, "status": "active",
                               "default_aggregation": ["formula": form["default_aggregation[formula]"] ?? "sum"], "livemode": false])
    }

    private func listMeters(_ request: Request) throws -> Response {
        guard self.authorised(request) else { return Self.error(.unauthorized, "Invalid API Key provided") }
        let meters = self.state.withLockedValue { $0.meters }.sorted { $0.key < $1.key }.map { name, id -> [String: Any] in
            ["id": id, "object": "billing.meter", "event_name": name, "status": "active", "livemode": false]
        }
        return Self.json(.ok, ["object": "list", "data": meters, "has_more": false, "url": "/v1/billing/meters"])
    }

    private func createEvent(_ request: Request) async throws -> Response {
        self.state.withLockedValue { $0.requests += 1 }
        guard self.authorised(request) else { return Self.error(.unauthorized, "Invalid API Key provided") }
        let form = try await Self.form(request)
        guard let name = form["event_name"], let customer = form["payload[stripe_customer_id]"], let value = form["payload[value]"] else {
            return Self.error(.badRequest, "Missing required param: event_name, payload[stripe_customer_id] or payload[value].")
        }
        guard Double(value) != nil else { return Self.error(.badRequest, "payload[value] must be a number.", parameter: "payload[value]") }
        let identifier = form["identifier"] ?? UUID().uuidString
        guard identifier.count <= 100 else { return Self.error(.badRequest, "identifier is longer than 100 characters.", parameter: "identifier") }
        let timestamp = form["timestamp"].flatMap(Int.init) ?? Int(Date().timeIntervalSince1970)
        let event = MeterEvent(eventName: name, identifier: identifier, customer: customer, value: value, timestamp: timestamp)
        let outcome = self.state.withLockedValue { state -> String? in
            guard state.meters[name] != nil else { return "no meter" }
            guard !state.events.contains(where: { $0.identifier == identifier }) else { return "duplicate" }
            state.events.append(event)
            return nil
        }
        switch outcome {
        case "no meter"?: return Self.error(.badRequest, "No active meter was found for event_name \(name).", parameter: "event_name")
        case "duplicate"?: return Self.error(.badRequest, "An event with identifier \(identifier) already exists.", code: "resource_already_exists")
        default:
            return Self.json(.ok, ["object": "billing.meter_event", "event_name": name, "identifier": identifier, "livemode": false,
                                   "payload": ["stripe_customer_id": customer, "value": value], "timestamp": timestamp,
                                   "created": Int(Date().timeIntervalSince1970)])
        }
    }
}
