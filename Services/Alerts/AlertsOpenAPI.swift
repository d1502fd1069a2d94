/// Alerts' own paths in its OpenAPI document.
enum AlertsOpenAPI {
    static let paths = """
          /api/v1/alerts/rules:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: tenantId, in: query, description: 'A sub-tenant (or, for a platform-admin, any tenant); the caller''s own by default.', schema: { type: string, format: uuid } }
            post:
              summary: Create an alert rule (operator); 422 names every invalid field by its JSON pointer.
              operationId: createAlertRule
              requestBody: { required: true, content: { application/json: { schema: { $ref: '#/components/schemas/AlertRuleRequest' } } } }
              responses:
                '201': { description: Created; published on alerts.rules., content: { application/json: { schema: { $ref: '#/components/schemas/AlertRule' } } } }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
                '422': { $ref: '#/components/responses/Problem' }
            get:
              summary: The tenant's rules and those its ancestors apply to it, by name (viewer).
              operationId: listAlertRules
              responses:
                '200': { description: Rules., content: { application/json: { schema: { type: object, required: [items], properties: { items: { type: array, items: { $ref: '#/components/schemas/AlertRule' } } } } } } }
          /api/v1/alerts/rules/{id}:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: id, in: path, required: true, schema: { type: string, format: uuid } }
            get:
              summary: One rule (viewer).
              operationId: getAlertRule
              responses:
                '200': { description: The rule., content: { application/json: { schema: { $ref: '#/components/schemas/AlertRule' } } } }
                '404': { $ref: '#/components/responses/Problem' }
            put:
              summary: Replace a rule's definition (operator); its revision goes up and the change is published.
              operationId: replaceAlertRule
              requestBody: { required: true, content: { application/json: { schema: { $ref: '#/components/schemas/AlertRuleRequest' } } } }
              responses:
                '200': { description: The rule., content: { application/json: { schema: { $ref: '#/components/schemas/AlertRule' } } } }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
                '422': { $ref: '#/components/responses/Problem' }
            delete:
              summary: Delete a rule (operator); a tombstone goes to alerts.rules.
              operationId: deleteAlertRule
              responses:
                '204': { description: Deleted. }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
        """

    static let schemas = """
            AlertScope:
              type: object
              required: [kind]
              description: Which devices the rule watches; exactly the field its kind names.
              properties:
                kind: { type: string, enum: [device, deviceType, asset, tag] }
                deviceId: { type: string, format: uuid }
                deviceTypeId: { type: string, format: uuid }
                assetId: { type: string, format: uuid, description: The root of an asset subtree. }
                tag: { type: string, minLength: 1, maxLength: 100 }
            AlertCondition:
              type: object
              required: [type]
              description: 'threshold (metric, comparison, level, hysteresis), rate (metric, comparison, level, unit), noData (metric?, seconds), window (metric, aggregate, minutes, comparison, level), anomaly (metric, level 0-1), all / any (conditions).'
              properties:
                type: { type: string, enum: [threshold, rate, noData, window, anomaly, all, any] }
                metric: { type: string, minLength: 1, maxLength: 200 }
                comparison: { type: string, enum: [above, below] }
                level: { type: number }
                hysteresis: { type: number, minimum: 0 }
                unit: { type: string, enum: [perSecond, perMinute] }
                seconds: { type: integer, minimum: 1, maximum: 2592000 }
                aggregate: { type: string, enum: [avg, min, max, sum, count] }
                minutes: { type: integer, minimum: 1, maximum: 1440 }
                conditions: { type: array, minItems: 1, maxItems: 32, items: { $ref: '#/components/schemas/AlertCondition' } }
            AlertRuleRequest:
              type: object
              required: [name, scope, condition]
              additionalProperties: false
              properties:
                name: { type: string, minLength: 1, maxLength: 200 }
                description: { type: string, maxLength: 2000 }
                enabled: { type: boolean }
                scope: { $ref: '#/components/schemas/AlertScope' }
                condition: { $ref: '#/components/schemas/AlertCondition' }
                forSeconds: { type: integer, minimum: 0, maximum: 2592000, description: How long the condition must hold before firing. }
                severity: { type: string, enum: [info, warning, major, critical] }
                labels: { type: object, maxProperties: 32, additionalProperties: { type: string, maxLength: 500 } }
                summaryTemplate: { type: string, maxLength: 500, description: Mustache template of the notification's subject. }
                messageTemplate: { type: string, maxLength: 10000, description: Mustache template of the notification's body. }
                notificationPolicyId: { type: string, format: uuid }
                appliesToSubTenants: { type: boolean, description: The rule also applies to the devices of the owner's sub-tenants (who may read it). }
            AlertRule:
              type: object
              required: [id, tenantId, name, description, enabled, scope, condition, forSeconds, severity, labels, summaryTemplate, messageTemplate,
                         appliesToSubTenants, revision, createdAt, updatedAt]
              properties:
                id: { type: string, format: uuid }
                tenantId: { type: string, format: uuid }
                name: { type: string }
                description: { type: string }
                enabled: { type: boolean }
                scope: { $ref: '#/components/schemas/AlertScope' }
                condition: { $ref: '#/components/schemas/AlertCondition' }
                forSeconds: { type: integer }
                severity: { type: string, enum: [info, warning, major, critical] }
                labels: { type: object, additionalProperties: { type: string } }
                summaryTemplate: { type: string }
                messageTemplate: { type: string }
                notificationPolicyId: { type: string, format: uuid }
                appliesToSubTenants: { type: boolean }
                revision: { type: integer, description: Rises with every change; consumers keep the highest. }
                createdAt: { type: string, format: date-time }
                updatedAt: { type: string, format: date-time }
        """
}
