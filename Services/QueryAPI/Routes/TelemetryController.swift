import Foundation
import Hummingbird
import SensormineCore
import SensormineTelemetry

/// GET /api/v1/telemetry/…: raw points, latest values and time-bucketed aggregates of the
/// caller's tenant, as JSON or (`format=csv`) CSV.
struct TelemetryController: Sendable {
    let queries: TelemetryQueries

    func addRoutes(to group: RouterGroup<SensormineRequestContext>) {
        group.get("devices/{device}/points", use: self.points)
        group.get("latest", use: self.latest)
        group.get("aggregate", use: self.aggregate)
    }

    /// Longest range a query may span when `from` is omitted.
    static let defaultRange: Int64 = 86_400_000_000

    @Sendable func points(_ request: Request, context: SensormineRequestContext) async throws -> Response {
        let caller = try Self.reader(context)
        let device = try RouteParameters.uuid(context, "device", what: "device")
        let metric = try Self.required(request, "metric")
        let (from, to) = try Self.range(request)
        let limit = try RouteParameters.integer(request, "limit", default: 1000, range: 1...10_000)
        let after = try Self.optionalTime(request, "after")
        let samples = try await self.queries.points(tenant: caller.tenantID, device: device, metric: metric, from: from, to: to, after: after, limit: limit)
        let next = samples.count == limit ? samples.last.map { RFC3339.string(microseconds: $0.time) } : nil
        if CSV.wanted(request) {
            return CSV.response(header: "time,value", rows: samples.map { "\(RFC3339.string(microseconds: $0.time)),\($0.value)" })
        }
        struct Page: Encodable {
            var deviceId: String
            var metric: String
            var points: [Point]
            var next: String?
        }
        struct Point: Encodable {
            var time: String
            var value: Double
        }
        return try Self.json(Page(deviceId: device.uuidString.lowercased(), metric: metric,
                                  points: samples.map { Point(time: RFC3339.string(microseconds: $0.time), value: $0.value) }, next: next))
    }

    @Sendable func latest(_ request: Request, context: SensormineRequestContext) async throws -> Response {
        let caller = try Self.reader(context)
        let devices = try Self.devices(request, required: true)
        let latest = try await self.queries.latest(tenant: caller.tenantID, devices: devices)
        if CSV.wanted(request) {
            var rows: [String] = []
            for device in devices {
                for (metric, sample) in (latest[device] ?? [:]).sorted(by: { $0.key < $1.key }) {
                    rows.append("\(device.uuidString.lowercased()),\(CSV.field(metric)),\(RFC3339.string(microseconds: sample.time)),\(sample.value)")
                }
            }
            return CSV.response(header: "device,metric,time,value", rows: rows)
        }
        struct Value: Encodable {
            var time: String
            var value: Double
        }
        struct DeviceLatest: Encodable {
            var deviceId: String
            var metrics: [String: Value]
        }
        struct Answer: Encodable { var devices: [DeviceLatest] }
        return try Self.json(Answer(devices: devices.map { device in
            DeviceLatest(deviceId: device.uuidString.lowercased(),
                         metrics: (latest[device] ?? [:]).mapValues { Value(time: RFC3339.string(microseconds: $0.time), value: $0.value) })
        }))
    }

    @Sendable func aggregate(_ request: Request, context: SensormineRequestContext) async throws -> Response {
        let caller = try Self.reader(context)
        let metric = try Self.required(request, "metric")
        let devices = try Self.devices(request, required: false)
        let (from, to) = try Self.range(request)
        let bucket = try Self.bucketSeconds(request.uri.queryParameters.get("bucket") ?? "1m")
        let functionName = request.uri.queryParameters.get("fn") ?? "avg"
        guard let function = AggregateFunction(rawValue: functionName) else {
            throw APIError.badRequest("unknown aggregate", errors: [.init(pointer: "fn", detail: "one of " + AggregateFunction.allCases.map(\.rawValue).joined(separator: ", "))])
        }
        guard (to - from) / (Int64(bucket) * 1_000_000) <= 100_000 else {
            throw APIError.badRequest("too many buckets", errors: [.init(pointer: "bucket", detail: "at most 100000 buckets per query; widen the bucket or narrow the range")])
        }
        let source = try Self.source(request, from: from, to: to, bucketSeconds: bucket)
        let buckets = try await self.queries.aggregate(tenant: caller.tenantID, metric: metric, devices: devices, from: from, to: to,
                                                       bucketSeconds: bucket, function: function, source: source)
        if CSV.wanted(request) {
            return CSV.response(header: "time,\(function.rawValue),count", rows: buckets.map { "\(RFC3339.string(microseconds: $0.time)),\($0.value),\($0.count)" })
        }
        struct Bucket: Encodable {
            var time: String
            var value: Double
            var count: Int
        }
        struct Answer: Encodable {
            var metric: String
            var function: String
            var bucketSeconds: Int
            var source: String
            var buckets: [Bucket]
        }
        return try Self.json(Answer(metric: metric, function: function.rawValue, bucketSeconds: bucket, source: source.rawValue,
                                    buckets: buckets.map { Bucket(time: RFC3339.string(microseconds: $0.time), value: $0.value, count: $0.count) }))
    }

    // MARK: Parameters

    private static func reader(_ context: SensormineRequestContext) throws -> CallerIdentity {
        let caller = try context.requireIdentity()
        guard caller.has(atLeast: .viewer) else { throw APIError.forbidden("reading telemetry needs the viewer role or above") }
        return caller
    }

    private static func required(_ request: Request, _ name: String) throws -> String {
        guard let value = request.uri.queryParameters.get(name), !value.isEmpty, value.utf8.count <= 200 else {
            throw APIError.badRequest("\(name) is required", errors: [.init(pointer: name, detail: "1 to 200 characters")])
        }
        return value
    }

    private static func optionalTime(_ request: Request, _ name: String) throws -> Int64? {
        guard let text = request.uri.queryParameters.get(name) else { return nil }
        guard let micros = RFC3339.microseconds(text) else {
            throw APIError.badRequest("\(name) is not a date-time", errors: [.init(pointer: name, detail: "an RFC 3339 date-time, e.g. 2026-01-31T12:00:00Z")])
        }
        return micros
    }

    /// `from` (default: a day before `to`) and `to` (default: now), from < to.
    private static func range(_ request: Request) throws -> (Int64, Int64) {
        let to = try self.optionalTime(request, "to") ?? Int64(Date().timeIntervalSince1970 * 1_000_000) + 1
        let from = try self.optionalTime(request, "from") ?? (to - self.defaultRange)
        guard from < to else { throw APIError.badRequest("from must be before to", errors: [.init(pointer: "from", detail: "earlier than to")]) }
        return (from, to)
    }

    private static func devices(_ request: Request, required: Bool) throws -> [UUID] {
        let text = request.uri.queryParameters.get("devices") ?? ""
        let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        if parts.isEmpty, required { throw APIError.badRequest("devices is required", errors: [.init(pointer: "devices", detail: "comma-separated device ids")]) }
        guard parts.count <= 500 else { throw APIError.badRequest("too many devices", errors: [.init(pointer: "devices", detail: "at most 500")]) }
        return try parts.map { part in
            guard let id = UUID(uuidString: part) else { throw APIError.badRequest("devices must be UUIDs", errors: [.init(pointer: "devices", detail: "'\(part.prefix(40))' is not a UUID")]) }
            return id
        }
    }

    /// Where an aggregate is computed: `auto` (default) takes the hourly rollups whenever the
    /// answer from them is exact (whole-hour buckets and range), raw points otherwise.
    static func source(_ request: Request, from: Int64, to: Int64, bucketSeconds: Int) throws -> AggregateSource {
        let hour: Int64 = 3_600_000_000
        let rollupExact = bucketSeconds % 3600 == 0 && from % hour == 0 && to % hour == 0
        switch request.uri.queryParameters.get("source") ?? "auto" {
        case "auto": return rollupExact ? .hourlyRollup : .raw
        case "raw": return .raw
        case "rollup":
            guard rollupExact else {
                throw APIError.badRequest("rollups need whole hours", errors: [
                    .init(pointer: "source", detail: "source=rollup needs a bucket of whole hours and from/to on the hour (UTC)"),
                ])
            }
            return .hourlyRollup
        default:
            throw APIError.badRequest("unknown source", errors: [.init(pointer: "source", detail: "one of auto, raw, rollup")])
        }
    }

    /// `1s`…`1d`: a number and a unit (s, m, h, d).
    static func bucketSeconds(_ text: String) throws -> Int {
        let units: [Character: Int] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        // The count is bounded before it is multiplied: `999999999999999999d` must be a 400, not a trap.
        let digits = text.dropLast()
        guard let unit = text.last, let scale = units[unit], (1...5).contains(digits.count), digits.allSatisfy({ $0.isASCII && $0.isNumber }),
              let count = Int(digits), (1...86_400).contains(count),
              (1...86_400).contains(count * scale) else {
            throw APIError.badRequest("bucket is invalid", errors: [.init(pointer: "bucket", detail: "a width from 1s to 1d, e.g. 10s, 5m, 1h, 1d")])
        }
        return count * scale
    }

    private static func json(_ value: some Encodable) throws -> Response {
        let data = try JSONEncoder().encode(value)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
