import Foundation
import SensormineCore

/// One entry of the routing table: requests under `prefix` go to `upstream`.
struct GatewayRoute: Sendable, Equatable {
    /// Path prefix, e.g. `/api/v1/tenants`.
    var prefix: String
    /// Base URL of the owning service, without trailing slash.
    var upstream: String
    /// The same, parsed for the proxy hop.
    var address: UpstreamAddress
}

/// Longest-prefix routing on whole path segments, read from `SENSORMINE_GATEWAY_ROUTES`
/// (`/api/v1/tenants=http://device-api:8081,/api/v1/schemas=http://schema-registry:8082`).
struct RoutingTable: Sendable, Equatable {
    /// Routes, longest prefix first.
    let routes: [GatewayRoute]

    init(routes: [GatewayRoute]) {
        self.routes = routes.sorted { $0.prefix.count > $1.prefix.count }
    }

    /// Parses the configuration value.
    /// - Throws: ``ConfigurationError`` naming `key` for a malformed entry.
    init(parsing text: String, key: String) throws {
        var routes: [GatewayRoute] = []
        for entry in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !entry.isEmpty {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, parts[0].hasPrefix("/"), !parts[0].hasSuffix("/"),
                  parts[1].hasPrefix("http://") || parts[1].hasPrefix("https://")
            else {
                throw ConfigurationError(key: key, problem: "expected /prefix=http://host:port[,…], got '\(entry.prefix(80))'")
            }
            var upstream = parts[1]
            while upstream.hasSuffix("/") { upstream.removeLast() }
            guard let address = UpstreamAddress(url: upstream) else {
                throw ConfigurationError(key: key, problem: "'\(upstream.prefix(80))' is not http(s)://host[:port][/path] (no credentials, query or fragment)")
            }
            routes.append(GatewayRoute(prefix: parts[0], upstream: upstream, address: address))
        }
        guard !routes.isEmpty else { throw ConfigurationError(key: key, problem: "lists no route") }
        self.init(routes: routes)
    }

    /// The route owning `path`, matching whole segments (`/api/v1/tenants` owns
    /// `/api/v1/tenants/42` but not `/api/v1/tenantsx`).
    func route(for path: String) -> GatewayRoute? {
        self.routes.first { route in
            path == route.prefix || path.hasPrefix(route.prefix + "/")
        }
    }
}
