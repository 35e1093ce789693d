"""Per-session state: a plain, serialisable value, folded from events.

Design rule: every field is an *idempotent, order-independent* aggregate
(earliest, latest, minimum, maximum, a sorted set of state changes), never a
running sum. Applying the same event twice, or events in another order, gives
the same state. That is what lets the worker re-process events after a crash
(at-least-once delivery) without ever double counting energy or time, and it
keeps the state small: no samples are stored.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Callable
from typing import Any

import msgspec

from streams.core.events import (
    AuthorizationResult,
    Event,
    MeterSample,
    SessionStarted,
    SessionStopped,
    StateChanged,
)

__all__ = ["SessionState", "apply_event", "event_ms", "restore_state", "snapshot_state"]


class SessionState(msgspec.Struct, array_like=True):
    """Everything the stitcher keeps about one session (times are epoch ms)."""

    session_id: str
    tenant: str
    station_id: str
    connector_id: int
    transaction_id: str | None = None
    started_ms: int | None = None  # event time of the (earliest) start
    stopped_ms: int | None = None  # event time of the (earliest) stop
    first_ms: int | None = None  # earliest event time of any event
    last_ms: int | None = None  # latest event time of any event
    meter_start_wh: int | None = None
    meter_stop_wh: int | None = None
    reg_min: int | None = None  # lowest energy register sampled
    reg_max: int | None = None  # highest energy register sampled
    reg_max_ms: int | None = None  # earliest time the highest register was read
    samples: int = 0  # meter samples seen (a presence flag; may count duplicates)
    max_power_w: int = 0
    soc_first_ms: int | None = None
    soc_first: float | None = None
    soc_last_ms: int | None = None
    soc_last: float | None = None
    states: list[tuple[int, str]] = msgspec.field(default_factory=list)  # sorted, distinct
    stop_reason: str | None = None
    auth_method: str | None = None
    auth_result: str | None = None
    token_hash: str | None = None
    restarted: bool = False  # a start with another event time was seen
    version: int = 0  # versions emitted so far
    last_emit_ms: int | None = None  # event time at the last emission
    emitted_digest: int = 0  # digest of the last emitted record (corrections)

    @property
    def closed(self) -> bool:
        return self.stopped_ms is not None


def event_ms(event: Event) -> int:
    """Event time in epoch milliseconds."""
    return round(event.ts.timestamp() * 1000)


def _earliest(current: int | None, candidate: int) -> bool:
    return current is None or candidate < current


def apply_event(state: SessionState, event: Event, ms: int) -> None:
    """Fold one event into the state (idempotent, order-independent)."""
    if state.first_ms is None or ms < state.first_ms:
        state.first_ms = ms
    if state.last_ms is None or ms > state.last_ms:
        state.last_ms = ms
    if event.transaction_id is not None and state.transaction_id is None:
        state.transaction_id = event.transaction_id
    _APPLY[type(event)](state, event, ms)


def _apply_state(state: SessionState, event: StateChanged, ms: int) -> None:
    entry = (ms, event.state)
    if entry not in state.states:
        insort(state.states, entry)


def _apply_start(state: SessionState, event: SessionStarted, ms: int) -> None:
    if state.started_ms is not None and ms != state.started_ms:
        state.restarted = True  # a second, different start for the same session id
    if _earliest(state.started_ms, ms):
        state.started_ms = ms
        state.meter_start_wh = event.meter_start_wh
        if event.auth_method is not None:
            state.auth_method = event.auth_method
        if event.token_hash is not None:
            state.token_hash = event.token_hash


def _apply_stop(state: SessionState, event: SessionStopped, ms: int) -> None:
    if _earliest(state.stopped_ms, ms):
        state.stopped_ms = ms
        state.meter_stop_wh = event.meter_stop_wh
        state.stop_reason = event.reason


def _apply_authorization(state: SessionState, event: AuthorizationResult, ms: int) -> None:
    # The latest decision wins: a session can be re-authorised (e.g. after an
    # offline start the CSMS may later deauthorise it).
    state.auth_method = event.method
    state.auth_result = event.result
    if event.token_hash is not None:
        state.token_hash = event.token_hash


def _apply_sample(state: SessionState, sample: MeterSample, ms: int) -> None:
    state.samples += 1
    reg = sample.energy_wh
    if reg is not None:
        if state.reg_min is None or reg < state.reg_min:
            state.reg_min = reg
        if state.reg_max is None or reg > state.reg_max:
            state.reg_max = reg
            state.reg_max_ms = ms
        elif reg == state.reg_max and _earliest(state.reg_max_ms, ms):
            state.reg_max_ms = ms
    if sample.power_w is not None and sample.power_w > state.max_power_w:
        state.max_power_w = sample.power_w
    if sample.soc is not None:
        if _earliest(state.soc_first_ms, ms):
            state.soc_first_ms, state.soc_first = ms, sample.soc
        if state.soc_last_ms is None or ms > state.soc_last_ms:
            state.soc_last_ms, state.soc_last = ms, sample.soc


_APPLY: dict[type[Any], Callable[[SessionState, Any, int], None]] = {
    MeterSample: _apply_sample,
    StateChanged: _apply_state,
    SessionStarted: _apply_start,
    SessionStopped: _apply_stop,
    AuthorizationResult: _apply_authorization,
}

_state_encoder = msgspec.msgpack.Encoder()
_state_decoder = msgspec.msgpack.Decoder(SessionState)


def snapshot_state(state: SessionState) -> bytes:
    """Serialise the state (compact msgpack array) for the changelog table."""
    return _state_encoder.encode(state)


def restore_state(raw: bytes) -> SessionState:
    """Inverse of :func:`snapshot_state`."""
    state = _state_decoder.decode(raw)
    # msgpack gives lists for tuples; restore the (ms, state) pairs.
    state.states = [(int(ms), str(st)) for ms, st in state.states]
    return state
