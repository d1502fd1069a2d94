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
    ]
}
