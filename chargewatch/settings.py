"""The one configuration object.

Every knob is read here, from ``CHARGEWATCH_*`` environment variables (or a
``.env`` file), once at start-up, and passed down. Nothing else in the code
base reads ``os.environ``.

Sections are separate ``BaseSettings`` classes with their own prefix so that
the variable names stay flat and obvious: ``CHARGEWATCH_KAFKA_BOOTSTRAP``,
``CHARGEWATCH_CLICKHOUSE_URL``, ``CHARGEWATCH_WORKER_FLUSH_INTERVAL_S``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from chargewatch.errors import ConfigurationError

__all__ = [
    "ClickHouseSettings",
    "GatewaySettings",
    "KafkaSettings",
    "PricingSettings",
    "PrivacySettings",
    "Settings",
    "SinkSettings",
    "WorkerSettings",
]


def _section(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, env_file=".env", extra="ignore", frozen=True)


class KafkaSettings(BaseSettings):
    """Broker address, topic names and partitioning."""

    model_config = _section("CHARGEWATCH_KAFKA_")

    bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers (host:port,...)")
    partitions: int = Field(8, ge=1, description="Partitions of the topics chargewatch creates")
    replication_factor: int = Field(1, ge=1, description="Replication factor of created topics")
    events_topic: str = Field("chargewatch.events", description="Canonical events, key = station")
    sessions_topic: str = Field(
        "chargewatch.sessions", description="Session records, key = session"
    )
    deadletter_topic: str = Field("chargewatch.deadletter", description="Rejected input + reason")
    tariffs_topic: str = Field(
        "chargewatch.tariffs", description="Compacted: tariff versions, assignments, stations"
    )
    cdrs_topic: str = Field(
        "chargewatch.cdrs", description="OCPI CDRs (and credits), key = session"
    )
    ocpp_topic: str = Field("ocpp.messages", description="OCPP-J CALL envelopes, key = station")


class WorkerSettings(BaseSettings):
    """The Faust stitching worker."""

    model_config = _section("CHARGEWATCH_WORKER_")

    app_id: str = Field("chargewatch", description="Faust app id = consumer group = table prefix")
    tenant: str = Field("default", description="Tenant of envelopes that name none")
    ocpp: bool = Field(True, description="Also consume the OCPP topic (needs the HMAC key)")
    update_interval_s: int = Field(
        300, ge=1, description="Event-time seconds between updates of an open session"
    )
    allowed_lateness_s: int = Field(
        600, ge=0, description="Readings up to this late (event time) are folded exactly"
    )
    stall_factor: float = Field(
        5.0, gt=0, description="A session is stalled after this many sample intervals of silence"
    )
    stall_min_s: int = Field(300, ge=1, description="... but never sooner than this")
    auto_close_s: int = Field(
        86_400, ge=1, description="Silent this long: closed as auto_closed at the last reading"
    )
    closed_retention_s: int = Field(
        3 * 86_400,
        ge=0,
        description="Closed sessions stay in the table (for late events) this long, then go",
    )
    tick_interval_s: float = Field(
        5.0, gt=0, description="How often the worker looks for stalled sessions"
    )
    commit_interval_s: float = Field(
        1.0, gt=0, description="Offset commit interval; dirty session state is written just before"
    )
    batch_lane: bool = Field(
        True,
        description="Drain the input topics a fetched batch at a time (streams.batch_lane) "
        "instead of through Faust's per-message agent path",
    )
    max_poll_records: int = Field(2000, ge=1, description="Most records per fetch")
    max_partition_fetch_bytes: int = Field(
        1_048_576,
        ge=1024,
        description="Most bytes fetched per partition per request (Kafka's "
        "max.partition.fetch.bytes): larger catches up a backlog faster",
    )
    fetch_max_wait_ms: int = Field(
        100,
        ge=1,
        le=30_000,
        description="Longest the broker holds a fetch that has no new data (Kafka's "
        "fetch.max.wait.ms; Faust hard-codes 1500). One fetch is in flight at a time, so "
        "a fetch of idle partitions delays every other partition by up to this much",
    )
    fetch_min_bytes: int = Field(
        65_536,
        ge=1,
        le=52_428_800,
        description="Bytes a fetch waits for, up to fetch_max_wait_ms (Kafka's "
        "fetch.min.bytes): fewer, larger fetches cost the worker and the broker less CPU",
    )
    commit_stuck_after_s: float = Field(
        30.0,
        gt=0,
        description="A partition read past a committed offset that has not moved for this "
        "long is re-read from that offset (streams.commit_watchdog)",
    )
    data_dir: Path = Field(Path("var/faust"), description="Faust local state directory")
    session_timeout_s: float = Field(
        10.0,
        gt=0,
        description="Consumer-group session timeout: how soon a dead worker's "
        "partitions move to the others",
    )
    instance_id: str | None = Field(
        None,
        min_length=1,
        max_length=249,
        description="Static group membership (KIP-345): a stable name per worker (e.g. the "
        "pod name). A restarted worker takes its partitions straight back, without waiting "
        "for the session timeout or a rebalance of the others",
    )
    metrics_port: int = Field(9108, ge=0, description="Prometheus /metrics port (0 = off)")


class ClickHouseSettings(BaseSettings):
    """Where session records are stored."""

    model_config = _section("CHARGEWATCH_CLICKHOUSE_")

    url: str | None = Field(
        None,
        description="ClickHouse server URL (http://user:pass@host:8123); unset = embedded chDB",
    )
    chdb_path: Path = Field(Path("var/clickhouse"), description="chDB data directory")
    database: str = Field("chargewatch", description="Database holding chargewatch tables")


class SinkSettings(BaseSettings):
    """The process that batches session records into ClickHouse."""

    model_config = _section("CHARGEWATCH_SINK_")

    group_id: str = Field("chargewatch-sink", description="Consumer group of the sink")
    batch_rows: int = Field(10_000, ge=1, description="Flush when this many rows are buffered")
    batch_seconds: float = Field(
        0.25,
        gt=0,
        description="Insert session rows and CDRs as they arrive, at most once per this many s",
    )
    raw_batch_seconds: float = Field(
        1.0, gt=0, description="Flush the raw OCPP archive at least this often (seconds)"
    )
    fetch_min_bytes: int = Field(
        65_536,
        ge=1,
        le=52_428_800,
        description="Bytes a fetch waits for, up to fetch_max_wait_ms (Kafka's "
        "fetch.min.bytes): fewer, larger fetches cost the sink and the broker less CPU",
    )
    fetch_max_wait_ms: int = Field(
        100, ge=1, le=30_000, description="Longest the broker holds a fetch (fetch.wait.max.ms)"
    )
    metrics_port: int = Field(9109, ge=0, description="Prometheus /metrics port (0 = off)")


class PricingSettings(BaseSettings):
    """OCPI pricing and CDR identity."""

    model_config = _section("CHARGEWATCH_PRICING_")

    default_time_zone: str = Field(
        "UTC", description="Time zone of stations without one (tariff restrictions are local)"
    )
    country_code: str = Field("NL", min_length=2, max_length=2, description="CPO country (CDRs)")
    party_id: str = Field("CWT", min_length=3, max_length=3, description="CPO party id (CDRs)")


class PrivacySettings(BaseSettings):
    """Pseudonymisation of personal data (id tokens)."""

    model_config = _section("CHARGEWATCH_PRIVACY_")

    token_hmac_key: SecretStr | None = Field(
        None, description="Key for the HMAC that pseudonymises id tokens; required for OCPP input"
    )
    token_key_id: str = Field(
        "k1", pattern=r"^[A-Za-z0-9_-]{1,16}$", description="Id of that key (prefix of pseudonyms)"
    )
    retired_token_keys: SecretStr | None = Field(
        None, description="Earlier keys still recognised after a rotation: id=key,id=key"
    )

    def hmac_keys(self) -> dict[str, bytes]:
        """Key id -> key, the active key included (empty when none is set)."""
        keys: dict[str, bytes] = {}
        if self.retired_token_keys is not None:
            for item in self.retired_token_keys.get_secret_value().split(","):
                key_id, sep, key = item.strip().partition("=")
                if not sep or not key_id or not key:
                    raise ConfigurationError(
                        "CHARGEWATCH_PRIVACY_RETIRED_TOKEN_KEYS must be id=key,id=key"
                    )
                keys[key_id] = key.encode()
        if self.token_hmac_key is not None:
            keys[self.token_key_id] = self.token_hmac_key.get_secret_value().encode()
        return keys


class GatewaySettings(BaseSettings):
    """The OCPP-J WebSocket gateway (``chargewatch gateway``)."""

    model_config = _section("CHARGEWATCH_GATEWAY_")

    host: str = Field("127.0.0.1", description="Address to listen on (0.0.0.0 in containers)")
    port: int = Field(9000, ge=0, le=65535, description="WebSocket port")
    path_prefix: str = Field(
        "/ocpp/", description="Stations connect to ws://host:port/<prefix><id>"
    )
    allowed_tokens: SecretStr | None = Field(
        None, description="Comma-separated id tokens to accept (unset: accept every token)"
    )
    tenant: str | None = Field(None, description="Tenant written on every envelope")
    confirm_delivery: bool = Field(
        True, description="Answer a charger only once Kafka has its message"
    )
    linger_ms: int = Field(
        25,
        ge=0,
        le=1000,
        description="How long the producer gathers envelopes into one request (linger.ms): "
        "longer means fewer, larger requests and less broker CPU; a charger waits this "
        "much longer for its answer",
    )


class Settings(BaseSettings):
    """All of chargewatch's configuration."""

    model_config = _section("CHARGEWATCH_")

    var_dir: Path = Field(Path("var"), description="Where local state, data and logs live")
    log_level: str = Field("INFO", description="Python log level")
    metrics_host: str = Field(
        "127.0.0.1", description="Address /metrics binds to (0.0.0.0 in containers)"
    )
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    clickhouse: ClickHouseSettings = Field(default_factory=ClickHouseSettings)
    sink: SinkSettings = Field(default_factory=SinkSettings)
    pricing: PricingSettings = Field(default_factory=PricingSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
