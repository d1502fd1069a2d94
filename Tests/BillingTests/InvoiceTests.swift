import Foundation
import Hummingbird
import HummingbirdTesting
import LibPQ
import RdKafka
import SensormineClients
import SensormineContracts
import SensormineCore
import SensormineJSON
import TestSupport
import Testing

@testable import Billing

/// A parent organisation (its own tenant and three sub-tenants), seeded by SQL.
struct ChargebackTenants {
    let organisation = UUID()
    let subTenants = [UUID(), UUID(), UUID()]
    let names = ["alpha", "bravo", "charlie"]

    static func seed() async throws -> ChargebackTenants {
        let seeded = ChargebackTenants()
        let database = PostgresClient(configuration: .init(url: try #require(ProcessInfo.processInfo.environment["SENSORMINE_METADATA_DB_URL"]), name: "chargeback-seed"))
        defer { Task { await database.shutdown() } }
        try await database.withPlatformScope { session in
            let org = seeded.organisation
            try await session.execute("INSERT INTO tenants (id, parent_id, path, name, kind) VALUES ($1, NULL, $2::uuid[], $3, 'organisation')",
                                      [org, "{\(org)}", "chargeback-\(org)"])
            for (id, name) in zip(seeded.subTenants, seeded.names) {
                try await session.execute("INSERT INTO tenants (id, parent_id, path, name, kind) VALUES ($1, $2, $3::uuid[], $4, 'site')", [id, org, "{\(org),\(id)}", name])
            }
        }
        return seeded
    }
}

@Suite("Billing invoices and chargeback", .serialized)
struct InvoiceTests {
    /// The test's own division: exact integers, the remainder one unit at a time to the largest
    /// remainders, ties to the earlier party; no weight at all: equal parts.
    static func split(_ amount: Int, _ weights: [Int]) -> [Int] {
        let weights = weights.allSatisfy { $0 == 0 } ? weights.map { _ in 1 } : weights
        let total = weights.reduce(0, +)
        var parts = weights.map { amount * $0 / total }
        let remainders = weights.map { amount * $0 % total }
        let order = weights.indices.sorted { remainders[$0] != remainders[$1] ? remainders[$0] > remainders[$1] : $0 < $1 }
        for index in 0..<(amount - parts.reduce(0, +)) { parts[order[index]] += 1 }
        return parts
    }

    @Test("a simulated month of a parent with three sub-tenants: the invoice's lines, tax and total, and its allocation under direct, proportional (devices, data), fixed (percentages, amounts) and showback, equal what the test computes; invoices move draft → finalized → paid, as JSON, HTML and CSV")
    func simulatedMonth() async throws {
        let tenants = try await ChargebackTenants.seed()
        let prefix = "invoice-\(UUID().uuidString.prefix(8).lowercased())"
        var values = BillingTestApp.values(prefix: prefix)
        values["SENSORMINE_BILLING_INVOICE_INTERVAL"] = "off"
        let configuration = try BillingConfiguration(reader: ConfigReader(values: values))
        try await BillingService.migrate(configuration, logger: BillingTestApp.logger)
        let producer = try KafkaProducer(configuration: configuration.kafka.kafka, logger: BillingTestApp.logger)
        // Last month, complete.
        let thisMonth = BillingPeriod.month(containing: Date())
        let month = BillingPeriod.month(containing: thisMonth.start.addingTimeInterval(-86_400))
        let middle = month.start.addingTimeInterval(10 * 86_400)
        let components = BillingPeriod.calendar.dateComponents([.year, .month], from: month.start)
        let period = String(format: "%04d-%02d", components.year ?? 0, components.month ?? 0)
        // Usage per party: the organisation's own, then alpha, bravo, charlie.
        let parties = [tenants.organisation] + tenants.subTenants
        let usage: [(MeteredResource, [Int])] = [
            (.apiCalls, [50_000, 600_000, 300_000, 250_000]),
            (.activeDevices, [0, 50, 40, 30]),
            (.dataIngested, [0, 30_000_000_000, 15_000_000_000, 5_000_000_000]),
            (.mlInference, [0, 4_000, 0, 1_000]),
        ]
        var records: [UsageRecord] = []
        for (resource, quantities) in usage {
            for (party, quantity) in zip(parties, quantities) where quantity > 0 {
                // Each quantity in two records, as producers send deltas.
                let first = quantity / 3
                for (index, part) in [first, quantity - first].enumerated() {
                    records.append(UsageRecord(eventId: "\(prefix)/\(resource.rawValue)/\(party)/\(index)", tenantId: party, time: middle.addingTimeInterval(Double(index)),
                                               resource: resource, quantity: Double(part), producer: "invoice-test"))
                }
            }
        }
        let encoder = ContractCoding.encoder()
        let topic = configuration.kafka.topics.meteringEvents
        let root = CallerIdentity(subject: "root", tenantID: UUID(), roles: [.platformAdmin])
        let admin = CallerIdentity(subject: "org-admin", tenantID: tenants.organisation, roles: [.tenantAdmin])
        let siteAdmin = CallerIdentity(subject: "site-admin", tenantID: tenants.subTenants[0], roles: [.tenantAdmin])
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await producer.run() }
            defer { group.cancelAll() }
            for result in try await producer.send(try records.map { KafkaRecord(topic: topic, key: Array($0.tenantId.uuidString.lowercased().utf8), value: Array(try encoder.encode($0))) }) {
                _ = try result.get()
            }
            try await BillingService.buildApplication(configuration, observability: Observability(logger: BillingTestApp.logger)).test(.live) { client in
                let subscription = #"{"plan":"pro","currency":"EUR","taxRateBasisPoints":2000}"#
                #expect(try await client.call(.put, "/api/v1/billing/subscriptions/\(tenants.organisation)", as: root, json: subscription).0 == .ok)
                // Every record stored before the month is invoiced.
                try await UsageTests.eventually("the month's usage") {
                    let report = try await client.call(.get, "/api/v1/billing/usage?from=\(period)-01&to=\(ISO8601DateFormatter().string(from: month.end))", as: admin).1
                    return UsageTests.quantity(report, "api-calls") == 1_200_000 && UsageTests.quantity(report, "ml-inference") == 5_000
                        && UsageTests.quantity(report, "data-ingested") == 50_000_000_000 && UsageTests.quantity(report, "active-devices") == 120
                }

                // The test's own invoice: Pro's €99.00; 200 blocks of 1,000 calls past 1M at 10;
                // 20 devices past 100 at 100; 50 GB at 9 (no data included); 5 blocks of 1,000
                // inferences at 5; 20 % tax.
                let expectedLines: [MeteredResource?: Int] = [nil: 9900, .apiCalls: 2000, .activeDevices: 2000, .dataIngested: 450, .mlInference: 25]
                let subtotal = expectedLines.values.reduce(0, +)
                let tax = (subtotal * 2000 + 5000) / 10_000
                #expect(try await client.call(.post, "/api/v1/billing/invoices", as: admin, json: #"{"tenantId":"\#(tenants.organisation)","period":"\#(period)"}"#).0 == .forbidden)
                #expect(try await client.call(.post, "/api/v1/billing/invoices", as: root, json: #"{"tenantId":"\#(tenants.organisation)","period":"2026-13"}"#).0 == .unprocessableContent)
                let (status, invoice) = try await client.call(.post, "/api/v1/billing/invoices", as: root, json: #"{"tenantId":"\#(tenants.organisation)","period":"\#(period)"}"#)
                #expect(status == .ok, "\(invoice)")
                let lines = invoice["lines"]?.array ?? []
                for line in lines {
                    let resource = line["resource"]?.string.flatMap(MeteredResource.init(rawValue:))
                    #expect(Int(line["amountMinor"]?.number ?? -1) == expectedLines[resource] ?? 0, "\(line)")
                }
                #expect(Int(invoice["subtotalMinor"]?.number ?? 0) == subtotal)
                #expect(Int(invoice["taxMinor"]?.number ?? 0) == tax)
                #expect(Int(invoice["totalMinor"]?.number ?? 0) == subtotal + tax)
                #expect(invoice["currency"]?.string == "EUR")
                #expect(invoice["status"]?.string == "draft")
                let id = try #require(invoice["id"]?.string)

                // The test's allocation of each line by weights per party.
                let lineAmounts = lines.map { Int($0["amountMinor"]?.number ?? 0) }
                let lineResources = lines.map { $0["resource"]?.string.flatMap(MeteredResource.init(rawValue:)) }
                func quantities(_ resource: MeteredResource) -> [Int] { usage.first { $0.0 == resource }?.1 ?? [0, 0, 0, 0] }
                func expected(_ weightsPerLine: (MeteredResource?) -> [Int]) -> (rows: [[Int]], totals: [Int]) {
                    var rows = Array(repeating: [Int](), count: 4)
                    for (amount, resource) in zip(lineAmounts, lineResources) {
                        for (party, part) in Self.split(amount, weightsPerLine(resource)).enumerated() { rows[party].append(part) }
                    }
                    let subtotals = rows.map { $0.reduce(0, +) }
                    let taxes = Self.split(tax, subtotals)
                    return (rows, zip(subtotals, taxes).map { $0 + $1 })
                }
                func allocation(_ settings: String) async throws -> JSON {
                    #expect(try await client.call(.put, "/api/v1/billing/chargeback/\(tenants.organisation)", as: admin, json: settings).0 == .ok)
                    let (status, body) = try await client.call(.get, "/api/v1/billing/invoices/\(id)/allocation?view=itemised", as: admin)
                    #expect(status == .ok, "\(body)")
                    return body["allocation"] ?? .null
                }
                func check(_ body: JSON, rows: [[Int]]?, totals: [Int], billed: Bool, _ comment: Comment) {
                    let shares = body["shares"]?.array ?? []
                    #expect(shares.compactMap { $0["tenantId"]?.string?.lowercased() } == parties.map { $0.uuidString.lowercased() }, comment)
                    #expect(shares.map { Int($0["totalMinor"]?.number ?? -1) } == totals, comment)
                    if let rows { #expect(shares.map { ($0["lineAmountsMinor"]?.array ?? []).map { Int($0.number ?? -1) } } == rows, comment) }
                    #expect(totals.reduce(0, +) == subtotal + tax, comment)
                    #expect(body["billed"] == .bool(billed), comment)
                }
                let direct = expected { resource in resource.map(quantities) ?? quantities(.activeDevices) }
                check(try await allocation(#"{"strategy":"direct"}"#), rows: direct.rows, totals: direct.totals, billed: true, "direct")
                check(try await allocation(#"{"strategy":"showback"}"#), rows: direct.rows, totals: direct.totals, billed: false, "showback")
                let byDevices = expected { _ in quantities(.activeDevices) }
                check(try await allocation(#"{"strategy":"proportional","basis":"devices"}"#), rows: byDevices.rows, totals: byDevices.totals, billed: true, "devices")
                let byData = expected { _ in quantities(.dataIngested).map { $0 / 1_000_000_000 } }
                check(try await allocation(#"{"strategy":"proportional","basis":"data"}"#), rows: byData.rows, totals: byData.totals, billed: true, "data")
                let percentages = [1000, 4000, 3000, 2000]
                let fixed = expected { _ in percentages }
                let fixedJSON = zip(parties, percentages).map { #""\#($0.uuidString.lowercased())":\#($1)"# }.joined(separator: ",")
                check(try await allocation(#"{"strategy":"fixed","percentages":{\#(fixedJSON)}}"#), rows: fixed.rows, totals: fixed.totals, billed: true, "fixed %")
                let amounts = [0, 10_000, 5_000, subtotal + tax - 15_000]
                let amountsJSON = zip(parties, amounts).map { #""\#($0.uuidString.lowercased())":\#($1)"# }.joined(separator: ",")
                check(try await allocation(#"{"strategy":"fixed","amounts":{\#(amountsJSON)}}"#), rows: nil, totals: amounts, billed: true, "fixed amounts")

                // Settings that cannot add up, or name strangers, are refused; a sub-tenant's admin sets nothing.
                #expect(try await client.call(.put, "/api/v1/billing/chargeback/\(tenants.organisation)", as: admin,
                                              json: #"{"strategy":"fixed","percentages":{"\#(parties[1])":6000}}"#).0 == .unprocessableContent)
                #expect(try await client.call(.put, "/api/v1/billing/chargeback/\(tenants.organisation)", as: admin,
                                              json: #"{"strategy":"fixed","percentages":{"\#(UUID())":10000}}"#).0 == .unprocessableContent)
                #expect(try await client.call(.put, "/api/v1/billing/chargeback/\(tenants.organisation)", as: admin, json: #"{"strategy":"proportional"}"#).0 == .unprocessableContent)
                #expect(try await client.call(.put, "/api/v1/billing/chargeback/\(tenants.organisation)", as: siteAdmin, json: #"{"strategy":"direct"}"#).0 == .notFound)
                // Amounts that no longer add up to the total are a conflict when the allocation is asked for.
                #expect(try await client.call(.put, "/api/v1/billing/chargeback/\(tenants.organisation)", as: admin,
                                              json: #"{"strategy":"fixed","amounts":{"\#(parties[1])":1}}"#).0 == .ok)
                #expect(try await client.call(.get, "/api/v1/billing/invoices/\(id)/allocation", as: admin).0 == .conflict)
                #expect(try await client.call(.put, "/api/v1/billing/chargeback/\(tenants.organisation)", as: admin, json: #"{"strategy":"direct"}"#).0 == .ok)

                // draft → finalized (the allocation kept with it) → paid; nothing moves back.
                #expect(try await client.call(.post, "/api/v1/billing/invoices/\(id)/finalize", as: admin).0 == .forbidden)
                let finalized = try await client.call(.post, "/api/v1/billing/invoices/\(id)/finalize", as: root).1
                #expect(finalized["status"]?.string == "finalized")
                #expect(finalized["allocation"]?["strategy"]?.string == "direct")
                // A finalised invoice is not computed again.
                let again = try await client.call(.post, "/api/v1/billing/invoices", as: root, json: #"{"tenantId":"\#(tenants.organisation)","period":"\#(period)"}"#).1
                #expect(again["status"]?.string == "finalized" && again["id"]?.string == id)
                #expect(try await client.call(.post, "/api/v1/billing/invoices/\(id)/pay", as: root).1["status"]?.string == "paid")
                #expect(try await client.call(.post, "/api/v1/billing/invoices/\(id)/void", as: root).0 == .conflict)

                // Documents: the list, the printable page and the lines as CSV.
                let list = try await client.call(.get, "/api/v1/billing/invoices?tenantId=\(tenants.organisation)", as: admin).1
                #expect(list["items"]?.array?.compactMap { $0["id"]?.string } == [id])
                #expect(try await client.call(.get, "/api/v1/billing/invoices/\(id)", as: siteAdmin).0 == .notFound)
                let page = try await client.execute(uri: "/api/v1/billing/invoices/\(id)?format=html", method: .get, headers: try TrustedCallerRequests.headers(admin))
                let html = String(buffer: page.body)
                #expect(page.headers[.contentType]?.hasPrefix("text/html") == true)
                #expect(html.contains("SM-\(period)-") && html.contains(InvoiceDocuments.amount(Int64(subtotal + tax), "EUR")) && !html.contains("<script"))
                let csv = try await client.execute(uri: "/api/v1/billing/invoices/\(id)?format=csv", method: .get, headers: try TrustedCallerRequests.headers(admin))
                let csvLines = String(buffer: csv.body).split(separator: "\r\n")
                #expect(csvLines.count == 1 + lines.count + 3)
                #expect(csvLines.last?.contains(",total,total,") == true && csvLines.last?.contains(String(subtotal + tax)) == true)
                let allocationCSV = try await client.execute(uri: "/api/v1/billing/invoices/\(id)/allocation?format=csv", method: .get, headers: try TrustedCallerRequests.headers(admin))
                #expect(String(buffer: allocationCSV.body).split(separator: "\r\n").count == 1 + parties.count)
            }
        }
    }

    @Test("at a month's end, once the delay has passed, the runner finalises the month's invoice of each paying organisation, once")
    func runnerFinalises() async throws {
        let tenants = try await ChargebackTenants.seed()
        let configuration = try BillingConfiguration(reader: ConfigReader(values: BillingTestApp.values(prefix: "runner-\(UUID().uuidString.prefix(8).lowercased())")))
        try await BillingService.migrate(configuration, logger: BillingTestApp.logger)
        let database = PostgresClient(configuration: configuration.metadataDatabase)
        defer { Task { await database.shutdown() } }
        var subscription = Subscription.free(tenants.organisation)
        subscription.plan = "pro"
        try await SubscriptionStore(database: database).save(subscription)
        let invoices = InvoiceStore(database: database, plans: PlanStore(database: database))
        let runner = InvoiceRunner(invoices: invoices, interval: .seconds(3600), delay: .seconds(3600), logger: BillingTestApp.logger)
        let root = CallerIdentity(subject: "root", tenantID: UUID(), roles: [.platformAdmin])
        let month = BillingPeriod.month(containing: Date())
        try await runner.runOnce(now: month.end.addingTimeInterval(1800))
        #expect(try await invoices.invoices(of: tenants.organisation, caller: root).isEmpty, "within the delay, the month's usage may still be arriving")
        try await runner.runOnce(now: month.end.addingTimeInterval(7200))
        let issued = try await invoices.invoices(of: tenants.organisation, caller: root)
        #expect(issued.count == 1)
        #expect(issued.first?.status == .finalized && issued.first?.periodStart == month.start)
        #expect(issued.first?.totalMinor == 9900, "Pro's base price, nothing used")
        try await runner.runOnce(now: month.end.addingTimeInterval(9000))
        #expect(try await invoices.invoices(of: tenants.organisation, caller: root).map(\.id) == issued.map(\.id))
    }

    @Test("split: parts add up to the whole, largest remainders first, ties to the earlier party, exact for whole weights")
    func split() {
        #expect(Chargeback.split(100, weights: [1, 1, 1]) == [34, 33, 33])
        #expect(Chargeback.split(10, weights: [0, 0]) == [5, 5])
        #expect(Chargeback.split(7, weights: [2, 5]) == [2, 5])
        #expect(Chargeback.split(0, weights: [1, 2]) == [0, 0])
        #expect(Chargeback.split(1_000_000_000_000, weights: [3e12, 1e12, .nan, -5]) == [750_000_000_000, 250_000_000_000, 0, 0])
        for _ in 0..<200 {
            let amount = Int.random(in: 0...100_000)
            let weights = (0..<Int.random(in: 1...6)).map { _ in Int.random(in: 0...1_000_000) }
            #expect(Chargeback.split(Int64(amount), weights: weights.map(Double.init)).map { Int($0) } == Self.split(amount, weights))
        }
    }
}
