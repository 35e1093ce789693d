"""Session records -> rows of the ``sessions`` table."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import msgspec

from chargewatch.errors import DecodeError
from sinks.clickhouse import insert_rows
from streams.core.record import SessionOut

__all__ = ["COLUMNS", "decode_record", "insert_sessions"]

COLUMNS: tuple[str, ...] = (
    "session_id", "version", "tenant", "station_id", "connector_id", "transaction_id",
    "status", "started_at", "ended_at", "duration_s", "charging_s", "idle_s", "energy_wh",
    "max_power_w", "soc_start", "soc_end", "stop_reason", "auth_method", "auth_result",
    "token_hash", "last_event_at", "flags", "seq_complete", "missing_seq", "correction",
    "tariff_id", "currency", "cost_excl_vat", "cost_incl_vat",
)  # fmt: skip

_decoder = msgspec.json.Decoder(SessionOut)


def decode_record(raw: bytes) -> SessionOut:
    """Decode one sessions-topic value; ``DecodeError`` if it is not a record."""
    try:
        return _decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise DecodeError(str(exc)) from exc
    except TypeError as exc:  # a record without a value (a Kafka tombstone): None
        raise DecodeError(f"no JSON value ({exc})") from exc


def _row(record: SessionOut) -> list[Any]:
    cost = record.total_cost or {}
    excl, incl = cost.get("excl_vat"), cost.get("incl_vat")
    return [getattr(record, column) for column in COLUMNS[:-2]] + [
        None if excl is None else Decimal(excl),
        None if incl is None else Decimal(incl),
    ]


def insert_sessions(client: Any, database: str, records: Sequence[SessionOut]) -> int:
    """Insert records (any versions, any duplicates: the table keeps the latest)."""
    return insert_rows(client, f"{database}.sessions", [_row(r) for r in records], COLUMNS)
