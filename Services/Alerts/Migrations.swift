import LibPQ
import SensormineClients

/// Alerts' tables in `sensormine_metadata`, versioned.
enum AlertsMigrations {
    static let runner = MigrationRunner(scope: "Alerts", migrations: [
        Migration(
            version: 1, name: "alert rules with row-level security, rule outbox",
            sql: """
                -- Tenancy is DeviceAPI's `tenants` table (its row-level security shows a caller its
                -- own subtree). These functions read it when a policy runs, not when they are
                -- created (PL/pgSQL bodies are resolved at run time), so Alerts may migrate before
                -- DeviceAPI on a new database.
                CREATE FUNCTION alerts_tenant_visible(tenant uuid) RETURNS boolean
                    LANGUAGE plpgsql STABLE AS $$
                    BEGIN
                        RETURN current_setting('sensormine.platform_admin', true) = 'on'
                            OR tenant = nullif(current_setting('sensormine.tenant', true), '')::uuid
                            OR EXISTS (SELECT 1 FROM tenants t WHERE t.id = tenant);
                    END $$;
                -- Whether `tenant` is an ancestor of (or is) the caller's tenant.
                CREATE FUNCTION alerts_tenant_ancestor(tenant uuid) RETURNS boolean
                    LANGUAGE plpgsql STABLE AS $$
                    BEGIN
                        RETURN tenant = ANY (coalesce(
                            (SELECT t.path FROM tenants t WHERE t.id = nullif(current_setting('sensormine.tenant', true), '')::uuid), '{}'));
                    END $$;
                CREATE TABLE alert_rules (
                    id uuid PRIMARY KEY,
                    tenant_id uuid NOT NULL,
                    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
                    description text NOT NULL DEFAULT '',
                    enabled boolean NOT NULL DEFAULT true,
                    scope jsonb NOT NULL,
                    condition jsonb NOT NULL,
                    for_seconds integer NOT NULL CHECK (for_seconds >= 0),
                    severity text NOT NULL,
                    labels jsonb NOT NULL DEFAULT '{}',
                    summary_template text NOT NULL DEFAULT '',
                    message_template text NOT NULL DEFAULT '',
                    notification_policy_id uuid,
                    applies_to_sub_tenants boolean NOT NULL DEFAULT false,
                    revision integer NOT NULL DEFAULT 1,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    updated_at timestamptz NOT NULL DEFAULT now()
                );
                CREATE INDEX alert_rules_tenant ON alert_rules (tenant_id, name);
                ALTER TABLE alert_rules ENABLE ROW LEVEL SECURITY;
                ALTER TABLE alert_rules FORCE ROW LEVEL SECURITY;
                -- A tenant's rules are its subtree's to read and write (a parent manages its sites').
                CREATE POLICY alert_rules_tenant ON alert_rules
                    USING (alerts_tenant_visible(tenant_id)) WITH CHECK (alerts_tenant_visible(tenant_id));
                -- A sub-tenant reads (never writes) the rules its ancestors apply to it.
                CREATE POLICY alert_rules_inherited ON alert_rules FOR SELECT
                    USING (applies_to_sub_tenants AND alerts_tenant_ancestor(tenant_id));
                """ + EventOutbox.migrationSQL(table: "alerts_outbox")
        ),
    ])
}
