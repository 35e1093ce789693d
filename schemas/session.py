"""The session record: the contract of the ``chargewatch.sessions`` topic.

Key = session id. A session is emitted when it starts, every
``update_interval_s`` of event time while open, when it stops (or is stalled or
auto-closed), and again - with a higher ``version`` and ``correction=True`` -
whenever late data changes a closed session: an explicit correction, never a
silent change. Consumers keep the highest version per session (ClickHouse:
ReplacingMergeTree on ``version``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.vocabulary import AuthMethod, AuthResult, SessionStatus

__all__ = ["SessionCost", "SessionRecord"]


class SessionCost(BaseModel):
    """An OCPI Price: amounts as decimal strings, so no float ever touches money."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    excl_vat: Decimal
    incl_vat: Decimal | None = None


class SessionRecord(BaseModel):
    """One version of one charging session, with its computed totals."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = 1
    session_id: str
    version: int = Field(ge=1, description="Increases with every emitted change of the session")
    tenant: str
    station_id: str
    connector_id: int = Field(ge=0)
    transaction_id: str | None = Field(description="As the charger sent it")
    status: SessionStatus
    started_at: AwareDatetime
    ended_at: AwareDatetime | None = Field(description="None while the session is open")
    duration_s: int = Field(ge=0, description="Plugged-in time: ended_at (or last event) - start")
    charging_s: int = Field(ge=0, description="Time the EV drew or requested power")
    idle_s: int = Field(ge=0, description="Time plugged in without the EV requesting power")
    energy_wh: int = Field(ge=0, description="Energy delivered in the session")
    max_power_w: int = Field(ge=0)
    soc_start: float | None = None
    soc_end: float | None = None
    stop_reason: str | None = None
    auth_method: AuthMethod | None = None
    auth_result: AuthResult | None = None
    token_hash: str | None = Field(None, description="Pseudonymised id token")
    last_event_at: AwareDatetime = Field(description="Event time of the latest event seen")
    flags: list[str] = Field(default_factory=list, description="Data-quality flags, sorted")
    seq_complete: bool | None = Field(
        None, description="OCPP 2.0.1: every seqNo from Started to Ended seen (None: unknown)"
    )
    missing_seq: list[int] = Field(default_factory=list, description="Missing seqNos (first 50)")
    correction: bool = Field(
        False, description="True when this version changes a session already reported closed"
    )
    tariff_id: str | None = Field(None, description="OCPI tariff snapshotted at the start")
    currency: str | None = Field(None, description="ISO 4217 currency of total_cost")
    total_cost: SessionCost | None = Field(
        None, description="Provisional while open, final once closed (OCPI rounding policy)"
    )
