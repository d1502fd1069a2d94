import Foundation
import Hummingbird
import SensormineCore

/// POST /api/v1/schemas/infer: a proposed schema from sample data, pasted as the body (format
/// from `?format=` or the Content-Type) or uploaded as a multipart/form-data file; refined by
/// the AI provider when one is configured.
struct InferenceController: Sendable {
    let maximumBytes = 5 << 20
    /// The AI provider, when configured; `?refine=false` skips it.
    let refinement: AIRefinement?

    func addRoutes(to group: RouterGroup<SensormineRequestContext>) {
        group.post("infer", use: self.infer)
    }

    @Sendable func infer(_ request: Request, context: SensormineRequestContext) async throws -> InferenceResult {
        let caller = try context.requireIdentity()
        try RegistryPolicy.checkRead(caller)
        let body = Array(buffer: try await request.body.collect(upTo: self.maximumBytes))
        let contentType = request.headers[.contentType] ?? ""
        var sample = body
        var format = SampleFormat(mediaType: contentType)
        if contentType.lowercased().hasPrefix("multipart/form-data") {
            guard let file = MultipartFile.first(in: body, contentType: contentType) else {
                throw RegistryError.invalid("the upload holds no file part", [.init(pointer: "/file", detail: "send the sample as a form field named file")])
            }
            sample = file.content
            format = file.contentType.flatMap(SampleFormat.init(mediaType:)) ?? file.filename.flatMap(Self.format(fromFilename:))
        }
        if let explicit = request.uri.queryParameters["format"].map(String.init) {
            guard let chosen = SampleFormat(rawValue: explicit) else {
                throw APIError.badRequest("format must be one of \(SampleFormat.allCases.map(\.rawValue).joined(separator: ", "))", errors: [.init(pointer: "format", detail: "unknown format")])
            }
            format = chosen
        }
        guard let format else {
            throw RegistryError.invalid("say what the sample is", [.init(pointer: "format", detail: "pass ?format=json|csv|xml|kv or a Content-Type such as text/csv")])
        }
        guard !sample.isEmpty else { throw RegistryError.invalid("the sample is empty", [.init(pointer: "/", detail: "send sample data")]) }
        let result: Result<InferenceResult, InferenceError> = Result { () throws(InferenceError) in try SchemaInference.infer(sample, format: format) }
        switch result {
        case .success(let inferred):
            guard let refinement = self.refinement, request.uri.queryParameters["refine"] != "false" else { return inferred }
            return await refinement.refine(inferred, sample: sample, tenantID: caller.tenantID)
        case .failure(let error):
            throw RegistryError.invalid("the sample cannot be read as \(format.rawValue): \(error.reason)", [.init(pointer: "/", detail: error.reason)])
        }
    }

    static func format(fromFilename name: String) -> SampleFormat? {
        switch name.split(separator: ".").last?.lowercased() {
        case "json", "ndjson", "jsonl": .json
        case "csv", "tsv": .csv
        case "xml": .xml
        case "txt", "log", "kv": .keyValue
        default: nil
        }
    }
}

/// The first file part of a multipart/form-data body (RFC 7578).
struct MultipartFile {
    var filename: String?
    var contentType: String?
    var content: [UInt8]

    static func first(in body: [UInt8], contentType: String) -> MultipartFile? {
        guard let boundaryParameter = contentType.split(separator: ";").map({ $0.trimmingCharacters(in: .whitespaces) }).first(where: { $0.lowercased().hasPrefix("boundary=") }) else { return nil }
        let boundary = Array(("--" + boundaryParameter.dropFirst("boundary=".count).trimmingCharacters(in: CharacterSet(charactersIn: "\""))).utf8)
        var parts: [ArraySlice<UInt8>] = []
        var start: Int?
        var index = 0
        while index + boundary.count <= body.count {
            if body[index..<(index + boundary.count)].elementsEqual(boundary) {
                if let start { parts.append(body[start..<max(start, index - 2)]) }  // drop the CRLF before the boundary
                index += boundary.count
                while index < body.count, body[index] != 0x0A { index += 1 }
                start = index + 1
            } else {
                index += 1
            }
        }
        for part in parts {
            let separator: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A]
            guard let headerEnd = part.indices.first(where: { part[$0...].starts(with: separator) }) else { continue }
            let headers = String(decoding: part[part.startIndex..<headerEnd], as: UTF8.self).components(separatedBy: "\r\n")
            let disposition = headers.first { $0.lowercased().hasPrefix("content-disposition:") } ?? ""
            let filename = Self.parameter("filename", in: disposition)
            guard filename != nil || Self.parameter("name", in: disposition) == "file" else { continue }
            let type = headers.first { $0.lowercased().hasPrefix("content-type:") }.map { String($0.dropFirst("content-type:".count)).trimmingCharacters(in: .whitespaces) }
            return MultipartFile(filename: filename, contentType: type, content: Array(part[(headerEnd + 4)...]))
        }
        return nil
    }

    private static func parameter(_ name: String, in header: String) -> String? {
        for piece in header.split(separator: ";").map({ $0.trimmingCharacters(in: .whitespaces) }) where piece.lowercased().hasPrefix(name + "=") {
            return String(piece.dropFirst(name.count + 1)).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
        return nil
    }
}

extension InferenceResult: ResponseCodable {}
