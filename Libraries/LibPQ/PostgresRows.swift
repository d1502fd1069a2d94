import Foundation

/// The rows a statement returned, as PostgreSQL's text representation.
public struct PostgresRows: Sendable {
    /// Column names in order.
    public let columns: [String]
    /// Row values in column order; nil for SQL NULL.
    public let rows: [[String?]]
    /// Rows affected by an INSERT/UPDATE/DELETE/COPY, or returned by a SELECT.
    public let affectedRows: Int

    /// Rows as ``PostgresRow`` values with access by column name.
    public var all: [PostgresRow] { self.rows.map { PostgresRow(columns: self.columns, values: $0) } }
    /// The first row, if any.
    public var first: PostgresRow? { self.rows.first.map { PostgresRow(columns: self.columns, values: $0) } }
}

/// One row, read by column name or index.
public struct PostgresRow: Sendable {
    /// Column names in order.
    public let columns: [String]
    /// Values in column order.
    public let values: [String?]

    /// The raw text of `column`, nil for NULL or an unknown column.
    public subscript(_ column: String) -> String? {
        guard let index = self.columns.firstIndex(of: column) else { return nil }
        return self.values[index]
    }

    /// `column` as an integer.
    public func int(_ column: String) -> Int? { self[column].flatMap { Int($0) } }
    /// `column` as a double.
    public func double(_ column: String) -> Double? { self[column].flatMap { Double($0) } }
    /// `column` as a boolean (`t`/`f`).
    public func bool(_ column: String) -> Bool? { self[column].map { $0 == "t" || $0 == "true" } }
    /// `column` as a timestamp (`timestamptz` text output).
    public func date(_ column: String) -> Date? { self[column].flatMap(PostgresTimestamp.parse) }
}

/// Conversion of timestamps to and from PostgreSQL's text format.
public enum PostgresTimestamp {
    /// Formats a date for a `timestamptz` parameter (UTC, microseconds).
    public static func format(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }

    /// Parses `timestamptz` text output such as `2026-11-23 01:02:03.456+00`.
    public static func parse(_ text: String) -> Date? {
        var normalized = text.replacingOccurrences(of: " ", with: "T")
        if let sign = normalized.lastIndex(where: { $0 == "+" || $0 == "-" }), sign > normalized.index(normalized.startIndex, offsetBy: 10) {
            let zone = normalized[normalized.index(after: sign)...]
            if zone.count == 2 { normalized += ":00" }
        }
        if let date = try? Date(normalized, strategy: .iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .colon)) {
            return date
        }
        return try? Date(normalized, strategy: .iso8601.year().month().day().time(includingFractionalSeconds: false).timeZone(separator: .colon))
    }
}

/// A value that can be bound as a statement parameter, in PostgreSQL's text format.
public protocol PostgresBindable: Sendable {
    /// The parameter's text representation.
    var postgresText: String { get }
}

extension String: PostgresBindable { public var postgresText: String { self } }
extension Int: PostgresBindable { public var postgresText: String { String(self) } }
extension Int64: PostgresBindable { public var postgresText: String { String(self) } }
extension Int32: PostgresBindable { public var postgresText: String { String(self) } }
extension Double: PostgresBindable { public var postgresText: String { String(self) } }
extension Bool: PostgresBindable { public var postgresText: String { self ? "true" : "false" } }
extension UUID: PostgresBindable { public var postgresText: String { self.uuidString.lowercased() } }
extension Date: PostgresBindable { public var postgresText: String { PostgresTimestamp.format(self) } }
