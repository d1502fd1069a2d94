/// EdgeGateway's own paths in its OpenAPI document.
enum EdgeGatewayOpenAPI {
    static let paths = """
          /api/v1/ingest:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
            post:
              summary: Telemetry from a device (X-API-Key at the gateway) - one JSON object or an array of up to 1000; tenant and device come from the key, never from the body.
              operationId: ingestTelemetry
              requestBody:
                required: true
                content:
                  application/json:
                    schema:
                      oneOf:
                        - { $ref: '#/components/schemas/TelemetryMessage' }
                        - { type: array, minItems: 1, maxItems: 1000, items: { $ref: '#/components/schemas/TelemetryMessage' } }
              responses:
                '202':
                  description: Every message is held by Kafka; validation and storage follow asynchronously (invalid ones go to the dead-letter topic).
                  content:
                    application/json:
                      schema: { type: object, required: [accepted], properties: { accepted: { type: integer } } }
                '400': { $ref: '#/components/responses/Problem' }
                '401': { $ref: '#/components/responses/Problem' }
                '403': { $ref: '#/components/responses/Problem' }
                '413': { $ref: '#/components/responses/Problem' }
                '422': { $ref: '#/components/responses/Problem' }
                '429': { $ref: '#/components/responses/Problem', description: 'quota-exceeded: the organisation has used the data ingested or storage its plan includes this period (Retry-After: the period''s end).' }
                '503': { $ref: '#/components/responses/Problem' }
        """

    static let schemas = """
            TelemetryMessage:
              type: object
              description: Measurements are the members of metrics, or else every member but time, timestamp and messageId; numbers and booleans are stored, nested objects flattened with dots.
              properties:
                time: { description: RFC 3339 date-time or milliseconds since 1970; the receive time when absent., oneOf: [{ type: string, format: date-time }, { type: number }] }
                messageId: { type: string, maxLength: 100 }
                metrics: { type: object, additionalProperties: true }
              additionalProperties: true
        """
}
