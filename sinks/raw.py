"""The raw OCPP archive: envelopes as received, keyed by their Kafka coordinates."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from sinks.clickhouse import insert_rows

__all__ = ["RAW_COLUMNS", "insert_raw", "raw_row", "read_raw"]

RAW_COLUMNS: tuple[str, ...] = (
    "topic", "kafka_partition", "kafka_offset", "station_id", "tenant", "ocpp_version",
    "action", "message_id", "received_at", "envelope",
)  # fmt: skip


def raw_row(topic: str, partition: int, offset: int, key: bytes | None, value: bytes) -> list[Any]:
    """A row for any value - even one that is not JSON is archived as received."""
    try:
        data = orjson.loads(value)
        if not isinstance(data, dict):
            raise TypeError
    except (orjson.JSONDecodeError, TypeError):
        data = {}
    received = data.get("received_at")
    try:
        at = datetime.fromisoformat(received) if isinstance(received, str) else None
    except ValueError:
        at = None
    station = data.get("station_id") or (key or b"").decode(errors="replace")
    return [
        topic,
        partition,
        offset,
        str(station),
        str(data.get("tenant") or ""),
        str(data.get("ocpp_version") or ""),
        str(data.get("action") or ""),
        str(data.get("message_id") or ""),
        (at or datetime(1970, 1, 1, tzinfo=UTC)).astimezone(UTC),
        value.decode(errors="replace"),
    ]


def insert_raw(client: Any, database: str, rows: Sequence[list[Any]]) -> int:
    return insert_rows(client, f"{database}.ocpp_raw", rows, RAW_COLUMNS)


def read_raw(client: Any, database: str, topic: str | None = None) -> Iterator[bytes]:
    """Every archived envelope, in the order the worker read them (per partition)."""
    where = "WHERE topic = {topic:String}" if topic else ""
    result = client.query(
        f"SELECT envelope FROM {database}.ocpp_raw FINAL {where} "
        "ORDER BY topic, kafka_partition, kafka_offset",
        parameters={"topic": topic} if topic else None,
    )
    for (envelope,) in result.result_rows:
        yield envelope.encode()
