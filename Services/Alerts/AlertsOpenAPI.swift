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
          /api/v1/alerts/channels:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: tenantId, in: query, description: 'A sub-tenant; the caller''s own by default.', schema: { type: string, format: uuid } }
            post:
              summary: Create a notification channel (operator); 422 names every invalid field.
              operationId: createNotificationChannel
              requestBody: { required: true, content: { application/json: { schema: { $ref: '#/components/schemas/NotificationChannelRequest' } } } }
              responses:
                '201': { description: Created., content: { application/json: { schema: { $ref: '#/components/schemas/NotificationChannel' } } } }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
                '422': { $ref: '#/components/responses/Problem' }
            get:
              summary: The tenant's notification channels (viewer).
              operationId: listNotificationChannels
              responses:
                '200': { description: A list., content: { application/json: { schema: { type: object, required: [items], properties: { items: { type: array, items: { $ref: '#/components/schemas/NotificationChannel' } } } } } } }
                '400': { $ref: '#/components/responses/Problem' }
          /api/v1/alerts/channels/{id}:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: id, in: path, required: true, schema: { type: string, format: uuid } }
            get:
              summary: One channel, without its secret (viewer).
              operationId: getNotificationChannel
              responses:
                '200': { description: The channel., content: { application/json: { schema: { $ref: '#/components/schemas/NotificationChannel' } } } }
                '404': { $ref: '#/components/responses/Problem' }
            put:
              summary: Replace a channel (operator); a webhook keeps its secret unless a new one is given.
              operationId: replaceNotificationChannel
              requestBody: { required: true, content: { application/json: { schema: { $ref: '#/components/schemas/NotificationChannelRequest' } } } }
              responses:
                '200': { description: The channel., content: { application/json: { schema: { $ref: '#/components/schemas/NotificationChannel' } } } }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
                '422': { $ref: '#/components/responses/Problem' }
            delete:
              summary: Delete a channel (operator); its pending notices are recorded as failed.
              operationId: deleteNotificationChannel
              responses:
                '204': { description: Deleted. }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
          /api/v1/alerts/policies:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: tenantId, in: query, description: 'A sub-tenant; the caller''s own by default.', schema: { type: string, format: uuid } }
            post:
              summary: Create a notification policy (operator); 422 names every invalid field.
              operationId: createNotificationPolicy
              requestBody: { required: true, content: { application/json: { schema: { $ref: '#/components/schemas/NotificationPolicyRequest' } } } }
              responses:
                '201': { description: Created., content: { application/json: { schema: { $ref: '#/components/schemas/NotificationPolicy' } } } }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
                '422': { $ref: '#/components/responses/Problem' }
            get:
              summary: The tenant's notification policys (viewer).
              operationId: listNotificationPolicys
              responses:
                '200': { description: A list., content: { application/json: { schema: { type: object, required: [items], properties: { items: { type: array, items: { $ref: '#/components/schemas/NotificationPolicy' } } } } } } }
                '400': { $ref: '#/components/responses/Problem' }
          /api/v1/alerts/policies/{id}:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: id, in: path, required: true, schema: { type: string, format: uuid } }
            get:
              summary: One policy (viewer).
              operationId: getNotificationPolicy
              responses:
                '200': { description: The policy., content: { application/json: { schema: { $ref: '#/components/schemas/NotificationPolicy' } } } }
                '404': { $ref: '#/components/responses/Problem' }
            put:
              summary: Replace a policy (operator).
              operationId: replaceNotificationPolicy
              requestBody: { required: true, content: { application/json: { schema: { $ref: '#/components/schemas/NotificationPolicyRequest' } } } }
              responses:
                '200': { description: The policy., content: { application/json: { schema: { $ref: '#/components/schemas/NotificationPolicy' } } } }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
                '422': { $ref: '#/components/responses/Problem' }
            delete:
              summary: Delete a policy (operator); escalations under it end.
              operationId: deleteNotificationPolicy
              responses:
                '204': { description: Deleted. }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
          /api/v1/alerts/silences:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: tenantId, in: query, description: 'A sub-tenant; the caller''s own by default.', schema: { type: string, format: uuid } }
              - { name: expired, in: query, description: Include expired silences., schema: { type: string, enum: ['true', 'false'] } }
            post:
              summary: Create a silence (operator); 422 names every invalid field.
              operationId: createSilence
              requestBody: { required: true, content: { application/json: { schema: { $ref: '#/components/schemas/SilenceRequest' } } } }
              responses:
                '201': { description: Created., content: { application/json: { schema: { $ref: '#/components/schemas/Silence' } } } }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
                '422': { $ref: '#/components/responses/Problem' }
            get:
              summary: The tenant's silences (viewer).
              operationId: listSilences
              responses:
                '200': { description: A list., content: { application/json: { schema: { type: object, required: [items], properties: { items: { type: array, items: { $ref: '#/components/schemas/Silence' } } } } } } }
                '400': { $ref: '#/components/responses/Problem' }
          /api/v1/alerts/silences/{id}:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: id, in: path, required: true, schema: { type: string, format: uuid } }
            delete:
              summary: End a silence now (operator); it is kept as expired.
              operationId: expireSilence
              responses:
                '200': { description: The silence., content: { application/json: { schema: { $ref: '#/components/schemas/Silence' } } } }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
          /api/v1/alerts/instances/{id}/notifications:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: id, in: path, required: true, schema: { type: string, format: uuid } }
            get:
              summary: The notices of one alert, each with every delivery attempt (viewer).
              operationId: listAlertNotifications
              responses:
                '200': { description: Notices., content: { application/json: { schema: { type: object, required: [items], properties: { items: { type: array, items: { $ref: '#/components/schemas/AlertNotification' } } } } } } }
                '404': { $ref: '#/components/responses/Problem' }
          /api/v1/alerts/instances:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: tenantId, in: query, description: 'One tenant of the caller''s subtree; all of it by default.', schema: { type: string, format: uuid } }
              - { name: state, in: query, schema: { type: string, enum: [firing, resolved] } }
              - { name: acknowledged, in: query, schema: { type: string, enum: ['true', 'false'] } }
              - { name: severity, in: query, schema: { type: string, enum: [info, warning, major, critical] } }
              - { name: source, in: query, schema: { type: string, enum: [rule, quota, system] } }
              - { name: ruleId, in: query, schema: { type: string, format: uuid } }
              - { name: deviceId, in: query, schema: { type: string, format: uuid } }
              - { name: from, in: query, description: Opened at or after., schema: { type: string, format: date-time } }
              - { name: to, in: query, description: Opened before., schema: { type: string, format: date-time } }
              - { name: limit, in: query, schema: { type: integer, minimum: 1, maximum: 1000, default: 100 } }
              - { name: cursor, in: query, description: The next value of the previous page., schema: { type: string, format: uuid } }
              - { name: format, in: query, schema: { type: string, enum: [json, csv] } }
            get:
              summary: Alerts of the caller's tenant and sub-tenants, newest first, paged (viewer); CSV with format=csv.
              operationId: listAlerts
              responses:
                '200':
                  description: A page of alerts.
                  content:
                    application/json: { schema: { type: object, required: [items], properties: { items: { type: array, items: { $ref: '#/components/schemas/AlertInstance' } }, next: { type: string, format: uuid } } } }
                    text/csv: { schema: { type: string } }
                '400': { $ref: '#/components/responses/Problem' }
                '403': { $ref: '#/components/responses/Problem' }
          /api/v1/alerts/instances/{id}:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: id, in: path, required: true, schema: { type: string, format: uuid } }
            get:
              summary: One alert and its history of state changes (viewer).
              operationId: getAlert
              responses:
                '200':
                  description: The alert.
                  content:
                    application/json: { schema: { type: object, required: [alert, history], properties: { alert: { $ref: '#/components/schemas/AlertInstance' }, history: { type: array, items: { $ref: '#/components/schemas/AlertTransition' } } } } }
                '404': { $ref: '#/components/responses/Problem' }
          /api/v1/alerts/instances/{id}/acknowledge:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: id, in: path, required: true, schema: { type: string, format: uuid } }
            post:
              summary: Acknowledge an alert (operator); who and when are recorded, a second acknowledgement changes nothing.
              operationId: acknowledgeAlert
              responses:
                '200': { description: The alert., content: { application/json: { schema: { $ref: '#/components/schemas/AlertInstance' } } } }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
          /api/v1/alerts/instances/{id}/resolve:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: id, in: path, required: true, schema: { type: string, format: uuid } }
            post:
              summary: Resolve a firing alert by hand (operator); the next trigger of its key opens a new alert.
              operationId: resolveAlert
              responses:
                '200': { description: The alert., content: { application/json: { schema: { $ref: '#/components/schemas/AlertInstance' } } } }
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
            AlertInstance:
              type: object
              description: One firing-then-resolved episode of an alert key (a rule and device, or a service's own key).
              required: [id, tenantId, source, dedupKey, severity, summary, labels, values, state, acknowledged, openedAt, lastTriggeredAt, triggerCount, flapping]
              properties:
                id: { type: string, format: uuid }
                tenantId: { type: string, format: uuid }
                source: { type: string, enum: [rule, quota, system] }
                dedupKey: { type: string }
                ruleId: { type: string, format: uuid }
                deviceId: { type: string, format: uuid }
                severity: { type: string, enum: [info, warning, major, critical] }
                summary: { type: string }
                labels: { type: object, additionalProperties: { type: string } }
                values: { type: object, additionalProperties: { type: number } }
                state: { type: string, enum: [firing, resolved] }
                acknowledged: { type: boolean }
                acknowledgedBy: { type: string }
                acknowledgedAt: { type: string, format: date-time }
                resolvedBy: { type: string }
                resolvedAt: { type: string, format: date-time }
                openedAt: { type: string, format: date-time }
                lastTriggeredAt: { type: string, format: date-time }
                triggerCount: { type: integer, description: Trigger events that joined this alert. }
                flapping: { type: boolean, description: It toggled too often and is held firing until quiet for the flapping window. }
                heldResolveAt: { type: string, format: date-time }
            AlertTransition:
              type: object
              required: [instanceId, kind, at, actor, detail]
              properties:
                instanceId: { type: string, format: uuid }
                kind: { type: string, enum: [opened, acknowledged, unacknowledged, resolved, flapping] }
                at: { type: string, format: date-time }
                actor: { type: string, description: A user's subject, or the service that sent the event. }
                detail: { type: string }
            NotificationChannelRequest:
              type: object
              required: [name, type]
              additionalProperties: false
              properties:
                name: { type: string, minLength: 1, maxLength: 200 }
                type: { type: string, enum: [webhook, email, sms] }
                enabled: { type: boolean }
                url: { type: string, maxLength: 2000, description: 'webhook: an http or https URL (loopback, link-local and private addresses are refused when sending unless allow-listed).' }
                secret: { type: string, minLength: 16, maxLength: 200, description: 'webhook: the signing secret; generated when left out.' }
                recipients: { type: array, minItems: 1, maxItems: 20, items: { type: string }, description: 'email: addresses; sms: E.164 numbers.' }
            NotificationChannel:
              type: object
              required: [id, tenantId, name, kind, recipients, enabled, createdAt]
              properties:
                id: { type: string, format: uuid }
                tenantId: { type: string, format: uuid }
                name: { type: string }
                kind: { type: string, enum: [webhook, email, sms] }
                url: { type: string }
                recipients: { type: array, items: { type: string } }
                enabled: { type: boolean }
                createdAt: { type: string, format: date-time }
                secret: { type: string, description: Only in the answer that created the channel (or set a new secret). }
            NotificationPolicyRequest:
              type: object
              required: [name, levels]
              additionalProperties: false
              properties:
                name: { type: string, minLength: 1, maxLength: 200 }
                levels:
                  type: array
                  minItems: 1
                  maxItems: 10
                  items:
                    type: object
                    required: [channelIds]
                    additionalProperties: false
                    properties:
                      channelIds: { type: array, minItems: 1, maxItems: 20, items: { type: string, format: uuid } }
                      delaySeconds: { type: integer, minimum: 0, maximum: 86400, description: Unacknowledged this long after the previous level (or the opening). }
                repeatCount: { type: integer, minimum: 0, maximum: 100 }
                groupBy: { type: array, maxItems: 10, items: { type: string, minLength: 1, maxLength: 100 } }
                groupWaitSeconds: { type: integer, minimum: 0, maximum: 3600 }
                repeatIntervalSeconds: { type: integer, minimum: 0, maximum: 2592000 }
                acknowledgementTimeoutSeconds: { type: integer, minimum: 0, maximum: 2592000 }
                sendResolved: { type: boolean }
                default: { type: boolean, description: The policy of the tenant's alerts that name none. }
            NotificationPolicy:
              type: object
              required: [id, tenantId, name, levels, repeatCount, groupBy, groupWaitSeconds, repeatIntervalSeconds, acknowledgementTimeoutSeconds, sendResolved, isDefault]
              properties:
                id: { type: string, format: uuid }
                tenantId: { type: string, format: uuid }
                name: { type: string }
                levels: { type: array, items: { type: object, required: [channelIds, delaySeconds], properties: { channelIds: { type: array, items: { type: string, format: uuid } }, delaySeconds: { type: integer } } } }
                repeatCount: { type: integer }
                groupBy: { type: array, items: { type: string } }
                groupWaitSeconds: { type: integer }
                repeatIntervalSeconds: { type: integer }
                acknowledgementTimeoutSeconds: { type: integer }
                sendResolved: { type: boolean }
                isDefault: { type: boolean }
            SilenceRequest:
              type: object
              required: [endsAt]
              additionalProperties: false
              description: Matches on labels, a device or a rule (at least one).
              properties:
                labels: { type: object, maxProperties: 32, additionalProperties: { type: string, maxLength: 500 } }
                deviceId: { type: string, format: uuid }
                ruleId: { type: string, format: uuid }
                startsAt: { type: string, format: date-time, description: Now by default. }
                endsAt: { type: string, format: date-time }
                comment: { type: string, maxLength: 1000 }
            Silence:
              type: object
              required: [id, tenantId, labels, startsAt, endsAt, comment, createdBy, createdAt]
              properties:
                id: { type: string, format: uuid }
                tenantId: { type: string, format: uuid }
                labels: { type: object, additionalProperties: { type: string } }
                deviceId: { type: string, format: uuid }
                ruleId: { type: string, format: uuid }
                startsAt: { type: string, format: date-time }
                endsAt: { type: string, format: date-time }
                comment: { type: string }
                createdBy: { type: string }
                createdAt: { type: string, format: date-time }
            AlertNotification:
              type: object
              required: [id, channelId, kind, idempotencyKey, state, attempts, dueAt]
              properties:
                id: { type: integer }
                channelId: { type: string, format: uuid }
                kind: { type: string, enum: [firing, resolved] }
                idempotencyKey: { type: string }
                state: { type: string, enum: [pending, sent, failed, silenced] }
                attempts: { type: array, items: { type: object, required: [at, delivered, detail, durationMilliseconds], properties: { at: { type: string, format: date-time }, delivered: { type: boolean }, detail: { type: string, description: 'HTTP status or SMTP reply.' }, durationMilliseconds: { type: integer } } } }
                dueAt: { type: string, format: date-time }
                finishedAt: { type: string, format: date-time }
                lastError: { type: string }
        """
}
