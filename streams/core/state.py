"""Per-session state: a plain, serialisable value, folded from events.

Every field is an idempotent aggregate - earliest, latest, minimum, maximum, a
sorted set - or the meter fold of ``streams.core.meter``, which is exact for
any arrival order within the allowed lateness. Applying the same event twice,
or events in another order, gives the same state: the worker can re-process
events after a crash (at-least-once delivery) without ever double counting,
and the state stays small (no samples are stored beyond the lateness buffer).
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Callable
from typing import Any

import msgspec

from chargewatch.errors import StateFormatError
from streams.core.events import (
    AuthorizationResult,
    Event,
    MeterSample,
    Sample,
    SessionStarted,
    SessionStopped,
    StateChanged,
    as_sample,
)
from streams.core.meter import (
    KNOT_MS,
    MAX_KNOTS,
    MeterFold,
    add_reading,
    packed_from_builtins,
    packed_to_builtins,
    seal_until,
)

__all__ = [
    "SessionState",
    "apply_event",
    "event_ms",
    "fold_sample",
    "fold_samples",
    "restore_state",
    "snapshot_state",
]


# gc=False: a state holds only strings, numbers, flat lists of tuples of them
# and the (equally untracked) meter fold, so it can never be part of a
# reference cycle; untracked, each of the 100,000s of open sessions is 16
# bytes smaller and the collector never walks them.
class SessionState(msgspec.Struct, array_like=True, gc=False):
    """Everything the stitcher keeps about one session (times are epoch ms).

    Lists that most sessions never fill are ``None`` until their first item.
    """

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
    meter: MeterFold = msgspec.field(default_factory=MeterFold)
    outside_window: bool = False  # a reading fell outside [start, stop]
    first_sample_ms: int | None = None
    last_sample_ms: int | None = None
    samples: int = 0  # meter samples seen (duplicates included: for the interval estimate)
    max_power_w: int = 0
    soc_first_ms: int | None = None
    soc_first: float | None = None
    soc_last_ms: int | None = None
    soc_last: float | None = None
    # (ms, seq or -1, state), sorted: event time first, then OCPP 2.0.1 seqNo
    states: list[tuple[int, int, str]] = msgspec.field(default_factory=list)
    seqs: list[tuple[int, int]] | None = None  # seen seqNo ranges
    start_seq: int | None = None
    stop_seq: int | None = None
    restarted: bool = False  # a start with another event time was seen
    # meterStart minus the previous session's meterStop on this connector, when known
    energy_gap_wh: int | None = None
    event_flags: list[str] | None = None  # from ingestion, sorted
    stop_reason: str | None = None
    auth_method: str | None = None
    auth_result: str | None = None
    token_hash: str | None = None
    auto_closed_ms: int | None = None  # set while closed for lack of a stop
    stalled: bool = False  # no event for longer than the stall time
    version: int = 0  # versions emitted so far
    last_emit_ms: int | None = None  # event time at the last emission
    emitted_digest: int = 0  # digest of the last emitted record (corrections)
    final_emitted: bool = False  # a completed / auto_closed version went out
    # pricing: the tariff snapshotted at the start, and the CDRs issued so far
    tariff_id: str | None = None
    tariff_version_ms: int | None = None
    time_zone: str | None = None
    cdr_count: int = 0
    cdr_digest: int = 0
    last_cdr: bytes | None = None  # the last CDR sent (JSON), to credit it

    @property
    def closed(self) -> bool:
        """Stopped by the charger, or closed by the stitcher for lack of a stop."""
        return self.stopped_ms is not None or self.auto_closed_ms is not None


def event_ms(event: Event) -> int:
    """Event time in epoch milliseconds."""
    return round(event.ts.timestamp() * 1000)


def _earliest(current: int | None, candidate: int) -> bool:
    return current is None or candidate < current


def _add_seq(ranges: list[tuple[int, int]], seq: int) -> None:
    """Add one seqNo to sorted, disjoint, non-adjacent ranges."""
    for i, (lo, hi) in enumerate(ranges):
        if lo <= seq <= hi:
            return
        if seq == hi + 1:
            if i + 1 < len(ranges) and ranges[i + 1][0] == seq + 1:
                ranges[i : i + 2] = [(lo, ranges[i + 1][1])]
            else:
                ranges[i] = (lo, seq)
            return
        if seq == lo - 1:
            ranges[i] = (seq, hi)
            return
        if seq < lo:
            ranges.insert(i, (seq, seq))
            return
    ranges.append((seq, seq))


def apply_event(state: SessionState, event: Event, ms: int, lateness_ms: int) -> None:
    """Fold one event into the state (idempotent, order-independent)."""
    if event.seq is not None or event.flags:
        _note_seq_and_flags(state, event)
    if type(event) is MeterSample:
        fold_sample(state, as_sample(event, ms), lateness_ms)
        return
    if state.first_ms is None or ms < state.first_ms:
        state.first_ms = ms
    if state.last_ms is None or ms > state.last_ms:
        state.last_ms = ms
    if event.transaction_id is not None and state.transaction_id is None:
        state.transaction_id = event.transaction_id
    _APPLY[type(event)](state, event, ms)
    state.stalled = False
    if state.auto_closed_ms is not None and ms > state.auto_closed_ms:
        state.auto_closed_ms = None  # the charger is back: the session goes on
    state.outside_window |= (
        seal_until(state.meter, state.last_ms - lateness_ms, state.started_ms, state.stopped_ms) > 0
    )


def _note_seq_and_flags(state: SessionState, event: Event) -> None:
    if event.seq is not None:
        if state.seqs is None:
            state.seqs = [(event.seq, event.seq)]
        else:
            _add_seq(state.seqs, event.seq)
    if event.flags:
        if state.event_flags is None:
            state.event_flags = []
        for flag in event.flags:
            if flag not in state.event_flags:
                insort(state.event_flags, flag)


def fold_sample(state: SessionState, sample: Sample, lateness_ms: int) -> None:
    """Fold one meter sample, given as values (its seq and flags, if any, are
    noted by :func:`apply_event`).

    Nine events in ten are samples without seq or flags, and the OCPP path
    hands them over as values (``streams.core.events.Sample``) without building
    the event; ``apply_event`` folds every ``MeterSample`` through this too, so
    the two forms cannot fold differently."""
    _, ms, _, _, _, transaction_id, energy_wh, power_w, soc = sample
    if state.first_ms is None or ms < state.first_ms:
        state.first_ms = ms
    last_ms = state.last_ms
    if last_ms is None or ms > last_ms:
        state.last_ms = last_ms = ms
    if transaction_id is not None and state.transaction_id is None:
        state.transaction_id = transaction_id
    state.samples += 1
    if state.first_sample_ms is None or ms < state.first_sample_ms:
        state.first_sample_ms = ms
    if state.last_sample_ms is None or ms > state.last_sample_ms:
        state.last_sample_ms = ms
    meter = state.meter
    if energy_wh is not None:
        add_reading(meter, ms, energy_wh)
    if power_w is not None and power_w > state.max_power_w:
        state.max_power_w = power_w
    if soc is not None:
        if state.soc_first_ms is None or ms < state.soc_first_ms:
            state.soc_first_ms, state.soc_first = ms, soc
        if state.soc_last_ms is None or ms > state.soc_last_ms:
            state.soc_last_ms, state.soc_last = ms, soc
    state.stalled = False
    if state.auto_closed_ms is not None and ms > state.auto_closed_ms:
        state.auto_closed_ms = None  # the charger is back: the session goes on
    # seal_until only when something is buffered (it returns 0 otherwise).
    if (meter.recent is not None or meter.recent_wide is not None) and seal_until(
        meter, last_ms - lateness_ms, state.started_ms, state.stopped_ms
    ):
        state.outside_window = True


def fold_samples(state: SessionState, samples: list[Sample], lateness_ms: int) -> None:
    """:func:`fold_sample` of each sample, in order, in one compiled call when
    the build has it (``native/src/fold.rs``; the same state, down to the bytes
    of its snapshot: ``tests/unit/test_native_fold.py``). Its cost is mostly
    reading and writing the state's fields, so it pays for a run of samples:
    the stitcher hands over the samples of a session between two records."""
    if _native_fold is None or not _native_fold(state, samples, lateness_ms):
        for sample in samples:
            fold_sample(state, sample, lateness_ms)


def _apply_state(state: SessionState, event: StateChanged, ms: int) -> None:
    entry = (ms, -1 if event.seq is None else event.seq, event.state)
    if entry not in state.states:
        insort(state.states, entry)


def _apply_start(state: SessionState, event: SessionStarted, ms: int) -> None:
    if state.started_ms is not None and ms != state.started_ms:
        state.restarted = True  # a second, different start for the same session id
    if _earliest(state.started_ms, ms):
        state.started_ms = ms
        state.start_seq = event.seq
        state.meter_start_wh = event.meter_start_wh
        if event.auth_method is not None:
            state.auth_method = event.auth_method
        if event.token_hash is not None:
            state.token_hash = event.token_hash
    if event.meter_start_wh is not None:
        add_reading(state.meter, ms, event.meter_start_wh)


def _apply_stop(state: SessionState, event: SessionStopped, ms: int) -> None:
    if _earliest(state.stopped_ms, ms):
        state.stopped_ms = ms
        state.stop_seq = event.seq
        state.meter_stop_wh = event.meter_stop_wh
        state.stop_reason = event.reason
        state.auto_closed_ms = None  # the real stop supersedes an automatic close
    if event.meter_stop_wh is not None:
        add_reading(state.meter, ms, event.meter_stop_wh)


def _apply_authorization(state: SessionState, event: AuthorizationResult, ms: int) -> None:
    # The latest decision wins: a session can be re-authorised (e.g. after an
    # offline start the CSMS may later deauthorise it).
    state.auth_method = event.method
    state.auth_result = event.result
    if event.token_hash is not None:
        state.token_hash = event.token_hash


_APPLY: dict[type[Any], Callable[[SessionState, Any, int], None]] = {
    StateChanged: _apply_state,
    SessionStarted: _apply_start,
    SessionStopped: _apply_stop,
    AuthorizationResult: _apply_authorization,
}

_native_fold: Callable[[SessionState, list[Sample], int], bool] | None
try:
    from chargewatch_native import KNOT_MS as _NATIVE_KNOT_MS
    from chargewatch_native import MAX_KNOTS as _NATIVE_MAX_KNOTS
    from chargewatch_native import fold_samples as _compiled_fold
except ImportError:  # pragma: no cover - the build includes it
    _native_fold = None
else:
    _native_fold = _compiled_fold
    if (_NATIVE_KNOT_MS, _NATIVE_MAX_KNOTS) != (KNOT_MS, MAX_KNOTS):  # pragma: no cover
        _native_fold = None  # a build older than this code: fold in Python
NATIVE_FOLD = _native_fold is not None
"""Whether :func:`fold_samples` folds in compiled code."""

_state_encoder = msgspec.msgpack.Encoder(enc_hook=packed_to_builtins)
_state_decoder = msgspec.msgpack.Decoder(SessionState, dec_hook=packed_from_builtins)


def snapshot_state(state: SessionState) -> bytes:
    """Serialise the state (compact msgpack arrays) for the changelog table."""
    return _state_encoder.encode(state)


def restore_state(raw: bytes) -> SessionState:
    """Inverse of :func:`snapshot_state`; StateFormatError if ``raw`` is not one."""
    try:
        return _state_decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise StateFormatError(f"unreadable session state: {exc}") from None
