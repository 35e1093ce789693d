"""The raw OCPP archive: envelopes as received, keyed by their Kafka coordinates."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import msgspec
import pyarrow as pa
from clickhouse_connect.driver.exceptions import ClickHouseError

from chargewatch.errors import StorageError

__all__ = ["RAW_COLUMNS", "RawBatch", "read_raw"]

_SCHEMA = pa.schema(
    [
        ("topic", pa.string()),
        ("kafka_partition", pa.uint32()),
        ("kafka_offset", pa.uint64()),
        ("station_id", pa.string()),
        ("tenant", pa.string()),
        ("ocpp_version", pa.string()),
        ("action", pa.string()),
        ("message_id", pa.string()),
        ("received_at", pa.timestamp("ms", tz="UTC")),
        ("envelope", pa.binary()),
    ]
)
RAW_COLUMNS: tuple[str, ...] = tuple(_SCHEMA.names)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _Head(msgspec.Struct):
    """The envelope fields the archive indexes. ``Any``: a field of the wrong type
    is archived as text, never a reason to drop the envelope; the rest of the
    envelope (its payloads) is skipped by the decoder, not built."""

    station_id: Any = None
    tenant: Any = None
    ocpp_version: Any = None
    action: Any = None
    message_id: Any = None
    received_at: Any = None


_NO_HEAD = _Head()
_head = msgspec.json.Decoder(_Head).decode


def _text(value: Any) -> str:
    return str(value) if value else ""


class RawBatch:
    """Envelopes waiting for the archive, column by column, inserted as one Arrow
    table: a raw row costs a partial decode and ten appends in Python, and
    ClickHouse reads the columns as they are (the rows of the archive are most of
    what the sink writes)."""

    def __init__(self) -> None:
        self._columns: tuple[list[Any], ...] = tuple([] for _ in RAW_COLUMNS)

    def __len__(self) -> int:
        return len(self._columns[0])

    def add(self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes) -> None:
        """Any value - even one that is not JSON is archived as received."""
        try:
            head = _head(value)
        except (msgspec.DecodeError, UnicodeDecodeError):  # not a JSON object
            head = _NO_HEAD
        received = head.received_at
        try:
            at = datetime.fromisoformat(received) if isinstance(received, str) else None
        except ValueError:
            at = None
        (topics, partitions, offsets, stations, tenants, versions,
         actions, message_ids, times, envelopes) = self._columns  # fmt: skip
        topics.append(topic)
        partitions.append(partition)
        offsets.append(offset)
        stations.append(_text(head.station_id) or (key or b"").decode(errors="replace"))
        tenants.append(_text(head.tenant))
        versions.append(_text(head.ocpp_version))
        actions.append(_text(head.action))
        message_ids.append(_text(head.message_id))
        times.append(_EPOCH if at is None else at.astimezone(UTC))
        # Stored as text: bytes that are not UTF-8 are replaced, as a reader would.
        envelopes.append(value if value.isascii() else value.decode(errors="replace").encode())

    def insert(self, client: Any, database: str) -> int:
        """Insert every buffered row in one call, then forget them; the rows inserted."""
        n = len(self)
        if not n:
            return 0
        table = pa.Table.from_arrays(
            [pa.array(column, type=field.type) for column, field in zip(
                self._columns, _SCHEMA, strict=True)],
            schema=_SCHEMA,
        )  # fmt: skip
        try:
            client.insert_arrow(f"{database}.ocpp_raw", table)
        except ClickHouseError as exc:
            raise StorageError(f"insert of {n} raw rows into {database} failed: {exc}") from exc
        for column in self._columns:
            column.clear()
        return n


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
