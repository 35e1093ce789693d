"""The ``ocpp.messages`` record the gateway publishes for each CALL it answered.

Shape (the contract in ``schemas/ocpp.py``)::

    {"station_id": "CP-0042", "ocpp_version": "1.6", "message_id": "...",
     "action": "StartTransaction", "received_at": "2026-05-01T08:00:01.250Z",
     "request": {...}, "response": {...} | null, "tenant": "..."}

``tenant`` is left out when the gateway has none. ``response`` is null when the
gateway answered with a CALLERROR (invalid payload, unsupported action).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson

__all__ = ["encode_envelope", "rfc3339_ms"]


def rfc3339_ms(moment: datetime) -> str:
    """``2026-05-01T08:00:01.250Z``: UTC, millisecond precision."""
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def encode_envelope(
    *,
    station_id: str,
    ocpp_version: str,
    message_id: str,
    action: str,
    received_at: datetime,
    request: Any,
    response: Any,
    tenant: str | None,
) -> bytes:
    """JSON bytes of one envelope (the payloads are written as received / sent)."""
    record: dict[str, Any] = {
        "station_id": station_id,
        "ocpp_version": ocpp_version,
        "message_id": message_id,
        "action": action,
        "received_at": rfc3339_ms(received_at),
        "request": request,
        "response": response,
    }
    if tenant is not None:
        record["tenant"] = tenant
    try:
        return orjson.dumps(record)
    except TypeError:
        # orjson stops at 64-bit integers; a schema-valid payload may hold a bigger one.
        return json.dumps(record, separators=(",", ":"), allow_nan=False).encode()
