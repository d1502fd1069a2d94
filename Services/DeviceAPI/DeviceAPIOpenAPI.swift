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
          /api/v1/tenants/{id}/plan:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: id, in: path, required: true, schema: { type: string, format: uuid } }
            put:
              summary: An organisation's plan, set by Billing's own token only (platform-admins change plans through Billing's API); its subtree inherits it.
              operationId: setTenantPlan
              requestBody:
                required: true
                content:
                  application/json:
                    schema: { type: object, required: [plan], properties: { plan: { type: string, pattern: '^[a-z0-9-]{1,40}$' } } }
              responses:
                '200': { description: The tenant., content: { application/json: { schema: { $ref: '#/components/schemas/Tenant' } } } }
                '401': { $ref: '#/components/responses/Problem' }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
                '422': { $ref: '#/components/responses/Problem' }
          /api/v1/tenants/{id}/users:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: id, in: path, required: true, schema: { type: string, format: uuid } }
            post:
              summary: Create a user in a tenant (tenant-admin; platform-admin to grant platform-admin).
              operationId: createUser
              requestBody:
                required: true
                content:
                  application/json:
                    schema:
                      type: object
                      required: [email, password, roles]
                      properties:
                        email: { type: string, format: email, maxLength: 254 }
                        password: { type: string, minLength: 12, maxLength: 200, writeOnly: true }
                        roles: { type: array, minItems: 1, items: { type: string, enum: [platform-admin, tenant-admin, operator, viewer] } }
              responses:
                '201': { description: Created., content: { application/json: { schema: { $ref: '#/components/schemas/User' } } } }
                '400': { $ref: '#/components/responses/Problem' }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
                '409': { $ref: '#/components/responses/Problem' }
                '422': { $ref: '#/components/responses/Problem' }
            get:
              summary: The tenant's users (tenant-admin).
              operationId: listUsers
              responses:
                '200': { description: The users., content: { application/json: { schema: { type: object, required: [items], properties: { items: { type: array, items: { $ref: '#/components/schemas/User' } } } } } } }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
          /api/v1/auth/token:
            post:
              summary: Exchange a password or a refresh token for an access token and a new refresh token (public through the gateway).
              operationId: token
              parameters: [{ $ref: '#/components/parameters/GatewayToken' }]
              requestBody:
                required: true
                content:
                  application/json:
                    schema:
                      type: object
                      required: [grant_type]
                      properties:
                        grant_type: { type: string, enum: [password, refresh_token] }
                        username: { type: string }
                        password: { type: string, writeOnly: true }
                        refresh_token: { type: string, writeOnly: true }
              responses:
                '200':
                  description: Tokens.
                  content:
                    application/json:
                      schema:
                        type: object
                        required: [access_token, token_type, expires_in, refresh_token]
                        properties:
                          access_token: { type: string }
                          token_type: { type: string, const: Bearer }
                          expires_in: { type: integer }
                          refresh_token: { type: string }
                '400': { $ref: '#/components/responses/Problem' }
                '422': { $ref: '#/components/responses/Problem' }
          /.well-known/jwks.json:
            get:
              summary: The public keys access tokens are signed with (empty with HS256), for the gateway and other verifiers.
              operationId: jwks
              responses:
                '200':
                  description: A JWK set.
                  content:
                    application/jwk-set+json:
                      schema: { type: object, required: [keys], properties: { keys: { type: array, items: { type: object } } } }
          /api/v1/device-types:
            parameters: [{ $ref: '#/components/parameters/GatewayToken' }]
            post:
              summary: Define a device type (tenant-admin).
              operationId: createDeviceType
              requestBody: { required: true, content: { application/json: { schema: { $ref: '#/components/schemas/DeviceTypeRequest' } } } }
              responses:
                '201': { description: Created., content: { application/json: { schema: { $ref: '#/components/schemas/DeviceType' } } } }
                '400': { $ref: '#/components/responses/Problem' }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
                '409': { $ref: '#/components/responses/Problem' }
                '422': { $ref: '#/components/responses/Problem' }
            get:
              summary: The visible device types (viewer).
              operationId: listDeviceTypes
              parameters: [{ name: tenantId, in: query, schema: { type: string, format: uuid } }]
              responses:
                '200': { description: Device types., content: { application/json: { schema: { type: object, required: [items], properties: { items: { type: array, items: { $ref: '#/components/schemas/DeviceType' } } } } } } }
                '403': { $ref: '#/components/responses/Problem' }
          /api/v1/device-types/{id}:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: id, in: path, required: true, schema: { type: string, format: uuid } }
            get:
              summary: One device type (viewer).
              operationId: getDeviceType
              responses:
                '200': { description: The device type., content: { application/json: { schema: { $ref: '#/components/schemas/DeviceType' } } } }
                '404': { $ref: '#/components/responses/Problem' }
            patch:
              summary: Change a device type (tenant-admin).
              operationId: updateDeviceType
              requestBody: { required: true, content: { application/json: { schema: { $ref: '#/components/schemas/DeviceTypeRequest' } } } }
              responses:
                '200': { description: The device type., content: { application/json: { schema: { $ref: '#/components/schemas/DeviceType' } } } }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
                '409': { $ref: '#/components/responses/Problem' }
                '422': { $ref: '#/components/responses/Problem' }
            delete:
              summary: Delete a device type no device uses (tenant-admin).
              operationId: deleteDeviceType
              responses:
                '204': { description: Deleted. }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
                '409': { $ref: '#/components/responses/Problem' }
          /api/v1/devices:
            parameters: [{ $ref: '#/components/parameters/GatewayToken' }]
            post:
              summary: Register a device (operator); published as device.registered on device.events.
              operationId: createDevice
              requestBody:
                required: true
                content:
                  application/json:
                    schema:
                      type: object
                      required: [name, deviceTypeId]
                      properties:
                        tenantId: { type: string, format: uuid, description: The caller's tenant or a descendant; default the caller's. }
                        deviceTypeId: { type: string, format: uuid }
                        assetId: { type: string, format: uuid }
                        name: { type: string, minLength: 1, maxLength: 200 }
                        tags: { type: array, maxItems: 32, items: { type: string, pattern: '^[A-Za-z0-9_.:=/-]{1,64}$' } }
                        metadata: { type: object, additionalProperties: { type: string, maxLength: 1024 } }
              responses:
                '201': { description: Registered., content: { application/json: { schema: { $ref: '#/components/schemas/Device' } } } }
                '400': { $ref: '#/components/responses/Problem' }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
                '409': { $ref: '#/components/responses/Problem' }
                '422': { $ref: '#/components/responses/Problem' }
                '429': { $ref: '#/components/responses/Problem', description: 'quota-exceeded: the organisation has registered as many devices as its plan includes.' }
            get:
              summary: A page of visible devices (viewer), ordered by id; pass nextCursor as after.
              operationId: listDevices
              parameters:
                - { name: tenantId, in: query, schema: { type: string, format: uuid } }
                - { name: deviceTypeId, in: query, schema: { type: string, format: uuid } }
                - { name: assetId, in: query, schema: { type: string, format: uuid } }
                - { name: status, in: query, schema: { type: string, enum: [active, decommissioned] } }
                - { name: tag, in: query, schema: { type: string } }
                - { name: ids, in: query, description: 'Only these devices: up to 100 comma-separated UUIDs (ids not visible are left out).', schema: { type: string, pattern: '^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}(,[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}){0,99}$' } }
                - { name: after, in: query, schema: { type: string, format: uuid } }
                - { name: limit, in: query, schema: { type: integer, minimum: 1, maximum: 1000, default: 100 } }
              responses:
                '200':
                  description: A page of devices.
                  content:
                    application/json:
                      schema:
                        type: object
                        required: [items]
                        properties:
                          items: { type: array, items: { $ref: '#/components/schemas/Device' } }
                          nextCursor: { type: string, format: uuid }
                '400': { $ref: '#/components/responses/Problem' }
                '403': { $ref: '#/components/responses/Problem' }
          /api/v1/devices/activity:
            parameters: [{ $ref: '#/components/parameters/GatewayToken' }]
            post:
              summary: Devices heard from - marks them online and moves last-seen forward (operator; EdgeGateway reports per tenant).
              operationId: recordDeviceActivity
              requestBody:
                required: true
                content:
                  application/json:
                    schema:
                      type: object
                      required: [devices]
                      properties:
                        devices:
                          type: array
                          maxItems: 5000
                          items: { type: object, required: [id, lastSeenAt], properties: { id: { type: string, format: uuid }, lastSeenAt: { type: string, format: date-time } } }
              responses:
                '200':
                  description: How many visible, active devices were updated.
                  content:
                    application/json:
                      schema: { type: object, required: [updated], properties: { updated: { type: integer } } }
                '400': { $ref: '#/components/responses/Problem' }
                '401': { $ref: '#/components/responses/Problem' }
                '403': { $ref: '#/components/responses/Problem' }
                '422': { $ref: '#/components/responses/Problem' }
          /api/v1/devices/{id}:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: id, in: path, required: true, schema: { type: string, format: uuid } }
            get:
              summary: One device (viewer).
              operationId: getDevice
              responses:
                '200': { description: The device., content: { application/json: { schema: { $ref: '#/components/schemas/Device' } } } }
                '404': { $ref: '#/components/responses/Problem' }
            patch:
              summary: Change name, tags, metadata or asset (operator); assetId null detaches.
              operationId: updateDevice
              requestBody:
                required: true
                content:
                  application/json:
                    schema:
                      type: object
                      properties:
                        name: { type: string, minLength: 1, maxLength: 200 }
                        tags: { type: array, maxItems: 32, items: { type: string } }
                        metadata: { type: object, additionalProperties: { type: string } }
                        assetId: { type: [string, 'null'], format: uuid }
              responses:
                '200': { description: The device., content: { application/json: { schema: { $ref: '#/components/schemas/Device' } } } }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
                '409': { $ref: '#/components/responses/Problem' }
                '422': { $ref: '#/components/responses/Problem' }
            delete:
              summary: Decommission (operator) and revoke its API keys and MQTT account in one step.
              operationId: decommissionDevice
              responses:
                '200': { description: The decommissioned device., content: { application/json: { schema: { $ref: '#/components/schemas/Device' } } } }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
                '503': { $ref: '#/components/responses/Problem' }
          /api/v1/devices/{id}/api-keys:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: id, in: path, required: true, schema: { type: string, format: uuid } }
            post:
              summary: Issue an API key (operator); the key is in this answer only.
              operationId: issueApiKey
              requestBody: { required: true, content: { application/json: { schema: { type: object, properties: { name: { type: string, maxLength: 100 } } } } } }
              responses:
                '201': { description: Issued., content: { application/json: { schema: { $ref: '#/components/schemas/IssuedAPIKey' } } } }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
                '409': { $ref: '#/components/responses/Problem' }
                '503': { $ref: '#/components/responses/Problem' }
            get:
              summary: The device's API keys, without the keys (viewer).
              operationId: listApiKeys
              responses:
                '200': { description: Keys., content: { application/json: { schema: { type: object, required: [items], properties: { items: { type: array, items: { $ref: '#/components/schemas/APIKey' } } } } } } }
                '404': { $ref: '#/components/responses/Problem' }
          /api/v1/devices/{id}/api-keys/{keyId}:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: id, in: path, required: true, schema: { type: string, format: uuid } }
              - { name: keyId, in: path, required: true, schema: { type: string, format: uuid } }
            delete:
              summary: Revoke a key (operator); the gateway refuses it from the next request.
              operationId: revokeApiKey
              responses:
                '204': { description: Revoked. }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
                '503': { $ref: '#/components/responses/Problem' }
          /api/v1/devices/{id}/api-keys/{keyId}/rotate:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: id, in: path, required: true, schema: { type: string, format: uuid } }
              - { name: keyId, in: path, required: true, schema: { type: string, format: uuid } }
            post:
              summary: Replace a key with a new one in one step (operator).
              operationId: rotateApiKey
              responses:
                '201': { description: The new key., content: { application/json: { schema: { $ref: '#/components/schemas/IssuedAPIKey' } } } }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
                '503': { $ref: '#/components/responses/Problem' }
          /api/v1/devices/{id}/mqtt-credentials:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: id, in: path, required: true, schema: { type: string, format: uuid } }
            put:
              summary: Create or rotate the device's MQTT account (operator); the password is in this answer only.
              operationId: provisionMqttCredentials
              responses:
                '200':
                  description: Credentials and the topics the broker allows.
                  content:
                    application/json:
                      schema:
                        type: object
                        required: [username, password, telemetryTopic, publishFilter, commandFilter]
                        properties:
                          username: { type: string }
                          password: { type: string }
                          telemetryTopic: { type: string }
                          publishFilter: { type: string }
                          commandFilter: { type: string }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
                '409': { $ref: '#/components/responses/Problem' }
                '503': { $ref: '#/components/responses/Problem' }
            delete:
              summary: Remove the device's MQTT account (operator); the broker disconnects it.
              operationId: removeMqttCredentials
              responses:
                '204': { description: Removed. }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
                '503': { $ref: '#/components/responses/Problem' }
          /api/v1/assets:
            parameters: [{ $ref: '#/components/parameters/GatewayToken' }]
            post:
              summary: Add a site, an area under a site, or a machine under an area (operator); published on asset.updates.
              operationId: createAsset
              requestBody:
                required: true
                content:
                  application/json:
                    schema:
                      type: object
                      required: [kind, name]
                      properties:
                        tenantId: { type: string, format: uuid }
                        parentId: { type: string, format: uuid }
                        kind: { type: string, enum: [site, area, machine] }
                        name: { type: string, minLength: 1, maxLength: 200 }
                        attributes: { type: object, additionalProperties: { type: string } }
              responses:
                '201': { description: Created., content: { application/json: { schema: { $ref: '#/components/schemas/Asset' } } } }
                '400': { $ref: '#/components/responses/Problem' }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
                '409': { $ref: '#/components/responses/Problem' }
                '422': { $ref: '#/components/responses/Problem' }
            get:
              summary: The visible assets (viewer), optionally of one tenant or one parent.
              operationId: listAssets
              parameters:
                - { name: tenantId, in: query, schema: { type: string, format: uuid } }
                - { name: parentId, in: query, schema: { type: string, format: uuid } }
              responses:
                '200': { description: Assets., content: { application/json: { schema: { type: object, required: [items], properties: { items: { type: array, items: { $ref: '#/components/schemas/Asset' } } } } } } }
                '403': { $ref: '#/components/responses/Problem' }
          /api/v1/assets/{id}:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: id, in: path, required: true, schema: { type: string, format: uuid } }
            get:
              summary: One asset (viewer).
              operationId: getAsset
              responses:
                '200': { description: The asset., content: { application/json: { schema: { $ref: '#/components/schemas/Asset' } } } }
                '404': { $ref: '#/components/responses/Problem' }
            patch:
              summary: Rename an asset or change its attributes (operator).
              operationId: updateAsset
              requestBody:
                required: true
                content:
                  application/json:
                    schema:
                      type: object
                      properties:
                        name: { type: string, minLength: 1, maxLength: 200 }
                        attributes: { type: object, additionalProperties: { type: string } }
              responses:
                '200': { description: The asset., content: { application/json: { schema: { $ref: '#/components/schemas/Asset' } } } }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
                '409': { $ref: '#/components/responses/Problem' }
                '422': { $ref: '#/components/responses/Problem' }
            delete:
              summary: Delete an asset without children or attached devices (operator).
              operationId: deleteAsset
              responses:
                '204': { description: Deleted. }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
                '409': { $ref: '#/components/responses/Problem' }
        """

    static let schemas = """
            TenantSettings:
              type: object
              description: Settings a tenant sets itself; anything unset is inherited from its parent.
              properties:
                plan: { type: string, pattern: '^[a-z0-9-]{1,40}$', description: 'Set by Billing (PUT /api/v1/billing/subscriptions/{tenantId}); refused here (403).' }
                retentionDays: { type: integer, minimum: 1, maximum: 3650 }
                dedicatedStorage: { type: boolean, description: "Telemetry in tables of the tenant's own; set by a platform-admin only." }
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
            User:
              type: object
              required: [id, tenantId, email, roles, createdAt]
              properties:
                id: { type: string, format: uuid }
                tenantId: { type: string, format: uuid }
                email: { type: string }
                roles: { type: array, items: { type: string } }
                createdAt: { type: string, format: date-time }
            DeviceTypeRequest:
              type: object
              properties:
                tenantId: { type: string, format: uuid }
                name: { type: string, minLength: 1, maxLength: 100 }
                description: { type: string, maxLength: 2000 }
                schemaSubject: { type: string, pattern: '^[A-Za-z0-9_.-]{1,200}$' }
            DeviceType:
              type: object
              required: [id, tenantId, name, description, createdAt, updatedAt]
              properties:
                id: { type: string, format: uuid }
                tenantId: { type: string, format: uuid }
                name: { type: string }
                description: { type: string }
                schemaSubject: { type: string }
                createdAt: { type: string, format: date-time }
                updatedAt: { type: string, format: date-time }
            Device:
              type: object
              required: [id, tenantId, deviceTypeId, name, tags, metadata, status, connectivity, createdAt, updatedAt]
              properties:
                id: { type: string, format: uuid }
                tenantId: { type: string, format: uuid }
                deviceTypeId: { type: string, format: uuid }
                assetId: { type: string, format: uuid }
                name: { type: string }
                tags: { type: array, items: { type: string } }
                metadata: { type: object, additionalProperties: { type: string } }
                status: { type: string, enum: [active, decommissioned] }
                connectivity: { type: string, enum: [online, offline] }
                lastSeenAt: { type: string, format: date-time }
                createdAt: { type: string, format: date-time }
                updatedAt: { type: string, format: date-time }
                decommissionedAt: { type: string, format: date-time }
            APIKey:
              type: object
              required: [id, deviceId, name, prefix, createdAt]
              properties:
                id: { type: string, format: uuid }
                deviceId: { type: string, format: uuid }
                name: { type: string }
                prefix: { type: string, description: The key's first characters. }
                createdAt: { type: string, format: date-time }
                revokedAt: { type: string, format: date-time }
            IssuedAPIKey:
              type: object
              required: [apiKey, key]
              properties:
                apiKey: { $ref: '#/components/schemas/APIKey' }
                key: { type: string, description: Send as X-API-Key; shown only here. }
            Asset:
              type: object
              required: [id, tenantId, kind, name, attributes, createdAt, updatedAt]
              properties:
                id: { type: string, format: uuid }
                tenantId: { type: string, format: uuid }
                parentId: { type: string, format: uuid }
                kind: { type: string, enum: [site, area, machine] }
                name: { type: string }
                attributes: { type: object, additionalProperties: { type: string } }
                createdAt: { type: string, format: date-time }
                updatedAt: { type: string, format: date-time }
        """
}
