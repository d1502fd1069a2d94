/// DeviceAPI's own paths in its OpenAPI document (merged under `paths:` with the standard ones).
enum DeviceAPIOpenAPI {
    static let paths = """
          /api/v1/tenants:
            post:
              summary: Create an organisation (platform-admin) or a sub-tenant (tenant-admin of an ancestor).
              operationId: createTenant
              parameters: [{ $ref: '#/components/parameters/GatewayToken' }]
              requestBody:
                required: true
                content:
                  application/json:
                    schema:
                      type: object
                      required: [name, kind]
                      properties:
                        name: { type: string, minLength: 1, maxLength: 200 }
                        kind: { type: string, enum: [organisation, site, department] }
                        parentId: { type: string, format: uuid }
                        settings: { $ref: '#/components/schemas/TenantSettings' }
              responses:
                '201': { description: Created., content: { application/json: { schema: { $ref: '#/components/schemas/Tenant' } } } }
                '400': { $ref: '#/components/responses/Problem' }
                '401': { $ref: '#/components/responses/Problem' }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
                '409': { $ref: '#/components/responses/Problem' }
                '422': { $ref: '#/components/responses/Problem' }
            get:
              summary: The tenants the caller sees (its own and its descendants).
              operationId: listTenants
              parameters:
                - { $ref: '#/components/parameters/GatewayToken' }
                - { name: parentId, in: query, schema: { type: string, format: uuid } }
                - { name: limit, in: query, schema: { type: integer, minimum: 1, maximum: 200, default: 50 } }
                - { name: offset, in: query, schema: { type: integer, minimum: 0, default: 0 } }
              responses:
                '200':
                  description: A page of tenants.
                  content:
                    application/json:
                      schema:
                        type: object
                        required: [items, limit, offset]
                        properties:
                          items: { type: array, items: { $ref: '#/components/schemas/Tenant' } }
                          limit: { type: integer }
                          offset: { type: integer }
                '400': { $ref: '#/components/responses/Problem' }
                '401': { $ref: '#/components/responses/Problem' }
          /api/v1/tenants/{id}:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: id, in: path, required: true, schema: { type: string, format: uuid } }
            get:
              summary: One tenant the caller sees.
              operationId: getTenant
              responses:
                '200': { description: The tenant., content: { application/json: { schema: { $ref: '#/components/schemas/Tenant' } } } }
                '401': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
            patch:
              summary: Rename a tenant or change its settings; descendants inherit the change.
              operationId: updateTenant
              requestBody:
                required: true
                content:
                  application/json:
                    schema:
                      type: object
                      properties:
                        name: { type: string, minLength: 1, maxLength: 200 }
                        settings: { $ref: '#/components/schemas/TenantSettings' }
              responses:
                '200': { description: The updated tenant., content: { application/json: { schema: { $ref: '#/components/schemas/Tenant' } } } }
                '401': { $ref: '#/components/responses/Problem' }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
                '409': { $ref: '#/components/responses/Problem' }
                '422': { $ref: '#/components/responses/Problem' }
            delete:
              summary: Delete a tenant without sub-tenants.
              operationId: deleteTenant
              responses:
                '204': { description: Deleted. }
                '401': { $ref: '#/components/responses/Problem' }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
                '409': { $ref: '#/components/responses/Problem' }
        """

    static let schemas = """
            TenantSettings:
              type: object
              description: Settings a tenant sets itself; anything unset is inherited from its parent.
              properties:
                plan: { type: string, pattern: '^[a-z0-9-]{1,40}$' }
                retentionDays: { type: integer, minimum: 1, maximum: 3650 }
                features: { type: object, additionalProperties: { type: boolean } }
                branding:
                  type: object
                  properties:
                    displayName: { type: string, maxLength: 100 }
                    primaryColor: { type: string, pattern: '^#[0-9a-fA-F]{6}$' }
            Tenant:
              type: object
              required: [id, name, kind, settings, effectiveSettings, createdAt, updatedAt]
              properties:
                id: { type: string, format: uuid }
                parentId: { type: string, format: uuid }
                name: { type: string }
                kind: { type: string, enum: [organisation, site, department] }
                settings: { $ref: '#/components/schemas/TenantSettings' }
                effectiveSettings: { $ref: '#/components/schemas/TenantSettings' }
                createdAt: { type: string, format: date-time }
                updatedAt: { type: string, format: date-time }
        """
}
