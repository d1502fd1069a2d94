import Foundation
import NIOCore
import Testing

@testable import Console

@Suite("Console assets")
struct AssetCatalogTests {
    /// A folder of console files for one test, removed afterwards.
    static func withFolder<T>(_ files: [String: String], _ body: (String) throws -> T) throws -> T {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("console-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for (name, text) in files { try text.write(toFile: folder + "/" + name, atomically: true, encoding: .utf8) }
        return try body(folder)
    }

    static func text(_ catalog: AssetCatalog, _ name: String) throws -> String {
        let hashed = try #require(catalog.hashedNames[name])
        let file = try #require(catalog.file(named: hashed))
        return String(buffer: file.body)
    }

    @Test("every file gets a content-hashed name; imports and the page's placeholders name the hashed files")
    func hashedNames() throws {
        let files = [
            "index.html": #"<link rel="stylesheet" href="{{asset:site.css}}"><script type="module" src="{{asset:app.js}}"></script>"#,
            "site.css": "body { color: black }",
            "app.js": "import { helper } from './helper.js';\nimport './side.js';\nconst lazy = () => import('./lazy.js');\n",
            "helper.js": "export const helper = 1; // the word import 'x' in a comment is not an import: it has no ./",
            "side.js": "console.log('side')",
            "lazy.js": "export default 2",
        ]
        do {
            _ = try Self.withFolder(files) { try AssetCatalog(directory: $0, vendor: [:], staticPath: "/console/static/") }
            Issue.record("a bare specifier in a comment must be refused, not served unhashed")
        } catch let error as AssetCatalog.LoadError {
            #expect(error.description.contains("'x'"))
        }
        var clean = files
        clean["helper.js"] = "export const helper = 1;"
        let catalog = try Self.withFolder(clean) { try AssetCatalog(directory: $0, vendor: [:], staticPath: "/console/static/") }
        for name in ["site.css", "app.js", "helper.js", "side.js", "lazy.js"] {
            let hashed = try #require(catalog.hashedNames[name])
            #expect(hashed.wholeMatch(of: /[a-z]+\.[0-9a-f]{12}\.(js|css)/) != nil, "\(hashed)")
        }
        let app = try Self.text(catalog, "app.js")
        #expect(app.contains("from '/console/static/\(try #require(catalog.hashedNames["helper.js"]))'"))
        #expect(app.contains("import '/console/static/\(try #require(catalog.hashedNames["side.js"]))'"))
        #expect(app.contains("import('/console/static/\(try #require(catalog.hashedNames["lazy.js"]))')"))
        let page = String(buffer: catalog.page.body)
        #expect(page.contains("/console/static/\(try #require(catalog.hashedNames["site.css"]))"))
        #expect(page.contains("/console/static/\(try #require(catalog.hashedNames["app.js"]))"))
        #expect(!page.contains("{{asset:"))

        // A change in an imported module renames it and its importer, not the others.
        var changed = clean
        changed["helper.js"] = "export const helper = 2;"
        let next = try Self.withFolder(changed) { try AssetCatalog(directory: $0, vendor: [:], staticPath: "/console/static/") }
        #expect(next.hashedNames["helper.js"] != catalog.hashedNames["helper.js"])
        #expect(next.hashedNames["app.js"] != catalog.hashedNames["app.js"])
        #expect(next.hashedNames["side.js"] == catalog.hashedNames["side.js"])
        #expect(next.hashedNames["site.css"] == catalog.hashedNames["site.css"])
    }

    @Test("a missing import, an import cycle, a nested specifier and a page without index.html stop the start, naming the fault")
    func refusals() throws {
        let cases: [([String: String], String)] = [
            (["index.html": "{{asset:app.js}}", "app.js": "import './gone.js'"], "gone.js, which does not exist"),
            (["index.html": "{{asset:a.js}}", "a.js": "import './b.js'", "b.js": "import './a.js'"], "import cycle"),
            (["index.html": "{{asset:a.js}}", "a.js": "import '../etc/passwd.js'"], "siblings only"),
            (["index.html": "{{asset:missing.css}}"], "missing.css, which does not exist"),
            (["app.js": ""], "no index.html"),
            (["index.html": "", "weird name.js": ""], "plain name"),
        ]
        for (files, expected) in cases {
            do {
                _ = try Self.withFolder(files) { try AssetCatalog(directory: $0, vendor: [:], staticPath: "/console/static/") }
                Issue.record("\(files.keys.sorted()) was accepted")
            } catch let error as AssetCatalog.LoadError {
                #expect(error.description.contains(expected), "\(error.description)")
            }
        }
    }
}
