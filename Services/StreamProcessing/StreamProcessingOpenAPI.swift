/// StreamProcessing's own paths in its OpenAPI document: the model registry.
enum StreamProcessingOpenAPI {
    static let paths = """
          /api/v1/models:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: tenantId, in: query, description: 'Another tenant (platform-admin only); the caller''s own by default.', schema: { type: string, format: uuid } }
            post:
              summary: Register an ONNX model for a device type (operator); it runs on each closed window of that type's devices. 422 names every invalid field, and says why ONNX Runtime refused the model.
              operationId: createModel
              requestBody: { required: true, content: { application/json: { schema: { $ref: '#/components/schemas/ModelRequest' } } } }
              responses:
                '201': { description: Registered; every member loads it within SENSORMINE_STREAM_MODEL_REFRESH., content: { application/json: { schema: { $ref: '#/components/schemas/Model' } } } }
                '400': { $ref: '#/components/responses/Problem' }
                '403': { $ref: '#/components/responses/Problem' }
                '409': { $ref: '#/components/responses/Problem' }
                '413': { $ref: '#/components/responses/Problem' }
                '422': { $ref: '#/components/responses/Problem' }
                '503': { $ref: '#/components/responses/Problem' }
            get:
              summary: The tenant's models, by name (viewer).
              operationId: listModels
              responses:
                '200': { description: Models., content: { application/json: { schema: { type: object, required: [items], properties: { items: { type: array, items: { $ref: '#/components/schemas/Model' } } } } } } }
                '400': { $ref: '#/components/responses/Problem' }
                '403': { $ref: '#/components/responses/Problem' }
          /api/v1/models/{id}:
            parameters:
              - { $ref: '#/components/parameters/GatewayToken' }
              - { name: id, in: path, required: true, schema: { type: string, format: uuid } }
              - { name: tenantId, in: query, description: 'Another tenant (platform-admin only).', schema: { type: string, format: uuid } }
            get:
              summary: One model (viewer).
              operationId: getModel
              responses:
                '200': { description: The model., content: { application/json: { schema: { $ref: '#/components/schemas/Model' } } } }
                '400': { $ref: '#/components/responses/Problem' }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
            put:
              summary: Replace a model (operator); its revision goes up and results name the new revision.
              operationId: replaceModel
              requestBody: { required: true, content: { application/json: { schema: { $ref: '#/components/schemas/ModelRequest' } } } }
              responses:
                '200': { description: The model., content: { application/json: { schema: { $ref: '#/components/schemas/Model' } } } }
                '400': { $ref: '#/components/responses/Problem' }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
                '409': { $ref: '#/components/responses/Problem' }
                '413': { $ref: '#/components/responses/Problem' }
                '422': { $ref: '#/components/responses/Problem' }
                '503': { $ref: '#/components/responses/Problem' }
            delete:
              summary: Delete a model (operator); members stop running it within the refresh interval.
              operationId: deleteModel
              responses:
                '204': { description: Deleted. }
                '400': { $ref: '#/components/responses/Problem' }
                '403': { $ref: '#/components/responses/Problem' }
                '404': { $ref: '#/components/responses/Problem' }
        """

    static let schemas = """
            ModelFeature:
              type: object
              required: [metric, aggregate]
              additionalProperties: false
              properties:
                metric: { type: string, minLength: 1, maxLength: 200 }
                aggregate: { type: string, enum: [count, sum, min, max, avg, first, last] }
            ModelRequest:
              type: object
              required: [name, deviceTypeId, windowSeconds, features, model]
              additionalProperties: false
              properties:
                name: { type: string, minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9_-]+$', description: 'The outputs are the metrics ml.<name> (or ml.<name>.<i>), which alert rules can watch.' }
                description: { type: string, maxLength: 2000 }
                enabled: { type: boolean, default: true }
                deviceTypeId: { type: string, format: uuid }
                windowSeconds: { type: integer, minimum: 1, maximum: 86400, description: One of the window sizes StreamProcessing computes (SENSORMINE_STREAM_WINDOWS). }
                hopSeconds: { type: integer, minimum: 1, maximum: 86400, description: For a hopping window; the size by default. }
                features: { type: array, minItems: 1, maxItems: 256, items: { $ref: '#/components/schemas/ModelFeature' }, description: 'In the order of the model''s input: one float tensor [N, features] or [features].' }
                model: { type: string, contentEncoding: base64, description: 'The ONNX file, at most SENSORMINE_STREAM_MODEL_MAX_BYTES.' }
            Model:
              type: object
              required: [id, tenantId, name, description, enabled, deviceTypeId, windowSeconds, hopSeconds, features, inputName, outputName, outputsPerWindow, metrics, sizeBytes, sha256, revision, createdAt, updatedAt]
              properties:
                id: { type: string, format: uuid }
                tenantId: { type: string, format: uuid }
                name: { type: string }
                description: { type: string }
                enabled: { type: boolean }
                deviceTypeId: { type: string, format: uuid }
                windowSeconds: { type: integer }
                hopSeconds: { type: integer }
                features: { type: array, items: { $ref: '#/components/schemas/ModelFeature' } }
                inputName: { type: string }
                outputName: { type: string }
                outputsPerWindow: { type: integer, minimum: 1, maximum: 16 }
                metrics: { type: array, items: { type: string } }
                sizeBytes: { type: integer }
                sha256: { type: string }
                revision: { type: integer, minimum: 1 }
                createdAt: { type: string, format: date-time }
                updatedAt: { type: string, format: date-time }
        """
}
