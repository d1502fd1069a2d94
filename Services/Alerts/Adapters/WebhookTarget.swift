import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A webhook URL as a channel stores it: http or https, a host, a port.
struct WebhookTarget: Sendable, Equatable {
    var url: String
    var host: String
    var port: Int

    static func parse(_ text: String) -> WebhookTarget? {
        guard !text.utf8.contains(0), let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty, components.user == nil, components.password == nil else { return nil }
        let port = components.port ?? (scheme == "https" ? 443 : 80)
        guard (1...65_535).contains(port) else { return nil }
        return WebhookTarget(url: text, host: host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")), port: port)
    }
}

/// An IPv4 or IPv6 network in CIDR notation.
struct IPNetwork: Sendable, Equatable, CustomStringConvertible {
    let address: [UInt8]
    let prefixLength: Int

    init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1)
        guard let first = parts.first, let bytes = IPNetwork.bytes(String(first)) else { return nil }
        let length = parts.count == 2 ? Int(parts[1]) : bytes.count * 8
        guard let length, (0...(bytes.count * 8)).contains(length) else { return nil }
        self.address = bytes
        self.prefixLength = length
    }

    var description: String { "\(IPNetwork.text(self.address))/\(self.prefixLength)" }

    func contains(_ bytes: [UInt8]) -> Bool {
        guard bytes.count == self.address.count else { return false }
        var remaining = self.prefixLength
        for index in bytes.indices where remaining > 0 {
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if bytes[index] & mask != self.address[index] & mask { return false }
            remaining -= bits
        }
        return true
    }

    /// The bytes of a literal IPv4 or IPv6 address.
    static func bytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }

    static func text(_ bytes: [UInt8]) -> String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = bytes.count == 4 ? AF_INET : AF_INET6
        let ok = bytes.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &buffer, socklen_t(buffer.count)) } != nil
        return ok ? String(cString: buffer) : "?"
    }
}

/// Refuses webhook targets inside the platform's own networks (server-side request forgery: a
/// tenant's channel must not reach loopback, link-local metadata services or private ranges),
/// unless an allow-list in configuration opens them. Checks every address the host resolves
/// to, and hands back the one to connect to, so the request cannot be steered elsewhere by a
/// second lookup.
struct AddressGuard: Sendable {
    /// Networks opened by configuration (tests open loopback for their local receivers).
    let allowed: [IPNetwork]

    static let refused: [IPNetwork] = [
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24", "192.168.0.0/16",
        "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4", "::/128", "::1/128", "::ffff:0:0/96", "64:ff9b::/96", "fc00::/7", "fe80::/10", "ff00::/8",
    ].compactMap(IPNetwork.init)

    enum Refusal: Error, CustomStringConvertible {
        case unresolvable(String)
        case forbidden(host: String, address: String)

        var description: String {
            switch self {
            case .unresolvable(let host): "\(host) does not resolve"
            case .forbidden(let host, let address): "\(host) resolves to \(address), in a network webhooks may not reach (loopback, link-local or private)"
            }
        }
    }

    /// The address to connect to for `host`.
    /// - Throws: ``Refusal`` when the host does not resolve or any of its addresses is refused.
    func address(for host: String) throws(Refusal) -> String {
        let addresses = IPNetwork.bytes(host).map { [$0] } ?? Self.resolve(host)
        guard let first = addresses.first else { throw .unresolvable(host) }
        for bytes in addresses where Self.refused.contains(where: { $0.contains(bytes) }) && !self.allowed.contains(where: { $0.contains(bytes) }) {
            throw .forbidden(host: host, address: IPNetwork.text(bytes))
        }
        return IPNetwork.text(first)
    }

    private static func resolve(_ host: String) -> [[UInt8]] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0 else { return [] }
        defer { freeaddrinfo(result) }
        var addresses: [[UInt8]] = []
        var cursor = result
        while let info = cursor?.pointee {
            if info.ai_family == AF_INET, let address = info.ai_addr {
                address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { pointer in
                    var value = pointer.pointee.sin_addr
                    addresses.append(withUnsafeBytes(of: &value) { Array($0) })
                }
            } else if info.ai_family == AF_INET6, let address = info.ai_addr {
                address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                    var value = pointer.pointee.sin6_addr
                    addresses.append(withUnsafeBytes(of: &value) { Array($0) })
                }
            }
            cursor = info.ai_next
        }
        return addresses
    }
}
