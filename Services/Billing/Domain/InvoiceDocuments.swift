import Foundation
import SensormineContracts
import SensormineCore

/// An invoice and its allocation as a printable HTML page and as CSV.
enum InvoiceDocuments {
    /// Currencies without minor units (ISO 4217 exponent 0).
    private static let wholeUnitCurrencies: Set<String> = ["JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF", "PYG", "RWF"]

    /// `minor` units as a decimal amount of `currency` (two decimals unless it has none).
    static func amount(_ minor: Int64, _ currency: String) -> String {
        guard !Self.wholeUnitCurrencies.contains(currency) else { return String(minor) }
        let sign = minor < 0 ? "-" : ""
        let magnitude = minor.magnitude
        return "\(sign)\(magnitude / 100).\(String(format: "%02d", Int(magnitude % 100)))"
    }

    private static func number(_ value: Double?) -> String {
        guard let value else { return "" }
        return value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    private static func escape(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text.unicodeScalars {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            case "\0": escaped += "\u{FFFD}"
            default: escaped.unicodeScalars.append(character)
            }
        }
        return escaped
    }

    private static func day(_ date: Date) -> String { date.formatted(.iso8601.year().month().day()) }

    private static func row(_ fields: [String]) -> String { fields.map(CSV.field).joined(separator: ",") }

    /// The invoice's lines as CSV, one per line, then subtotal, tax and total.
    static func csv(_ invoice: Invoice) -> (header: String, rows: [String]) {
        let header = "invoice,period_start,period_end,kind,description,resource,unit,quantity,included,overage_units,per,unit_price_minor,amount_minor,amount,currency"
        var rows: [String] = []
        let head = [invoice.number, Self.day(invoice.periodStart), Self.day(invoice.periodEnd)]
        for line in invoice.lines {
            rows.append(Self.row(head + [line.kind.rawValue, line.description, line.resource?.rawValue ?? "", line.unit ?? "", Self.number(line.quantity),
                                        Self.number(line.included), line.overageUnits.map(String.init) ?? "", Self.number(line.per),
                                        line.unitPriceMinor.map(String.init) ?? "", String(line.amountMinor), Self.amount(line.amountMinor, invoice.currency),
                                        invoice.currency]))
        }
        for (name, value) in [("subtotal", invoice.subtotalMinor), ("tax", invoice.taxMinor), ("total", invoice.totalMinor)] {
            rows.append(Self.row(head + [name, name, "", "", "", "", "", "", "", String(value), Self.amount(value, invoice.currency), invoice.currency]))
        }
        return (header, rows)
    }

    /// The allocation as CSV: consolidated (one row per party) or itemised (one row per party and line).
    static func allocationCSV(_ invoice: Invoice, _ allocation: Allocation, itemised: Bool) -> (header: String, rows: [String]) {
        let billed = allocation.billed ? "billed" : "showback"
        if !itemised {
            var rows: [String] = []
            for share in allocation.shares {
                rows.append(Self.row([invoice.number, allocation.strategy.rawValue, billed, share.tenantId.lowercasedString, share.name,
                                     share.isOrganisation ? "organisation" : "sub-tenant", String(share.subtotalMinor), String(share.taxMinor),
                                     String(share.totalMinor), Self.amount(share.totalMinor, invoice.currency), invoice.currency]))
            }
            return ("invoice,strategy,mode,tenant_id,name,scope,subtotal_minor,tax_minor,total_minor,total,currency", rows)
        }
        var rows: [String] = []
        for share in allocation.shares {
            for (index, amount) in share.lineAmountsMinor.enumerated() where index < invoice.lines.count {
                rows.append(Self.row([invoice.number, allocation.strategy.rawValue, billed, share.tenantId.lowercasedString, share.name,
                                     invoice.lines[index].description, String(amount), Self.amount(amount, invoice.currency), invoice.currency]))
            }
            rows.append(Self.row([invoice.number, allocation.strategy.rawValue, billed, share.tenantId.lowercasedString, share.name, "tax",
                                 String(share.taxMinor), Self.amount(share.taxMinor, invoice.currency), invoice.currency]))
        }
        return ("invoice,strategy,mode,tenant_id,name,line,amount_minor,amount,currency", rows)
    }

    /// A printable page: no scripts, no external resources.
    static func html(_ invoice: Invoice) -> String {
        let currency = invoice.currency
        var lines = ""
        for line in invoice.lines where line.kind == .base || line.amountMinor > 0 || (line.quantity ?? 0) > 0 {
            let usage = line.kind == .base ? "" : "\(Self.number(line.quantity)) \(Self.escape(line.unit ?? ""))" + (line.included.map { " of \(Self.number($0)) included" } ?? "")
            let overage = line.overageUnits.map { units in "\(units) × \(Self.amount(line.unitPriceMinor ?? 0, currency)) per \(Self.number(line.per))" } ?? ""
            lines += "<tr><td>\(Self.escape(line.description))</td><td>\(usage)</td><td>\(Self.escape(overage))</td><td class=\"n\">\(Self.amount(line.amountMinor, currency))</td></tr>\n"
        }
        var allocation = ""
        if let shares = invoice.allocation {
            allocation = "<h2>Allocation (\(Self.escape(shares.strategy.rawValue))\(shares.billed ? "" : ", showback: not charged"))</h2>\n<table><tr><th>Tenant</th><th class=\"n\">Subtotal</th><th class=\"n\">Tax</th><th class=\"n\">Total</th></tr>\n"
            for share in shares.shares {
                allocation += "<tr><td>\(Self.escape(share.name))\(share.isOrganisation ? " (organisation)" : "")</td><td class=\"n\">\(Self.amount(share.subtotalMinor, currency))</td>"
                    + "<td class=\"n\">\(Self.amount(share.taxMinor, currency))</td><td class=\"n\">\(Self.amount(share.totalMinor, currency))</td></tr>\n"
            }
            allocation += "</table>\n"
        }
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>Invoice \(Self.escape(invoice.number))</title>
            <style>body{font-family:sans-serif;margin:2em;color:#111}table{border-collapse:collapse;width:100%;margin:1em 0}td,th{border-bottom:1px solid #ccc;padding:.4em;text-align:left}.n{text-align:right}@media print{body{margin:0}}</style>
            </head><body>
            <h1>Invoice \(Self.escape(invoice.number))</h1>
            <p>Organisation \(invoice.organisationId.lowercasedString)<br>Period \(Self.day(invoice.periodStart)) to \(Self.day(invoice.periodEnd)) (exclusive)<br>
            Plan \(Self.escape(invoice.plan)), billed \(invoice.interval.rawValue)ly<br>Status \(invoice.status.rawValue)</p>
            <table><tr><th>Item</th><th>Usage</th><th>Overage</th><th class="n">Amount (\(Self.escape(currency)))</th></tr>
            \(lines)<tr><td colspan="3">Subtotal</td><td class="n">\(Self.amount(invoice.subtotalMinor, currency))</td></tr>
            <tr><td colspan="3">Tax (\(Self.escape(Self.percent(invoice.taxRateBasisPoints))))</td><td class="n">\(Self.amount(invoice.taxMinor, currency))</td></tr>
            <tr><th colspan="3">Total</th><th class="n">\(Self.amount(invoice.totalMinor, currency))</th></tr></table>
            \(allocation)</body></html>

            """
    }

    private static func percent(_ basisPoints: Int) -> String {
        "\(basisPoints / 100).\(String(format: "%02d", basisPoints % 100)) %"
    }
}
