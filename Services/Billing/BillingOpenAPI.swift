/// Billing's own paths in its OpenAPI document.
enum BillingOpenAPI {
    static let paths = """
          /api/v1/billing/plans:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
            get:
              summary: The plan catalogue, with what each plan includes per resource and its overage prices (viewer).
              operationId: listPlans
              responses:
                '200': { description: Plans., content: { application/json: { schema: { type: object, required: [items], properties: { items: { type: array, items: { $ref: '#/components/schemas/Plan' } } } } } } }
                '403': { $ref: '#/components/responses/Problem' }
          /api/v1/billing/usage:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: tenantId, in: query, description: 'A sub-tenant (or, for a platform-admin, any tenant); the caller''s own by default.', schema: { type: string, format: uuid } }
              - { name: from, in: query, description: 'Start (inclusive), RFC 3339 or a date; the current month''s start (UTC) by default.', schema: { type: string, maxLength: 40 } }
              - { name: to, in: query, description: 'End (exclusive), at most 400 days after from; the next month''s start by default.', schema: { type: string, maxLength: 40 } }
              - { name: format, in: query, schema: { type: string, enum: [json, csv], default: json } }
            get:
              summary: Usage per resource over a period, for the tenant's subtree against its plan and for each direct sub-tenant (viewer); CSV with format=csv.
              operationId: getUsage
              responses:
                '200':
                  description: The usage.
                  content:
                    application/json: { schema: { $ref: '#/components/schemas/UsageReport' } }
                    text/csv: { schema: { type: string } }
                '400': { $ref: '#/components/responses/Problem' }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
          /api/v1/billing/usage/daily:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: tenantId, in: query, description: 'A sub-tenant (or, for a platform-admin, any tenant); the caller''s own by default.', schema: { type: string, format: uuid } }
              - { name: from, in: query, description: 'Start (inclusive), RFC 3339 or a date; the current month''s start (UTC) by default.', schema: { type: string, maxLength: 40 } }
              - { name: to, in: query, description: 'End (exclusive), at most 400 days after from; the next month''s start by default.', schema: { type: string, maxLength: 40 } }
            get:
              summary: 'The subtree''s levels per day from the daily snapshots: devices active in the month so far and time-series storage in bytes (viewer).'
              operationId: getDailyUsage
              responses:
                '200': { description: Levels per day., content: { application/json: { schema: { $ref: '#/components/schemas/DailyUsage' } } } }
                '400': { $ref: '#/components/responses/Problem' }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
          /api/v1/billing/subscriptions/{tenantId}:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: tenantId, in: path, required: true, description: 'An organisation, or a tenant in one (GET answers its organisation''s).', schema: { type: string, format: uuid } }
            get:
              summary: The organisation's subscription (Free when none is stored) with its quota state now (viewer).
              operationId: getSubscription
              responses:
                '200': { description: The subscription., content: { application/json: { schema: { $ref: '#/components/schemas/SubscriptionView' } } } }
                '400': { $ref: '#/components/responses/Problem' }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
            put:
              summary: Change an organisation's plan, overrides and billing settings (platform-admin); quotas follow at the next request, the plan reaches DeviceAPI's tenant settings.
              operationId: putSubscription
              requestBody:
                required: true
                content:
                  application/json:
                    schema:
                      type: object
                      required: [plan]
                      properties:
                        plan: { type: string, description: A plan of the catalogue. }
                        interval: { type: string, enum: [month, year] }
                        includedOverrides: { type: object, additionalProperties: { type: number, minimum: 0, maximum: 1e18 }, description: 'Replaces the plan''s included quantity per resource (base units).' }
                        hardLimits: { type: array, items: { type: string }, description: 'Resources refused past what is included; the others are billed as overage. Omitted: the plan''s.' }
                        currency: { type: string, pattern: '^[A-Z]{3}$' }
                        taxRateBasisPoints: { type: integer, minimum: 0, maximum: 10000 }
              responses:
                '200': { description: The subscription now., content: { application/json: { schema: { $ref: '#/components/schemas/SubscriptionView' } } } }
                '400': { $ref: '#/components/responses/Problem' }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
                '422': { $ref: '#/components/responses/Problem' }
          /api/v1/billing/invoices:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
            get:
              summary: The organisation's invoices, newest period first (viewer of the organisation).
              operationId: listInvoices
              parameters:
                - { name: tenantId, in: query, description: 'The organisation (or a tenant in it); the caller''s by default.', schema: { type: string, format: uuid } }
              responses:
                '200': { description: Invoices., content: { application/json: { schema: { type: object, required: [items], properties: { items: { type: array, items: { $ref: '#/components/schemas/Invoice' } } } } } } }
                '400': { $ref: '#/components/responses/Problem' }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
            post:
              summary: Compute (again, while a draft) an organisation's invoice of a month now (platform-admin).
              operationId: computeInvoice
              requestBody:
                required: true
                content:
                  application/json:
                    schema:
                      type: object
                      required: [tenantId, period]
                      properties:
                        tenantId: { type: string, format: uuid }
                        period: { type: string, pattern: '^[0-9]{4}-[0-9]{2}$', description: The month, YYYY-MM. }
              responses:
                '200': { description: The invoice (an invoice past draft unchanged)., content: { application/json: { schema: { $ref: '#/components/schemas/Invoice' } } } }
                '400': { $ref: '#/components/responses/Problem' }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
                '422': { $ref: '#/components/responses/Problem' }
          /api/v1/billing/invoices/{id}:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: id, in: path, required: true, schema: { type: string, format: uuid } }
            get:
              summary: One invoice as JSON, a printable HTML page (format=html) or its lines as CSV (format=csv) (viewer of the organisation).
              operationId: getInvoice
              parameters:
                - { name: format, in: query, schema: { type: string, enum: [json, html, csv], default: json } }
              responses:
                '200':
                  description: The invoice.
                  content:
                    application/json: { schema: { $ref: '#/components/schemas/Invoice' } }
                    text/html: { schema: { type: string } }
                    text/csv: { schema: { type: string } }
                '400': { $ref: '#/components/responses/Problem' }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
          /api/v1/billing/invoices/{id}/allocation:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: id, in: path, required: true, schema: { type: string, format: uuid } }
            get:
              summary: The invoice divided among the organisation and its sub-tenants under its chargeback settings (viewer).
              operationId: getAllocation
              parameters:
                - { name: view, in: query, schema: { type: string, enum: [consolidated, itemised], default: consolidated } }
                - { name: format, in: query, schema: { type: string, enum: [json, csv], default: json } }
              responses:
                '200':
                  description: The allocation.
                  content:
                    application/json: { schema: { $ref: '#/components/schemas/AllocationView' } }
                    text/csv: { schema: { type: string } }
                '400': { $ref: '#/components/responses/Problem' }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
                '409': { $ref: '#/components/responses/Problem' }
          /api/v1/billing/invoices/{id}/finalize:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: id, in: path, required: true, schema: { type: string, format: uuid } }
            post:
              summary: Finalise a draft (platform-admin).
              operationId: finalizeInvoice
              responses:
                '200': { description: The invoice., content: { application/json: { schema: { $ref: '#/components/schemas/Invoice' } } } }
                '400': { $ref: '#/components/responses/Problem' }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
                '409': { $ref: '#/components/responses/Problem' }
          /api/v1/billing/invoices/{id}/pay:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: id, in: path, required: true, schema: { type: string, format: uuid } }
            post:
              summary: Mark a finalised invoice paid (platform-admin; Stripe's webhook does it when configured).
              operationId: payInvoice
              responses:
                '200': { description: The invoice., content: { application/json: { schema: { $ref: '#/components/schemas/Invoice' } } } }
                '400': { $ref: '#/components/responses/Problem' }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
                '409': { $ref: '#/components/responses/Problem' }
          /api/v1/billing/invoices/{id}/void:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: id, in: path, required: true, schema: { type: string, format: uuid } }
            post:
              summary: Void a draft or finalised invoice (platform-admin).
              operationId: voidInvoice
              responses:
                '200': { description: The invoice., content: { application/json: { schema: { $ref: '#/components/schemas/Invoice' } } } }
                '400': { $ref: '#/components/responses/Problem' }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
                '409': { $ref: '#/components/responses/Problem' }
          /api/v1/billing/stripe/webhook:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
            post:
              summary: Stripe's events (public at the gateway; trusted by their Stripe-Signature, at most five minutes old); each applied once by its id.
              operationId: stripeWebhook
              parameters:
                - { name: Stripe-Signature, in: header, required: true, schema: { type: string, maxLength: 2000 }, description: 't=<unix time>,v1=<HMAC-SHA256 hex of "t.body">' }
              requestBody:
                required: true
                content:
                  application/json: { schema: { type: object, required: [id, type, created, data], properties: { id: { type: string }, type: { type: string }, created: { type: integer }, data: { type: object } } } }
              responses:
                '200': { description: Received (duplicate when seen before)., content: { application/json: { schema: { type: object, required: [received, duplicate], properties: { received: { type: boolean }, duplicate: { type: boolean } } } } } }
                '400': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
                '413': { $ref: '#/components/responses/Problem' }
                '422': { $ref: '#/components/responses/Problem' }
          /api/v1/billing/chargeback/{tenantId}:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: tenantId, in: path, required: true, description: An organisation., schema: { type: string, format: uuid } }
            get:
              summary: How the organisation divides its invoices among its sub-tenants (viewer); direct when never set.
              operationId: getChargeback
              responses:
                '200': { description: The settings., content: { application/json: { schema: { $ref: '#/components/schemas/ChargebackSettings' } } } }
                '400': { $ref: '#/components/responses/Problem' }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
                '422': { $ref: '#/components/responses/Problem' }
            put:
              summary: Set how the organisation divides its invoices (its tenant-admin, or a platform-admin).
              operationId: putChargeback
              requestBody:
                required: true
                content:
                  application/json: { schema: { $ref: '#/components/schemas/ChargebackSettings' } }
              responses:
                '200': { description: The settings., content: { application/json: { schema: { $ref: '#/components/schemas/ChargebackSettings' } } } }
                '400': { $ref: '#/components/responses/Problem' }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
                '422': { $ref: '#/components/responses/Problem' }
        """

    static let schemas = """
            Plan:
              type: object
              required: [id, name, currency, included, overage]
              properties:
                id: { type: string }
                name: { type: string }
                currency: { type: string }
                monthlyPriceMinor: { type: [integer, 'null'], description: Minor units; null when negotiated. }
                yearlyPriceMinor: { type: [integer, 'null'] }
                included: { type: object, additionalProperties: { type: number }, description: Per resource in its base unit; a resource not listed is unlimited. }
                overage: { type: object, additionalProperties: { type: object, required: [per, priceMinor], properties: { per: { type: number }, priceMinor: { type: integer } } } }
                hardLimits: { type: array, items: { type: string }, description: Resources refused past what is included; the others are billed as overage. }
            Subscription:
              type: object
              required: [organisationId, plan, interval, includedOverrides, currency, taxRateBasisPoints, status, stored]
              properties:
                organisationId: { type: string, format: uuid }
                plan: { type: string }
                interval: { type: string, enum: [month, year] }
                includedOverrides: { type: object, additionalProperties: { type: number } }
                hardLimits: { type: [array, 'null'], items: { type: string } }
                currency: { type: string }
                taxRateBasisPoints: { type: integer }
                status: { type: string, enum: [active, grace, lapsed] }
                graceUntil: { type: [string, 'null'], format: date-time }
                stored: { type: boolean, description: False for the Free plan of an organisation without a subscription. }
            QuotaState:
              type: object
              required: [organisationId, tenants, plan, periodStart, periodEnd, resources, computedAt]
              properties:
                organisationId: { type: string, format: uuid }
                tenants: { type: array, items: { type: string, format: uuid } }
                plan: { type: string }
                periodStart: { type: string, format: date-time }
                periodEnd: { type: string, format: date-time }
                computedAt: { type: string, format: date-time }
                resources:
                  type: object
                  description: By resource; a resource the plan does not limit is absent.
                  additionalProperties:
                    type: object
                    required: [included, used, level, hardLimit]
                    properties:
                      included: { type: number }
                      used: { type: number }
                      level: { type: string, enum: [ok, warning, exceeded] }
                      hardLimit: { type: boolean }
            SubscriptionView:
              type: object
              required: [subscription, quota]
              properties:
                subscription: { $ref: '#/components/schemas/Subscription' }
                quota: { $ref: '#/components/schemas/QuotaState' }
            ResourceUsage:
              type: object
              required: [resource, unit, quantity]
              properties:
                resource: { type: string, enum: [active-devices, data-ingested, api-calls, timeseries-storage, object-storage, video-processing, ml-inference, data-egress] }
                unit: { type: string }
                quantity: { type: number }
                included: { type: [number, 'null'] }
                percentOfPlan: { type: [number, 'null'] }
            UsageReport:
              type: object
              required: [tenantId, from, to, resources, subTenants]
              properties:
                tenantId: { type: string, format: uuid }
                from: { type: string, format: date-time }
                to: { type: string, format: date-time }
                plan: { type: [string, 'null'] }
                resources: { type: array, items: { $ref: '#/components/schemas/ResourceUsage' } }
                subTenants:
                  type: array
                  items:
                    type: object
                    required: [tenantId, name, resources]
                    properties:
                      tenantId: { type: string, format: uuid }
                      name: { type: string }
                      resources: { type: array, items: { $ref: '#/components/schemas/ResourceUsage' } }
            DailyUsage:
              type: object
              required: [tenantId, from, to, items]
              properties:
                tenantId: { type: string, format: uuid }
                from: { type: string, format: date-time }
                to: { type: string, format: date-time }
                items:
                  type: array
                  items:
                    type: object
                    required: [day, activeDevices, storageBytes, tenants, rawStorageExact]
                    properties:
                      day: { type: string, format: date }
                      activeDevices: { type: integer, description: Devices that sent telemetry in the month up to this day. }
                      storageBytes: { type: integer, description: 'Time-series storage: raw points (estimated in the shared table) and the share of the rollups.' }
                      tenants: { type: integer }
                      rawStorageExact: { type: boolean, description: Whether every tenant's raw points were measured on a table of its own. }
            InvoiceLine:
              type: object
              required: [kind, description, amountMinor]
              properties:
                kind: { type: string, enum: [base, usage] }
                description: { type: string }
                resource: { type: [string, 'null'] }
                unit: { type: [string, 'null'] }
                quantity: { type: [number, 'null'] }
                included: { type: [number, 'null'] }
                overageUnits: { type: [integer, 'null'] }
                per: { type: [number, 'null'] }
                unitPriceMinor: { type: [integer, 'null'] }
                amountMinor: { type: integer }
            AllocationShare:
              type: object
              required: [tenantId, name, isOrganisation, lineAmountsMinor, subtotalMinor, taxMinor, totalMinor]
              properties:
                tenantId: { type: string, format: uuid }
                name: { type: string }
                isOrganisation: { type: boolean }
                lineAmountsMinor: { type: array, items: { type: integer }, description: Per invoice line (itemised; empty for fixed amounts). }
                subtotalMinor: { type: integer }
                taxMinor: { type: integer }
                totalMinor: { type: integer }
            Allocation:
              type: object
              required: [strategy, billed, shares]
              properties:
                strategy: { type: string, enum: [direct, proportional, fixed, showback] }
                basis: { type: [string, 'null'], enum: [devices, data, null] }
                billed: { type: boolean, description: False for showback. }
                shares: { type: array, items: { $ref: '#/components/schemas/AllocationShare' } }
            AllocationView:
              type: object
              required: [invoiceId, number, currency, totalMinor, lines, allocation]
              properties:
                invoiceId: { type: string, format: uuid }
                number: { type: string }
                currency: { type: string }
                totalMinor: { type: integer }
                lines: { type: array, items: { type: string } }
                allocation: { $ref: '#/components/schemas/Allocation' }
            ChargebackSettings:
              type: object
              required: [strategy]
              properties:
                strategy: { type: string, enum: [direct, proportional, fixed, showback] }
                basis: { type: string, enum: [devices, data] }
                percentages: { type: object, additionalProperties: { type: integer, minimum: 0, maximum: 10000 }, description: By tenant id; adding up to 10000. }
                amounts: { type: object, additionalProperties: { type: integer, minimum: 0 }, description: By tenant id, minor units adding up to the invoice's total. }
            Invoice:
              type: object
              required: [id, organisationId, number, periodStart, periodEnd, plan, interval, currency, taxRateBasisPoints, status, lines, subtotalMinor, taxMinor, totalMinor, parties, createdAt]
              properties:
                id: { type: string, format: uuid }
                organisationId: { type: string, format: uuid }
                number: { type: string }
                periodStart: { type: string, format: date-time }
                periodEnd: { type: string, format: date-time }
                plan: { type: string }
                interval: { type: string, enum: [month, year] }
                currency: { type: string }
                taxRateBasisPoints: { type: integer }
                status: { type: string, enum: [draft, finalized, paid, void] }
                lines: { type: array, items: { $ref: '#/components/schemas/InvoiceLine' } }
                subtotalMinor: { type: integer }
                taxMinor: { type: integer }
                totalMinor: { type: integer }
                parties:
                  type: array
                  items:
                    type: object
                    required: [tenantId, name, isOrganisation, usage]
                    properties:
                      tenantId: { type: string, format: uuid }
                      name: { type: string }
                      isOrganisation: { type: boolean }
                      usage: { type: object, additionalProperties: { type: number } }
                allocation: { oneOf: [{ $ref: '#/components/schemas/Allocation' }, { type: 'null' }] }
                createdAt: { type: string, format: date-time }
                finalizedAt: { type: [string, 'null'], format: date-time }
                paidAt: { type: [string, 'null'], format: date-time }
                voidedAt: { type: [string, 'null'], format: date-time }
                stripeInvoiceId: { type: [string, 'null'] }
        """
}
