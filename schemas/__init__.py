"""pydantic models: the contract of every chargewatch topic.

The models are imported on first use (PEP 562): building them costs ~70 ms,
and the hot paths import only ``schemas.vocabulary`` from here (``chargewatch
replay`` of a file starts in well under a second; that was a tenth of it).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from schemas.deadletter import DeadLetter
    from schemas.events import (
        AuthorizationResult,
        ChargingEvent,
        MeterSample,
        SessionStarted,
        SessionStopped,
        StateChanged,
    )
    from schemas.export import export_json_schemas
    from schemas.session import SessionRecord

__all__ = [
    "AuthorizationResult",
    "ChargingEvent",
    "DeadLetter",
    "MeterSample",
    "SessionRecord",
    "SessionStarted",
    "SessionStopped",
    "StateChanged",
    "export_json_schemas",
]

_HOME = {
    "AuthorizationResult": "schemas.events",
    "ChargingEvent": "schemas.events",
    "DeadLetter": "schemas.deadletter",
    "MeterSample": "schemas.events",
    "SessionRecord": "schemas.session",
    "SessionStarted": "schemas.events",
    "SessionStopped": "schemas.events",
    "StateChanged": "schemas.events",
    "export_json_schemas": "schemas.export",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'schemas' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value  # once
    return value
