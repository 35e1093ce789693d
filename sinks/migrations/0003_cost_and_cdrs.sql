-- Cost in stream (issue 5): the session's (provisional, then final) cost, and OCPI CDRs.
ALTER TABLE {database}.sessions
    ADD COLUMN IF NOT EXISTS tariff_id Nullable(String) AFTER correction,
    ADD COLUMN IF NOT EXISTS currency LowCardinality(Nullable(String)) AFTER tariff_id,
    ADD COLUMN IF NOT EXISTS cost_excl_vat Nullable(Decimal(18, 4)) AFTER currency,
    ADD COLUMN IF NOT EXISTS cost_incl_vat Nullable(Decimal(18, 4)) AFTER cost_excl_vat;

-- A CDR is never edited: a correction is a credit CDR (negated totals,
-- credit_reference_id) followed by a new CDR. One row per CDR id; redelivered
-- CDRs collapse (identical rows).
CREATE TABLE IF NOT EXISTS {database}.cdrs
(
    cdr_id              String,
    session_id          String,
    credit              Bool,
    credit_reference_id Nullable(String),
    station_id          LowCardinality(String),
    connector_id        UInt16,
    start_date_time     DateTime64(3, 'UTC'),
    end_date_time       DateTime64(3, 'UTC'),
    currency            LowCardinality(String),
    tariff_id           Nullable(String),
    auth_method         LowCardinality(String),
    token_uid           String,
    total_energy_kwh    Decimal(18, 4),
    total_time_h        Decimal(18, 6),
    total_parking_time_h Decimal(18, 6),
    total_cost_excl_vat Decimal(18, 4),
    total_cost_incl_vat Nullable(Decimal(18, 4)),
    total_energy_cost_excl_vat Nullable(Decimal(18, 4)),
    total_time_cost_excl_vat Nullable(Decimal(18, 4)),
    total_parking_cost_excl_vat Nullable(Decimal(18, 4)),
    total_fixed_cost_excl_vat Nullable(Decimal(18, 4)),
    cdr_json            String,
    last_updated        DateTime64(3, 'UTC'),
    inserted_at         DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (cdr_id);
