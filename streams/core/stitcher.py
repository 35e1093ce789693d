"""The stitcher: events in, session records out, with the emission policy.

A session record is emitted

* on the first event of a session (so dashboards see it at once),
* whenever ``update_interval_s`` of *event time* has passed since the last
  emission while the session is open (event time, not wall time, so a replay
  emits exactly what the live path emitted),
* when the session stops (the final record), or is stalled or auto-closed by
  :meth:`Stitcher.tick`,
* after a final record, only when a late event really changes it: a new,
  higher version marked ``correction=True``. Duplicates change nothing and
  emit nothing.

Version numbers are a deterministic function of the events (and ticks), so
re-processing after a crash emits byte-identical records.

Silence is judged against a *watermark* the caller passes to :meth:`tick`: the
worker uses the newest event time of the partition, advanced by the wall time
since that event arrived (so a station that goes quiet still stalls), a replay
uses the newest event time in the file. The core itself never reads a clock.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from streams.core.events import (
    Event,
    MeterSample,
    Sample,
    SessionStarted,
    SessionStopped,
    as_sample,
)
from streams.core.record import SessionOut, build_record, record_digest
from streams.core.state import SessionState, apply_event, event_ms, fold_sample, fold_samples

if TYPE_CHECKING:
    # Types only: the pricer and its CDR models are imported by whoever prices,
    # and an unpriced replay starts faster without them.
    from schemas.cdr import Cdr
    from streams.core.session_pricing import SessionPricer

__all__ = ["ConnectorStop", "Stitcher", "Timeouts", "connector_key"]

Loader = Callable[[str], SessionState | None]
ConnectorStop = tuple[int, int, str]


def connector_key(state: SessionState) -> str:
    """Table key of a connector's memory (distinct from session ids, which are UUIDs)."""
    return f"connector|{state.tenant}|{state.station_id}|{state.connector_id}"


# Checked by exact type: an isinstance test against a union costs several times
# more, on every event (event types are final: nothing subclasses them).
_BOUNDARIES = frozenset((SessionStarted, SessionStopped))


MAX_DEFERRED = 1 << 18
"""Deferred samples held at most (all sessions together, ~250 bytes each): a
replay of a network with a million open sessions must not hold every sample
of their last five minutes."""


def _no_state(_session_id: str) -> SessionState | None:
    return None


@dataclass(frozen=True)
class Timeouts:
    """When a silent session is stalled, and when it is closed without a stop."""

    stall_factor: float = 5.0  # times the session's sample interval ...
    stall_min_s: int = 300  # ... but never less than this
    auto_close_s: int = 24 * 3600  # closed as auto_closed after this much silence

    def stall_ms(self, state: SessionState) -> int:
        interval_ms = 0
        if state.samples > 1 and state.first_sample_ms is not None:
            assert state.last_sample_ms is not None
            interval_ms = (state.last_sample_ms - state.first_sample_ms) // (state.samples - 1)
        return max(self.stall_min_s * 1000, round(self.stall_factor * interval_ms))


class Stitcher:
    """Keeps session states in memory and turns events into session records.

    ``load`` is asked for a session's state when it is not in memory (the
    worker passes a lookup in its changelog-backed table, so a restarted worker
    resumes where the table left off).
    """

    def __init__(
        self,
        *,
        update_interval_s: int,
        allowed_lateness_s: int = 600,
        timeouts: Timeouts | None = None,
        load: Loader | None = None,
        load_connector: Callable[[str], ConnectorStop | None] | None = None,
        pricer: SessionPricer | None = None,
        defer_samples: bool = True,
    ) -> None:
        self._interval_ms = update_interval_s * 1000
        self._lateness_ms = allowed_lateness_s * 1000
        self._timeouts = timeouts or Timeouts()
        self._load = load or _no_state
        self._load_connector = load_connector
        self._sessions: dict[str, SessionState] = {}
        self._open: set[str] = set()  # ids of the sessions above that are not closed
        # connector key -> (stop time, stop reading, session id) of its latest session
        self.connectors: dict[str, ConnectorStop] = {}
        self.dirty_connectors: set[str] = set()
        self._pricer = pricer
        self.cdrs_out: list[Cdr] = []  # CDRs to send, drained by the caller
        # Meter samples that emit nothing, not yet folded: session id -> samples
        # in arrival order (see apply_sample). None: fold every sample at once.
        self._pending: dict[str, list[Sample]] | None = {} if defer_samples else None
        self._deferred = 0  # samples in _pending

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[SessionState]:
        self._fold_pending()
        return iter(self._sessions.values())

    def get(self, session_id: str) -> SessionState | None:
        """A session's state, up to date (its deferred samples folded)."""
        if self._pending:
            self._fold_pending(session_id)
        return self._sessions.get(session_id)

    def adopt(self, state: SessionState) -> None:
        """Hold a state loaded by the caller (e.g. open sessions after a restart)."""
        self._sessions.setdefault(state.session_id, state)
        if not state.closed:
            self._open.add(state.session_id)

    def evict(self, session_id: str) -> None:
        """Forget a session (its state must be persisted by the caller first)."""
        if self._pending:
            self._fold_pending(session_id)
        self._sessions.pop(session_id, None)
        self._open.discard(session_id)

    def apply(self, event: Event, ms: int | None = None) -> SessionOut | None:
        """Fold one event in; return the record to emit, if any.

        ``ms`` is ``event_ms(event)`` when the caller has already computed it
        (it needs the event time too, for its watermark): the conversion from
        the datetime is a noticeable part of an event's cost."""
        if ms is None:
            ms = event_ms(event)
        if type(event) is MeterSample and event.seq is None and not event.flags:
            return self.apply_sample(as_sample(event, ms))  # may be deferred, too
        sid = event.session_id
        if self._pending:
            self._fold_pending(sid)
        state = self._sessions.get(sid) or self._new_state(
            sid, event.tenant, event.station_id, event.connector_id
        )
        was_closed = state.closed
        was_stalled = state.stalled
        apply_event(state, event, ms, self._lateness_ms)
        if type(event) in _BOUNDARIES:
            self._check_connector(state)
            if self._pricer is not None:
                self._pricer.snapshot(state)
        return self._after(state, ms, was_closed, was_stalled)

    def apply_sample(self, sample: Sample) -> SessionOut | None:
        """:meth:`apply` of a meter sample given as values (``events.Sample``):
        the same fold and the same records, without the event.

        A sample that emits no record - the session open, not stalled, a record
        out already and the next one not due by this sample's time - changes
        nothing anyone sees until the session's next record: it is kept, and
        the session's run of such samples is folded in one compiled call
        (``fold_samples``) when anything reads or changes the session (its next
        record, an event, ``get``, ``tick``, ``settle``, ``evict``). Folding in
        arrival order then gives the very state folding each at once gives;
        nine samples in ten take this way."""
        sid = sample[0]
        pending = self._pending
        state = self._sessions.get(sid)
        if state is None:
            state = self._new_state(sid, sample[2], sample[3], sample[4])
        elif pending is not None:
            last_emit_ms = state.last_emit_ms
            # The conditions under which _after emits nothing; deferred samples
            # change none of the fields read here (they only un-stall, and a
            # stalled session takes the other way).
            if (
                last_emit_ms is not None
                and sample[1] - last_emit_ms < self._interval_ms
                and state.version
                and not state.stalled
                and state.stopped_ms is None
                and state.auto_closed_ms is None
                and not state.final_emitted
            ):
                run = pending.get(sid)
                if run is None:
                    pending[sid] = [sample]
                else:
                    run.append(sample)
                self._deferred += 1
                if self._deferred >= MAX_DEFERRED:
                    self._fold_pending()  # bounds the memory of a replay of many sessions
                return None
            run = pending.pop(sid, None)
            if run is not None:
                self._deferred -= len(run)
                was_closed = state.closed
                was_stalled = state.stalled
                run.append(sample)
                fold_samples(state, run, self._lateness_ms)
                return self._after(state, sample[1], was_closed, was_stalled)
        was_closed = state.closed
        was_stalled = state.stalled
        fold_sample(state, sample, self._lateness_ms)
        return self._after(state, sample[1], was_closed, was_stalled)

    def deferral_deadline(self, session_id: str) -> int | None:
        """The time before which :meth:`apply_sample` would hold a sample of the
        session as things stand (its conditions but the time's), or ``None``.
        Holding such samples elsewhere and handing them over with
        :meth:`defer_run` before anything else reads or changes the session is
        the same as applying them (the replay's compiled lane does)."""
        state = self._sessions.get(session_id)
        if (
            self._pending is None
            or state is None
            or state.last_emit_ms is None
            or not state.version
            or state.stalled
            or state.stopped_ms is not None
            or state.auto_closed_ms is not None
            or state.final_emitted
        ):
            return None
        return state.last_emit_ms + self._interval_ms

    def defer_run(self, session_id: str, samples: list[Sample]) -> None:
        """Hold samples of a session held elsewhere on :meth:`deferral_deadline`'s
        terms, in arrival order, after those held here."""
        pending = self._pending
        assert pending is not None, "deferral is off"
        run = pending.get(session_id)
        if run is None:
            pending[session_id] = samples
        else:
            run += samples
        self._deferred += len(samples)
        if self._deferred >= MAX_DEFERRED:
            self._fold_pending()

    def _fold_pending(self, session_id: str | None = None) -> None:
        """Fold the deferred samples of one session, or of all."""
        pending = self._pending
        if not pending:
            return
        if session_id is None:
            for sid, run in pending.items():
                fold_samples(self._sessions[sid], run, self._lateness_ms)
            pending.clear()
            self._deferred = 0
            return
        held = pending.pop(session_id, None)
        if held is not None:
            self._deferred -= len(held)
            fold_samples(self._sessions[session_id], held, self._lateness_ms)

    def _new_state(self, sid: str, tenant: str, station_id: str, connector_id: int) -> SessionState:
        """A session's state when it is not in memory: loaded, or a new one."""
        # Interned: every decoded event brings its own copy of these, and
        # a tenant's or station's sessions would each keep one.
        state = self._load(sid) or SessionState(
            session_id=sid,
            tenant=sys.intern(tenant),
            station_id=sys.intern(station_id),
            connector_id=connector_id,
        )
        self._sessions[sid] = state
        return state

    def _after(
        self, state: SessionState, ms: int, was_closed: bool, was_stalled: bool
    ) -> SessionOut | None:
        """After an event at ``ms`` was folded into ``state``: the record to emit, if any."""
        closed = state.closed
        if closed:
            self._open.discard(state.session_id)
        else:
            self._open.add(state.session_id)
        if state.final_emitted:
            # Late or duplicate event after a final record: emit only a real change.
            return self._emit_if_changed(state)
        if state.version == 0 or was_stalled or (closed and not was_closed):
            return self._emit(state)
        last = state.last_emit_ms
        if last is None or ms - last >= self._interval_ms:
            return self._emit(state)
        return None

    def _check_connector(self, state: SessionState) -> None:
        """Compare a session's start reading with the previous session's stop reading
        on the same connector (OCPP 1.6 errata 3.77: they should be equal)."""
        key = connector_key(state)
        last = self.connectors.get(key)
        if last is None and self._load_connector is not None:
            last = self._load_connector(key)
        if (
            state.started_ms is not None
            and state.meter_start_wh is not None
            and last is not None
            and last[0] <= state.started_ms
            and last[2] != state.session_id
        ):
            state.energy_gap_wh = state.meter_start_wh - last[1]
        if (
            state.stopped_ms is not None
            and state.meter_stop_wh is not None
            and (last is None or last[0] < state.stopped_ms)
        ):
            self.connectors[key] = (state.stopped_ms, state.meter_stop_wh, state.session_id)
            self.dirty_connectors.add(key)

    def tick(self, watermark_ms: int, session_ids: Iterable[str] | None = None) -> list[SessionOut]:
        """Stall or auto-close open sessions that are silent at ``watermark_ms``."""
        out = []
        ids = list(self._open) if session_ids is None else list(session_ids)
        auto_close_ms = self._timeouts.auto_close_s * 1000
        # No session stalls sooner than this: most open sessions are not silent
        # even that long, and need no stall time of their own.
        stall_min_ms = self._timeouts.stall_min_s * 1000
        pending = self._pending
        for sid in ids:
            state = self._sessions.get(sid)
            if state is None or state.closed or state.last_ms is None:
                continue
            silent_ms = watermark_ms - state.last_ms
            if silent_ms < stall_min_ms and silent_ms < auto_close_ms:
                continue  # deferred samples only make it newer: not silent either
            if pending and (run := pending.get(sid)) is not None:
                # The last deferred sample is no newer than the newest: if even
                # it is recent, the session is not silent; else fold and see.
                silent_ms = watermark_ms - run[-1][1]
                if silent_ms < stall_min_ms and silent_ms < auto_close_ms:
                    continue
                self._fold_pending(sid)
                silent_ms = watermark_ms - state.last_ms
                if silent_ms < stall_min_ms and silent_ms < auto_close_ms:
                    continue
            if silent_ms >= auto_close_ms:
                # Closed at the last trusted meter reading (or the last event).
                state.auto_closed_ms = max(
                    state.last_sample_ms or state.last_ms, state.started_ms or state.last_ms
                )
                self._open.discard(sid)
                out.append(self._emit(state))
            elif not state.stalled and silent_ms >= self._timeouts.stall_ms(state):
                state.stalled = True
                out.append(self._emit(state))
        return out

    def settle(self, session_id: str) -> SessionOut | None:
        """The up-to-date record of a session, emitting a new version if it changed
        since the last emission (used at the end of a replay)."""
        if self._pending:
            self._fold_pending(session_id)
        state = self._sessions.get(session_id)
        if state is None:
            return None
        if state.version == 0:
            return self._emit(state)
        record = self._emit_if_changed(state)
        if record is not None:
            return record
        record = build_record(state, state.version)
        return self._pricer.with_cost(state, record) if self._pricer is not None else record

    def _emit_if_changed(self, state: SessionState) -> SessionOut | None:
        candidate = build_record(state, state.version + 1, correction=state.final_emitted)
        if record_digest(candidate) == state.emitted_digest:
            return None
        return self._commit(state, candidate)

    def _emit(self, state: SessionState) -> SessionOut:
        return self._commit(state, build_record(state, state.version + 1))

    def _commit(self, state: SessionState, record: SessionOut) -> SessionOut:
        state.version = record.version
        assert state.last_ms is not None
        state.last_emit_ms = state.last_ms
        state.emitted_digest = record_digest(record)  # of the session, before its cost
        if state.closed:
            state.final_emitted = True
        if self._pricer is not None:
            record, cdrs = self._pricer.settle_cdrs(state, record)
            self.cdrs_out.extend(cdrs)
        return record
