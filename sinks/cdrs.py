"""OCPI CDRs -> rows of the ``cdrs`` table (one row per CDR id, never updated)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from chargewatch.errors import DecodeError
from schemas.cdr import Cdr
from schemas.tariff import load_ocpi_json
from sinks.clickhouse import insert_rows

__all__ = ["CDR_COLUMNS", "cdr_row", "decode_cdr", "insert_cdrs"]

CDR_COLUMNS: tuple[str, ...] = (
    "cdr_id", "session_id", "credit", "credit_reference_id", "station_id", "connector_id",
    "start_date_time", "end_date_time", "currency", "tariff_id", "auth_method", "token_uid",
    "total_energy_kwh", "total_time_h", "total_parking_time_h", "total_cost_excl_vat",
    "total_cost_incl_vat", "total_energy_cost_excl_vat", "total_time_cost_excl_vat",
    "total_parking_cost_excl_vat", "total_fixed_cost_excl_vat", "cdr_json", "last_updated",
)  # fmt: skip


def decode_cdr(raw: bytes) -> Cdr:
    try:
        # Parsed with Decimal numbers: money never goes through float.
        return Cdr.model_validate(load_ocpi_json(raw))
    except (ValidationError, ValueError, TypeError) as exc:  # TypeError: a tombstone (None)
        raise DecodeError(f"not an OCPI CDR: {str(exc)[:300]}") from exc


def _excl(price: Any) -> Any:
    return None if price is None else price.excl_vat


def cdr_row(cdr: Cdr, raw: bytes) -> list[Any]:
    return [
        cdr.id,
        cdr.session_id or "",
        bool(cdr.credit),
        cdr.credit_reference_id,
        cdr.cdr_location.id,
        int(cdr.cdr_location.connector_id) if cdr.cdr_location.connector_id.isdigit() else 0,
        cdr.start_date_time,
        cdr.end_date_time,
        cdr.currency,
        cdr.tariffs[0].id if cdr.tariffs else None,
        cdr.auth_method,
        cdr.cdr_token.uid,
        cdr.total_energy,
        cdr.total_time,
        cdr.total_parking_time or 0,
        cdr.total_cost.excl_vat,
        cdr.total_cost.incl_vat,
        _excl(cdr.total_energy_cost),
        _excl(cdr.total_time_cost),
        _excl(cdr.total_parking_cost),
        _excl(cdr.total_fixed_cost),
        raw.decode(),
        cdr.last_updated,
    ]


def insert_cdrs(client: Any, database: str, rows: Sequence[list[Any]]) -> int:
    return insert_rows(client, f"{database}.cdrs", rows, CDR_COLUMNS)
