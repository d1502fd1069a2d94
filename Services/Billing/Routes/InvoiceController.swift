import Foundation
import Hummingbird
import SensormineCore

/// /api/v1/billing/invoices and /chargeback: invoices (viewers of the organisation read;
/// platform-admins compute and move them) and how an organisation divides them among its
/// sub-tenants (its tenant-admins set it).
struct InvoiceController: Sendable {
    let invoices: InvoiceStore
    let subscriptions: SubscriptionStore

    func addRoutes(to group: RouterGroup<SensormineRequestContext>) {
        group.get("invoices", use: self.list)
        group.post("invoices", use: self.compute)
        group.get("invoices/{id}", use: self.get)
        group.get("invoices/{id}/allocation", use: self.allocation)
        group.post("invoices/{id}/finalize") { request, context in try await self.move(request, context, to: .finalized) }
        group.post("invoices/{id}/pay") { request, context in try await self.move(request, context, to: .paid) }
        group.post("invoices/{id}/void") { request, context in try await self.move(request, context, to: .void) }
        group.get("chargeback/{tenantId}", use: self.chargeback)
        group.put("chargeback/{tenantId}", use: self.setChargeback)
    }

    /// A list of invoices.
    struct InvoiceList: ResponseEncodable, Sendable {
        var items: [Invoice]
    }

    /// POST invoices: which organisation and month.
    struct ComputeRequest: Decodable, Sendable {
        var tenantId: UUID
        /// `YYYY-MM`.
        var period: String
    }

    private static func checkRead(_ caller: CallerIdentity) throws(BillingError) {
        guard caller.has(atLeast: .viewer) else { throw .forbidden("reading invoices needs the viewer role") }
    }

    private static func checkAdmin(_ caller: CallerIdentity) throws(BillingError) {
        guard caller.isPlatformAdmin else { throw .forbidden("only a platform-admin computes, finalises, pays or voids invoices") }
    }

    @Sendable func list(_ request: Request, context: SensormineRequestContext) async throws -> InvoiceList {
        let caller = try context.requireIdentity()
        try Self.checkRead(caller)
        let tenant = try RouteParameters.optionalUUID(request, "tenantId") ?? caller.tenantID
        let (organisation, _) = try await self.subscriptions.organisation(of: tenant, caller: caller)
        return InvoiceList(items: try await self.invoices.invoices(of: organisation, caller: caller))
    }

    /// POST invoices: computes (or computes again) the draft of an organisation's month now.
    @Sendable func compute(_ request: Request, context: SensormineRequestContext) async throws -> EditedResponse<Invoice> {
        let caller = try context.requireIdentity()
        try Self.checkAdmin(caller)
        let body = try await request.decode(as: ComputeRequest.self, context: context)
        guard let start = Self.month(body.period) else {
            throw APIError.validationFailed("the period is invalid", errors: [.init(pointer: "/period", detail: "a month as YYYY-MM, e.g. 2026-11")])
        }
        let (organisation, isOrganisation) = try await self.subscriptions.organisation(of: body.tenantId, caller: caller)
        guard isOrganisation else {
            throw APIError.validationFailed("invoices belong to organisations", errors: [.init(pointer: "/tenantId", detail: "its organisation is \(organisation.uuidString.lowercased())")])
        }
        let invoice = try await self.invoices.computeDraft(organisation, periodStart: start)
        return EditedResponse(status: .ok, headers: [.location: "/api/v1/billing/invoices/\(invoice.id.uuidString.lowercased())"], response: invoice)
    }

    /// GET invoices/{id}: JSON, `format=html` (a printable page) or `format=csv` (its lines).
    @Sendable func get(_ request: Request, context: SensormineRequestContext) async throws -> Response {
        let caller = try context.requireIdentity()
        try Self.checkRead(caller)
        let invoice = try await self.invoices.invoice(try RouteParameters.uuid(context, what: "invoice"), caller: caller)
        switch request.uri.queryParameters.get("format") ?? "json" {
        case "html":
            return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .contentSecurityPolicy: "default-src 'none'; style-src 'unsafe-inline'"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: InvoiceDocuments.html(invoice))))
        case "csv":
            let (header, rows) = InvoiceDocuments.csv(invoice)
            return CSV.response(header: header, rows: rows)
        case "json":
            return try invoice.response(from: request, context: context)
        default:
            throw APIError.badRequest("the format is invalid", errors: [.init(pointer: "format", detail: "json, html or csv")])
        }
    }

    /// GET invoices/{id}/allocation: the division among the parties, `view=consolidated`
    /// (default) or `itemised`, JSON or `format=csv`. A draft is divided by the current settings.
    @Sendable func allocation(_ request: Request, context: SensormineRequestContext) async throws -> Response {
        let caller = try context.requireIdentity()
        try Self.checkRead(caller)
        let invoice = try await self.invoices.invoice(try RouteParameters.uuid(context, what: "invoice"), caller: caller)
        let view = request.uri.queryParameters.get("view") ?? "consolidated"
        guard view == "consolidated" || view == "itemised" else {
            throw APIError.badRequest("the view is invalid", errors: [.init(pointer: "view", detail: "consolidated or itemised")])
        }
        guard invoice.parties.count > 1 else { throw BillingError.notFound("the organisation has no sub-tenants to allocate its invoice to") }
        let allocation: Allocation
        if invoice.status == .draft || invoice.allocation == nil {
            let settings = try await self.invoices.chargeback(invoice.organisationId, caller: caller)
            allocation = try Chargeback.allocate(lines: invoice.lines, tax: invoice.taxMinor, total: invoice.totalMinor, parties: invoice.parties, settings: settings)
        } else {
            allocation = invoice.allocation ?? Allocation(strategy: .direct, basis: nil, billed: true, shares: [])
        }
        if CSV.wanted(request) {
            let (header, rows) = InvoiceDocuments.allocationCSV(invoice, allocation, itemised: view == "itemised")
            return CSV.response(header: header, rows: rows)
        }
        var shown = allocation
        if view == "consolidated" { shown.shares = shown.shares.map { var share = $0; share.lineAmountsMinor = []; return share } }
        return try AllocationView(invoiceId: invoice.id, number: invoice.number, currency: invoice.currency, totalMinor: invoice.totalMinor,
                                  lines: view == "itemised" ? invoice.lines.map(\.description) : [], allocation: shown).response(from: request, context: context)
    }

    /// An invoice's allocation with what it divides.
    struct AllocationView: ResponseEncodable, Sendable {
        var invoiceId: UUID
        var number: String
        var currency: String
        var totalMinor: Int64
        /// The invoice's line descriptions, in the order of each share's line amounts (itemised).
        var lines: [String]
        var allocation: Allocation
    }

    private func move(_ request: Request, _ context: SensormineRequestContext, to status: Invoice.Status) async throws -> Invoice {
        let caller = try context.requireIdentity()
        try Self.checkAdmin(caller)
        let id = try RouteParameters.uuid(context, what: "invoice")
        _ = try await self.invoices.invoice(id, caller: caller)
        return try await self.invoices.transition(id, to: status)
    }

    @Sendable func chargeback(_ request: Request, context: SensormineRequestContext) async throws -> ChargebackSettings {
        let caller = try context.requireIdentity()
        try Self.checkRead(caller)
        let organisation = try await self.organisation(context, caller: caller)
        return try await self.invoices.chargeback(organisation, caller: caller)
    }

    /// PUT chargeback/{tenantId}: the organisation's tenant-admins (or a platform-admin) choose
    /// how its invoices are divided.
    @Sendable func setChargeback(_ request: Request, context: SensormineRequestContext) async throws -> ChargebackSettings {
        let caller = try context.requireIdentity()
        guard caller.has(atLeast: .tenantAdmin) else { throw BillingError.forbidden("changing chargeback settings needs the tenant-admin role") }
        let organisation = try await self.organisation(context, caller: caller)
        guard caller.isPlatformAdmin || caller.tenantID == organisation else {
            throw BillingError.forbidden("the organisation's own tenant-admins set how its invoices are divided")
        }
        let settings = try await request.decode(as: ChargebackSettings.self, context: context)
        let errors = settings.validationErrors(parties: try await self.invoices.parties(organisation))
        guard errors.isEmpty else { throw APIError.validationFailed("the chargeback settings are invalid", errors: errors) }
        try await self.invoices.saveChargeback(settings, organisation: organisation, caller: caller)
        return settings
    }

    private func organisation(_ context: SensormineRequestContext, caller: CallerIdentity) async throws -> UUID {
        let tenant = try RouteParameters.uuid(context, "tenantId", what: "tenant")
        let (organisation, isOrganisation) = try await self.subscriptions.organisation(of: tenant, caller: caller)
        guard isOrganisation else {
            throw APIError.validationFailed("chargeback settings belong to organisations", errors: [
                .init(pointer: "tenantId", detail: "its organisation is \(organisation.uuidString.lowercased())"),
            ])
        }
        return organisation
    }

    /// The first instant of `YYYY-MM` (UTC).
    static func month(_ text: String) -> Date? {
        let parts = text.split(separator: "-")
        guard text.count == 7, parts.count == 2, let year = Int(parts[0]), let month = Int(parts[1]), (2000...2200).contains(year), (1...12).contains(month) else { return nil }
        return BillingPeriod.calendar.date(from: DateComponents(year: year, month: month, day: 1))
    }
}

extension ChargebackSettings: ResponseEncodable {}
