import Curl
import Foundation
import LibPQ
import RdKafka
import SensormineAuth
import SensormineClients
import SensormineContracts
import SensormineCore
import SensormineJSON
import Testing
import TestSupport

@testable import DeviceAPI

/// The web console in headless Chromium, through the gateway of an in-process stack: what a user
/// does with it lands in the platform (checked through the API), and what another site's viewer
/// sees of it is nothing. Each step saves a screenshot under .stack/screenshots/.
@Suite("Console in a browser", .serialized)
struct ConsoleBrowserTests {
    static let screenshots = ServiceBinaries.repositoryRoot.appendingPathComponent(".stack/screenshots").path
    static let password = "console-test-password-0123"

    /// A tenant tree for one test: organisation → site A (with a department) and site B; a
    /// tenant-admin of site A and a viewer of site B who sign in with passwords; in site A a
    /// schema, a device type and a device with an API key.
    struct Tenants {
        let adminToken: String
        let siteA: String
        let siteB: String
        let siteAdminEmail: String
        let viewerEmail: String
        let device: String
        let deviceName: String
        let apiKey: String
    }

    static func createTenants(_ client: HTTPClient, gateway: String, tokens: AccessTokens) async throws -> Tenants {
        let run = UUID().uuidString.prefix(8).lowercased()
        let platform = try await tokens.issue(for: CallerIdentity(subject: "root", tenantID: UUID(), roles: [.platformAdmin])).token
        func create(_ json: String) async throws -> String {
            let answer = try await PipelineTests.call(client, "POST", gateway + "/api/v1/tenants", token: platform, json: json)
            return try #require(answer.body["id"]?.string, "\(answer.body)").lowercased()
        }
        let org = try await create(#"{"name":"Console org \#(run)","kind":"organisation"}"#)
        let siteA = try await create(#"{"name":"Plant A \#(run)","kind":"site","parentId":"\#(org)"}"#)
        _ = try await create(#"{"name":"Boiler house \#(run)","kind":"department","parentId":"\#(siteA)"}"#)
        let siteB = try await create(#"{"name":"Plant B \#(run)","kind":"site","parentId":"\#(org)"}"#)
        let siteAdminEmail = "admin-\(run)@plant-a.example"
        let viewerEmail = "viewer-\(run)@plant-b.example"
        for (tenant, email, role) in [(siteA, siteAdminEmail, "tenant-admin"), (siteB, viewerEmail, "viewer")] {
            let user = try await PipelineTests.call(client, "POST", gateway + "/api/v1/tenants/\(tenant)/users", token: platform,
                                                    json: #"{"email":"\#(email)","password":"\#(password)","roles":["\#(role)"]}"#)
            #expect(user.status == 201, "\(user.body)")
        }
        let admin = try await tokens.issue(for: CallerIdentity(subject: "site-admin", tenantID: try #require(UUID(uuidString: siteA)), roles: [.tenantAdmin])).token
        let subject = "boiler-\(run)"
        let schema = #"{"type":"object","required":["rpm"],"properties":{"rpm":{"type":"number","minimum":0},"temperature":{"type":"number"}}}"#
        #expect(try await PipelineTests.call(client, "POST", gateway + "/api/v1/schemas/subjects", token: admin, json: #"{"name":"\#(subject)"}"#).status == 201)
        #expect(try await PipelineTests.call(client, "POST", gateway + "/api/v1/schemas/subjects/\(subject)/versions", token: admin, json: #"{"schema":\#(schema)}"#).status == 201)
        let type = try await PipelineTests.call(client, "POST", gateway + "/api/v1/device-types", token: admin, json: #"{"name":"Boiler \#(run)","schemaSubject":"\#(subject)"}"#)
        let typeID = try #require(type.body["id"]?.string)
        let deviceName = "boiler-1-\(run)"
        let device = try await PipelineTests.call(client, "POST", gateway + "/api/v1/devices", token: admin, json: #"{"name":"\#(deviceName)","deviceTypeId":"\#(typeID)","tags":["hall-1"]}"#)
        let deviceID = try #require(device.body["id"]?.string).lowercased()
        let key = try #require(try await PipelineTests.call(client, "POST", gateway + "/api/v1/devices/\(deviceID)/api-keys", token: admin, json: "{}").body["key"]?.string)
        return Tenants(adminToken: admin, siteA: siteA, siteB: siteB, siteAdminEmail: siteAdminEmail, viewerEmail: viewerEmail, device: deviceID, deviceName: deviceName, apiKey: key)
    }

    /// Signs in on the form the console shows when it has no session.
    static func signIn(_ browser: WebDriver, email: String) async throws {
        try await browser.type(email, into: "#signin-email")
        try await browser.type(password, into: "#signin-password")
        try await browser.click("#signin-submit")
        _ = try await browser.waitFor("#topbar")
    }

    /// Moves within the console as a click on a link does (a reload would end the in-memory session).
    static func go(_ browser: WebDriver, _ path: String) async throws {
        _ = try await browser.execute("history.pushState(null, '', arguments[0]); dispatchEvent(new PopStateEvent('popstate'));", [.string(path)])
    }

    static func screenshot(_ browser: WebDriver, _ name: String) async throws {
        try await browser.screenshot(to: "\(screenshots)/\(name).png")
    }

    @Test("sign in on a deep link, see the telemetry just sent in the device's chart, acknowledge an alert, replay a dead letter, register a schema from a CSV; another site's viewer sees none of it")
    func journey() async throws {
        let tokens = try await AccessTokens(settings: try TokenSettings(reader: ConfigReader(values: PipelineTestStack.values(port: 0))))
        try await PipelineTestStack.run(alerts: true, console: true) { gateway in
            let client = HTTPClient(configuration: .init(maximumRetries: 0))
            defer { Task { await client.shutdown() } }
            let tenants = try await Self.createTenants(client, gateway: gateway, tokens: tokens)

            // Telemetry: three readings in the last minute, and one that breaks the schema.
            let format = ISO8601DateFormatter()
            format.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            let now = Date()
            let readings = [(3000.0, 70.5), (3010.0, 71.0), (3020.0, 71.5)]
            let body = readings.enumerated().map { index, reading in
                #"{"time":"\#(format.string(from: now.addingTimeInterval(Double(index - 3) * 10)))","rpm":\#(reading.0),"temperature":\#(reading.1)}"#
            }.joined(separator: ",")
            #expect(try await PipelineTests.call(client, "POST", gateway + "/api/v1/ingest", apiKey: tenants.apiKey, json: "[\(body)]").status == 202)
            let marker = UUID().uuidString.lowercased()
            #expect(try await PipelineTests.call(client, "POST", gateway + "/api/v1/ingest", apiKey: tenants.apiKey,
                                                 json: #"{"rpm":-5,"messageId":"\#(marker)"}"#).status == 202)
            // An alert for the device, raised as services raise theirs: an event on alerts.triggered.
            let kafka = try KafkaSettings(reader: ConfigReader(values: PipelineTestStack.values(port: 0)))
            let producer = try KafkaProducer(configuration: kafka.kafka, logger: PipelineTestStack.logger)
            let producing = Task { try await producer.run() }
            defer { producing.cancel() }
            let event = AlertEvent(action: .trigger, source: .system, tenantId: try #require(UUID(uuidString: tenants.siteA)), deviceId: UUID(uuidString: tenants.device),
                                   key: "console-test:\(marker)", sequence: 1, occurredAt: now, severity: .major, summary: "Boiler pressure high \(marker.prefix(8))",
                                   producer: "console-test")
            for result in try await producer.send([KafkaRecord(topic: kafka.topics.alertsTriggered, key: Array(event.partitionKey.utf8),
                                                               value: Array(try ContractCoding.encoder().encode(event)))]) { _ = try result.get() }

            let browser = try await WebDriver(port: 18495)
            do {
                // A deep link opens the sign-in form, then the view it names.
                try await browser.open(gateway + "/console/devices/\(tenants.device)")
                _ = try await browser.waitFor("#signin-email")
                try await Self.screenshot(browser, "01-sign-in")
                try await Self.signIn(browser, email: tenants.siteAdminEmail)
                #expect(try await browser.url().hasSuffix("/console/devices/\(tenants.device)"))
                #expect(try await browser.waitFor("h1").id.isEmpty == false)
                #expect(try await browser.text("h1") == tenants.deviceName)

                // The chart's data holds the values just sent (the list of metrics fills first).
                let charted = try await browser.waitUntil("""
                    const canvas = document.getElementById('metric-chart');
                    const chart = canvas && window.Chart.getChart(canvas);
                    const values = chart ? chart.data.datasets[0].data.map((point) => point.y) : [];
                    return values.length >= 3 ? values : null;
                    """, timeout: .seconds(30), what: "the chart showing the readings")
                #expect(charted.array?.compactMap(\.number) == readings.map(\.0))
                #expect(try await browser.text("#latest-values").contains("71.5"))
                try await Self.screenshot(browser, "02-device")
                // An aggregate range: buckets from QueryAPI, the range kept in the URL.
                try await browser.click("button[data-range='24h']")
                let maxima = try await browser.waitUntil("""
                    const chart = window.Chart.getChart(document.getElementById('metric-chart'));
                    return chart && chart.data.datasets.length === 3 && chart.data.datasets[2].data.length ? chart.data.datasets[2].data.map((p) => p.y) : null;
                    """, what: "the 24 h aggregates")
                #expect(maxima.array?.compactMap(\.number).max() == 3020)
                #expect(try await browser.url().contains("range=24h"))

                // Credentials: a rotated key is shown once and works at once; the old one is refused.
                try await browser.click("#api-keys button")
                let newKey = try await browser.waitUntil("return document.querySelector('dialog .secret-value')?.textContent || null", what: "the new key").string ?? ""
                #expect(newKey != tenants.apiKey && !newKey.isEmpty)
                try await Self.screenshot(browser, "02-credentials")
                try await browser.click("dialog button.secondary")
                let reading = #"{"rpm":3030}"#
                #expect(try await PipelineTests.call(client, "POST", gateway + "/api/v1/ingest", apiKey: tenants.apiKey, json: reading).status == 401)
                #expect(try await PipelineTests.call(client, "POST", gateway + "/api/v1/ingest", apiKey: newKey, json: reading).status == 202)
                try await browser.click("#reset-mqtt")
                let account = try await browser.waitUntil("""
                    const values = [...document.querySelectorAll('dialog .secret-value')].map((value) => value.textContent);
                    return values.length === 3 ? values : null;
                    """, what: "the MQTT account")
                #expect(account.array?.last?.string?.hasSuffix("/telemetry") == true, "\(account)")
                try await browser.click("dialog button.secondary")

                // Tenant switcher: site A has a department, so there is a choice.
                #expect(try await browser.execute("return document.getElementById('tenant-switch').hidden").asBool == false)
                // Narrowed to the department, the list is empty; back to everything, the device is there.
                try await Self.go(browser, "/console/devices")
                _ = try await browser.waitUntil("return document.getElementById('device-count')?.textContent.startsWith('1 device') || null", what: "the site's device")
                _ = try await browser.execute("""
                    const tenants = document.getElementById('tenant-select');
                    tenants.value = [...tenants.options].find((option) => option.textContent.startsWith('Boiler house')).value;
                    tenants.dispatchEvent(new Event('change'));
                    """)
                _ = try await browser.waitUntil("return document.getElementById('device-count')?.textContent.startsWith('0 devices') || null", what: "the department's empty list")
                _ = try await browser.execute("const tenants = document.getElementById('tenant-select'); tenants.value = ''; tenants.dispatchEvent(new Event('change'));")
                _ = try await browser.waitUntil("return document.getElementById('device-count')?.textContent.startsWith('1 device') || null", what: "the whole tree again")

                // Alerts: the raised alert, acknowledged in the browser, is acknowledged in Alerts.
                try await browser.click("#nav a[data-section='alerts']")
                let alertRow = try await browser.waitUntil("""
                    return [...document.querySelectorAll('#alerts-table tr[data-alert-id]')].find((row) => row.textContent.includes(arguments[0]))?.dataset.alertId ?? null;
                    """, [.string(String(marker.prefix(8)))], timeout: .seconds(30), what: "the alert in the list")
                let alertID = try #require(alertRow.string)
                try await browser.click("tr[data-alert-id='\(alertID)'] button[data-action='acknowledge']")
                _ = try await browser.waitUntil("return document.querySelector(`tr[data-alert-id='\(alertID)']`)?.textContent.includes('acknowledged ') || null",
                                                what: "the row showing the acknowledgement")
                let alert = try await PipelineTests.call(client, "GET", gateway + "/api/v1/alerts/instances/\(alertID)", token: tenants.adminToken)
                #expect(alert.body["alert"]?["acknowledged"]?.asBool == true, "\(alert.status) \(alert.body)")
                try await Self.screenshot(browser, "03-alerts")
                // Its history: opened by the event, then acknowledged by this user.
                try await browser.click("tr[data-alert-id='\(alertID)'] button[data-history]")
                _ = try await browser.waitFor("#alert-history tbody tr")
                let history = try await browser.text("#alert-history")
                #expect(history.contains("opened") && history.contains("acknowledged"), "\(history)")
                try await browser.click("dialog button.secondary")

                // Dead letters: the rejected reading, its payload inspected, then replayed.
                try await browser.click("#nav a[data-section='deadletters']")
                let letter = try await browser.waitUntil("""
                    const rows = [...document.querySelectorAll('#deadletters-table tr[data-dead-letter-id]')];
                    return rows.length ? rows[0].dataset.deadLetterId : null;
                    """, timeout: .seconds(30), what: "the dead letter in the list")
                let letterID = try #require(letter.string)
                try await browser.click("tr[data-dead-letter-id='\(letterID)'] button[data-inspect]")
                // What the device sent, out of the envelope; the whole message one click away.
                #expect(try await browser.waitFor("#dl-payload").id.isEmpty == false)
                #expect(try await browser.text("#dl-payload").contains(marker))
                #expect(try await browser.text("#dl-payload").contains("\"rpm\": -5"))
                #expect(try await browser.execute("return document.getElementById('dl-original').textContent").string?.contains("\"receivedAt\"") == true)
                try await Self.screenshot(browser, "04-dead-letter")
                try await browser.click("dialog button.secondary")
                try await browser.click("tr[data-dead-letter-id='\(letterID)'] input.dl-select")
                try await browser.click("#dl-replay")
                var replayedAt: String?
                for _ in 0..<50 where replayedAt == nil {
                    let page = try await PipelineTests.call(client, "GET", gateway + "/api/v1/deadletters", token: tenants.adminToken)
                    replayedAt = page.body["items"]?.array?.first { $0["id"]?.number == Double(letterID) }?["replayedAt"]?.string
                    if replayedAt == nil { try await Task.sleep(for: .milliseconds(100)) }
                }
                #expect(replayedAt != nil, "dead letter \(letterID) was not replayed")

                // Schemas: a CSV sample proposes a schema, registered as the subject's first version.
                let subject = "console-sample-\(marker.prefix(8))"
                let csv = FileManager.default.temporaryDirectory.appendingPathComponent("\(subject).csv").path
                try "time,pressure,temperature,state\n2026-12-05T10:00:00Z,4.2,81.5,running\n2026-12-05T10:00:10Z,4.3,82.0,running\n2026-12-05T10:00:20Z,4.1,81.0,idle\n"
                    .write(toFile: csv, atomically: true, encoding: .utf8)
                defer { try? FileManager.default.removeItem(atPath: csv) }
                try await browser.click("#nav a[data-section='schemas']")
                try await browser.click("#schema-new")
                try await browser.upload(csv, into: "#sample-file")
                _ = try await browser.waitFor("#inferred-fields tbody tr")
                #expect(try await browser.text("#inferred-fields").contains("pressure"))
                #expect(try await browser.execute("return document.getElementById('schema-subject').value").string == subject)
                try await Self.screenshot(browser, "05-schema-proposal")
                try await browser.click("#schema-register")
                _ = try await browser.waitUntil("return location.pathname.endsWith(arguments[0]) || null", [.string("/schemas/\(subject)")], what: "the subject's page")
                let versions = try await PipelineTests.call(client, "GET", gateway + "/api/v1/schemas/subjects/\(subject)/versions", token: tenants.adminToken)
                #expect(versions.body["items"]?.array?.count == 1)
                #expect(versions.body["items"]?.array?.first?["schema"]?["properties"]?["pressure"]?["type"]?.string == "number")
                // The back button returns to the upload view.
                try await browser.back()
                _ = try await browser.waitUntil("return location.pathname.endsWith('/schemas/new') || null", what: "going back")

                // Nothing the page did broke its Content-Security-Policy or threw.
                let errors = try await browser.consoleErrors()
                #expect(errors.isEmpty, "\(errors)")

                // Site B's viewer sees none of site A.
                try await browser.click("#sign-out")
                try await Self.signIn(browser, email: tenants.viewerEmail)
                try await Self.go(browser, "/console/devices")
                _ = try await browser.waitUntil("return document.getElementById('device-count')?.textContent.startsWith('0 devices') || null", what: "an empty device list")
                try await Self.go(browser, "/console/devices/\(tenants.device)")
                _ = try await browser.waitFor(".problem")
                #expect(try await browser.text("main").contains(tenants.deviceName) == false)
                try await Self.go(browser, "/console/alerts")
                _ = try await browser.waitUntil("return document.querySelector('#alerts-table .empty') ? true : null", what: "an empty alert list")
                try await Self.go(browser, "/console/deadletters")
                _ = try await browser.waitUntil("return document.querySelector('#deadletters-table .empty') ? true : null", what: "an empty dead-letter list")
                try await Self.screenshot(browser, "06-other-site-viewer")
                // On a phone-sized screen the navigation folds into a menu.
                try await browser.setWindowSize(width: 390, height: 844)
                #expect(try await browser.waitFor("#menu-toggle").id.isEmpty == false)
                try await Self.screenshot(browser, "07-phone")
            } catch {
                try? await Self.screenshot(browser, "failure-journey")
                await browser.quit()
                throw error
            }
            await browser.quit()
        }
    }
    @Test("with 100,000 devices the list renders its first page at once and scrolls without loading them all (the time is printed)")
    func hundredThousandDevices() async throws {
        let tokens = try await AccessTokens(settings: try TokenSettings(reader: ConfigReader(values: PipelineTestStack.values(port: 0))))
        try await PipelineTestStack.run(console: true) { gateway in
            let client = HTTPClient(configuration: .init(maximumRetries: 0))
            defer { Task { await client.shutdown() } }
            let tenants = try await Self.createTenants(client, gateway: gateway, tokens: tokens)
            let device = try await PipelineTests.call(client, "GET", gateway + "/api/v1/devices/\(tenants.device)", token: tenants.adminToken)
            let typeID = try #require(device.body["deviceTypeId"]?.string)
            // Seeded straight into DeviceAPI's table: 100,000 API calls would be the test's whole budget.
            let database = PostgresClient(configuration: .init(url: try #require(ProcessInfo.processInfo.environment["SENSORMINE_METADATA_DB_URL"]), name: "console-seed",
                                                               sessionSettings: ["sensormine.platform_admin": "on"]))
            let seeded = try await database.query("""
                WITH seeded AS (INSERT INTO devices (id, tenant_id, device_type_id, name, tags, connectivity, last_seen_at)
                SELECT gen_random_uuid(), $1::uuid, $2::uuid, 'sensor-' || lpad(g::text, 6, '0'),
                       CASE WHEN g % 100 = 0 THEN ARRAY['bulk', 'rare'] ELSE ARRAY['bulk'] END,
                       CASE WHEN g % 7 = 0 THEN 'online' ELSE 'offline' END, now() - make_interval(secs => g)
                FROM generate_series(1, 100000) AS g RETURNING 1)
                SELECT count(*) AS n FROM seeded
                """, [tenants.siteA, typeID]).first?.int("n") ?? 0
            #expect(seeded == 100_000)
            let browser = try await WebDriver(port: 18496)
            do {
                try await browser.open(gateway + "/console/assets")
                try await Self.signIn(browser, email: tenants.siteAdminEmail)
                _ = try await browser.waitFor("h1")
                // The test's own clock, in the page: from the navigation to the first rows drawn.
                let rendered = try await browser.executeAsync("""
                    const done = arguments[arguments.length - 1];
                    const started = performance.now();
                    history.pushState(null, '', '/console/devices'); dispatchEvent(new PopStateEvent('popstate'));
                    const check = () => {
                      const rows = document.querySelectorAll('#device-rows .vlist-row').length;
                      if (rows >= 10) done({ ms: performance.now() - started, rows }); else requestAnimationFrame(check);
                    };
                    check();
                    """)
                let milliseconds = try #require(rendered["ms"]?.number)
                let rowsDrawn = try #require(rendered["rows"]?.number)
                #expect(rowsDrawn < 100, "only the rows in view are drawn")
                try await Self.screenshot(browser, "08-device-list-100k")
                // Scrolling to the end of what is loaded fetches the next page, never all of them.
                var loaded: [Double] = []
                for _ in 0..<4 {
                    let state = try await browser.executeAsync("""
                        const done = arguments[arguments.length - 1];
                        const viewport = document.getElementById('device-rows');
                        viewport.scrollTop = viewport.scrollHeight;
                        setTimeout(() => done({ loaded: Number(document.getElementById('device-count').textContent.replace(/[^0-9]/g, '')),
                                                 drawn: document.querySelectorAll('#device-rows .vlist-row').length }), 400);
                        """)
                    loaded.append(state["loaded"]?.number ?? 0)
                    #expect((state["drawn"]?.number ?? 1000) < 100)
                }
                #expect(loaded.first.map { $0 > 100 } == true, "\(loaded)")
                #expect(loaded.last.map { $0 < 100_000 } == true, "\(loaded)")
                #expect(loaded == loaded.sorted())
                print("console: first page of \(seeded.formatted()) devices drawn in \(String(format: "%.0f", milliseconds)) ms (\(Int(rowsDrawn)) rows in the DOM); "
                      + "loaded after four scrolls to the end: \(loaded.map { Int($0).formatted() }.joined(separator: ", "))")
                // A filter is a server-side query: the rare tag's rows only.
                try await browser.type("rare", into: "#filter-tag")
                _ = try await browser.waitUntil("""
                    const rows = [...document.querySelectorAll('#device-rows .vlist-row')];
                    return rows.length > 0 && rows.every((row) => row.textContent.includes('rare')) || null;
                    """, what: "the rows of the tag")
                #expect(try await browser.url().contains("tag=rare"))
                // On a phone-sized screen: fewer columns, the same rows.
                try await browser.setWindowSize(width: 390, height: 844)
                _ = try await browser.waitFor("#menu-toggle")
                try await Self.screenshot(browser, "09-phone-device-list")
            } catch {
                try? await Self.screenshot(browser, "failure-100k")
                await browser.quit()
                _ = try? await database.query("DELETE FROM devices WHERE tenant_id = $1::uuid AND name LIKE 'sensor-%'", [tenants.siteA])
                await database.shutdown()
                throw error
            }
            await browser.quit()
            let removed = try await database.query("WITH gone AS (DELETE FROM devices WHERE tenant_id = $1::uuid AND name LIKE 'sensor-%' RETURNING 1) SELECT count(*) AS n FROM gone",
                                                   [tenants.siteA])
            #expect(removed.first?.int("n") == 100_000)
            await database.shutdown()
        }
    }

    @Test("the asset tree with its devices, a rule drafted with a preview of the last day against its level and saved, usage bars against the plan, and the platform's health for a platform-admin")
    func administration() async throws {
        let tokens = try await AccessTokens(settings: try TokenSettings(reader: ConfigReader(values: PipelineTestStack.values(port: 0))))
        try await PipelineTestStack.run(alerts: true, billing: true, console: true) { gateway in
            let client = HTTPClient(configuration: .init(maximumRetries: 0))
            defer { Task { await client.shutdown() } }
            let tenants = try await Self.createTenants(client, gateway: gateway, tokens: tokens)
            // Site → area → machine, the device on the machine.
            func asset(_ json: String) async throws -> String {
                let answer = try await PipelineTests.call(client, "POST", gateway + "/api/v1/assets", token: tenants.adminToken, json: json)
                return try #require(answer.body["id"]?.string, "\(answer.body)").lowercased()
            }
            let site = try await asset(#"{"kind":"site","name":"Plant A"}"#)
            let area = try await asset(#"{"kind":"area","name":"Boiler house","parentId":"\#(site)"}"#)
            let machine = try await asset(#"{"kind":"machine","name":"Boiler 1","parentId":"\#(area)"}"#)
            #expect(try await PipelineTests.call(client, "PATCH", gateway + "/api/v1/devices/\(tenants.device)", token: tenants.adminToken,
                                                 json: #"{"assetId":"\#(machine)"}"#).status == 200)
            let format = ISO8601DateFormatter()
            let body = [2990.0, 3000, 3010, 3020].enumerated().map { index, rpm in
                #"{"time":"\#(format.string(from: Date().addingTimeInterval(Double(index - 5) * 60)))","rpm":\#(rpm)}"#
            }.joined(separator: ",")
            #expect(try await PipelineTests.call(client, "POST", gateway + "/api/v1/ingest", apiKey: tenants.apiKey, json: "[\(body)]").status == 202)
            // Stored before the preview asks for them (Ingestion writes asynchronously).
            var stored = 0
            for _ in 0..<150 where stored < 4 {
                let page = try await PipelineTests.call(client, "GET", gateway + "/api/v1/telemetry/devices/\(tenants.device)/points?metric=rpm", token: tenants.adminToken)
                stored = page.body["points"]?.array?.count ?? 0
                if stored < 4 { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(stored == 4)

            let browser = try await WebDriver(port: 18497)
            do {
                try await browser.open(gateway + "/console/assets")
                try await Self.signIn(browser, email: tenants.siteAdminEmail)
                try await browser.click("[data-asset-id='\(machine)'] > .tree-label button")
                _ = try await browser.waitUntil("return document.querySelector(`[data-asset-id='\(machine)'] .tree-devices a`)?.textContent ?? null", what: "the machine's device")
                #expect(try await browser.text("[data-asset-id='\(site)']").contains(tenants.deviceName))
                try await Self.screenshot(browser, "10-assets")

                // A rule drafted in the editor: its preview draws the last day against the level.
                try await Self.go(browser, "/console/alerts/rules/new")
                try await browser.type("Boiler overspeed", into: "#rule-name")
                _ = try await browser.execute("""
                    const kind = document.getElementById('rule-scope-kind');
                    kind.value = 'device'; kind.dispatchEvent(new Event('change', { bubbles: true }));
                    """)
                try await browser.type(tenants.device, into: "#rule-device")
                try await browser.type("rpm", into: "#rule-metric")
                try await browser.type("3005", into: "#rule-level")
                try await browser.click("#rule-preview")
                let preview = try await browser.waitUntil("""
                    const chart = window.Chart.getChart(document.getElementById('preview-chart'));
                    return chart && chart.data.datasets.length === 2 && chart.data.datasets[0].data.length ? chart.data.datasets.map((d) => d.data.map((p) => p.y)) : null;
                    """, timeout: .seconds(30), what: "the preview")
                #expect(preview.array?.first?.array?.compactMap(\.number).max() == 3020)
                #expect(preview.array?.last?.array?.compactMap(\.number) == [3005, 3005])
                #expect(try await browser.text("#preview-note").contains("beyond the level"))
                try await Self.screenshot(browser, "11-rule-editor")
                try await browser.click("#rule-form button[type='submit']")
                let ruleID = try #require(try await browser.waitUntil("return /\\/alerts\\/rules\\/([0-9a-f-]{36})$/.exec(location.pathname)?.[1] ?? null",
                                                                      what: "the saved rule's page").string)
                let rule = try await PipelineTests.call(client, "GET", gateway + "/api/v1/alerts/rules/\(ruleID)", token: tenants.adminToken)
                #expect(rule.body["condition"]?["level"]?.number == 3005)
                #expect(rule.body["scope"]?["deviceId"]?.string?.lowercased() == tenants.device)

                // Usage against the plan: a bar per resource with its 80 % and 100 % marks.
                try await browser.click("#nav a[data-section='usage']")
                let bars = try await browser.waitUntil("""
                    const rows = document.querySelectorAll('#usage-bars .usage-row');
                    return rows.length ? [...rows].map((row) => row.dataset.resource) : null;
                    """, what: "the usage bars")
                #expect(bars.array?.compactMap(\.string).contains("api-calls") == true)
                // Marks at 80 % and 100 % on every resource the plan limits, none on unlimited ones.
                let marks = try await browser.execute("""
                    return [...document.querySelectorAll('#usage-bars .usage-row')].map((row) => [row.dataset.state, row.querySelectorAll('.bar-mark').length]);
                    """)
                for entry in marks.array ?? [] {
                    let state = entry.array?.first?.string
                    #expect(entry.array?.last?.number == (state == "unlimited" ? 0 : 2), "\(entry)")
                }
                #expect(marks.array?.contains { $0.array?.first?.string != "unlimited" } == true)
                try await Self.screenshot(browser, "12-usage")

                // The platform's health, for a platform-admin only.
                #expect(try await browser.find("#nav [data-admin]:not([hidden])") == nil)
                try await browser.click("#sign-out")
                let configuration = try DeviceAPIConfiguration(reader: ConfigReader(values: PipelineTestStack.values(port: 0)))
                try await DeviceAPIService.migrate(configuration, logger: PipelineTestStack.logger)
                try await browser.type(configuration.bootstrapAdminEmail, into: "#signin-email")
                try await browser.type(try #require(configuration.bootstrapAdminPassword), into: "#signin-password")
                try await browser.click("#signin-submit")
                try await browser.click("#nav a[data-section='health']")
                let ready = try await browser.waitUntil("""
                    const rows = [...document.querySelectorAll('#service-health tr[data-service]')];
                    return rows.length >= 6 ? rows.filter((row) => row.textContent.includes('not ready') === false).map((row) => row.dataset.service) : null;
                    """, what: "the services' readiness")
                let readyServices = Set(ready.array?.compactMap(\.string) ?? [])
                let expected: Set<String> = ["DeviceAPI", "SchemaRegistry", "QueryAPI", "Ingestion", "Alerts", "Billing", "Console"]
                #expect(expected.isSubset(of: readyServices), "\(readyServices)")
                _ = try await browser.waitUntil("return document.querySelector('#pipeline-table') ? true : null", what: "the pipeline table")
                try await Self.screenshot(browser, "13-platform-health")
                // No orchestrator runs in this stack: its status is a 404 the view shows as a problem.
                #expect(try await browser.text("#failover-status").contains("no service serves"))
                let errors = try await browser.consoleErrors().filter { !$0.contains("/api/v1/failover/status") }
                #expect(errors.isEmpty, "\(errors)")
            } catch {
                try? await Self.screenshot(browser, "failure-administration")
                await browser.quit()
                throw error
            }
            await browser.quit()
        }
    }
}

extension JSON {
    /// The value as a Bool, when it is one.
    var asBool: Bool? { if case .bool(let value) = self { return value }; return nil }
}
