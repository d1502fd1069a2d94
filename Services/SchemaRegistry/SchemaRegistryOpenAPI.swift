/// SchemaRegistry's own paths in its OpenAPI document.
enum SchemaRegistryOpenAPI {
    static let paths = """
          /api/v1/schemas/infer:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: format, in: query, description: Overrides the Content-Type., schema: { type: string, enum: [json, csv, xml, kv] } }
              - { name: refine, in: query, description: false skips the AI provider even when one is configured., schema: { type: boolean } }
            post:
              summary: Propose a schema from sample data (JSON, NDJSON, CSV, XML or key=value text), pasted or uploaded as multipart/form-data (viewer).
              operationId: inferSchema
              requestBody:
                required: true
                content:
                  application/json: { schema: {} }
                  text/csv: { schema: { type: string } }
                  application/xml: { schema: { type: string } }
                  text/plain: { schema: { type: string } }
                  multipart/form-data: { schema: { type: object, properties: { file: { type: string, format: binary } } } }
              responses:
                '200':
                  description: The proposal, with a confidence score and suggestions per field.
                  content:
                    application/json:
                      schema:
                        type: object
                        required: [format, records, schema, fields, engine]
                        properties:
                          format: { type: string }
                          records: { type: integer }
                          schema: { description: A JSON Schema (draft 2020-12). }
                          engine: { type: string }
                          fields:
                            type: array
                            items:
                              type: object
                              required: [name, type, confidence, required, suggestions]
                              properties:
                                name: { type: string }
                                type: { type: string }
                                confidence: { type: number, minimum: 0, maximum: 1 }
                                required: { type: boolean }
                                format: { type: string }
                                unit: { type: string }
                                minimum: { type: number }
                                maximum: { type: number }
                                enumValues: { type: array, items: { type: string } }
                                suggestions: { type: array, items: { type: string } }
                '400': { $ref: '#/components/responses/Problem' }
                '413': { $ref: '#/components/responses/Problem' }
                '422': { $ref: '#/components/responses/Problem' }
          /api/v1/aiusage/current:
            parameters: [{ $ref: '#/components/parameters/GatewayToken' }]
            get:
              summary: The caller's tenant's metered AI calls this month (viewer).
              operationId: aiUsageCurrent
              responses:
                '200': { description: Usage., content: { application/json: { schema: { $ref: '#/components/schemas/AIUsageSummary' } } } }
          /api/v1/aiusage/tenant/{id}:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: id, in: path, required: true, schema: { type: string, format: uuid } }
            get:
              summary: One tenant's AI usage this month (its tenant-admin or a platform-admin).
              operationId: aiUsageTenant
              responses:
                '200': { description: Usage., content: { application/json: { schema: { $ref: '#/components/schemas/AIUsageSummary' } } } }
                '403': { $ref: '#/components/responses/Problem' }
          /api/v1/aiusage/all:
            parameters: [{ $ref: '#/components/parameters/GatewayToken' }]
            get:
              summary: Every tenant's AI usage this month (platform-admin).
              operationId: aiUsageAll
              responses:
                '200':
                  description: Usage per tenant.
                  content:
                    application/json:
                      schema:
                        type: object
                        required: [from, to, tenants]
                        properties:
                          from: { type: string, format: date-time }
                          to: { type: string, format: date-time }
                          tenants: { type: array, items: { $ref: '#/components/schemas/AIUsageSummary' } }
                '403': { $ref: '#/components/responses/Problem' }
          /api/v1/schemas/subjects:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: tenantId, in: query, description: Another tenant (platform-admin only)., schema: { type: string, format: uuid } }
            post:
              summary: Create a subject (tenant-admin).
              operationId: createSubject
              requestBody: { required: true, content: { application/json: { schema: { $ref: '#/components/schemas/SubjectRequest' } } } }
              responses:
                '201': { description: Created., content: { application/json: { schema: { $ref: '#/components/schemas/Subject' } } } }
                '403': { $ref: '#/components/responses/Problem' }
                '409': { $ref: '#/components/responses/Problem' }
                '422': { $ref: '#/components/responses/Problem' }
            get:
              summary: The tenant's subjects (viewer).
              operationId: listSubjects
              responses:
                '200': { description: Subjects., content: { application/json: { schema: { type: object, required: [items], properties: { items: { type: array, items: { $ref: '#/components/schemas/Subject' } } } } } } }
          /api/v1/schemas/subjects/{subject}:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: subject, in: path, required: true, schema: { type: string } }
              - { name: tenantId, in: query, schema: { type: string, format: uuid } }
            get:
              summary: One subject (viewer).
              operationId: getSubject
              responses:
                '200': { description: The subject., content: { application/json: { schema: { $ref: '#/components/schemas/Subject' } } } }
                '404': { $ref: '#/components/responses/Problem' }
            patch:
              summary: Change the compatibility mode or description (tenant-admin).
              operationId: updateSubject
              requestBody: { required: true, content: { application/json: { schema: { $ref: '#/components/schemas/SubjectRequest' } } } }
              responses:
                '200': { description: The subject., content: { application/json: { schema: { $ref: '#/components/schemas/Subject' } } } }
                '404': { $ref: '#/components/responses/Problem' }
            delete:
              summary: Soft-delete the subject and its versions (tenant-admin).
              operationId: deleteSubject
              responses:
                '204': { description: Deleted. }
                '404': { $ref: '#/components/responses/Problem' }
          /api/v1/schemas/subjects/{subject}/versions:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: subject, in: path, required: true, schema: { type: string } }
              - { name: tenantId, in: query, schema: { type: string, format: uuid } }
            post:
              summary: Register a version (tenant-admin); 200 with the existing version when the same schema is registered again; 422 lists every breaking change.
              operationId: registerVersion
              requestBody: { required: true, content: { application/json: { schema: { type: object, required: [schema], properties: { schema: { description: A JSON Schema (draft 2020-12). } } } } } }
              responses:
                '200': { description: Already registered., content: { application/json: { schema: { $ref: '#/components/schemas/RegisterResponse' } } } }
                '201': { description: Registered., content: { application/json: { schema: { $ref: '#/components/schemas/RegisterResponse' } } } }
                '403': { $ref: '#/components/responses/Problem' }
                '422': { $ref: '#/components/responses/Problem' }
            get:
              summary: The live versions, oldest first (viewer).
              operationId: listVersions
              responses:
                '200': { description: Versions., content: { application/json: { schema: { type: object, required: [items], properties: { items: { type: array, items: { $ref: '#/components/schemas/SchemaVersion' } } } } } } }
                '404': { $ref: '#/components/responses/Problem' }
          /api/v1/schemas/subjects/{subject}/versions/{version}:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: subject, in: path, required: true, schema: { type: string } }
              - { name: version, in: path, required: true, description: A version number or latest., schema: { type: string } }
              - { name: tenantId, in: query, schema: { type: string, format: uuid } }
            get:
              summary: One version, or the latest (viewer).
              operationId: getVersion
              responses:
                '200': { description: The version., content: { application/json: { schema: { $ref: '#/components/schemas/SchemaVersion' } } } }
                '404': { $ref: '#/components/responses/Problem' }
            delete:
              summary: Soft-delete a version (tenant-admin); its number is never reused.
              operationId: deleteVersion
              responses:
                '204': { description: Deleted. }
                '404': { $ref: '#/components/responses/Problem' }
          /api/v1/schemas/subjects/{subject}/versions/{version}/deprecate:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: subject, in: path, required: true, schema: { type: string } }
              - { name: version, in: path, required: true, schema: { type: string } }
              - { name: tenantId, in: query, schema: { type: string, format: uuid } }
            post:
              summary: Mark a version deprecated (tenant-admin).
              operationId: deprecateVersion
              responses:
                '200': { description: The version., content: { application/json: { schema: { $ref: '#/components/schemas/SchemaVersion' } } } }
                '404': { $ref: '#/components/responses/Problem' }
          /api/v1/schemas/subjects/{subject}/versions/{version}/validate:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: subject, in: path, required: true, schema: { type: string } }
              - { name: version, in: path, required: true, schema: { type: string } }
              - { name: tenantId, in: query, schema: { type: string, format: uuid } }
            post:
              summary: Validate one payload or a batch (up to 1000) and return every violation (viewer).
              operationId: validate
              requestBody: { required: true, content: { application/json: { schema: { type: object, properties: { payload: {}, payloads: { type: array, maxItems: 1000 } } } } } }
              responses:
                '200':
                  description: One result per payload.
                  content:
                    application/json:
                      schema:
                        type: object
                        required: [subject, version, results]
                        properties:
                          subject: { type: string }
                          version: { type: integer }
                          results:
                            type: array
                            items:
                              type: object
                              required: [valid, violations]
                              properties:
                                valid: { type: boolean }
                                violations: { type: array, items: { $ref: '#/components/schemas/Violation' } }
                '404': { $ref: '#/components/responses/Problem' }
                '422': { $ref: '#/components/responses/Problem' }
        """

    static let schemas = """
            SubjectRequest:
              type: object
              properties:
                name: { type: string, pattern: '^[A-Za-z0-9_.-]{1,200}$' }
                compatibility: { type: string, enum: [BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE, NONE] }
                description: { type: string }
            Subject:
              type: object
              required: [tenantId, name, compatibility, description, createdAt, updatedAt]
              properties:
                tenantId: { type: string, format: uuid }
                name: { type: string }
                compatibility: { type: string }
                description: { type: string }
                latestVersion: { type: integer }
                createdAt: { type: string, format: date-time }
                updatedAt: { type: string, format: date-time }
            SchemaVersion:
              type: object
              required: [subject, version, schema, contentHash, deprecated, createdAt]
              properties:
                subject: { type: string }
                version: { type: integer }
                schema: { description: The schema in canonical form. }
                contentHash: { type: string, description: SHA-256 of the canonical text. }
                deprecated: { type: boolean }
                createdAt: { type: string, format: date-time }
            RegisterResponse:
              type: object
              required: [version, existing]
              properties:
                version: { $ref: '#/components/schemas/SchemaVersion' }
                existing: { type: boolean }
            AIUsageSummary:
              type: object
              required: [tenantId, from, to, calls, successful, tokensIn, tokensOut, costUSD, byModel]
              properties:
                tenantId: { type: string, format: uuid }
                from: { type: string, format: date-time }
                to: { type: string, format: date-time }
                calls: { type: integer }
                successful: { type: integer }
                tokensIn: { type: integer }
                tokensOut: { type: integer }
                costUSD: { type: number }
                byModel:
                  type: array
                  items:
                    type: object
                    properties:
                      provider: { type: string }
                      model: { type: string }
                      calls: { type: integer }
                      successful: { type: integer }
                      tokensIn: { type: integer }
                      tokensOut: { type: integer }
                      costUSD: { type: number }
                      averageDurationMs: { type: number }
            Violation:
              type: object
              required: [instanceLocation, keyword, schemaLocation, message]
              properties:
                instanceLocation: { type: string }
                keyword: { type: string }
                schemaLocation: { type: string }
                message: { type: string }
        """
}
