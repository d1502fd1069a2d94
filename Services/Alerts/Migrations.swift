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
        Migration(
            version: 2, name: "alert instances, their transitions and the per-key sequence",
            sql: """
                -- One row per (tenant, dedup key): the highest sequence applied (a late, older event
                -- changes nothing) and the instance open now, if any.
                CREATE TABLE alert_keys (
                    tenant_id uuid NOT NULL,
                    dedup_key text NOT NULL,
                    last_sequence bigint NOT NULL,
                    open_instance uuid,
                    PRIMARY KEY (tenant_id, dedup_key)
                );
                CREATE TABLE alert_instances (
                    id uuid PRIMARY KEY,
                    tenant_id uuid NOT NULL,
                    dedup_key text NOT NULL,
                    source text NOT NULL CHECK (source IN ('rule', 'quota', 'system')),
                    rule_id uuid,
                    device_id uuid,
                    severity text NOT NULL,
                    summary text NOT NULL,
                    labels jsonb NOT NULL,
                    "values" jsonb NOT NULL,
                    state text NOT NULL CHECK (state IN ('firing', 'resolved')),
                    acknowledged boolean NOT NULL DEFAULT false,
                    acknowledged_by text,
                    acknowledged_at timestamptz,
                    resolved_by text,
                    resolved_at timestamptz,
                    opened_at timestamptz NOT NULL,
                    last_triggered_at timestamptz NOT NULL,
                    trigger_count bigint NOT NULL,
                    flapping boolean NOT NULL DEFAULT false,
                    -- A flapping alert's resolve is held (it stays firing) until it has been quiet a whole window.
                    held_resolve_at timestamptz
                );
                CREATE UNIQUE INDEX alert_instances_one_open ON alert_instances (tenant_id, dedup_key) WHERE state = 'firing';
                CREATE INDEX alert_instances_recent ON alert_instances (tenant_id, opened_at DESC, id DESC);
                CREATE INDEX alert_instances_key ON alert_instances (tenant_id, dedup_key, opened_at DESC);
                CREATE INDEX alert_instances_held ON alert_instances (held_resolve_at) WHERE held_resolve_at IS NOT NULL;
                CREATE TABLE alert_transitions (
                    id bigserial PRIMARY KEY,
                    instance_id uuid NOT NULL REFERENCES alert_instances ON DELETE CASCADE,
                    tenant_id uuid NOT NULL,
                    kind text NOT NULL CHECK (kind IN ('opened', 'acknowledged', 'resolved', 'flapping')),
                    at timestamptz NOT NULL,
                    actor text NOT NULL,
                    detail text NOT NULL DEFAULT ''
                );
                CREATE INDEX alert_transitions_instance ON alert_transitions (instance_id, id);
                ALTER TABLE alert_keys ENABLE ROW LEVEL SECURITY;
                ALTER TABLE alert_keys FORCE ROW LEVEL SECURITY;
                CREATE POLICY alert_keys_tenant ON alert_keys USING (alerts_tenant_visible(tenant_id)) WITH CHECK (alerts_tenant_visible(tenant_id));
                ALTER TABLE alert_instances ENABLE ROW LEVEL SECURITY;
                ALTER TABLE alert_instances FORCE ROW LEVEL SECURITY;
                CREATE POLICY alert_instances_tenant ON alert_instances
                    USING (alerts_tenant_visible(tenant_id)) WITH CHECK (alerts_tenant_visible(tenant_id));
                ALTER TABLE alert_transitions ENABLE ROW LEVEL SECURITY;
                ALTER TABLE alert_transitions FORCE ROW LEVEL SECURITY;
                CREATE POLICY alert_transitions_tenant ON alert_transitions
                    USING (alerts_tenant_visible(tenant_id)) WITH CHECK (alerts_tenant_visible(tenant_id));
                """
        ),
        Migration(
            version: 3, name: "notification channels, policies, silences, escalations, the notification queue and its attempt log",
            sql: """
                CREATE TABLE notification_channels (
                    id uuid PRIMARY KEY,
                    tenant_id uuid NOT NULL,
                    name text NOT NULL,
                    kind text NOT NULL CHECK (kind IN ('webhook', 'email', 'sms')),
                    url text,
                    recipients jsonb NOT NULL DEFAULT '[]',
                    secret text,
                    enabled boolean NOT NULL DEFAULT true,
                    created_at timestamptz NOT NULL DEFAULT now()
                );
                CREATE INDEX notification_channels_tenant ON notification_channels (tenant_id, name);
                CREATE TABLE notification_policies (
                    id uuid PRIMARY KEY,
                    tenant_id uuid NOT NULL,
                    name text NOT NULL,
                    levels jsonb NOT NULL,
                    repeat_count integer NOT NULL,
                    group_by jsonb NOT NULL,
                    group_wait_seconds integer NOT NULL,
                    repeat_interval_seconds integer NOT NULL,
                    acknowledgement_timeout_seconds integer NOT NULL,
                    send_resolved boolean NOT NULL,
                    is_default boolean NOT NULL DEFAULT false
                );
                CREATE UNIQUE INDEX notification_policies_one_default ON notification_policies (tenant_id) WHERE is_default;
                CREATE TABLE alert_silences (
                    id uuid PRIMARY KEY,
                    tenant_id uuid NOT NULL,
                    labels jsonb NOT NULL,
                    device_id uuid,
                    rule_id uuid,
                    starts_at timestamptz NOT NULL,
                    ends_at timestamptz NOT NULL,
                    comment text NOT NULL,
                    created_by text NOT NULL,
                    created_at timestamptz NOT NULL DEFAULT now()
                );
                CREATE INDEX alert_silences_active ON alert_silences (tenant_id, ends_at);
                -- One escalation per alert: the next level due, claimed by whichever replica gets it first.
                CREATE TABLE alert_escalations (
                    instance_id uuid PRIMARY KEY REFERENCES alert_instances ON DELETE CASCADE,
                    tenant_id uuid NOT NULL,
                    policy_id uuid NOT NULL,
                    next_level integer NOT NULL,
                    cycle integer NOT NULL,
                    due_at timestamptz NOT NULL,
                    phase text NOT NULL CHECK (phase IN ('escalating', 'repeating', 'acknowledged', 'done'))
                );
                CREATE INDEX alert_escalations_due ON alert_escalations (due_at) WHERE phase <> 'done';
                CREATE TABLE alert_notifications (
                    id bigserial PRIMARY KEY,
                    tenant_id uuid NOT NULL,
                    instance_id uuid NOT NULL REFERENCES alert_instances ON DELETE CASCADE,
                    channel_id uuid NOT NULL,
                    kind text NOT NULL CHECK (kind IN ('firing', 'resolved')),
                    -- (alert, transition, channel): a second enqueue of the same notice is a no-op.
                    idempotency_key text NOT NULL UNIQUE,
                    group_key text NOT NULL,
                    due_at timestamptz NOT NULL,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    attempts integer NOT NULL DEFAULT 0,
                    -- A dispatcher sending it holds it until then; one that died lets it come due again.
                    claimed_until timestamptz,
                    state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed', 'silenced')),
                    finished_at timestamptz,
                    last_error text
                );
                CREATE INDEX alert_notifications_due ON alert_notifications (due_at) WHERE state = 'pending';
                CREATE INDEX alert_notifications_instance ON alert_notifications (instance_id, id);
                CREATE INDEX alert_notifications_group ON alert_notifications (channel_id, group_key, finished_at DESC);
                CREATE TABLE alert_notification_attempts (
                    id bigserial PRIMARY KEY,
                    notification_id bigint NOT NULL REFERENCES alert_notifications ON DELETE CASCADE,
                    tenant_id uuid NOT NULL,
                    at timestamptz NOT NULL DEFAULT now(),
                    delivered boolean NOT NULL,
                    detail text NOT NULL,
                    duration_ms integer NOT NULL
                );
                CREATE INDEX alert_notification_attempts_notification ON alert_notification_attempts (notification_id, id);
                ALTER TABLE alert_transitions DROP CONSTRAINT alert_transitions_kind_check;
                ALTER TABLE alert_transitions ADD CONSTRAINT alert_transitions_kind_check
                    CHECK (kind IN ('opened', 'acknowledged', 'unacknowledged', 'resolved', 'flapping'));
                """ + ["notification_channels", "notification_policies", "alert_silences", "alert_escalations", "alert_notifications", "alert_notification_attempts"]
                .map { table in
                    """
                    ALTER TABLE \(table) ENABLE ROW LEVEL SECURITY;
                    ALTER TABLE \(table) FORCE ROW LEVEL SECURITY;
                    CREATE POLICY \(table)_tenant ON \(table) USING (alerts_tenant_visible(tenant_id)) WITH CHECK (alerts_tenant_visible(tenant_id));

                    """
                }.joined()
        ),
        Migration(
            version: 4, name: "room on alert pages for in-place updates",
            sql: """
                -- Every trigger that joins an open alert updates its instance and its key; with free
                -- room on the page PostgreSQL updates them in place (no index entries written).
                ALTER TABLE alert_instances SET (fillfactor = 70);
                ALTER TABLE alert_keys SET (fillfactor = 70);
                """
        ),
    ])
}
