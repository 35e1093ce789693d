-- Session records, one row per emitted version.
-- ReplacingMergeTree keeps the highest `version` per sorting key; the sorting
-- key holds only values that never change for a session (tenant and station are
-- part of the session identity), so every version of a session collapses into
-- one row. Read through `sessions_latest` (or with FINAL) to never see a
-- session twice, even before background merges run.
CREATE TABLE IF NOT EXISTS {database}.sessions
(
    session_id      String,
    version         UInt64,
    tenant          LowCardinality(String),
    station_id      LowCardinality(String),
    connector_id    UInt16,
    transaction_id  Nullable(String),
    status          LowCardinality(String),
    started_at      DateTime64(3, 'UTC'),
    ended_at        Nullable(DateTime64(3, 'UTC')),
    duration_s      UInt32,
    charging_s      UInt32,
    idle_s          UInt32,
    energy_wh       UInt64,
    max_power_w     UInt32,
    soc_start       Nullable(Float32),
    soc_end         Nullable(Float32),
    stop_reason     LowCardinality(Nullable(String)),
    auth_method     LowCardinality(Nullable(String)),
    auth_result     LowCardinality(Nullable(String)),
    token_hash      Nullable(String),
    last_event_at   DateTime64(3, 'UTC'),
    flags           Array(LowCardinality(String)),
    inserted_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant, station_id, session_id);

CREATE VIEW IF NOT EXISTS {database}.sessions_latest AS
SELECT * FROM {database}.sessions FINAL;
