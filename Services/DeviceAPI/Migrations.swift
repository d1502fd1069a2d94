import LibPQ

/// DeviceAPI's tables in `sensormine_metadata`, versioned.
enum DeviceAPIMigrations {
    static let runner = MigrationRunner(scope: "DeviceAPI", migrations: [
        Migration(
            version: 1, name: "tenants with row-level security",
            sql: """
                CREATE TABLE tenants (
                    id uuid PRIMARY KEY,
                    parent_id uuid REFERENCES tenants (id) ON DELETE RESTRICT,
                    -- Ancestors from the root down to this tenant, inclusive: a caller sees a row
                    -- when its own tenant is on the row's path (itself and its descendants).
                    path uuid[] NOT NULL,
                    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
                    kind text NOT NULL CHECK (kind IN ('organisation', 'site', 'department')),
                    settings jsonb NOT NULL DEFAULT '{}',
                    -- The parent's effective settings, kept here so a tenant computes its own
                    -- without reading ancestors it may not see.
                    inherited_settings jsonb NOT NULL DEFAULT '{}',
                    created_at timestamptz NOT NULL DEFAULT now(),
                    updated_at timestamptz NOT NULL DEFAULT now(),
                    CHECK (path[cardinality(path)] = id)
                );
                CREATE INDEX tenants_path ON tenants USING gin (path);
                CREATE INDEX tenants_parent ON tenants (parent_id);
                CREATE UNIQUE INDEX tenants_sibling_name
                    ON tenants (coalesce(parent_id, '00000000-0000-0000-0000-000000000000'), lower(name));
                ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
                -- The service connects as the table owner; FORCE makes the policy bind it too.
                ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
                CREATE POLICY tenants_visible ON tenants
                    USING (current_setting('sensormine.platform_admin', true) = 'on'
                           OR nullif(current_setting('sensormine.tenant', true), '')::uuid = ANY (path))
                    WITH CHECK (current_setting('sensormine.platform_admin', true) = 'on'
                           OR nullif(current_setting('sensormine.tenant', true), '')::uuid = ANY (path));
                """
        ),
        Migration(
            version: 2, name: "users and refresh tokens",
            sql: """
                CREATE TABLE users (
                    id uuid PRIMARY KEY,
                    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE RESTRICT,
                    email text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
                    password_hash text NOT NULL,
                    roles text[] NOT NULL CHECK (cardinality(roles) > 0),
                    created_at timestamptz NOT NULL DEFAULT now()
                );
                CREATE UNIQUE INDEX users_email ON users (lower(email));
                CREATE INDEX users_tenant ON users (tenant_id);
                ALTER TABLE users ENABLE ROW LEVEL SECURITY;
                ALTER TABLE users FORCE ROW LEVEL SECURITY;
                -- A user row is visible exactly when its tenant is (the tenants policy applies
                -- inside the subquery).
                CREATE POLICY users_visible ON users
                    USING (current_setting('sensormine.platform_admin', true) = 'on'
                           OR EXISTS (SELECT 1 FROM tenants t WHERE t.id = users.tenant_id))
                    WITH CHECK (current_setting('sensormine.platform_admin', true) = 'on'
                           OR EXISTS (SELECT 1 FROM tenants t WHERE t.id = users.tenant_id));
                CREATE TABLE refresh_tokens (
                    token_hash text PRIMARY KEY,
                    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                    expires_at timestamptz NOT NULL,
                    revoked_at timestamptz
                );
                ALTER TABLE refresh_tokens ENABLE ROW LEVEL SECURITY;
                ALTER TABLE refresh_tokens FORCE ROW LEVEL SECURITY;
                -- Only the sign-in flow, which runs with platform scope, touches refresh tokens.
                CREATE POLICY refresh_tokens_signin ON refresh_tokens
                    USING (current_setting('sensormine.platform_admin', true) = 'on')
                    WITH CHECK (current_setting('sensormine.platform_admin', true) = 'on');
                """
        ),
    ])
}
