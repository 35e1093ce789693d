-- The raw archive (issue 3): every OCPP envelope as received, with where it
-- came from, so sessions can be rebuilt (chargewatch replay --raw-table).
-- It holds id tokens in clear (they are pseudonymised at ingestion, and a
-- rebuild must pseudonymise them again): it is NOT an analytics table. Grant it
-- to the pipeline only; analysts read sessions and cdrs, which hold pseudonyms.
CREATE TABLE IF NOT EXISTS {database}.ocpp_raw
(
    topic           LowCardinality(String),
    kafka_partition UInt32,
    kafka_offset    UInt64,
    station_id      String,
    tenant          LowCardinality(String),
    ocpp_version    LowCardinality(String),
    action          LowCardinality(String),
    message_id      String,
    received_at     DateTime64(3, 'UTC'),
    envelope        String,
    archived_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (topic, kafka_partition, kafka_offset)
TTL toDateTime(archived_at) + INTERVAL 400 DAY;
