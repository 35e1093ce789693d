"""Computing the session record from the state.

Time accounting: the session runs from its start to its stop (or, while open,
to the latest event). Each instant is *charging* or *idle* according to the
latest state change before it (OCPI rule, see ``schemas.vocabulary``); before
the first state change the EV is plugged in but not yet requesting power, so
idle. When a charger reports no state changes at all, charging is inferred
from the meter: from the start until the register last rose, and the session
is flagged ``charging_inferred``. ``charging_s + idle_s == duration_s``.

Energy: the highest register (or the stop reading, when higher) minus the
start reading (or the lowest register when the start has none). Registers are
monotonic within a transaction (OCPP 1.6 errata 3.77), so highest/lowest equal
last/first without relying on arrival order.
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime

import msgspec

from schemas.vocabulary import CHARGING_STATES
from streams.core.state import SessionState

__all__ = ["SessionOut", "build_record", "encode_record", "record_digest"]


class SessionOut(msgspec.Struct, frozen=True, omit_defaults=False):
    """Hot-path twin of ``schemas.session.SessionRecord`` (same fields, same JSON)."""

    session_id: str
    version: int
    tenant: str
    station_id: str
    connector_id: int
    transaction_id: str | None
    status: str
    started_at: datetime
    ended_at: datetime | None
    duration_s: int
    charging_s: int
    idle_s: int
    energy_wh: int
    max_power_w: int
    soc_start: float | None
    soc_end: float | None
    stop_reason: str | None
    auth_method: str | None
    auth_result: str | None
    token_hash: str | None
    last_event_at: datetime
    flags: list[str]
    schema_version: int = 1


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _seconds(ms: int) -> int:
    # Round half up to whole seconds; inputs are non-negative.
    return (ms + 500) // 1000


def _charging_ms(states: list[tuple[int, str]], start: int, end: int) -> int:
    current_charging = False  # plugged in, not yet requesting power
    cursor = start
    total = 0
    for ms, state in states:
        if ms <= start:
            current_charging = state in CHARGING_STATES
            continue
        if ms >= end:
            break
        if current_charging:
            total += ms - cursor
        cursor = ms
        current_charging = state in CHARGING_STATES
    if current_charging:
        total += end - cursor
    return total


def build_record(state: SessionState, version: int) -> SessionOut:
    """The session as it stands, as record ``version``."""
    flags: list[str] = []
    assert state.first_ms is not None and state.last_ms is not None  # any event sets them
    if state.started_ms is None:
        flags.append("missing_start")
        start = state.first_ms
    else:
        start = state.started_ms
    end = state.stopped_ms if state.stopped_ms is not None else max(state.last_ms, start)
    if end < start:
        flags.append("stop_before_start")
        end = start
    if state.restarted:
        flags.append("duplicate_start")

    duration_ms = end - start
    if state.states:
        charging_ms = _charging_ms(state.states, start, end)
    elif (
        state.reg_max_ms is not None
        and state.reg_max is not None
        and state.reg_max
        > (state.meter_start_wh if state.meter_start_wh is not None else state.reg_min or 0)
    ):
        charging_ms = min(max(state.reg_max_ms - start, 0), duration_ms)
        flags.append("charging_inferred")
    else:
        charging_ms = 0
    duration_s = _seconds(duration_ms)
    charging_s = min(_seconds(charging_ms), duration_s)

    energy_wh = _energy_wh(state, flags)
    if state.samples == 0:
        flags.append("no_meter_samples")
    if energy_wh == 0:
        flags.append("zero_energy")
    if state.auth_result is not None and state.auth_result != "accepted":
        flags.append("not_authorised")

    return SessionOut(
        session_id=state.session_id,
        version=version,
        tenant=state.tenant,
        station_id=state.station_id,
        connector_id=state.connector_id,
        transaction_id=state.transaction_id,
        status="completed" if state.stopped_ms is not None else "active",
        started_at=_utc(start),
        ended_at=_utc(end) if state.stopped_ms is not None else None,
        duration_s=duration_s,
        charging_s=charging_s,
        idle_s=duration_s - charging_s,
        energy_wh=energy_wh,
        max_power_w=state.max_power_w,
        soc_start=state.soc_first,
        soc_end=state.soc_last,
        stop_reason=state.stop_reason,
        auth_method=state.auth_method,
        auth_result=state.auth_result,
        token_hash=state.token_hash,
        last_event_at=_utc(state.last_ms),
        flags=sorted(flags),
    )


def _energy_wh(state: SessionState, flags: list[str]) -> int:
    first = state.meter_start_wh if state.meter_start_wh is not None else state.reg_min
    candidates = [v for v in (state.reg_max, state.meter_stop_wh) if v is not None]
    if first is None or not candidates:
        return 0
    last = max(candidates)
    if last < first:
        flags.append("meter_regression")
        return 0
    return last - first


_encoder = msgspec.json.Encoder()


def encode_record(record: SessionOut) -> bytes:
    """JSON bytes of the record (the sessions topic value)."""
    return _encoder.encode(record)


def record_digest(record: SessionOut) -> int:
    """Stable digest of the record's content, version excluded (detects corrections)."""
    return zlib.crc32(_encoder.encode(msgspec.structs.replace(record, version=0)))
