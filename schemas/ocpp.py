"""Raw OCPP traffic: the contract of the ``ocpp.messages`` topic.

One JSON object per OCPP-J CALL, published by the gateway in front of the
charging stations, key = station id (so one partition sees a station's
messages in order). The CALLRESULT travels with its CALL because it carries
what the request lacks: the 1.6 transaction id (StartTransaction.conf) and the
CSMS's authorisation verdict. ``request`` / ``response`` are the payloads
exactly as on the wire; they are validated against the official OCPP JSON
schemas by the normaliser (``streams.core.ocpp``), not here.

This pydantic model is the documented contract and exports the JSON Schema for
producers in other languages. The worker decodes the same shape with msgspec
on its hot path (``streams/core/ocpp/envelope.py``);
``tests/unit/test_ocpp_envelope.py`` keeps the two in step.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

__all__ = ["OcppEnvelope", "OcppVersion"]

OcppVersion = Literal["1.6", "2.0.1"]


class OcppEnvelope(BaseModel):
    """One OCPP-J CALL with its CALLRESULT."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = 1
    station_id: str = Field(
        min_length=1, max_length=64, description="Charging station id (chargeBoxId / WebSocket id)"
    )
    ocpp_version: OcppVersion = Field(description="OCPP version the station speaks")
    message_id: str = Field(
        min_length=1,
        max_length=64,
        description="OCPP-J message id (at most 36 chars by the spec; unique per "
        "WebSocket connection only)",
    )
    action: str = Field(
        min_length=1, max_length=64, description="OCPP action, e.g. StartTransaction"
    )
    received_at: AwareDatetime = Field(
        description="When the gateway received the CALL (processing time), RFC 3339 with offset"
    )
    request: dict[str, Any] = Field(description="CALL payload as sent")
    response: dict[str, Any] | None = Field(
        None, description="CALLRESULT payload; null when there was none (timeout, CALLERROR)"
    )
    tenant: str | None = Field(
        None, min_length=1, max_length=64, description="Operator / CSMS; default when absent"
    )
