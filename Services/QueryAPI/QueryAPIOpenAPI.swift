/// QueryAPI's own paths in its OpenAPI document.
enum QueryAPIOpenAPI {
    static let paths = """
          /api/v1/telemetry/devices/{device}/points:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: device, in: path, required: true, schema: { type: string, format: uuid } }
              - { name: metric, in: query, required: true, schema: { type: string, maxLength: 200 } }
              - { name: from, in: query, description: RFC 3339; default a day before to., schema: { type: string, format: date-time } }
              - { name: to, in: query, description: RFC 3339 (exclusive); default now., schema: { type: string, format: date-time } }
              - { name: after, in: query, description: The cursor - the next value of the previous page., schema: { type: string, format: date-time } }
              - { name: limit, in: query, schema: { type: integer, minimum: 1, maximum: 10000, default: 1000 } }
              - { name: format, in: query, schema: { type: string, enum: [json, csv] } }
            get:
              summary: Raw points of one device and metric, oldest first, paged by a time cursor (viewer).
              operationId: telemetryPoints
              responses:
                '200':
                  description: A page of points; next is set when more may follow.
                  content:
                    application/json:
                      schema:
                        type: object
                        required: [deviceId, metric, points]
                        properties:
                          deviceId: { type: string }
                          metric: { type: string }
                          next: { type: string, format: date-time }
                          points: { type: array, items: { type: object, properties: { time: { type: string, format: date-time }, value: { type: number } } } }
                    text/csv: { schema: { type: string } }
                '400': { $ref: '#/components/responses/Problem' }
                '401': { $ref: '#/components/responses/Problem' }
                '403': { $ref: '#/components/responses/Problem' }
          /api/v1/telemetry/latest:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: devices, in: query, required: true, description: 'Comma-separated device ids, at most 500.', schema: { type: string } }
              - { name: format, in: query, schema: { type: string, enum: [json, csv] } }
            get:
              summary: The latest value of every metric of one or more devices (viewer).
              operationId: telemetryLatest
              responses:
                '200':
                  description: Per device, its metrics' latest time and value.
                  content:
                    application/json:
                      schema:
                        type: object
                        properties:
                          devices:
                            type: array
                            items:
                              type: object
                              properties:
                                deviceId: { type: string }
                                metrics: { type: object, additionalProperties: { type: object, properties: { time: { type: string }, value: { type: number } } } }
                    text/csv: { schema: { type: string } }
                '400': { $ref: '#/components/responses/Problem' }
                '401': { $ref: '#/components/responses/Problem' }
                '403': { $ref: '#/components/responses/Problem' }
          /api/v1/telemetry/aggregate:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: metric, in: query, required: true, schema: { type: string, minLength: 1, maxLength: 200 } }
              - { name: devices, in: query, description: 'Comma-separated device ids; every device of the tenant when absent.', schema: { type: string } }
              - { name: from, in: query, schema: { type: string, format: date-time } }
              - { name: to, in: query, schema: { type: string, format: date-time } }
              - { name: bucket, in: query, description: 'Bucket width from 1s to 1d, units s m h d.', schema: { type: string, pattern: '^[0-9]{1,5}[smhd]$', default: 1m } }
              - { name: fn, in: query, schema: { type: string, enum: [avg, min, max, sum, count, first, last], default: avg } }
              - { name: source, in: query, description: 'auto reads the hourly rollups when bucket and range are whole hours (exact, and kept longer than raw points); raw or rollup force one.', schema: { type: string, enum: [auto, raw, rollup], default: auto } }
              - { name: format, in: query, schema: { type: string, enum: [json, csv] } }
            get:
              summary: One aggregate of a metric per time bucket across one or many devices (viewer).
              operationId: telemetryAggregate
              responses:
                '200':
                  description: Buckets in time order with their value and point count.
                  content:
                    application/json:
                      schema:
                        type: object
                        properties:
                          metric: { type: string }
                          function: { type: string }
                          bucketSeconds: { type: integer }
                          source: { type: string, enum: [raw, rollup-1h] }
                          buckets: { type: array, items: { type: object, properties: { time: { type: string }, value: { type: number }, count: { type: integer } } } }
                    text/csv: { schema: { type: string } }
                '400': { $ref: '#/components/responses/Problem' }
                '401': { $ref: '#/components/responses/Problem' }
                '403': { $ref: '#/components/responses/Problem' }
        """
}
