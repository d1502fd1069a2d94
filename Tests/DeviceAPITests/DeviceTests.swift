import TelemetryIntake
import Curl
import ClientRuntime
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LibPQ
import Logging
import Mosquitto
import RdKafka
import SensormineClients
import SensormineCore
import Testing
import SensormineContracts

@testable import DeviceAPI

/// A tenant with a device type and a site → area → machine asset tree, made by a platform admin.
struct DeviceFixture {
    let organisation: Tenant
    let admin: CallerIdentity
    let operatorCaller: CallerIdentity
    let viewer: CallerIdentity
    let deviceType: DeviceType
    let machine: Asset

    static let platformAdmin = CallerIdentity(subject: "root", tenantID: UUID(), roles: [.platformAdmin])

    static func make(_ client: some TestClientProtocol) async throws -> DeviceFixture {
        let organisation = try await client.createTenant(#"{"name":"Devices \#(UUID().uuidString.prefix(8))","kind":"organisation"}"#, as: platformAdmin)
        let admin = CallerIdentity(subject: "admin", tenantID: organisation.id, roles: [.tenantAdmin])
        let type = try await client.created(DeviceType.self, .post, "/api/v1/device-types", as: admin,
                                            json: #"{"name":"Gas turbine","description":"GT-class","schemaSubject":"gas-turbine"}"#)
        let site = try await client.created(Asset.self, .post, "/api/v1/assets", as: admin, json: #"{"kind":"site","name":"North plant"}"#)
        let area = try await client.created(Asset.self, .post, "/api/v1/assets", as: admin, json: #"{"kind":"area","name":"Hall 1","parentId":"\#(site.id)"}"#)
        let machine = try await client.created(Asset.self, .post, "/api/v1/assets", as: admin,
                                               json: #"{"kind":"machine","name":"Turbine 7","parentId":"\#(area.id)","attributes":{"vendor":"Acme"}}"#)
        return DeviceFixture(organisation: organisation, admin: admin,
                             operatorCaller: CallerIdentity(subject: "op", tenantID: organisation.id, roles: [.operator]),
                             viewer: CallerIdentity(subject: "viewer", tenantID: organisation.id, roles: [.viewer]),
                             deviceType: type, machine: machine)
    }

    func registerDevice(_ client: some TestClientProtocol, name: String, tags: [String] = [], asset: Bool = false) async throws -> Device {
        let tagJSON = "[" + tags.map { "\"\($0)\"" }.joined(separator: ",") + "]"
        let assetJSON = asset ? #","assetId":"\#(self.machine.id)""# : ""
        return try await client.created(Device.self, .post, "/api/v1/devices", as: self.operatorCaller,
                                        json: #"{"name":"\#(name)","deviceTypeId":"\#(self.deviceType.id)","tags":\#(tagJSON)\#(assetJSON)}"#)
    }
}

extension TestClientProtocol {
    /// Sends a request that must answer 201 and decodes its body.
    func created<Value: Decodable>(_ type: Value.Type, _ method: HTTPRequest.Method, _ uri: String, as caller: CallerIdentity, json: String) async throws -> Value {
        let response = try await self.call(method, uri, as: caller, json: json)
        try #require(response.status == .created, "\(method) \(uri): \(response.status) \(String(buffer: response.body))")
        return try DeviceAPITestApp.decode(Value.self, response)
    }

    /// Sends a request that must answer 200 and decodes its body.
    func ok<Value: Decodable>(_ type: Value.Type, _ method: HTTPRequest.Method, _ uri: String, as caller: CallerIdentity, json: String? = nil) async throws -> Value {
        let response = try await self.call(method, uri, as: caller, json: json)
        try #require(response.status == .ok, "\(method) \(uri): \(response.status) \(String(buffer: response.body))")
        return try DeviceAPITestApp.decode(Value.self, response)
    }
}

/// Reads the envelopes of one entity from a topic with a throwaway consumer group.
enum EventProbe {
    static func events(topic: String, key: UUID, count: Int, timeout: Duration = .seconds(20)) async throws -> [[String: Any]] {
        let settings = try KafkaSettings(reader: ConfigReader(values: ProcessInfo.processInfo.environment.filter { $0.key.hasPrefix("SENSORMINE_") }))
        var logger = Logger(label: "event-probe")
        logger.logLevel = .warning
        let consumer = try KafkaConsumer(configuration: .init(kafka: settings.kafka, groupID: "test-\(UUID())", topics: [topic]), logger: logger)
        var found: [[String: Any]] = []
        let deadline = ContinuousClock.now + timeout
        let wanted = Array(key.uuidString.lowercased().utf8)
        while found.count < count, ContinuousClock.now < deadline {
            for message in try await consumer.poll(timeout: .milliseconds(200)) where message.key == wanted {
                if let object = try JSONSerialization.jsonObject(with: Data(message.value)) as? [String: Any] {
                    var object = object
                    object["_tenantHeader"] = message.header("tenant")
                    found.append(object)
                }
            }
        }
        await consumer.close()
        return found
    }
}

@Suite("DeviceAPI devices, assets and credentials")
struct DeviceTests {
    @Test("register, list with filters and cursor, update, decommission; every change on device.events")
    func deviceLifecycle() async throws {
        let app = try await DeviceAPITestApp.make()
        try await app.test(.live) { client in
            let fixture = try await DeviceFixture.make(client)
            let first = try await fixture.registerDevice(client, name: "gt-1", tags: ["line-a", "critical"], asset: true)
            #expect(first.status == .active)
            #expect(first.connectivity == .offline)
            #expect(first.tenantId == fixture.organisation.id)
            #expect(first.assetId == fixture.machine.id)
            var others: [Device] = []
            for index in 2...5 { others.append(try await fixture.registerDevice(client, name: "gt-\(index)", tags: index.isMultiple(of: 2) ? ["line-a"] : ["line-b"])) }

            // Paging by cursor visits every device once.
            var seen: [UUID] = []
            var cursor: UUID?
            repeat {
                let page = try await client.ok(DevicePage.self, .get, "/api/v1/devices?limit=2&tenantId=\(fixture.organisation.id)" + (cursor.map { "&after=\($0)" } ?? ""), as: fixture.viewer)
                #expect(page.items.count <= 2)
                seen += page.items.map(\.id)
                cursor = page.nextCursor
            } while cursor != nil
            #expect(Set(seen) == Set([first.id] + others.map(\.id)))
            #expect(seen.count == 5)

            let lineA = try await client.ok(DevicePage.self, .get, "/api/v1/devices?tag=line-a&tenantId=\(fixture.organisation.id)", as: fixture.viewer)
            #expect(Set(lineA.items.map(\.name)) == ["gt-1", "gt-2", "gt-4"])
            let onMachine = try await client.ok(DevicePage.self, .get, "/api/v1/devices?assetId=\(fixture.machine.id)", as: fixture.viewer)
            #expect(onMachine.items.map(\.id) == [first.id])
            let ofType = try await client.ok(DevicePage.self, .get, "/api/v1/devices?deviceTypeId=\(fixture.deviceType.id)", as: fixture.viewer)
            #expect(ofType.items.count == 5)

            // ids: the named devices the caller sees; another tenant's and unknown ids are left out.
            let stranger = try await DeviceFixture.make(client)
            let theirs = try await stranger.registerDevice(client, name: "not-yours")
            let named = try await client.ok(DevicePage.self, .get, "/api/v1/devices?ids=\(first.id),\(others[0].id),\(theirs.id),\(UUID())", as: fixture.viewer)
            #expect(Set(named.items.map(\.id)) == [first.id, others[0].id])
            let tooMany = (0...DevicePage.maximumIDs).map { _ in UUID().uuidString }.joined(separator: ",")
            #expect(try await client.call(.get, "/api/v1/devices?ids=\(tooMany)", as: fixture.viewer).status == .badRequest)
            #expect(try await client.call(.get, "/api/v1/devices?ids=\(first.id),nope", as: fixture.viewer).status == .badRequest)

            let updated = try await client.ok(Device.self, .patch, "/api/v1/devices/\(first.id)", as: fixture.operatorCaller,
                                              json: #"{"name":"gt-1b","tags":["line-c"],"metadata":{"serial":"X-1"},"assetId":null}"#)
            #expect(updated.name == "gt-1b")
            #expect(updated.tags == ["line-c"])
            #expect(updated.metadata == ["serial": "X-1"])
            #expect(updated.assetId == nil)

            let decommissioned = try await client.ok(Device.self, .delete, "/api/v1/devices/\(first.id)", as: fixture.operatorCaller)
            #expect(decommissioned.status == .decommissioned)
            #expect(decommissioned.decommissionedAt != nil)
            let active = try await client.ok(DevicePage.self, .get, "/api/v1/devices?status=active&tenantId=\(fixture.organisation.id)", as: fixture.viewer)
            #expect(!active.items.contains { $0.id == first.id })
            #expect(try await client.call(.patch, "/api/v1/devices/\(first.id)", as: fixture.operatorCaller, json: #"{"name":"again"}"#).status == .conflict)
            // The name is free again once the device is decommissioned.
            _ = try await fixture.registerDevice(client, name: "gt-1b")

            let events = try await EventProbe.events(topic: TopicNames(prefix: nil).deviceEvents, key: first.id, count: 3)
            #expect(events.compactMap { $0["type"] as? String } == ["device.registered", "device.updated", "device.decommissioned"])
            #expect(events.allSatisfy { ($0["tenantId"] as? String)?.lowercased() == fixture.organisation.id.uuidString.lowercased() })
            #expect(events.allSatisfy { $0["_tenantHeader"] as? String == fixture.organisation.id.uuidString.lowercased() })
            #expect(Set(events.compactMap { $0["messageId"] as? String }).count == 3)
        }
    }

    @Test("the telemetry consumers read a batch's devices a hundred at a time: each cached with what a lookup of its own would say")
    func prefetchedDevices() async throws {
        let app = try await DeviceAPITestApp.make()
        try await app.test(.live) { client in
            let fixture = try await DeviceFixture.make(client)
            var devices: [Device] = []
            for index in 0..<130 { devices.append(try await fixture.registerDevice(client, name: "batch-\(index)")) }
            let retired = try #require(devices.last)
            _ = try await client.ok(Device.self, .delete, "/api/v1/devices/\(retired.id)", as: fixture.operatorCaller)
            let stranger = try await DeviceFixture.make(client)
            let theirs = try await stranger.registerDevice(client, name: "not-yours")
            let unknown = UUID()

            let http = HTTPClient(configuration: .init(maximumRetries: 0))
            let port = try #require(client.port)
            let environment = ConfigReader(values: ProcessInfo.processInfo.environment)
            let reader = ServiceReader(client: http, serviceToken: try GatewaySettings.token(reader: environment, caller: .ingestion), subject: "service:ingestion")
            let deviceAPI = try UpstreamService(reader: ConfigReader(values: ["URL": "http://127.0.0.1:\(port)"]), key: "URL", name: "device-api")
            let directory = SchemaDirectory(reader: reader, deviceAPI: deviceAPI, schemaRegistry: deviceAPI, lifetime: .seconds(4))
            let tenant = fixture.organisation.id.lowercasedString
            let asked = devices.map(\.id) + [theirs.id, unknown]
            let started = ContinuousClock.now
            try await directory.prefetchDevices(asked.map { (tenant, $0.lowercasedString) })
            // Every one is cached now, without a lookup of its own...
            #expect(asked.allSatisfy { directory.isCached(tenant: tenant, device: $0.lowercasedString) })
            // ...and says what DeviceAPI says of it.
            for device in devices.dropLast() {
                #expect(try await directory.device(tenant: tenant, device: device.id.lowercasedString)?.name == device.name)
            }
            for refused in [retired.id, theirs.id, unknown] {
                #expect(try await directory.device(tenant: tenant, device: refused.lowercasedString) == nil)
                guard case .refused(let reason) = try await directory.resolve(tenant: tenant, device: refused.lowercasedString) else {
                    Issue.record("\(refused) was not refused")
                    continue
                }
                #expect(reason.contains(refused == retired.id ? "decommissioned" : "not registered"), "\(reason)")
            }
            // In the last quarter of their lifetime (4 s here), a prefetch leaves the records
            // cached and reads them again in the background: past their first expiry they are
            // still cached, without any lookup of their own, and a renamed device has its new name.
            let prefetched = started
            let renamed = devices[0]
            _ = try await client.ok(Device.self, .patch, "/api/v1/devices/\(renamed.id)", as: fixture.operatorCaller, json: #"{"name":"renamed"}"#)
            try await Task.sleep(until: prefetched + .milliseconds(3200))
            try await directory.prefetchDevices(asked.map { (tenant, $0.lowercasedString) })
            #expect(directory.isCached(tenant: tenant, device: renamed.id.lowercasedString))
            try await Task.sleep(until: prefetched + .milliseconds(5000))
            #expect(directory.isCached(tenant: tenant, device: renamed.id.lowercasedString))
            #expect(try await directory.device(tenant: tenant, device: renamed.id.lowercasedString)?.name == "renamed")
            await http.shutdown()
        }
    }

    @Test("assets form site → area → machine; changes go to asset.updates; in-use assets are kept")
    func assets() async throws {
        let app = try await DeviceAPITestApp.make()
        try await app.test(.live) { client in
            let fixture = try await DeviceFixture.make(client)
            let site = try await client.created(Asset.self, .post, "/api/v1/assets", as: fixture.operatorCaller, json: #"{"kind":"site","name":"South"}"#)
            let wrongLevel = try await client.call(.post, "/api/v1/assets", as: fixture.operatorCaller, json: #"{"kind":"machine","name":"M","parentId":"\#(site.id)"}"#)
            #expect(wrongLevel.status == .unprocessableContent)
            #expect(String(buffer: wrongLevel.body).contains("/parentId"))
            #expect(try await client.call(.post, "/api/v1/assets", as: fixture.operatorCaller, json: #"{"kind":"area","name":"A"}"#).status == .unprocessableContent)
            let renamed = try await client.ok(Asset.self, .patch, "/api/v1/assets/\(site.id)", as: fixture.operatorCaller, json: #"{"name":"South plant"}"#)
            #expect(renamed.name == "South plant")
            let children = try await client.ok(AssetList.self, .get, "/api/v1/assets?parentId=\(fixture.machine.parentId ?? UUID())", as: fixture.viewer)
            #expect(children.items.map(\.id) == [fixture.machine.id])
            // A machine with a device attached cannot be deleted; a free leaf can.
            _ = try await fixture.registerDevice(client, name: "on-machine", asset: true)
            #expect(try await client.call(.delete, "/api/v1/assets/\(fixture.machine.id)", as: fixture.operatorCaller).status == .conflict)
            #expect(try await client.call(.delete, "/api/v1/assets/\(site.id)", as: fixture.operatorCaller).status == .noContent)
            #expect(try await client.call(.get, "/api/v1/assets/\(site.id)", as: fixture.viewer).status == .notFound)
            let events = try await EventProbe.events(topic: TopicNames(prefix: nil).assetUpdates, key: site.id, count: 3)
            #expect(events.compactMap { $0["type"] as? String } == ["asset.created", "asset.updated", "asset.deleted"])
        }
    }

    @Test("bad input is a 4xx problem naming the field, never a 500")
    func validation() async throws {
        let app = try await DeviceAPITestApp.make()
        try await app.test(.live) { client in
            let fixture = try await DeviceFixture.make(client)
            let cases: [(String, String, HTTPResponse.Status, String)] = [
                ("/api/v1/devices", #"{"name":"","deviceTypeId":"\#(fixture.deviceType.id)"}"#, .unprocessableContent, "/name"),
                ("/api/v1/devices", #"{"name":"x","deviceTypeId":"\#(fixture.deviceType.id)","tags":["has space"]}"#, .unprocessableContent, "/tags/0"),
                ("/api/v1/devices", #"{"name":"x","deviceTypeId":"\#(UUID())"}"#, .unprocessableContent, "/deviceTypeId"),
                ("/api/v1/devices", #"{"name":"x"}"#, .badRequest, "deviceTypeId"),
                ("/api/v1/devices", #"{"name":"x","deviceTypeId":"not-a-uuid"}"#, .badRequest, "UUID"),
                ("/api/v1/device-types", #"{"description":"no name"}"#, .unprocessableContent, "/name"),
                ("/api/v1/device-types", #"{"name":"T","schemaSubject":"bad subject!"}"#, .unprocessableContent, "/schemaSubject"),
            ]
            for (uri, body, status, mention) in cases {
                let response = try await client.call(.post, uri, as: fixture.admin, json: body)
                #expect(response.status == status, "\(uri) \(body): \(String(buffer: response.body))")
                #expect(response.headers[.contentType] == "application/problem+json")
                #expect(String(buffer: response.body).contains(mention))
            }
            #expect(try await client.call(.get, "/api/v1/devices?limit=0", as: fixture.viewer).status == .badRequest)
            #expect(try await client.call(.get, "/api/v1/devices?status=broken", as: fixture.viewer).status == .badRequest)
            #expect(try await client.call(.get, "/api/v1/devices/not-a-uuid", as: fixture.viewer).status == .badRequest)
            _ = try await fixture.registerDevice(client, name: "dup")
            #expect(try await client.call(.post, "/api/v1/devices", as: fixture.operatorCaller,
                                          json: #"{"name":"DUP","deviceTypeId":"\#(fixture.deviceType.id)"}"#).status == .conflict)
            #expect(try await client.call(.delete, "/api/v1/device-types/\(fixture.deviceType.id)", as: fixture.admin).status == .conflict)
        }
    }

    @Test("sub-tenants never see their parent's or siblings' devices; row-level security holds without the app's filter")
    func isolation() async throws {
        let app = try await DeviceAPITestApp.make()
        try await app.test(.live) { client in
            let fixture = try await DeviceFixture.make(client)
            let siteA = try await client.createTenant(#"{"name":"A","kind":"site","parentId":"\#(fixture.organisation.id)"}"#, as: fixture.admin)
            let siteB = try await client.createTenant(#"{"name":"B","kind":"site","parentId":"\#(fixture.organisation.id)"}"#, as: fixture.admin)
            let adminA = CallerIdentity(subject: "a", tenantID: siteA.id, roles: [.tenantAdmin])
            let adminB = CallerIdentity(subject: "b", tenantID: siteB.id, roles: [.tenantAdmin])
            let typeA = try await client.created(DeviceType.self, .post, "/api/v1/device-types", as: adminA, json: #"{"name":"Rotor"}"#)
            let deviceA = try await client.created(Device.self, .post, "/api/v1/devices", as: adminA, json: #"{"name":"a-1","deviceTypeId":"\#(typeA.id)"}"#)
            let parentDevice = try await fixture.registerDevice(client, name: "org-1")

            // The parent sees its sub-tenant's device; the sibling and the child of the parent do not.
            #expect(try await client.call(.get, "/api/v1/devices/\(deviceA.id)", as: fixture.viewer).status == .ok)
            #expect(try await client.call(.get, "/api/v1/devices/\(deviceA.id)", as: adminB).status == .notFound)
            #expect(try await client.call(.patch, "/api/v1/devices/\(deviceA.id)", as: adminB, json: #"{"name":"stolen"}"#).status == .notFound)
            #expect(try await client.call(.delete, "/api/v1/devices/\(deviceA.id)", as: adminB).status == .notFound)
            #expect(try await client.call(.get, "/api/v1/devices/\(parentDevice.id)", as: adminA).status == .notFound)
            let listedByB = try await client.ok(DevicePage.self, .get, "/api/v1/devices", as: adminB)
            #expect(listedByB.items.isEmpty)
            // Writing into a tenant one cannot see, or with another tenant's device type, fails.
            #expect(try await client.call(.post, "/api/v1/devices", as: adminB,
                                          json: #"{"name":"x","tenantId":"\#(siteA.id)","deviceTypeId":"\#(typeA.id)"}"#).status == .notFound)
            #expect(try await client.call(.post, "/api/v1/devices", as: adminB, json: #"{"name":"x","deviceTypeId":"\#(typeA.id)"}"#).status == .unprocessableContent)

            // Row-level security alone, with the application's filter bypassed.
            let database = PostgresClient(configuration: try DeviceAPITestApp.configuration().metadataDatabase)
            let asSibling = try await database.withTransaction { session in
                try await session.query("SELECT set_config('sensormine.tenant', $1, true), set_config('sensormine.platform_admin', 'off', true)", [siteB.id])
                return try await session.query("SELECT id FROM devices WHERE id = $1 OR tenant_id = $2", [deviceA.id, siteA.id]).rows.count
            }
            let asParent = try await database.withTransaction { session in
                try await session.query("SELECT set_config('sensormine.tenant', $1, true), set_config('sensormine.platform_admin', 'off', true)", [fixture.organisation.id])
                return try await session.query("SELECT id FROM devices WHERE id = $1", [deviceA.id]).rows.count
            }
            let sneakyInsert: Int? = try? await database.withTransaction { session in
                try await session.query("SELECT set_config('sensormine.tenant', $1, true), set_config('sensormine.platform_admin', 'off', true)", [siteB.id])
                return try await session.execute("INSERT INTO devices (id, tenant_id, device_type_id, name) VALUES ($1, $2, $3, 'planted')", [UUID(), siteA.id, typeA.id])
            }
            await database.shutdown()
            #expect(asSibling == 0)
            #expect(asParent == 1)
            #expect(sneakyInsert == nil)
        }
    }
}

@Suite("DeviceAPI OpenAPI")
struct DeviceAPIOpenAPITests {
    @Test("/openapi.yaml describes exactly the routes DeviceAPI serves")
    func documentMatchesRoutes() async throws {
        var logger = Logger(label: "openapi-test")
        logger.logLevel = .critical
        let observability = Observability(logger: logger)
        let app = try await DeviceAPIService.buildApplication(try DeviceAPITestApp.configuration(), observability: observability)
        #expect(observability.routes.undocumented.isEmpty, "served but not documented: \(observability.routes.undocumented.sorted())")
        #expect(observability.routes.unserved.isEmpty, "documented but not served: \(observability.routes.unserved.sorted())")
        #expect(observability.routes.served.contains("POST /api/v1/devices/{id}/api-keys/{keyId}/rotate"))
        try await app.test(.router) { client in
            let document = try await client.execute(uri: "/openapi.yaml", method: .get)
            #expect(OpenAPIDocument.operations(in: String(buffer: document.body)) == observability.routes.served)
        }
    }
}

extension DeviceTests {
    @Test("a site's devices may be of its organisation's device types, which the site reads but cannot change; a sibling's types stay out of reach")
    func inheritedDeviceTypes() async throws {
        let app = try await DeviceAPITestApp.make()
        try await app.test(.live) { client in
            let fixture = try await DeviceFixture.make(client)
            let siteA = try await client.createTenant(#"{"name":"Site A","kind":"site","parentId":"\#(fixture.organisation.id)"}"#, as: fixture.admin)
            let siteB = try await client.createTenant(#"{"name":"Site B","kind":"site","parentId":"\#(fixture.organisation.id)"}"#, as: fixture.admin)
            let operatorA = CallerIdentity(subject: "op-a", tenantID: siteA.id, roles: [.operator])
            let adminA = CallerIdentity(subject: "admin-a", tenantID: siteA.id, roles: [.tenantAdmin])
            let adminB = CallerIdentity(subject: "admin-b", tenantID: siteB.id, roles: [.tenantAdmin])

            let device = try await client.created(Device.self, .post, "/api/v1/devices", as: operatorA,
                                                  json: #"{"name":"site-gt-1","deviceTypeId":"\#(fixture.deviceType.id)"}"#)
            #expect(device.tenantId == siteA.id)
            #expect(device.deviceTypeId == fixture.deviceType.id)
            let read = try await client.ok(DeviceType.self, .get, "/api/v1/device-types/\(fixture.deviceType.id)", as: operatorA)
            #expect(read.tenantId == fixture.organisation.id)
            #expect(read.schemaSubject == "gas-turbine")
            #expect(try await client.ok(DeviceTypeList.self, .get, "/api/v1/device-types", as: operatorA).items.contains { $0.id == fixture.deviceType.id })
            // Read only for the site: its admin can neither change nor delete the organisation's type.
            #expect(try await client.call(.patch, "/api/v1/device-types/\(fixture.deviceType.id)", as: adminA, json: #"{"name":"Hijacked"}"#).status == .notFound)
            #expect(try await client.call(.delete, "/api/v1/device-types/\(fixture.deviceType.id)", as: adminA).status == .notFound)
            // A sibling site's own type is neither readable nor usable.
            let siblingType = try await client.created(DeviceType.self, .post, "/api/v1/device-types", as: adminB, json: #"{"name":"Site B pump"}"#)
            #expect(try await client.call(.get, "/api/v1/device-types/\(siblingType.id)", as: operatorA).status == .notFound)
            let refused = try await client.call(.post, "/api/v1/devices", as: operatorA, json: #"{"name":"x","deviceTypeId":"\#(siblingType.id)"}"#)
            #expect(refused.status == .unprocessableContent)
            _ = try await client.call(.delete, "/api/v1/devices/\(device.id)", as: adminA)
        }
    }
}
