import LibPQ
import SensormineClients

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
        Migration(
            version: 3, name: "device types, assets, devices, credentials, outbox",
            sql: """
                -- Every row below carries tenant_id and is visible exactly when its tenant is.
                CREATE TABLE device_types (
                    id uuid PRIMARY KEY,
                    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE RESTRICT,
                    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
                    description text NOT NULL DEFAULT '',
                    -- The SchemaRegistry subject its telemetry is validated against.
                    schema_subject text,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    updated_at timestamptz NOT NULL DEFAULT now()
                );
                CREATE UNIQUE INDEX device_types_name ON device_types (tenant_id, lower(name));
                CREATE TABLE assets (
                    id uuid PRIMARY KEY,
                    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE RESTRICT,
                    parent_id uuid REFERENCES assets (id) ON DELETE RESTRICT,
                    kind text NOT NULL CHECK (kind IN ('site', 'area', 'machine')),
                    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
                    attributes jsonb NOT NULL DEFAULT '{}',
                    created_at timestamptz NOT NULL DEFAULT now(),
                    updated_at timestamptz NOT NULL DEFAULT now()
                );
                CREATE UNIQUE INDEX assets_sibling_name
                    ON assets (tenant_id, coalesce(parent_id, '00000000-0000-0000-0000-000000000000'), lower(name));
                CREATE INDEX assets_parent ON assets (parent_id);
                CREATE TABLE devices (
                    id uuid PRIMARY KEY,
                    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE RESTRICT,
                    device_type_id uuid NOT NULL REFERENCES device_types (id) ON DELETE RESTRICT,
                    asset_id uuid REFERENCES assets (id) ON DELETE RESTRICT,
                    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
                    tags text[] NOT NULL DEFAULT '{}',
                    metadata jsonb NOT NULL DEFAULT '{}',
                    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'decommissioned')),
                    connectivity text NOT NULL DEFAULT 'offline' CHECK (connectivity IN ('online', 'offline')),
                    last_seen_at timestamptz,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    updated_at timestamptz NOT NULL DEFAULT now(),
                    decommissioned_at timestamptz
                );
                -- Listing pages by id within a tenant; filters by type, asset and tag.
                CREATE INDEX devices_tenant ON devices (tenant_id, id);
                CREATE INDEX devices_type ON devices (device_type_id);
                CREATE INDEX devices_asset ON devices (asset_id);
                CREATE INDEX devices_tags ON devices USING gin (tags);
                CREATE UNIQUE INDEX devices_active_name ON devices (tenant_id, lower(name)) WHERE status = 'active';
                CREATE TABLE api_keys (
                    id uuid PRIMARY KEY,
                    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE RESTRICT,
                    device_id uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
                    -- SHA-256 of the key; the key itself is shown once and never stored.
                    key_hash text NOT NULL UNIQUE,
                    prefix text NOT NULL,
                    name text NOT NULL DEFAULT '',
                    created_at timestamptz NOT NULL DEFAULT now(),
                    revoked_at timestamptz
                );
                CREATE INDEX api_keys_device ON api_keys (device_id);
                CREATE TABLE mqtt_credentials (
                    device_id uuid PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
                    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE RESTRICT,
                    -- The broker holds the password (hashed by its dynamic-security plugin).
                    username text NOT NULL UNIQUE,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    rotated_at timestamptz NOT NULL DEFAULT now()
                );
                DO $$
                DECLARE t text;
                BEGIN
                    FOREACH t IN ARRAY ARRAY['device_types', 'assets', 'devices', 'api_keys', 'mqtt_credentials'] LOOP
                        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
                        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
                        EXECUTE format($p$CREATE POLICY %I ON %I
                            USING (current_setting('sensormine.platform_admin', true) = 'on'
                                   OR EXISTS (SELECT 1 FROM tenants t WHERE t.id = %I.tenant_id))
                            WITH CHECK (current_setting('sensormine.platform_admin', true) = 'on'
                                   OR EXISTS (SELECT 1 FROM tenants t WHERE t.id = %I.tenant_id))$p$,
                            t || '_visible', t, t, t);
                    END LOOP;
                END $$;
                """ + EventOutbox.migrationSQL
        ),
        Migration(
            version: 4, name: "device types inherited by sub-tenants",
            sql: """
                -- An organisation's device types serve its sites' devices: a tenant reads the
                -- types of its ancestors (read only: updates and deletes still need the owner's
                -- subtree). The caller's own tenant row is visible to it, and its path names
                -- every ancestor.
                CREATE POLICY device_types_inherited ON device_types FOR SELECT
                    USING (tenant_id = ANY (coalesce(
                        (SELECT t.path FROM tenants t WHERE t.id = nullif(current_setting('sensormine.tenant', true), '')::uuid), '{}')));
                """
        ),
        Migration(
            version: 5, name: "credential outbox",
            sql: CredentialOutbox.migrationSQL
        ),
    ])
}
