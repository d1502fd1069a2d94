/// Console's own paths in its OpenAPI document (merged under `paths:` with the standard ones).
enum ConsoleOpenAPI {
    static func paths(basePath: String) -> String {
        """
          \(basePath):
            get:
              summary: Redirects to the console's page.
              operationId: consoleRedirect
              responses:
                '308': { description: To \(basePath)/. }
          \(basePath)/:
            get:
              summary: The console's page; every other path under \(basePath)/ outside static/ is the same page (a deep link), never cached.
              operationId: consolePage
              responses:
                '200': { description: The page., content: { text/html: { schema: { type: string } } } }
                '304': { description: Not modified (If-None-Match). }
          \(basePath)/static/{file}:
            get:
              summary: One static file under its content-hashed name, cached for a year (immutable).
              operationId: consoleStaticFile
              parameters:
                - { name: file, in: path, required: true, schema: { type: string, pattern: '^[A-Za-z0-9_-]+\\.[0-9a-f]{12}\\.[a-z0-9]+$' } }
              responses:
                '200': { description: The file., content: { '*/*': { schema: { type: string } } } }
                '304': { description: Not modified (If-None-Match). }
                '404': { $ref: '#/components/responses/Problem' }
        """
    }
}
