/// Ingestion's own paths in its OpenAPI document.
enum IngestionOpenAPI {
    static let paths = """
          /api/v1/deadletters:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: device, in: query, schema: { type: string, format: uuid } }
              - { name: schema, in: query, description: Schema subject., schema: { type: string } }
              - { name: reason, in: query, description: Text the reason contains., schema: { type: string } }
              - { name: replayed, in: query, description: false hides dead letters already replayed., schema: { type: boolean } }
              - { name: cursor, in: query, description: The next value of the previous page., schema: { type: integer } }
              - { name: limit, in: query, schema: { type: integer, minimum: 1, maximum: 1000, default: 100 } }
            get:
              summary: The tenant's rejected telemetry with reasons and original bytes, oldest first (viewer).
              operationId: listDeadLetters
              responses:
                '200':
                  description: A page of dead letters.
                  content:
                    application/json:
                      schema:
                        type: object
                        required: [items]
                        properties:
                          next: { type: string }
                          items: { type: array, items: { $ref: '#/components/schemas/DeadLetter' } }
                '400': { $ref: '#/components/responses/Problem' }
                '401': { $ref: '#/components/responses/Problem' }
                '403': { $ref: '#/components/responses/Problem' }
          /api/v1/deadletters/replay:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
            post:
              summary: Send dead letters through the normal path again - by id, or all matching filters; each is replayed once (operator).
              operationId: replayDeadLetters
              requestBody:
                required: true
                content:
                  application/json:
                    schema:
                      type: object
                      properties:
                        ids: { type: array, minItems: 1, maxItems: 1000, items: { type: integer } }
                        all: { type: boolean }
                        deviceId: { type: string, format: uuid }
                        schemaSubject: { type: string }
                        reason: { type: string }
              responses:
                '200':
                  description: How many were handed to Kafka again.
                  content:
                    application/json:
                      schema: { type: object, required: [replayed], properties: { replayed: { type: integer } } }
                '400': { $ref: '#/components/responses/Problem' }
                '401': { $ref: '#/components/responses/Problem' }
                '403': { $ref: '#/components/responses/Problem' }
                '422': { $ref: '#/components/responses/Problem' }
        """

    static let schemas = """
            DeadLetter:
              type: object
              required: [id, reason, original]
              properties:
                id: { type: integer }
                tenantId: { type: string }
                deviceId: { type: string }
                messageId: { type: string }
                schemaSubject: { type: string }
                schemaVersion: { type: integer }
                reason: { type: string }
                receivedAt: { type: string, format: date-time }
                replayedAt: { type: string, format: date-time }
                original: { type: string, description: The Kafka message value as it was received - base64. }
        """
}
