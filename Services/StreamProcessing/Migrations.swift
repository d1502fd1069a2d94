import LibPQ

/// StreamProcessing's tables in `sensormine_timeseries`, versioned.
enum StreamProcessingMigrations {
    static let all = [
        Migration(
            version: 1, name: "stream state per partition and device, saved with the partition's offset",
            sql: """
                -- One row per partition a consumer group has processed: the next offset to
                -- process, the watermark, and the epoch of the member that claimed it last (a
                -- member saves only under the epoch it claimed, so a member that lost the
                -- partition cannot overwrite its new owner's state).
                CREATE TABLE stream_partitions (
                    consumer_group text NOT NULL,
                    topic text NOT NULL,
                    partition integer NOT NULL,
                    epoch bigint NOT NULL DEFAULT 1,
                    next_offset bigint NOT NULL DEFAULT 0,
                    watermark bigint,
                    updated_at timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (consumer_group, topic, partition)
                );
                -- Windows, detector baselines and rule state of each device (StateCodec's bytes),
                -- written in the same transaction as its partition's offset. Rewritten often:
                -- pages keep room for HOT updates.
                CREATE TABLE stream_device_state (
                    consumer_group text NOT NULL,
                    topic text NOT NULL,
                    partition integer NOT NULL,
                    device_key text NOT NULL,
                    state bytea NOT NULL,
                    PRIMARY KEY (consumer_group, topic, partition, device_key)
                ) WITH (fillfactor = 70);
                """
        ),
        Migration(
            version: 2, name: "model registry: each tenant's ONNX models and the windows they run on",
            sql: """
                CREATE TABLE stream_models (
                    id uuid PRIMARY KEY,
                    tenant_id uuid NOT NULL,
                    name text NOT NULL,
                    description text NOT NULL DEFAULT '',
                    enabled boolean NOT NULL DEFAULT true,
                    device_type_id uuid NOT NULL,
                    window_seconds integer NOT NULL,
                    hop_seconds integer NOT NULL,
                    -- [{metric, aggregate}] in the order of the model's input
                    features jsonb NOT NULL,
                    input_name text NOT NULL,
                    output_name text NOT NULL,
                    outputs_per_window integer NOT NULL,
                    model bytea NOT NULL,
                    sha256 text NOT NULL,
                    revision integer NOT NULL DEFAULT 1,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    updated_at timestamptz NOT NULL DEFAULT now(),
                    UNIQUE (tenant_id, name)
                );
                """
        ),
        Migration(
            version: 3, name: "device states compressed with lz4 where the server has it",
            sql: """
                -- Every device touched is saved every couple of seconds; rows of about 3 KB are
                -- compressed on each save, and pglz cost twice lz4's time for 15 % less size
                -- (ADR 35). A server built without lz4 keeps pglz.
                DO $$
                BEGIN
                    ALTER TABLE stream_device_state ALTER COLUMN state SET COMPRESSION lz4;
                EXCEPTION WHEN feature_not_supported THEN
                    RAISE NOTICE 'lz4 is not available: stream_device_state.state keeps the default compression';
                END
                $$;
                """
        ),
    ]
}
