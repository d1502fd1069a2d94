import ClientRuntime
import SensormineClients
import Foundation
import JSONSchema
import NIOConcurrencyHelpers
import SensormineContracts
import SensormineCore
import SensormineJSON

/// Which schema a device's telemetry must satisfy: device → device type (DeviceAPI) → subject →
/// latest version (SchemaRegistry), compiled once and cached for `lifetime`. Ingestion and
/// StreamProcessing both ask it, so both accept the same messages.
public final class SchemaDirectory: Sendable {
    /// What a device's messages are checked against.
    public enum Resolution: Sendable {
        /// Validate with this schema.
        case schema(CompiledSchema, subject: String, version: Int)
        /// The device type names no schema: store without validation.
        case unvalidated
        /// Dead-letter every message with this reason (unknown or decommissioned device…).
        case refused(String)
    }

    private let reader: ServiceReader
    private let deviceAPI: UpstreamService
    private let schemaRegistry: UpstreamService
    // Three levels, so a thousand devices of four types cost four schema fetches and compiles.
    private let devices = ExpiringCache<String, Result<Device, Refusal>, ContinuousClock.Instant>(capacity: 100_000)
    private let typeSubjects = ExpiringCache<String, Result<OwnedSubject?, Refusal>, ContinuousClock.Instant>(capacity: 100_000)
    private let schemas = ExpiringCache<String, Resolution, ContinuousClock.Instant>(capacity: 100_000)
    private let tenantStorage = ExpiringCache<String, TenantStorageSettings, ContinuousClock.Instant>(capacity: 100_000)
    private let lifetime: Duration

    private struct Refusal: Error {
        var reason: String
    }

    /// Creates a directory that asks DeviceAPI and the SchemaRegistry through `reader`.
    public init(reader: ServiceReader, deviceAPI: UpstreamService, schemaRegistry: UpstreamService, lifetime: Duration = .seconds(30)) {
        self.reader = reader
        self.deviceAPI = deviceAPI
        self.schemaRegistry = schemaRegistry
        self.lifetime = lifetime
    }

    /// The device as DeviceAPI last served it (cached with the schema lookups); nil when it is
    /// not registered in `tenant`.
    /// - Throws: ``ClientError`` when DeviceAPI cannot answer.
    public func device(tenant: String, device: String) async throws -> Device? {
        guard UUIDText.isValid(tenant), UUIDText.isValid(device) else { return nil }
        switch try await self.cachedDevice(tenant: tenant, device: device) {
        case .success(let record): return record
        case .failure: return nil
        }
    }

    /// Whether the device's record is cached now (a batch warms only the others).
    public func isCached(tenant: String, device: String) -> Bool {
        self.devices.value(for: tenant + "/" + device, now: .now) != nil
    }

    /// Forgets what is cached about `device`, so the next message reads it afresh (a
    /// `device.events` message says it changed).
    public func forget(tenant: String, device: String) {
        self.devices.remove(tenant + "/" + device)
    }

    private func cachedDevice(tenant: String, device: String) async throws -> Result<Device, Refusal> {
        try await self.devices.refreshingValue(for: tenant + "/" + device, lifetime: self.lifetime) { try await self.lookUpDevice(tenant: tenant, device: device) }
    }

    /// The resolution for one device.
    /// - Throws: ``ClientError`` when DeviceAPI or SchemaRegistry cannot answer (the batch is
    ///   retried; nothing is dead-lettered for an outage).
    public func resolve(tenant: String, device: String) async throws -> Resolution {
        guard UUIDText.isValid(tenant), UUIDText.isValid(device) else { return .refused("tenant or device id is not a UUID") }
        let typeID: String
        switch try await self.cachedDevice(tenant: tenant, device: device) {
        case .failure(let refusal): return .refused(refusal.reason)
        case .success(let record): typeID = record.deviceTypeId.lowercasedString
        }
        let subject = try await self.typeSubjects.refreshingValue(for: tenant + "/" + typeID, lifetime: self.lifetime) { try await self.lookUpSubject(tenant: tenant, typeID: typeID, device: device) }
        switch subject {
        case .failure(let refusal): return .refused(refusal.reason)
        case .success(nil): return .unvalidated
        case .success(let owned?):
            // The subject lives in the registry of the type's owner: an organisation's type and
            // schema serve its sites' devices.
            return try await self.schemas.refreshingValue(for: owned.owner + "/" + owned.subject, lifetime: self.lifetime) {
                try await self.lookUpSchema(tenant: owned.owner, subject: owned.subject, typeID: typeID)
            }
        }
    }

    private func lookUpDevice(tenant: String, device: String) async throws -> Result<Device, Refusal> {
        Self.found(try await self.reader.get(Device.self, from: self.deviceAPI, "/api/v1/devices/\(device)", tenant: tenant), tenant: tenant, device: device)
    }

    private static func found(_ record: Device?, tenant: String, device: String) -> Result<Device, Refusal> {
        guard let record else { return .failure(Refusal(reason: "device \(device) is not registered in tenant \(tenant)")) }
        if record.status == .decommissioned { return .failure(Refusal(reason: "device \(device) is decommissioned")) }
        return .success(record)
    }

    /// Reads the devices among `devices` that are not cached, or soon due for a refresh, with one
    /// call to DeviceAPI per tenant and ``DevicePage/maximumIDs`` devices (4 calls at once), so a
    /// cold cache or a fleet's records expiring together cost a few calls, not one per device.
    /// Those still cached are refreshed in the background: a batch waits only for what it lacks.
    /// - Throws: ``ClientError`` when DeviceAPI cannot answer for the missing ones; what was read
    ///   before is kept.
    public func prefetchDevices(_ devices: [(tenant: String, device: String)]) async throws {
        let valid = devices.filter { UUIDText.isValid($0.tenant) && UUIDText.isValid($0.device) }
        let claimed = self.devices.claimRefresh(valid.map { $0.tenant + "/" + $0.device }, lifetime: self.lifetime)
        guard !claimed.isEmpty else { return }
        let now = ContinuousClock.now
        var due: [String] = []
        var missing: [String] = []
        for key in claimed {
            if self.devices.value(for: key, now: now) == nil { missing.append(key) } else { due.append(key) }
        }
        if !due.isEmpty {
            Task {
                defer { self.devices.endRefresh(due) }
                try? await self.readDevices(due)
            }
        }
        guard !missing.isEmpty else { return }
        defer { self.devices.endRefresh(missing) }
        try await self.readDevices(missing)
    }

    /// Reads and caches the devices of `keys` (`tenant/device`).
    private func readDevices(_ keys: [String]) async throws {
        var byTenant: [String: [String]] = [:]
        for key in keys {
            guard let slash = key.firstIndex(of: "/") else { continue }
            byTenant[String(key[..<slash]), default: []].append(String(key[key.index(after: slash)...]))
        }
        var chunks: [(tenant: String, devices: ArraySlice<String>)] = []
        for (tenant, ids) in byTenant {
            for start in stride(from: 0, to: ids.count, by: DevicePage.maximumIDs) {
                chunks.append((tenant, ids[start..<min(start + DevicePage.maximumIDs, ids.count)]))
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, chunk) in chunks.enumerated() {
                if index >= 4 { try await group.next() }
                group.addTask {
                    let path = "/api/v1/devices?limit=\(DevicePage.maximumIDs)&ids=" + chunk.devices.joined(separator: ",")
                    let page = try await self.reader.get(DevicePage.self, from: self.deviceAPI, path, tenant: chunk.tenant)
                    var records: [String: Device] = [:]
                    for record in page?.items ?? [] { records[record.id.lowercasedString] = record }
                    let expires = ContinuousClock.now + self.lifetime
                    for device in chunk.devices {
                        // Ids are compared as DeviceAPI writes them (lowercase); others miss and are read alone later.
                        guard records[device] != nil || device == device.lowercased() else { continue }
                        self.devices.insert(Self.found(records[device], tenant: chunk.tenant, device: device), for: chunk.tenant + "/" + device, expires: expires)
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// The device type's schema subject and the tenant that owns the type (the device's own, or
    /// an ancestor's).
    private func lookUpSubject(tenant: String, typeID: String, device: String) async throws -> Result<OwnedSubject?, Refusal> {
        guard let type = try await self.reader.get(DeviceType.self, from: self.deviceAPI, "/api/v1/device-types/\(typeID)", tenant: tenant) else {
            return .failure(Refusal(reason: "device type \(typeID) of device \(device) is not visible"))
        }
        guard let subject = type.schemaSubject else { return .success(nil) }
        return .success(OwnedSubject(subject: subject, owner: type.tenantId.lowercasedString))
    }

    private func lookUpSchema(tenant: String, subject: String, typeID: String) async throws -> Resolution {
        let escaped = subject.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? subject
        guard let version = try await self.reader.get(self.schemaRegistry, "/api/v1/schemas/subjects/\(escaped)/versions/latest", tenant: tenant),
              let schema = version["schema"], case .number(let number)? = version["version"] else {
            return .refused("schema subject '\(subject)' of device type \(typeID) has no version")
        }
        do {
            let compiled = try CompiledSchema(schema, uri: "sensormine:schema:\(tenant):\(subject):\(Int(number))")
            return .schema(compiled, subject: subject, version: Int(number))
        } catch {
            return .refused("schema '\(subject)' version \(Int(number)) does not compile: \(error)")
        }
    }

    /// What a tenant's effective settings (its own, or inherited from its parents) say about its
    /// telemetry's storage; the defaults when the tenant no longer exists.
    /// - Throws: ``ClientError`` when DeviceAPI cannot answer.
    public func storageSettings(tenant: String) async throws -> TenantStorageSettings {
        try await self.tenantStorage.refreshingValue(for: tenant, lifetime: self.lifetime) {
            guard UUIDText.isValid(tenant),
                  let settings = try await self.reader.get(self.deviceAPI, "/api/v1/tenants/\(tenant)", tenant: tenant)?["effectiveSettings"] else {
                return TenantStorageSettings(dedicated: false, retentionDays: nil)
            }
            var result = TenantStorageSettings(dedicated: false, retentionDays: nil)
            if case .number(let days)? = settings["retentionDays"] { result.retentionDays = Int(days) }
            if case .bool(true)? = settings["dedicatedStorage"] { result.dedicated = true }
            return result
        }
    }
}

/// A device type's schema subject and the tenant whose registry holds it.
struct OwnedSubject: Sendable {
    var subject: String
    var owner: String
}

/// A tenant's storage settings, from DeviceAPI.
public struct TenantStorageSettings: Sendable {
    /// Telemetry goes to tables of the tenant's own.
    public var dedicated: Bool
    /// Days raw points are kept; nil for the platform's default.
    public var retentionDays: Int?

    /// Creates settings.
    public init(dedicated: Bool, retentionDays: Int?) {
        self.dedicated = dedicated
        self.retentionDays = retentionDays
    }

    /// Whether the tenant's raw points go to a table of its own: it asked for dedicated storage,
    /// or it keeps them longer than the shared table does (ADR 11).
    public func ownsTable(sharedMaximumDays: Int) -> Bool {
        self.dedicated || (self.retentionDays.map { $0 > sharedMaximumDays } ?? false)
    }
}
