import ClientRuntime
import Foundation
import SensormineClients
import SensormineContracts
import SensormineJSON
import TelemetryIntake

/// Each device's type, tags, asset path, site and tenant ancestry, from DeviceAPI: cached, and
/// forgotten when `device.events` or `asset.updates` says something changed, so no message
/// costs an HTTP call once its device is known.
final class DeviceProfiles: Sendable {
    private let directory: SchemaDirectory
    private let reader: ServiceReader
    private let deviceAPI: UpstreamService
    private let lifetime: Duration
    private let profiles = ExpiringCache<String, DeviceProfile, ContinuousClock.Instant>(capacity: 200_000)
    private let assets = ExpiringCache<String, Asset?, ContinuousClock.Instant>(capacity: 100_000)
    private let parents = ExpiringCache<String, UUID?, ContinuousClock.Instant>(capacity: 100_000)

    init(directory: SchemaDirectory, reader: ServiceReader, deviceAPI: UpstreamService, lifetime: Duration = .seconds(300)) {
        self.directory = directory
        self.reader = reader
        self.deviceAPI = deviceAPI
        self.lifetime = lifetime
    }

    /// The profile of a device whose message was admitted.
    /// - Throws: ``ClientError`` when DeviceAPI cannot answer.
    func profile(tenant: UUID, device: UUID) async throws -> DeviceProfile {
        let tenantText = tenant.lowercasedString
        let deviceText = device.lowercasedString
        return try await self.profiles.value(for: tenantText + "/" + deviceText, lifetime: self.lifetime) {
            guard let record = try await self.directory.device(tenant: tenantText, device: deviceText) else { return .bare(tenant: tenant, device: device) }
            var assetPath: [UUID] = []
            var siteId: UUID?
            var next = record.assetId
            while let id = next, assetPath.count < 16, !assetPath.contains(id) {
                guard let asset = try await self.asset(id, tenant: tenantText) else { break }
                assetPath.insert(id, at: 0)
                if asset.kind == .site { siteId = id }
                next = asset.parentId
            }
            return DeviceProfile(tenantId: tenant, deviceId: device, deviceTypeId: record.deviceTypeId, tags: record.tags, assetPath: assetPath,
                                 siteId: siteId, tenantPath: try await self.tenantPath(tenant))
        }
    }

    /// The profile if it is cached now (no call made).
    func cachedProfile(tenant: UUID, device: UUID) -> DeviceProfile? {
        self.profiles.value(for: tenant.lowercasedString + "/" + device.lowercasedString, now: .now)
    }

    /// A device changed (type, tags, asset, status): read it afresh on its next message.
    func deviceChanged(tenant: UUID, device: UUID) {
        let key = tenant.lowercasedString + "/" + device.lowercasedString
        self.profiles.remove(key)
        self.directory.forget(tenant: tenant.lowercasedString, device: device.lowercasedString)
    }

    /// An asset changed (renamed, moved, deleted): every path through it may have changed.
    func assetChanged(_ asset: UUID) {
        self.assets.remove(asset.lowercasedString)
        self.profiles.removeAll()
    }

    private func asset(_ id: UUID, tenant: String) async throws -> Asset? {
        let text = id.lowercasedString
        return try await self.assets.value(for: text, lifetime: self.lifetime) {
            try await self.reader.get(Asset.self, from: self.deviceAPI, "/api/v1/assets/\(text)", tenant: tenant)
        }
    }

    /// The tenant and its ancestors, its own first; each read as a viewer of itself (a
    /// sub-tenant cannot see its parent).
    private func tenantPath(_ tenant: UUID) async throws -> [UUID] {
        var path = [tenant]
        var current = tenant
        while path.count < 16 {
            let text = current.lowercasedString
            let parent = try await self.parents.value(for: text, lifetime: self.lifetime) {
                guard case .string(let id)? = try await self.reader.get(self.deviceAPI, "/api/v1/tenants/\(text)", tenant: text)?["parentId"] else { return nil }
                return UUID(uuidString: id)
            }
            guard let parent, !path.contains(parent) else { break }
            path.append(parent)
            current = parent
        }
        return path
    }
}
