import Foundation
import Hummingbird
import SensormineCore
import SensormineContracts

/// /api/v1/devices: registration, listing, metadata, decommissioning and credentials.
struct DeviceController: Sendable {
    let devices: DeviceRepository
    let credentials: CredentialRepository
    /// The plan's device limit.
    let quota: DeviceQuota

    func addRoutes(to group: RouterGroup<SensormineRequestContext>) {
        group.post(use: self.create)
        group.get(use: self.list)
        group.post("activity", use: self.activity)
        group.get("{id}", use: self.get)
        group.patch("{id}", use: self.update)
        group.delete("{id}", use: self.decommission)
        group.post("{id}/api-keys", use: self.issueKey)
        group.get("{id}/api-keys", use: self.listKeys)
        group.delete("{id}/api-keys/{keyId}", use: self.revokeKey)
        group.post("{id}/api-keys/{keyId}/rotate", use: self.rotateKey)
        group.put("{id}/mqtt-credentials", use: self.provisionMQTT)
        group.delete("{id}/mqtt-credentials", use: self.removeMQTT)
    }

    /// POST: registers a device in the caller's tenant or a sub-tenant (`tenantId`).
    @Sendable func create(_ request: Request, context: SensormineRequestContext) async throws -> EditedResponse<Device> {
        let caller = try context.requireIdentity()
        try CatalogPolicy.checkOperate(caller)
        let body = try await request.decode(as: CreateDeviceRequest.self, context: context)
        try CatalogPolicy.checkCreate(body)
        try await self.quota.checkRoom(in: body.tenantId ?? caller.tenantID, caller: caller)
        let device = try await self.devices.insert(tenantID: body.tenantId ?? caller.tenantID, body, caller: caller)
        return EditedResponse(status: .created, headers: [.location: "/api/v1/devices/\(device.id.lowercasedString)"], response: device)
    }

    /// The answer to an activity report.
    struct ActivityRecorded: ResponseEncodable {
        var updated: Int
    }

    /// POST activity: devices heard from (operator; EdgeGateway reports per tenant).
    @Sendable func activity(_ request: Request, context: SensormineRequestContext) async throws -> ActivityRecorded {
        let caller = try context.requireIdentity()
        try CatalogPolicy.checkOperate(caller)
        let body = try await request.decode(as: DeviceActivity.self, context: context)
        guard body.devices.count <= 5000 else {
            throw CatalogError.invalid("activity report", [.init(pointer: "/devices", detail: "at most 5000 devices per report")])
        }
        return ActivityRecorded(updated: try await self.devices.recordActivity(body.devices, caller: caller))
    }

    /// GET: a page of visible devices, filtered by tenant, type, asset, status, tag or ids.
    @Sendable func list(_ request: Request, context: SensormineRequestContext) async throws -> DevicePage {
        let caller = try context.requireIdentity()
        try CatalogPolicy.checkRead(caller)
        var status: DeviceStatus?
        if let text = RouteParameters.string(request, "status") {
            guard let value = DeviceStatus(rawValue: text) else {
                throw APIError.badRequest("status must be active or decommissioned", errors: [.init(pointer: "status", detail: "unknown status")])
            }
            status = value
        }
        let filter = DeviceFilter(
            tenantID: try RouteParameters.optionalUUID(request, "tenantId"), deviceTypeID: try RouteParameters.optionalUUID(request, "deviceTypeId"),
            assetID: try RouteParameters.optionalUUID(request, "assetId"), status: status, tag: RouteParameters.string(request, "tag"),
            ids: try RouteParameters.optionalUUIDList(request, "ids", maximum: DevicePage.maximumIDs),
            after: try RouteParameters.optionalUUID(request, "after"), limit: try RouteParameters.integer(request, "limit", default: 100, range: 1...1000)
        )
        return try await self.devices.list(filter, caller: caller)
    }

    /// GET {id}: one visible device, else 404.
    @Sendable func get(_ request: Request, context: SensormineRequestContext) async throws -> Device {
        let caller = try context.requireIdentity()
        try CatalogPolicy.checkRead(caller)
        return try await self.devices.find(try RouteParameters.uuid(context, what: "device"), caller: caller)
    }

    /// PATCH {id}: name, tags, metadata, asset.
    @Sendable func update(_ request: Request, context: SensormineRequestContext) async throws -> Device {
        let caller = try context.requireIdentity()
        try CatalogPolicy.checkOperate(caller)
        let id = try RouteParameters.uuid(context, what: "device")
        let body = try await request.decode(as: UpdateDeviceRequest.self, context: context)
        try CatalogPolicy.checkUpdate(body)
        return try await self.devices.update(id, body, caller: caller)
    }

    /// DELETE {id}: decommissions the device and revokes its API keys and MQTT account at once.
    @Sendable func decommission(_ request: Request, context: SensormineRequestContext) async throws -> Device {
        let caller = try context.requireIdentity()
        try CatalogPolicy.checkOperate(caller)
        return try await self.credentials.decommission(deviceID: try RouteParameters.uuid(context, what: "device"), caller: caller)
    }

    /// POST {id}/api-keys: issues a key, shown once.
    @Sendable func issueKey(_ request: Request, context: SensormineRequestContext) async throws -> EditedResponse<IssuedAPIKey> {
        let caller = try context.requireIdentity()
        try CatalogPolicy.checkOperate(caller)
        let id = try RouteParameters.uuid(context, what: "device")
        let body = try await request.decode(as: CreateAPIKeyRequest.self, context: context)
        let name = body.name?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        guard name.count <= 100 else { throw CatalogError.invalid("API key", [.init(pointer: "/name", detail: "at most 100 characters")]) }
        return EditedResponse(status: .created, response: try await self.credentials.issueKey(deviceID: id, name: name, caller: caller))
    }

    /// GET {id}/api-keys: the device's keys, without the keys themselves.
    @Sendable func listKeys(_ request: Request, context: SensormineRequestContext) async throws -> APIKeyList {
        let caller = try context.requireIdentity()
        try CatalogPolicy.checkRead(caller)
        return APIKeyList(items: try await self.credentials.listKeys(deviceID: try RouteParameters.uuid(context, what: "device"), caller: caller))
    }

    /// DELETE {id}/api-keys/{keyId}: revokes a key; the gateway refuses it from the next request.
    @Sendable func revokeKey(_ request: Request, context: SensormineRequestContext) async throws -> Response {
        let caller = try context.requireIdentity()
        try CatalogPolicy.checkOperate(caller)
        try await self.credentials.revokeKey(deviceID: try RouteParameters.uuid(context, what: "device"),
                                             keyID: try RouteParameters.uuid(context, "keyId", what: "API key"), caller: caller)
        return Response(status: .noContent)
    }

    /// POST {id}/api-keys/{keyId}/rotate: a new key replaces the old one in one step.
    @Sendable func rotateKey(_ request: Request, context: SensormineRequestContext) async throws -> EditedResponse<IssuedAPIKey> {
        let caller = try context.requireIdentity()
        try CatalogPolicy.checkOperate(caller)
        let id = try RouteParameters.uuid(context, what: "device")
        let keyID = try RouteParameters.uuid(context, "keyId", what: "API key")
        return EditedResponse(status: .created, response: try await self.credentials.issueKey(deviceID: id, name: "rotated", replacing: keyID, caller: caller))
    }

    /// PUT {id}/mqtt-credentials: creates or rotates the device's MQTT account; password shown once.
    @Sendable func provisionMQTT(_ request: Request, context: SensormineRequestContext) async throws -> IssuedMQTTCredentials {
        let caller = try context.requireIdentity()
        try CatalogPolicy.checkOperate(caller)
        return try await self.credentials.provisionMQTT(deviceID: try RouteParameters.uuid(context, what: "device"), caller: caller)
    }

    /// DELETE {id}/mqtt-credentials: removes the account; the broker disconnects the device.
    @Sendable func removeMQTT(_ request: Request, context: SensormineRequestContext) async throws -> Response {
        let caller = try context.requireIdentity()
        try CatalogPolicy.checkOperate(caller)
        try await self.credentials.removeMQTT(deviceID: try RouteParameters.uuid(context, what: "device"), caller: caller)
        return Response(status: .noContent)
    }
}

/// /api/v1/device-types: what kinds of device a tenant has.
struct DeviceTypeController: Sendable {
    let devices: DeviceRepository

    func addRoutes(to group: RouterGroup<SensormineRequestContext>) {
        group.post(use: self.create)
        group.get(use: self.list)
        group.get("{id}", use: self.get)
        group.patch("{id}", use: self.update)
        group.delete("{id}", use: self.delete)
    }

    @Sendable func create(_ request: Request, context: SensormineRequestContext) async throws -> EditedResponse<DeviceType> {
        let caller = try context.requireIdentity()
        try CatalogPolicy.checkAdminister(caller)
        let body = try await request.decode(as: DeviceTypeRequest.self, context: context)
        try CatalogPolicy.checkDeviceType(body, creating: true)
        let type = try await self.devices.insertType(tenantID: body.tenantId ?? caller.tenantID, body, caller: caller)
        return EditedResponse(status: .created, headers: [.location: "/api/v1/device-types/\(type.id.lowercasedString)"], response: type)
    }

    @Sendable func list(_ request: Request, context: SensormineRequestContext) async throws -> DeviceTypeList {
        let caller = try context.requireIdentity()
        try CatalogPolicy.checkRead(caller)
        return DeviceTypeList(items: try await self.devices.listTypes(tenantID: try RouteParameters.optionalUUID(request, "tenantId"), caller: caller))
    }

    @Sendable func get(_ request: Request, context: SensormineRequestContext) async throws -> DeviceType {
        let caller = try context.requireIdentity()
        try CatalogPolicy.checkRead(caller)
        return try await self.devices.findType(try RouteParameters.uuid(context, what: "device type"), caller: caller)
    }

    @Sendable func update(_ request: Request, context: SensormineRequestContext) async throws -> DeviceType {
        let caller = try context.requireIdentity()
        try CatalogPolicy.checkAdminister(caller)
        let id = try RouteParameters.uuid(context, what: "device type")
        let body = try await request.decode(as: DeviceTypeRequest.self, context: context)
        try CatalogPolicy.checkDeviceType(body, creating: false)
        return try await self.devices.updateType(id, body, caller: caller)
    }

    @Sendable func delete(_ request: Request, context: SensormineRequestContext) async throws -> Response {
        let caller = try context.requireIdentity()
        try CatalogPolicy.checkAdminister(caller)
        try await self.devices.deleteType(try RouteParameters.uuid(context, what: "device type"), caller: caller)
        return Response(status: .noContent)
    }
}

/// /api/v1/assets: each tenant's site → area → machine hierarchy.
struct AssetController: Sendable {
    let assets: AssetRepository

    func addRoutes(to group: RouterGroup<SensormineRequestContext>) {
        group.post(use: self.create)
        group.get(use: self.list)
        group.get("{id}", use: self.get)
        group.patch("{id}", use: self.update)
        group.delete("{id}", use: self.delete)
    }

    @Sendable func create(_ request: Request, context: SensormineRequestContext) async throws -> EditedResponse<Asset> {
        let caller = try context.requireIdentity()
        try CatalogPolicy.checkOperate(caller)
        let body = try await request.decode(as: CreateAssetRequest.self, context: context)
        let asset = try await self.assets.insert(body, caller: caller)
        return EditedResponse(status: .created, headers: [.location: "/api/v1/assets/\(asset.id.lowercasedString)"], response: asset)
    }

    @Sendable func list(_ request: Request, context: SensormineRequestContext) async throws -> AssetList {
        let caller = try context.requireIdentity()
        try CatalogPolicy.checkRead(caller)
        return AssetList(items: try await self.assets.list(
            tenantID: try RouteParameters.optionalUUID(request, "tenantId"), parentID: try RouteParameters.optionalUUID(request, "parentId"), caller: caller))
    }

    @Sendable func get(_ request: Request, context: SensormineRequestContext) async throws -> Asset {
        let caller = try context.requireIdentity()
        try CatalogPolicy.checkRead(caller)
        return try await self.assets.find(try RouteParameters.uuid(context, what: "asset"), caller: caller)
    }

    @Sendable func update(_ request: Request, context: SensormineRequestContext) async throws -> Asset {
        let caller = try context.requireIdentity()
        try CatalogPolicy.checkOperate(caller)
        let id = try RouteParameters.uuid(context, what: "asset")
        let body = try await request.decode(as: UpdateAssetRequest.self, context: context)
        try CatalogPolicy.checkUpdate(body)
        return try await self.assets.update(id, body, caller: caller)
    }

    @Sendable func delete(_ request: Request, context: SensormineRequestContext) async throws -> Response {
        let caller = try context.requireIdentity()
        try CatalogPolicy.checkOperate(caller)
        try await self.assets.delete(try RouteParameters.uuid(context, what: "asset"), caller: caller)
        return Response(status: .noContent)
    }
}

/// A list of API keys.
struct APIKeyList: ResponseCodable, Sendable { var items: [APIKey] }
/// A list of device types.
struct DeviceTypeList: ResponseCodable, Sendable { var items: [DeviceType] }
/// A list of assets.
struct AssetList: ResponseCodable, Sendable { var items: [Asset] }

extension Device: ResponseCodable {}
extension DevicePage: ResponseCodable {}
extension DeviceType: ResponseCodable {}
extension Asset: ResponseCodable {}
extension IssuedAPIKey: ResponseCodable {}
extension IssuedMQTTCredentials: ResponseCodable {}
