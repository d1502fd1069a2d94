import Foundation
import HTTPTypes
import Hummingbird
import SensormineCore

/// Serves the console: the page for every console URL (the browser resolves the view), and the
/// hashed static files with year-long caching. Every answer carries the security headers; the
/// policy allows scripts, styles and connections from this origin only, so an injected inline
/// script or a call to another host is refused by the browser.
struct ConsoleController: Sendable {
    let catalog: AssetCatalog
    let basePath: String

    static let contentSecurityPolicy = [
        "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data: blob:", "connect-src 'self'",
        "font-src 'self'", "manifest-src 'self'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
    ].joined(separator: "; ")

    static let securityHeaders: HTTPFields = [
        HTTPField.Name("Content-Security-Policy")!: contentSecurityPolicy,
        HTTPField.Name("X-Content-Type-Options")!: "nosniff",
        HTTPField.Name("Referrer-Policy")!: "no-referrer",
        HTTPField.Name("X-Frame-Options")!: "DENY",
        HTTPField.Name("Cross-Origin-Opener-Policy")!: "same-origin",
        HTTPField.Name("Permissions-Policy")!: "camera=(), microphone=(), geolocation=(), payment=()",
    ]

    func addRoutes(to router: Router<SensormineRequestContext>) {
        let base = self.basePath
        // Hummingbird matches /console and /console/ alike: the page is served at the slash only,
        // so its relative URLs and the browser's idea of the current folder agree.
        router.get(RouterPath(base)) { request, _ in
            guard request.uri.path.hasSuffix("/") else {
                var headers = Self.securityHeaders
                headers[.location] = base + "/"
                return Response(status: .permanentRedirect, headers: headers)
            }
            return self.page(request)
        }
        router.get(RouterPath(base + "/static/:file")) { request, context in
            let name = try context.parameters.require("file")
            guard let file = self.catalog.file(named: name) else {
                throw APIError.notFound("no console file is named \(name); the page names the current ones")
            }
            return Self.serve(file, request: request, cacheControl: "public, max-age=31536000, immutable")
        }
        // A view's URL (/console/devices/…): the same page, which reads the path itself.
        router.get(RouterPath(base + "/**")) { request, _ in
            if request.uri.path.hasPrefix(base + "/static/") { throw APIError.notFound("console files live directly under \(base)/static/") }
            return self.page(request)
        }
    }

    private func page(_ request: Request) -> Response {
        // Revalidated every time, so a new release's hashed names are picked up at once.
        Self.serve(self.catalog.page, request: request, cacheControl: "no-cache")
    }

    private static func serve(_ file: AssetCatalog.File, request: Request, cacheControl: String) -> Response {
        var headers = Self.securityHeaders
        headers[.cacheControl] = cacheControl
        headers[.eTag] = file.etag
        if let condition = request.headers[.ifNoneMatch], condition.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == file.etag }) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = file.contentType
        headers[.contentLength] = String(file.body.readableBytes)
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: file.body))
    }
}
