import LibPQ

/// SchemaRegistry's tables in `sensormine_metadata`, versioned.
enum SchemaRegistryMigrations {
    static let runner = MigrationRunner(scope: "SchemaRegistry", migrations: [
        Migration(
            version: 1, name: "subjects and versions with row-level security",
            sql: """
                CREATE TABLE schema_subjects (
                    tenant_id uuid NOT NULL,
                    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
                    compatibility text NOT NULL DEFAULT 'BACKWARD',
                    description text NOT NULL DEFAULT '',
                    created_at timestamptz NOT NULL DEFAULT now(),
                    updated_at timestamptz NOT NULL DEFAULT now(),
                    deleted_at timestamptz,
                    PRIMARY KEY (tenant_id, name)
                );
                CREATE TABLE schema_versions (
                    tenant_id uuid NOT NULL,
                    subject text NOT NULL,
                    version integer NOT NULL CHECK (version > 0),
                    schema text NOT NULL,
                    content_hash text NOT NULL,
                    deprecated boolean NOT NULL DEFAULT false,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    deleted_at timestamptz,
                    PRIMARY KEY (tenant_id, subject, version),
                    FOREIGN KEY (tenant_id, subject) REFERENCES schema_subjects (tenant_id, name)
                );
                -- Registering the same schema twice finds the live version with its hash.
                CREATE UNIQUE INDEX schema_versions_hash ON schema_versions (tenant_id, subject, content_hash) WHERE deleted_at IS NULL;
                ALTER TABLE schema_subjects ENABLE ROW LEVEL SECURITY;
                ALTER TABLE schema_subjects FORCE ROW LEVEL SECURITY;
                ALTER TABLE schema_versions ENABLE ROW LEVEL SECURITY;
                ALTER TABLE schema_versions FORCE ROW LEVEL SECURITY;
                -- Subjects belong to exactly one tenant; platform scope (services, admins) sees all.
                CREATE POLICY schema_subjects_tenant ON schema_subjects
                    USING (current_setting('sensormine.platform_admin', true) = 'on'
                           OR tenant_id = nullif(current_setting('sensormine.tenant', true), '')::uuid)
                    WITH CHECK (current_setting('sensormine.platform_admin', true) = 'on'
                           OR tenant_id = nullif(current_setting('sensormine.tenant', true), '')::uuid);
                CREATE POLICY schema_versions_tenant ON schema_versions
                    USING (current_setting('sensormine.platform_admin', true) = 'on'
                           OR tenant_id = nullif(current_setting('sensormine.tenant', true), '')::uuid)
                    WITH CHECK (current_setting('sensormine.platform_admin', true) = 'on'
                           OR tenant_id = nullif(current_setting('sensormine.tenant', true), '')::uuid);
                """
        ),
        Migration(
            version: 2, name: "metered AI calls",
            sql: """
                CREATE TABLE ai_usage (
                    id bigserial PRIMARY KEY,
                    tenant_id uuid NOT NULL,
                    provider text NOT NULL,
                    model text NOT NULL,
                    tokens_in integer NOT NULL,
                    tokens_out integer NOT NULL,
                    cost_usd numeric(12, 6) NOT NULL,
                    duration_ms integer NOT NULL,
                    success boolean NOT NULL,
                    created_at timestamptz NOT NULL DEFAULT now()
                );
                CREATE INDEX ai_usage_tenant_time ON ai_usage (tenant_id, created_at);
                ALTER TABLE ai_usage ENABLE ROW LEVEL SECURITY;
                ALTER TABLE ai_usage FORCE ROW LEVEL SECURITY;
                CREATE POLICY ai_usage_tenant ON ai_usage
                    USING (current_setting('sensormine.platform_admin', true) = 'on'
                           OR tenant_id = nullif(current_setting('sensormine.tenant', true), '')::uuid)
                    WITH CHECK (current_setting('sensormine.platform_admin', true) = 'on'
                           OR tenant_id = nullif(current_setting('sensormine.tenant', true), '')::uuid);
                """
        ),
    ])
}
