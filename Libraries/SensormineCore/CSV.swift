import Foundation
import Hummingbird

/// CSV exports as the APIs serve them (RFC 4180: CRLF line ends, fields quoted when needed),
/// chosen with `?format=csv` or `Accept: text/csv`.
public enum CSV {
    /// Whether the request asks for CSV instead of JSON.
    public static func wanted(_ request: Request) -> Bool {
        request.uri.queryParameters.get("format") == "csv" || (request.headers[.accept]?.contains("text/csv") ?? false)
    }

    /// One field, quoted when it holds a comma, a quote or a line break.
    public static func field(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// A `text/csv` answer: the header line, then each row (fields already escaped).
    public static func response(header: String, rows: [String]) -> Response {
        var text = header + "\r\n"
        for row in rows { text += row + "\r\n" }
        return Response(status: .ok, headers: [.contentType: "text/csv; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}
