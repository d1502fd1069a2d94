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
        """
}
