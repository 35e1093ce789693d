"""pydantic models: the contract of every chargewatch topic."""

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
