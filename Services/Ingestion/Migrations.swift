import LibPQ

/// Ingestion's tables in sensormine_timeseries.
enum IngestionMigrations {
    static let all: [Migration] = [
        Migration(version: 1, name: "telemetry and dead letters", sql: """
            -- A TimescaleDB hypertable where the extension is installed; native daily range
            -- partitions (created ahead by sensormine_ensure_partitions) where it is not.
            DO $$
            BEGIN
                IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
                    CREATE EXTENSION IF NOT EXISTS timescaledb;
                END IF;
                EXECUTE format('CREATE TABLE telemetry (
                        tenant_id uuid NOT NULL,
                        device_id uuid NOT NULL,
                        metric text NOT NULL,
                        time timestamptz NOT NULL,
                        value double precision NOT NULL,
                        PRIMARY KEY (tenant_id, device_id, metric, time)
                    ) %s', CASE WHEN EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN '' ELSE 'PARTITION BY RANGE (time)' END);
                IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
                    PERFORM create_hypertable('telemetry', 'time', chunk_time_interval => INTERVAL '1 day');
                END IF;
            END $$;
            -- Aggregates across a tenant's devices for one metric.
            CREATE INDEX telemetry_tenant_metric_time ON telemetry (tenant_id, metric, time DESC);

            CREATE FUNCTION sensormine_ensure_partitions(first_day date, last_day date) RETURNS integer
            LANGUAGE plpgsql AS $fn$
            DECLARE
                day date := first_day;
                created integer := 0;
                name text;
            BEGIN
                IF NOT EXISTS (SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid WHERE c.relname = 'telemetry') THEN
                    RETURN 0;
                END IF;
                PERFORM pg_advisory_xact_lock(hashtext('sensormine.telemetry.partitions'));
                WHILE day <= last_day LOOP
                    name := 'telemetry_p' || to_char(day, 'YYYYMMDD');
                    IF to_regclass(name) IS NULL THEN
                        EXECUTE format('CREATE TABLE %I PARTITION OF telemetry FOR VALUES FROM (%L) TO (%L)',
                                       name, day::text || ' 00:00:00+00', (day + 1)::text || ' 00:00:00+00');
                        created := created + 1;
                    END IF;
                    day := day + 1;
                END LOOP;
                RETURN created;
            END
            $fn$;
            SELECT sensormine_ensure_partitions(current_date - 1, current_date + 7);

            CREATE TABLE dead_letters (
                id bigserial PRIMARY KEY,
                tenant_id uuid,
                device_id uuid,
                message_id text,
                schema_subject text,
                schema_version integer,
                reason text NOT NULL,
                topic text NOT NULL,
                kafka_partition integer NOT NULL,
                kafka_offset bigint NOT NULL,
                original bytea NOT NULL,
                headers jsonb NOT NULL DEFAULT '{}',
                received_at timestamptz NOT NULL DEFAULT now(),
                replayed_at timestamptz,
                UNIQUE (topic, kafka_partition, kafka_offset)
            );
            CREATE INDEX dead_letters_tenant ON dead_letters (tenant_id, id);
            """),
        Migration(version: 2, name: "hourly rollups, partition retention, licensed compression", sql: """
            -- One row per device, metric and hour, kept up to date in the transaction that inserts
            -- the points (ADR 11), so a long range is read from here and outlives raw retention.
            CREATE TABLE telemetry_hourly (
                tenant_id uuid NOT NULL,
                device_id uuid NOT NULL,
                metric text NOT NULL,
                bucket timestamptz NOT NULL,
                count bigint NOT NULL,
                sum double precision NOT NULL,
                min double precision NOT NULL,
                max double precision NOT NULL,
                first_time timestamptz NOT NULL,
                first_value double precision NOT NULL,
                last_time timestamptz NOT NULL,
                last_value double precision NOT NULL,
                PRIMARY KEY (tenant_id, device_id, metric, bucket)
            );
            CREATE INDEX telemetry_hourly_tenant_metric_bucket ON telemetry_hourly (tenant_id, metric, bucket DESC);
            DO $$
            BEGIN
                IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
                    PERFORM create_hypertable('telemetry_hourly', 'bucket', chunk_time_interval => INTERVAL '30 days');
                END IF;
                -- Timescale's community licence (not the Apache build the local stack runs):
                -- compress chunks a week old, by series. Retention stays with Ingestion's own
                -- worker, which knows each tenant's plan.
                IF current_setting('timescaledb.license', true) = 'timescale' THEN
                    EXECUTE 'ALTER TABLE telemetry SET (timescaledb.compress, timescaledb.compress_segmentby = ''tenant_id, device_id, metric'', timescaledb.compress_orderby = ''time DESC'')';
                    PERFORM add_compression_policy('telemetry', INTERVAL '7 days');
                END IF;
            END $$;
            INSERT INTO telemetry_hourly
            SELECT tenant_id, device_id, metric, date_bin('1 hour', time, 'epoch'::timestamptz), count(*), sum(value), min(value), max(value),
                   min(time), (array_agg(value ORDER BY time))[1], max(time), (array_agg(value ORDER BY time DESC))[1]
            FROM telemetry GROUP BY 1, 2, 3, 4;

            -- Drops the native daily partitions that end at or before `cutoff`; 0 on a hypertable.
            CREATE FUNCTION sensormine_drop_partitions(cutoff timestamptz) RETURNS integer
            LANGUAGE plpgsql AS $fn$
            DECLARE
                partition record;
                dropped integer := 0;
            BEGIN
                PERFORM pg_advisory_xact_lock(hashtext('sensormine.telemetry.partitions'));
                FOR partition IN
                    SELECT c.relname FROM pg_inherits i
                    JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
                    WHERE p.relname = 'telemetry' AND c.relname ~ '^telemetry_p[0-9]{8}$'
                LOOP
                    IF (to_date(substr(partition.relname, 12), 'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'UTC' <= cutoff THEN
                        EXECUTE format('DROP TABLE %I', partition.relname);
                        dropped := dropped + 1;
                    END IF;
                END LOOP;
                RETURN dropped;
            END
            $fn$;
            """),
        Migration(version: 3, name: "dedicated tenant tables", sql: """
            -- Tenants whose raw telemetry has a table of its own (dedicatedStorage in their
            -- settings): isolated, and its retention drops whole chunks. Rollups stay shared.
            CREATE TABLE tenant_tables (
                tenant_id uuid PRIMARY KEY,
                raw_table text NOT NULL UNIQUE,
                created_at timestamptz NOT NULL DEFAULT now()
            );

            DROP FUNCTION sensormine_ensure_partitions(date, date);
            CREATE FUNCTION sensormine_ensure_partitions(first_day date, last_day date, parent text DEFAULT 'telemetry') RETURNS integer
            LANGUAGE plpgsql AS $fn$
            DECLARE
                day date := first_day;
                created integer := 0;
                name text;
            BEGIN
                IF NOT EXISTS (SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid WHERE c.relname = parent) THEN
                    RETURN 0;
                END IF;
                PERFORM pg_advisory_xact_lock(hashtext('sensormine.telemetry.partitions'));
                WHILE day <= last_day LOOP
                    name := parent || '_p' || to_char(day, 'YYYYMMDD');
                    IF to_regclass(name) IS NULL THEN
                        EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                                       name, parent, day::text || ' 00:00:00+00', (day + 1)::text || ' 00:00:00+00');
                        created := created + 1;
                    END IF;
                    day := day + 1;
                END LOOP;
                RETURN created;
            END
            $fn$;

            DROP FUNCTION sensormine_drop_partitions(timestamptz);
            CREATE FUNCTION sensormine_drop_partitions(cutoff timestamptz, parent text DEFAULT 'telemetry') RETURNS integer
            LANGUAGE plpgsql AS $fn$
            DECLARE
                partition record;
                dropped integer := 0;
            BEGIN
                PERFORM pg_advisory_xact_lock(hashtext('sensormine.telemetry.partitions'));
                FOR partition IN
                    SELECT c.relname FROM pg_inherits i
                    JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
                    WHERE p.relname = parent AND c.relname = parent || '_p' || right(c.relname, 8) AND right(c.relname, 8) ~ '^[0-9]{8}$'
                LOOP
                    IF (to_date(right(partition.relname, 8), 'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'UTC' <= cutoff THEN
                        EXECUTE format('DROP TABLE %I', partition.relname);
                        dropped := dropped + 1;
                    END IF;
                END LOOP;
                RETURN dropped;
            END
            $fn$;

            -- The tenant's own raw table, laid out like telemetry (hypertable or daily
            -- partitions), made on first use; returns its name.
            CREATE FUNCTION sensormine_dedicated_table(tenant uuid) RETURNS text
            LANGUAGE plpgsql AS $fn$
            DECLARE
                name text;
            BEGIN
                PERFORM pg_advisory_xact_lock(hashtext('sensormine.telemetry.dedicated'));
                SELECT raw_table INTO name FROM tenant_tables WHERE tenant_id = tenant;
                IF name IS NOT NULL THEN
                    RETURN name;
                END IF;
                name := 'telemetry_t_' || replace(tenant::text, '-', '');
                IF EXISTS (SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid WHERE c.relname = 'telemetry') THEN
                    EXECUTE format('CREATE TABLE %I (LIKE telemetry INCLUDING DEFAULTS, PRIMARY KEY (tenant_id, device_id, metric, time)) PARTITION BY RANGE (time)', name);
                    PERFORM sensormine_ensure_partitions(current_date - 1, current_date + 7, name);
                ELSE
                    EXECUTE format('CREATE TABLE %I (LIKE telemetry INCLUDING DEFAULTS, PRIMARY KEY (tenant_id, device_id, metric, time))', name);
                    PERFORM create_hypertable(name::regclass, 'time', chunk_time_interval => INTERVAL '1 day');
                END IF;
                EXECUTE format('CREATE INDEX %I ON %I (metric, time DESC)', name || '_metric_time', name);
                INSERT INTO tenant_tables (tenant_id, raw_table) VALUES (tenant, name);
                RETURN name;
            END
            $fn$;
            """),
        Migration(version: 4, name: "row-level security by tenant", sql: """
            -- Every tenant's rows, as in the metadata database, are confined by the database
            -- itself, not only by the services' WHERE clauses. sensormine.tenant names the one
            -- tenant a transaction may see ('*': every tenant, for Ingestion's writers and
            -- retention); unset, nothing is visible. A plain SQL function, so it is inlined into
            -- each policy and costs a setting lookup per row.
            CREATE FUNCTION sensormine_row_visible(row_tenant uuid) RETURNS boolean
            LANGUAGE sql STABLE AS $fn$
                SELECT CASE coalesce(current_setting('sensormine.tenant', true), '')
                    WHEN '*' THEN true
                    WHEN '' THEN false
                    ELSE row_tenant = current_setting('sensormine.tenant', true)::uuid
                END
            $fn$;

            CREATE FUNCTION sensormine_confine(target text) RETURNS void
            LANGUAGE plpgsql AS $fn$
            BEGIN
                EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', target);
                EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', target);
                EXECUTE format('DROP POLICY IF EXISTS tenant_rows ON %I', target);
                EXECUTE format('CREATE POLICY tenant_rows ON %I USING (sensormine_row_visible(tenant_id))', target);
            END
            $fn$;

            SELECT sensormine_confine(raw_table) FROM tenant_tables;
            SELECT sensormine_confine(t) FROM unnest(ARRAY['telemetry', 'telemetry_hourly', 'dead_letters', 'tenant_tables']) AS t;

            -- Dedicated tables made from now on are confined the same way.
            CREATE OR REPLACE FUNCTION sensormine_dedicated_table(tenant uuid) RETURNS text
            LANGUAGE plpgsql AS $fn$
            DECLARE
                name text;
            BEGIN
                PERFORM pg_advisory_xact_lock(hashtext('sensormine.telemetry.dedicated'));
                SELECT raw_table INTO name FROM tenant_tables WHERE tenant_id = tenant;
                IF name IS NOT NULL THEN
                    RETURN name;
                END IF;
                name := 'telemetry_t_' || replace(tenant::text, '-', '');
                IF EXISTS (SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid WHERE c.relname = 'telemetry') THEN
                    EXECUTE format('CREATE TABLE %I (LIKE telemetry INCLUDING DEFAULTS, PRIMARY KEY (tenant_id, device_id, metric, time)) PARTITION BY RANGE (time)', name);
                    PERFORM sensormine_ensure_partitions(current_date - 1, current_date + 7, name);
                ELSE
                    EXECUTE format('CREATE TABLE %I (LIKE telemetry INCLUDING DEFAULTS, PRIMARY KEY (tenant_id, device_id, metric, time))', name);
                    PERFORM create_hypertable(name::regclass, 'time', chunk_time_interval => INTERVAL '1 day');
                END IF;
                EXECUTE format('CREATE INDEX %I ON %I (metric, time DESC)', name || '_metric_time', name);
                PERFORM sensormine_confine(name);
                INSERT INTO tenant_tables (tenant_id, raw_table) VALUES (tenant, name);
                RETURN name;
            END
            $fn$;
            """),
        Migration(version: 5, name: "usage per tenant and minute, published as deltas", sql: """
            -- What was really stored (rows inserted, not repeats) per tenant and minute, counted
            -- in the insert transaction. A publisher sends each minute's growth on
            -- metering.events as a delta whose event id names the revision, so a record sent
            -- again after a crash is recognised, and rows a late transaction adds to a minute
            -- already published go out as the next revision.
            CREATE TABLE usage_minutes (
                tenant_id uuid NOT NULL,
                minute timestamptz NOT NULL,
                points bigint NOT NULL,
                bytes bigint NOT NULL,
                published_points bigint NOT NULL DEFAULT 0,
                published_bytes bigint NOT NULL DEFAULT 0,
                revision integer NOT NULL DEFAULT 0,
                PRIMARY KEY (tenant_id, minute)
            );
            CREATE INDEX usage_minutes_unpublished ON usage_minutes (minute) WHERE points > published_points;
            SELECT sensormine_confine('usage_minutes');
            """),
        Migration(version: 6, name: "daily usage snapshots", sql: """
            -- The devices that sent telemetry in each month, with the first day they did: each
            -- day's snapshot adds that day's devices, so a month's active devices are counted
            -- without reading the month's rollups again.
            CREATE TABLE usage_active_devices (
                tenant_id uuid NOT NULL,
                month date NOT NULL,
                device_id uuid NOT NULL,
                first_day date NOT NULL,
                PRIMARY KEY (tenant_id, month, device_id)
            );
            -- Each tenant's snapshot per day (UTC), stored before it is published on
            -- metering.events, so a crash publishes the same values again.
            CREATE TABLE usage_snapshots (
                tenant_id uuid NOT NULL,
                day date NOT NULL,
                active_devices bigint NOT NULL,
                new_active_devices bigint NOT NULL,
                storage_bytes bigint NOT NULL,
                raw_storage_exact boolean NOT NULL,
                published boolean NOT NULL DEFAULT false,
                PRIMARY KEY (day, tenant_id)
            );
            CREATE INDEX usage_snapshots_unpublished ON usage_snapshots (day) WHERE NOT published;
            -- The days taken (a day without any tenant is taken too).
            CREATE TABLE usage_snapshot_days (
                day date PRIMARY KEY,
                tenants integer NOT NULL,
                taken_at timestamptz NOT NULL DEFAULT now()
            );
            SELECT sensormine_confine('usage_active_devices');
            SELECT sensormine_confine('usage_snapshots');
            """),
        Migration(version: 7, name: "room on the rollups' pages for in-place updates", sql: """
            -- Every stored batch updates the rollup row of each device, metric and hour it holds,
            -- so a row is rewritten thousands of times an hour. With full pages each new version
            -- lands on another page and adds an entry to all three indexes; half-full pages keep
            -- it on its page (a HOT update, no index entries) and let the page prune the dead
            -- versions. On a hypertable the setting reaches the existing chunks and new ones.
            ALTER TABLE telemetry_hourly SET (fillfactor = 50);
            """),
        Migration(version: 8, name: "rollups appended in the insert transaction, folded apart", sql: """
            -- Each stored batch appends its partial aggregates here, in its own transaction, with
            -- no key to look up; RollupFolder moves them into telemetry_hourly every second or so
            -- in one transaction (ADR 32). Upserting the rollups with every batch rewrote each
            -- device's row, and its index entries, once per batch: at one reading per device per
            -- batch that doubled the cost of a write.
            CREATE TABLE telemetry_hourly_pending (LIKE telemetry_hourly INCLUDING DEFAULTS);
            SELECT sensormine_confine('telemetry_hourly_pending');
            -- What readers use: every partial aggregate composes (sum of counts and sums, min of
            -- mins, first by first time...), so folded and pending rows answer together, exactly,
            -- whether a fold has run or not. security_invoker: the caller's tenant scope applies.
            CREATE VIEW telemetry_rollups WITH (security_invoker = true) AS
                SELECT * FROM telemetry_hourly UNION ALL SELECT * FROM telemetry_hourly_pending;
            """),
        Migration(version: 9, name: "no time-only index on the shared raw table", sql: """
            -- TimescaleDB gives a hypertable an index on time alone. Every query of raw points
            -- names its tenant (the key and telemetry_tenant_metric_time serve those), retention
            -- drops whole chunks by their ranges, and the daily snapshot finds the oldest point
            -- through each tenant's metrics; so the index only cost each insert about a tenth.
            DROP INDEX IF EXISTS telemetry_time_idx;
            """),
    ]
}
