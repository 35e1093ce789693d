"""Computing the session record from the state.

Time accounting: the session runs from its start to its stop (while open: to
the latest event; when auto-closed: to the last meter reading). Each instant is
*charging* or *idle* by the latest state change before it, ordered by event
time then seqNo (OCPI rule, see ``schemas.vocabulary``); before the first
state change the EV is plugged in but not yet requesting power, so idle. A
charger that reports no state changes gets its charging time from the meter -
from the start until the register last rose - and the flag
``charging_inferred``. ``charging_s + idle_s == duration_s``.

Energy: ``streams.core.meter`` (resets, regressions, readings outside the
window).
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime

import msgspec

from schemas.vocabulary import CHARGING_STATES
from streams.core.meter import LATE, REGRESSION, RESET, meter_total
from streams.core.state import SessionState

__all__ = ["SessionOut", "build_record", "encode_record", "record_digest"]

MAX_MISSING_SEQ = 50


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
    seq_complete: bool | None = None
    missing_seq: list[int] = msgspec.field(default_factory=list)
    correction: bool = False
    tariff_id: str | None = None
    currency: str | None = None
    total_cost: dict[str, str | None] | None = None  # {"excl_vat", "incl_vat"}, decimal strings
    schema_version: int = 1


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _seconds(ms: int) -> int:
    # Round half up to whole seconds; inputs are non-negative.
    return (ms + 500) // 1000


def _charging_ms(states: list[tuple[int, int, str]], start: int, end: int) -> int:
    current_charging = False  # plugged in, not yet requesting power
    cursor = start
    total = 0
    for ms, _seq, state in states:
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


def _missing_seqs(state: SessionState) -> tuple[bool | None, list[int]]:
    """Whether every seqNo from the start's to the stop's was seen (2.0.1), and the
    first ``MAX_MISSING_SEQ`` missing ones. Only those are listed: a charger can
    send any seqNo, and a stop at 4,000,000,000 must not list four billion."""
    if state.start_seq is None or state.stop_seq is None or not state.seqs:
        return None, []
    missing: list[int] = []
    complete = True
    expected, stop = state.start_seq, state.stop_seq
    for lo, hi in [*state.seqs, (stop + 1, stop + 1)]:  # the last: the gap before the stop
        if hi < expected:
            continue
        end = min(lo, stop + 1)  # [expected, end) was not seen
        if end > expected:
            complete = False
            room = MAX_MISSING_SEQ - len(missing)
            missing.extend(range(expected, min(end, expected + room)))
        if lo > stop:
            break
        expected = max(expected, hi + 1)
    return complete, missing


def _status(state: SessionState) -> str:
    if state.stopped_ms is not None:
        return "completed"
    if state.auto_closed_ms is not None:
        return "auto_closed"
    return "stalled" if state.stalled else "active"


def _window(state: SessionState, flags: list[str]) -> tuple[int, int]:
    """Start and end (epoch ms) of the session as it stands."""
    assert state.first_ms is not None and state.last_ms is not None  # any event sets them
    if state.started_ms is None:
        flags.append("missing_start")
        start = state.first_ms
    else:
        start = state.started_ms
        if state.first_ms < start:
            flags.append("event_before_start")
    if state.stopped_ms is not None:
        end = state.stopped_ms
    elif state.auto_closed_ms is not None:
        end = state.auto_closed_ms
    else:
        end = max(state.last_ms, start)
    if end < start:
        flags.append("stop_before_start")
        end = start
    if state.restarted:
        flags.append("duplicate_start")
    return start, end


def _energy(state: SessionState, flags: list[str]) -> tuple[int, int | None]:
    """Energy (Wh) and the time the register last rose, with the meter flags."""
    energy, last_rise_ms, meter_flags, outside = meter_total(
        state.meter, state.started_ms, state.stopped_ms
    )
    if outside or state.outside_window:
        flags.append("sample_outside_window")
    if meter_flags:
        flags.extend(flag for bit, flag in _METER_FLAGS if meter_flags & bit)
    start_wh, stop_wh = state.meter_start_wh, state.meter_stop_wh
    if start_wh is not None and stop_wh is not None and stop_wh < start_wh:
        flags.append("meter_stop_below_start")
    if state.energy_gap_wh:
        # > 0: energy flowed between two sessions; < 0: the meter was rebased.
        flags.append("energy_gap_before" if state.energy_gap_wh > 0 else "meter_rebased")
    if state.samples == 0:
        flags.append("no_meter_samples")
    if energy == 0:
        flags.append("zero_energy")
    return energy, last_rise_ms


_METER_FLAGS = ((RESET, "meter_reset"), (REGRESSION, "meter_regression"), (LATE, "late_reading"))


def build_record(state: SessionState, version: int, *, correction: bool = False) -> SessionOut:
    """The session as it stands, as record ``version``."""
    flags: list[str] = []
    start, end = _window(state, flags)
    energy_wh, last_rise_ms = _energy(state, flags)
    duration_ms = end - start
    if state.states:
        charging_ms = _charging_ms(state.states, start, end)
    elif last_rise_ms is not None:
        charging_ms = min(max(last_rise_ms - start, 0), duration_ms)
        flags.append("charging_inferred")
    else:
        charging_ms = 0
    duration_s = _seconds(duration_ms)
    charging_s = min(_seconds(charging_ms), duration_s)
    if state.auth_result is not None and state.auth_result != "accepted":
        flags.append("not_authorised")
    if state.event_flags:
        flags.extend(state.event_flags)
    seq_complete, missing = _missing_seqs(state)
    if seq_complete is False:
        flags.append("seq_gap")
    assert state.last_ms is not None

    return SessionOut(
        session_id=state.session_id,
        version=version,
        tenant=state.tenant,
        station_id=state.station_id,
        connector_id=state.connector_id,
        transaction_id=state.transaction_id,
        status=_status(state),
        started_at=_utc(start),
        ended_at=_utc(end) if state.closed else None,
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
        seq_complete=seq_complete,
        missing_seq=missing,
        correction=correction,
    )


_encoder = msgspec.json.Encoder()


def encode_record(record: SessionOut) -> bytes:
    """JSON bytes of the record (the sessions topic value)."""
    return _encoder.encode(record)


def record_digest(record: SessionOut) -> int:
    """Stable digest of the record's content, version and correction mark excluded."""
    return zlib.crc32(_encoder.encode(msgspec.structs.replace(record, version=0, correction=False)))
