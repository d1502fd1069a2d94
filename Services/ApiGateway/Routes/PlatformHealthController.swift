import Curl
import Foundation
import Hummingbird
import SensormineCore
import SensormineJSON

/// What GET /api/v1/platform/health answers: each service behind the gateway, probed now.
struct PlatformHealth: ResponseCodable, Sendable {
    /// One upstream service.
    struct Service: Codable, Sendable {
        /// The service's name (its `Server` header), or its address when it did not answer.
        var name: String
        var upstream: String
        /// The path prefixes the gateway routes to it.
        var prefixes: [String]
        var ready: Bool
        /// Its readiness checks ("up" or the error), as its /health/ready reported them.
        var checks: [String: String]
        var detail: String?
        var milliseconds: Double
        /// The pipeline's series this service exposes (``PlatformHealthController/pipelineSeries``),
        /// summed over labels, as one replica's /metrics reported them.
        var metrics: [String: Double]
    }
    var checkedAt: Date
    var services: [Service]
}

/// Platform-admins see every service's readiness through the gateway (the console's health
/// view), without reaching the services' own ports: the gateway asks each upstream's
/// /health/ready concurrently, each bounded by a short timeout.
struct PlatformHealthController: Sendable {
    /// The series the console turns into pipeline lag and throughput (rates from two samples).
    static let pipelineSeries: Set<String> = [
        "sensormine_edge_messages_forwarded_total", "sensormine_edge_spooled_messages_total", "sensormine_edge_spool_bytes",
        "sensormine_edge_dead_letters_total", "sensormine_ingestion_consumer_lag", "sensormine_ingestion_points_stored_total",
        "sensormine_ingestion_dead_letters_total", "sensormine_stream_consumer_lag", "sensormine_stream_points_total",
        "sensormine_stream_alert_events_total",
    ]

    let routes: RoutingTable
    let client: HTTPClient
    let timeout: Duration

    /// Upstreams with the prefixes each serves, in a stable order.
    var upstreams: [(upstream: String, prefixes: [String])] {
        var byUpstream: [String: [String]] = [:]
        for route in self.routes.routes { byUpstream[route.upstream, default: []].append(route.prefix) }
        return byUpstream.keys.sorted().map { ($0, byUpstream[$0, default: []].sorted()) }
    }

    func check() async -> PlatformHealth {
        let services = await withTaskGroup(of: PlatformHealth.Service.self) { group in
            for (upstream, prefixes) in self.upstreams {
                group.addTask { await self.probe(upstream: upstream, prefixes: prefixes) }
            }
            var services: [PlatformHealth.Service] = []
            for await service in group { services.append(service) }
            return services.sorted { $0.name < $1.name }
        }
        return PlatformHealth(checkedAt: Date(), services: services)
    }

    private func probe(upstream: String, prefixes: [String]) async -> PlatformHealth.Service {
        let started = ContinuousClock.now
        var service = PlatformHealth.Service(name: upstream, upstream: upstream, prefixes: prefixes, ready: false, checks: [:], detail: nil, milliseconds: 0,
                                             metrics: [:])
        do {
            let response = try await self.client.execute(HTTPClientRequest(url: upstream + "/health/ready", timeout: self.timeout))
            if let name = response.header("server"), !name.isEmpty { service.name = name }
            service.ready = response.status == 200
            if let body = try? JSON.parse(response.body) {
                for (name, value) in body["checks"]?.object ?? [:] { service.checks[name] = value.string ?? "\(value)" }
                if !service.ready { service.detail = body["detail"]?.string }
            }
        } catch {
            service.detail = "did not answer: \(error)"
        }
        let elapsed = ContinuousClock.now - started
        service.milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        if service.ready, let metrics = try? await self.client.execute(HTTPClientRequest(url: upstream + "/metrics", timeout: self.timeout)), metrics.status == 200 {
            service.metrics = Self.samples(String(decoding: metrics.body, as: UTF8.self), of: Self.pipelineSeries)
        }
        return service
    }

    /// The values of `names` in a Prometheus text exposition, each summed over its labels.
    static func samples(_ exposition: String, of names: Set<String>) -> [String: Double] {
        var sums: [String: Double] = [:]
        for line in exposition.split(separator: "\n") where !line.hasPrefix("#") {
            let name = line.prefix { $0 != "{" && $0 != " " }
            guard names.contains(String(name)), let valueText = line.split(separator: " ").last, let value = Double(valueText), value.isFinite else { continue }
            sums[String(name), default: 0] += value
        }
        return sums
    }
}
