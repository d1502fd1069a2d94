import Crypto
import Foundation
import NIOCore

/// The console's files, read once at start-up. Each file but the page is served under a name
/// that carries a hash of its content (`app.3f2a9c1b7d0e.js`), so browsers may keep it for a
/// year: a changed file is a new name. The names inside the files are rewritten to match: the
/// page's `{{asset:NAME}}` placeholders and the JavaScript modules' relative imports, each
/// module hashed after the modules it imports, so a change anywhere renames every importer.
struct AssetCatalog: Sendable {
    /// One file as served.
    struct File: Sendable {
        let body: ByteBuffer
        let contentType: String
        /// A strong validator: the content's hash, quoted.
        let etag: String
    }

    /// Why the files cannot be served; the service refuses to start.
    struct LoadError: Error, CustomStringConvertible {
        let description: String
    }

    /// The page every console URL answers with (deep links are resolved in the browser).
    let page: File
    /// Files by their hashed name.
    private let files: [String: File]
    /// Logical name (`app.js`) → hashed name, for tests and logs.
    let hashedNames: [String: String]

    var count: Int { self.files.count + 1 }
    var totalBytes: Int { self.files.values.reduce(self.page.body.readableBytes) { $0 + $1.body.readableBytes } }

    func file(named hashedName: String) -> File? { self.files[hashedName] }

    static let contentTypes = [
        "js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8", "html": "text/html; charset=utf-8",
        "svg": "image/svg+xml", "png": "image/png", "ico": "image/x-icon", "json": "application/json", "webmanifest": "application/manifest+json",
    ]

    /// Reads every file directly in `directory` (no subfolders: the names are flat) plus the
    /// `vendor` files (logical name → path elsewhere, e.g. Debian's Chart.js).
    /// - Throws: ``LoadError`` for a missing page, an unreadable file, an import of a file that
    ///   does not exist, or an import cycle.
    init(directory: String, vendor: [String: String], staticPath: String) throws {
        var sources: [String: [UInt8]] = [:]
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw LoadError(description: "cannot read the console's folder \(directory): \(error.localizedDescription)")
        }
        for name in names where !name.hasPrefix(".") {
            var isDirectory: ObjCBool = false
            let path = directory + "/" + name
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            sources[name] = try Self.read(path)
        }
        for (name, path) in vendor { sources[name] = try Self.read(path) }
        guard let page = sources.removeValue(forKey: "index.html") else {
            throw LoadError(description: "\(directory) has no index.html")
        }
        for name in sources.keys where Self.contentType(of: name) == nil || !Self.isPlainName(name) {
            throw LoadError(description: "\(name): console files need a plain name (letters, digits, - and _) and a known extension")
        }

        var hashed: [String: String] = [:]
        var served: [String: File] = [:]
        var visiting: [String] = []
        /// Rewrites and hashes `name` after everything it imports.
        func resolve(_ name: String) throws -> String {
            if let done = hashed[name] { return done }
            guard let source = sources[name] else { throw LoadError(description: "\(visiting.last ?? "index.html") refers to \(name), which does not exist") }
            if visiting.contains(name) { throw LoadError(description: "import cycle: \((visiting + [name]).joined(separator: " → "))") }
            visiting.append(name)
            defer { visiting.removeLast() }
            var content = source
            if name.hasSuffix(".js") && !vendor.keys.contains(name) {
                content = try Self.rewriteImports(source) { try staticPath + resolve($0) }
            }
            let digest = SHA256.hash(data: content).map { String(format: "%02x", $0) }.joined()
            let stem = name.split(separator: ".", maxSplits: 1)
            let hashedName = "\(stem[0]).\(digest.prefix(12)).\(stem.count > 1 ? stem[1] : "")"
            hashed[name] = hashedName
            served[hashedName] = File(body: ByteBuffer(bytes: content), contentType: Self.contentType(of: name) ?? "application/octet-stream",
                                      etag: "\"\(digest.prefix(32))\"")
            return hashedName
        }
        for name in sources.keys.sorted() { _ = try resolve(name) }
        let pageText = try Self.rewritePlaceholders(String(decoding: page, as: UTF8.self)) { name in
            guard let hashedName = hashed[name] else { throw LoadError(description: "index.html refers to \(name), which does not exist") }
            return staticPath + hashedName
        }
        let pageBytes = Array(pageText.utf8)
        let pageDigest = SHA256.hash(data: pageBytes).map { String(format: "%02x", $0) }.joined()
        self.page = File(body: ByteBuffer(bytes: pageBytes), contentType: "text/html; charset=utf-8", etag: "\"\(pageDigest.prefix(32))\"")
        self.files = served
        self.hashedNames = hashed
    }

    private static func read(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else { throw LoadError(description: "cannot read \(path)") }
        return Array(data)
    }

    static func contentType(of name: String) -> String? {
        name.split(separator: ".").last.flatMap { self.contentTypes[String($0)] }
    }

    /// Letters, digits, `-` and `_`, then one or more extensions: what a URL and the hashed-name
    /// route accept without escaping.
    static func isPlainName(_ name: String) -> Bool {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count >= 2 && parts.allSatisfy { part in
            !part.isEmpty && part.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
        }
    }

    /// Replaces each relative module specifier (`from './api.js'`, `import './x.js'`,
    /// `import('./x.js')`) with what `replacement` gives for the file name. Only `./name` is
    /// accepted: the files are flat, and a bare or absolute specifier would not be hashed.
    static func rewriteImports(_ source: [UInt8], replacement: (String) throws -> String) throws -> [UInt8] {
        let text = String(decoding: source, as: UTF8.self)
        var output = ""
        output.reserveCapacity(text.utf8.count + 256)
        var rest = Substring(text)
        let pattern = /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])([^'"\n]*)(['"])/
        while let match = rest.firstMatch(of: pattern) {
            output += rest[rest.startIndex..<match.range.lowerBound]
            let specifier = String(match.output.3)
            guard specifier.hasPrefix("./"), !specifier.dropFirst(2).contains("/") else {
                throw LoadError(description: "module specifier '\(specifier)': console modules import siblings only, as './name.js'")
            }
            output += match.output.1 + match.output.2 + (try replacement(String(specifier.dropFirst(2)))) + match.output.4
            rest = rest[match.range.upperBound...]
        }
        output += rest
        return Array(output.utf8)
    }

    /// Replaces `{{asset:NAME}}` in the page with what `replacement` gives.
    static func rewritePlaceholders(_ page: String, replacement: (String) throws -> String) throws -> String {
        var output = ""
        var rest = Substring(page)
        while let match = rest.firstMatch(of: /\{\{asset:([A-Za-z0-9_.-]+)\}\}/) {
            output += rest[rest.startIndex..<match.range.lowerBound]
            output += try replacement(String(match.output.1))
            rest = rest[match.range.upperBound...]
        }
        output += rest
        return output
    }
}
