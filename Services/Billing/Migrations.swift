import LibPQ

/// Billing's tables in `sensormine_metadata`, versioned.
enum BillingMigrations {
    static let all = [
        Migration(
            version: 1, name: "plan catalogue and usage events",
            sql: """
                -- Whether `tenant` is the caller's tenant or in its subtree (tenants' own row-level
                -- security answers the subtree), or the caller administers the platform.
                CREATE FUNCTION billing_tenant_visible(tenant uuid) RETURNS boolean
                    LANGUAGE plpgsql STABLE AS $$
                    BEGIN
                        RETURN current_setting('sensormine.platform_admin', true) = 'on'
                            OR tenant = nullif(current_setting('sensormine.tenant', true), '')::uuid
                            OR EXISTS (SELECT 1 FROM tenants t WHERE t.id = tenant);
                    END $$;
                -- The plans, as data: what each includes per resource (in the resource's base
                -- unit; a resource not listed is unlimited) and its overage prices (minor units
                -- per `per` base units). Prices null: negotiated (Enterprise).
                CREATE TABLE billing_plans (
                    id text PRIMARY KEY,
                    name text NOT NULL,
                    currency text NOT NULL,
                    monthly_price_minor bigint,
                    yearly_price_minor bigint,
                    included jsonb NOT NULL,
                    overage jsonb NOT NULL,
                    position integer NOT NULL
                );
                INSERT INTO billing_plans (id, name, currency, monthly_price_minor, yearly_price_minor, included, overage, position) VALUES
                    ('free', 'Free', 'USD', 0, 0,
                     '{"active-devices": 10, "timeseries-storage": 1000000000, "api-calls": 10000}', '{}', 1),
                    ('pro', 'Pro', 'USD', 9900, 99000,
                     '{"active-devices": 100, "timeseries-storage": 50000000000, "api-calls": 1000000}',
                     '{"active-devices": {"per": 1, "priceMinor": 100}, "timeseries-storage": {"per": 1000000000, "priceMinor": 25},
                       "api-calls": {"per": 1000, "priceMinor": 10}, "data-ingested": {"per": 1000000000, "priceMinor": 9},
                       "ml-inference": {"per": 1000, "priceMinor": 5}, "data-egress": {"per": 1000000000, "priceMinor": 9},
                       "object-storage": {"per": 1000000000, "priceMinor": 2}, "video-processing": {"per": 3600, "priceMinor": 50}}', 2),
                    ('enterprise', 'Enterprise', 'USD', NULL, NULL, '{}', '{}', 3);
                -- Every usage record of metering.events once: the event id is the key, so a
                -- record delivered again is not counted again.
                CREATE TABLE usage_events (
                    event_id text PRIMARY KEY,
                    tenant_id uuid NOT NULL,
                    occurred_at timestamptz NOT NULL,
                    resource text NOT NULL,
                    quantity double precision NOT NULL,
                    unit text NOT NULL,
                    producer text NOT NULL,
                    metadata jsonb NOT NULL DEFAULT '{}',
                    received_at timestamptz NOT NULL DEFAULT now()
                );
                CREATE INDEX usage_events_tenant_time ON usage_events (tenant_id, occurred_at);
                ALTER TABLE usage_events ENABLE ROW LEVEL SECURITY;
                ALTER TABLE usage_events FORCE ROW LEVEL SECURITY;
                CREATE POLICY usage_events_tenant ON usage_events
                    USING (billing_tenant_visible(tenant_id)) WITH CHECK (billing_tenant_visible(tenant_id));
                """
        ),
    ]
}
