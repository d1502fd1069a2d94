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
    ]
}
