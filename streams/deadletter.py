"""Building dead-letter records: the original bytes, the reason and the origin."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import orjson

from chargewatch.errors import InputError

__all__ = ["dead_letter"]


def dead_letter(
    error: InputError,
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    now: datetime | None = None,
) -> bytes:
    """JSON bytes of a ``schemas.DeadLetter`` for one rejected input record."""
    return orjson.dumps(
        {
            "schema_version": 1,
            "reason": error.reason,
            "detail": str(error)[:1000],
            "source_topic": topic,
            "source_partition": partition,
            "source_offset": offset,
            "key_b64": base64.b64encode(key).decode() if key is not None else None,
            "value_b64": base64.b64encode(value or b"").decode(),
            "rejected_at": (now or datetime.now(UTC)).isoformat(),
        }
    )
