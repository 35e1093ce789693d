"""Canonical charging events: the contract of the ``chargewatch.events`` topic.

One JSON object per Kafka message, key = station id (so all events of a
station, and so of a session, share a partition). ``type`` tells the kind.
Every event carries the session it belongs to and its *event time* ``ts``
(when it happened at the charger, not when it arrived).

These pydantic models are the documented contract and the source of the
exported JSON Schemas. The worker decodes the same shapes with msgspec on its
hot path (``streams/core/events.py``); ``tests/unit/test_contract_parity.py``
keeps the two in step.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.vocabulary import AuthMethod, AuthResult, ChargingState

__all__ = [
    "AuthorizationResult",
    "ChargingEvent",
    "MeterSample",
    "SessionStarted",
    "SessionStopped",
    "StateChanged",
]

SCHEMA_VERSION: Literal[1] = 1


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: str = Field(min_length=1, max_length=128, description="Producer-unique event id")
    tenant: str = Field("default", min_length=1, max_length=64, description="Operator / CSMS")
    station_id: str = Field(min_length=1, max_length=64, description="Charging station id")
    connector_id: int = Field(ge=0, le=255, description="Connector (EVSE) on the station")
    session_id: str = Field(min_length=1, max_length=64, description="Session the event belongs to")
    transaction_id: str | None = Field(
        None, max_length=64, description="Transaction id exactly as the charger sent it"
    )
    ts: AwareDatetime = Field(description="Event time at the charger, RFC 3339 with offset")
    seq: int | None = Field(None, ge=0, description="OCPP 2.0.1 seqNo, when known")
    flags: tuple[str, ...] = Field(
        (), max_length=8, description="Ingestion flags, e.g. attribution_uncertain (OCPP 1.6 -1)"
    )


class SessionStarted(_Event):
    """A transaction started on a connector."""

    type: Literal["session_started"] = "session_started"
    meter_start_wh: int | None = Field(None, ge=0, description="Energy register at start (Wh)")
    auth_method: AuthMethod | None = None
    token_hash: str | None = Field(
        None, max_length=128, description="Pseudonymised id token (keyed HMAC), never the raw token"
    )


class MeterSample(_Event):
    """A meter reading during the session."""

    type: Literal["meter_sample"] = "meter_sample"
    energy_wh: int | None = Field(None, ge=0, description="Active import energy register (Wh)")
    power_w: int | None = Field(None, ge=0, description="Active import power (W)")
    soc: float | None = Field(None, ge=0, le=100, description="EV state of charge (%)")


class StateChanged(_Event):
    """The charging state of the connector changed (see ``ChargingState``)."""

    type: Literal["state_changed"] = "state_changed"
    state: ChargingState


class SessionStopped(_Event):
    """The transaction ended."""

    type: Literal["session_stopped"] = "session_stopped"
    meter_stop_wh: int | None = Field(None, ge=0, description="Energy register at stop (Wh)")
    reason: str | None = Field(None, max_length=64, description="Stop reason as reported")


class AuthorizationResult(_Event):
    """The outcome of authorising the session's id token."""

    type: Literal["authorization"] = "authorization"
    method: AuthMethod
    result: AuthResult
    token_hash: str | None = Field(None, max_length=128)


ChargingEvent = Annotated[
    SessionStarted | MeterSample | StateChanged | SessionStopped | AuthorizationResult,
    Field(discriminator="type"),
]
"""Any canonical event; ``type`` discriminates."""
