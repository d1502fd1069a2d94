import LibPQ
import SensormineClients

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
        Migration(
            version: 2, name: "subscriptions, usage totals per month and quota state",
            sql: """
                -- Which resources a plan refuses past what it includes (the others are billed as
                -- overage). Free refuses; Pro bills. Free's data ingested is 1 GB a month.
                ALTER TABLE billing_plans ADD COLUMN hard_limits text[] NOT NULL DEFAULT '{}';
                UPDATE billing_plans SET hard_limits = '{active-devices,api-calls,data-ingested,timeseries-storage}',
                    included = included || '{"data-ingested": 1000000000}' WHERE id = 'free';
                -- An organisation's subscription; an organisation without one is on Free.
                -- Overrides (a platform-admin's) replace the plan's included quantities by
                -- resource; hard_limits null means the plan's.
                CREATE TABLE billing_subscriptions (
                    organisation_id uuid PRIMARY KEY,
                    plan_id text NOT NULL REFERENCES billing_plans (id),
                    billing_interval text NOT NULL DEFAULT 'month' CHECK (billing_interval IN ('month', 'year')),
                    included_overrides jsonb NOT NULL DEFAULT '{}',
                    hard_limits text[],
                    currency text NOT NULL DEFAULT 'USD',
                    tax_rate_basis_points integer NOT NULL DEFAULT 0 CHECK (tax_rate_basis_points BETWEEN 0 AND 10000),
                    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'grace', 'lapsed')),
                    grace_until timestamptz,
                    stripe_customer_id text,
                    stripe_subscription_id text,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    updated_at timestamptz NOT NULL DEFAULT now()
                );
                ALTER TABLE billing_subscriptions ENABLE ROW LEVEL SECURITY;
                ALTER TABLE billing_subscriptions FORCE ROW LEVEL SECURITY;
                CREATE POLICY billing_subscriptions_tenant ON billing_subscriptions
                    USING (billing_tenant_visible(organisation_id)) WITH CHECK (current_setting('sensormine.platform_admin', true) = 'on');
                -- Usage per tenant, calendar month (UTC) and resource, kept with each stored batch:
                -- quotas read these instead of summing the month's events.
                CREATE TABLE usage_totals (
                    tenant_id uuid NOT NULL,
                    period_start timestamptz NOT NULL,
                    resource text NOT NULL,
                    quantity double precision NOT NULL,
                    PRIMARY KEY (tenant_id, period_start, resource)
                );
                ALTER TABLE usage_totals ENABLE ROW LEVEL SECURITY;
                ALTER TABLE usage_totals FORCE ROW LEVEL SECURITY;
                CREATE POLICY usage_totals_tenant ON usage_totals
                    USING (billing_tenant_visible(tenant_id)) WITH CHECK (billing_tenant_visible(tenant_id));
                INSERT INTO usage_totals (tenant_id, period_start, resource, quantity)
                    SELECT tenant_id, date_trunc('month', occurred_at, 'UTC'), resource, sum(quantity) FROM usage_events GROUP BY 1, 2, 3;
                -- The last quota state published per organisation (billing.quotas), by signature:
                -- a new record goes out only when plan, period, limits or levels change.
                CREATE TABLE quota_states (
                    organisation_id uuid PRIMARY KEY,
                    signature text NOT NULL,
                    state jsonb NOT NULL,
                    updated_at timestamptz NOT NULL DEFAULT now()
                );
                -- One notice per organisation, period, resource and level (warning at 80 %,
                -- exceeded at 100 %), raised as an alert of source quota and resolved when the
                -- level no longer holds (a new period, a larger plan).
                CREATE TABLE quota_notices (
                    organisation_id uuid NOT NULL,
                    period_start timestamptz NOT NULL,
                    resource text NOT NULL,
                    level text NOT NULL,
                    notified_at timestamptz NOT NULL DEFAULT now(),
                    resolved_at timestamptz,
                    PRIMARY KEY (organisation_id, period_start, resource, level)
                );
                CREATE INDEX quota_notices_open ON quota_notices (organisation_id) WHERE resolved_at IS NULL;
                -- Billing's events (billing.quotas, alerts.triggered), sent after commit.
                \(EventOutbox.migrationSQL(table: "billing_outbox"))
                -- Plans to set in DeviceAPI's tenant settings, sent after commit.
                CREATE TABLE billing_plan_sync (
                    id bigserial PRIMARY KEY,
                    organisation_id uuid NOT NULL,
                    plan_id text NOT NULL,
                    created_at timestamptz NOT NULL DEFAULT now()
                );
                """
        ),
        Migration(
            version: 3, name: "invoices and chargeback settings",
            sql: """
                -- The platform's own invoices, one per organisation and period, as documents
                -- (lines, parties' usage and allocation) with the columns they are found by.
                CREATE TABLE billing_invoices (
                    id uuid PRIMARY KEY,
                    organisation_id uuid NOT NULL,
                    number text NOT NULL UNIQUE,
                    period_start timestamptz NOT NULL,
                    period_end timestamptz NOT NULL,
                    status text NOT NULL CHECK (status IN ('draft', 'finalized', 'paid', 'void')),
                    invoice jsonb NOT NULL,
                    stripe_invoice_id text,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    updated_at timestamptz NOT NULL DEFAULT now(),
                    UNIQUE (organisation_id, period_start)
                );
                ALTER TABLE billing_invoices ENABLE ROW LEVEL SECURITY;
                ALTER TABLE billing_invoices FORCE ROW LEVEL SECURITY;
                CREATE POLICY billing_invoices_tenant ON billing_invoices
                    USING (billing_tenant_visible(organisation_id)) WITH CHECK (current_setting('sensormine.platform_admin', true) = 'on');
                -- How an organisation divides its invoices among its sub-tenants.
                CREATE TABLE chargeback_settings (
                    organisation_id uuid PRIMARY KEY,
                    settings jsonb NOT NULL,
                    updated_at timestamptz NOT NULL DEFAULT now()
                );
                ALTER TABLE chargeback_settings ENABLE ROW LEVEL SECURITY;
                ALTER TABLE chargeback_settings FORCE ROW LEVEL SECURITY;
                CREATE POLICY chargeback_settings_tenant ON chargeback_settings
                    USING (billing_tenant_visible(organisation_id)) WITH CHECK (billing_tenant_visible(organisation_id));
                """
        ),
        Migration(
            version: 4, name: "Stripe events",
            sql: """
                -- Every Stripe event applied once, by its id, whatever the number of deliveries.
                CREATE TABLE stripe_events (
                    id text PRIMARY KEY,
                    type text NOT NULL,
                    created timestamptz NOT NULL,
                    organisation_id uuid,
                    received_at timestamptz NOT NULL DEFAULT now()
                );
                -- The Stripe time of the subscription state last applied: an older event that
                -- arrives later changes nothing.
                ALTER TABLE billing_subscriptions ADD COLUMN stripe_state_at timestamptz;
                CREATE INDEX billing_subscriptions_customer ON billing_subscriptions (stripe_customer_id);
                """
        ),
        Migration(
            version: 5, name: "Stripe synchronisation",
            sql: """
                -- What to bring to Stripe after the change commits: an organisation's customer and
                -- subscription, or a finalised invoice.
                CREATE TABLE billing_stripe_sync (
                    id bigserial PRIMARY KEY,
                    organisation_id uuid NOT NULL,
                    kind text NOT NULL CHECK (kind IN ('subscription', 'invoice')),
                    invoice_id uuid,
                    created_at timestamptz NOT NULL DEFAULT now()
                );
                -- Why Stripe last refused a change (no payment method, …), cleared by a success.
                ALTER TABLE billing_subscriptions ADD COLUMN stripe_sync_error text;
                """
        ),
        Migration(
            version: 6, name: "Stripe meter events",
            sql: """
                -- Usage records of organisations with a Stripe customer, to report as Billing Meter
                -- events (identifier = the record's id) after the batch that stored them commits.
                CREATE TABLE billing_meter_outbox (
                    id bigserial PRIMARY KEY,
                    event_id text NOT NULL,
                    organisation_id uuid NOT NULL,
                    resource text NOT NULL,
                    quantity double precision NOT NULL,
                    occurred_at timestamptz NOT NULL
                );
                """
        ),
        Migration(
            version: 7, name: "daily usage snapshots",
            sql: """
                -- Each tenant's levels per day as the daily snapshot's usage records carry them
                -- (Ingestion's: devices active in the month so far, storage in bytes). The storage
                -- quota reads the latest level here, not the month's sum of byte-months.
                CREATE TABLE tenant_usage_snapshots (
                    tenant_id uuid NOT NULL,
                    day date NOT NULL,
                    active_devices bigint,
                    storage_bytes bigint,
                    raw_storage_exact boolean,
                    recorded_at timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (tenant_id, day)
                );
                ALTER TABLE tenant_usage_snapshots ENABLE ROW LEVEL SECURITY;
                ALTER TABLE tenant_usage_snapshots FORCE ROW LEVEL SECURITY;
                CREATE POLICY tenant_usage_snapshots_tenant ON tenant_usage_snapshots
                    USING (billing_tenant_visible(tenant_id)) WITH CHECK (billing_tenant_visible(tenant_id));
                """
        ),
    ]
}
