"""The stitcher: events in, session records out, with the emission policy.

A session record is emitted

* on the first event of a session (so dashboards see it at once),
* whenever ``update_interval_s`` of *event time* has passed since the last
  emission while the session is open (event time, not wall time, so a replay
  emits exactly what the live path emitted),
* when the session stops (the final record),
* after that, only when a late event really changes the record: a new, higher
  version - an explicit correction. Duplicates change nothing and emit nothing.

Version numbers are therefore a deterministic function of the events, which
makes re-processing after a crash emit byte-identical records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from streams.core.events import Event
from streams.core.record import SessionOut, build_record, record_digest
from streams.core.state import SessionState, apply_event, event_ms

__all__ = ["Stitcher"]

Loader = Callable[[str], SessionState | None]


def _no_state(_session_id: str) -> SessionState | None:
    return None


class Stitcher:
    """Keeps session states in memory and turns events into session records.

    ``load`` is asked for a session's state when it is not in memory (the
    worker passes a lookup in its changelog-backed table, so a restarted worker
    resumes where the table left off).
    """

    def __init__(self, *, update_interval_s: int, load: Loader = _no_state) -> None:
        self._interval_ms = update_interval_s * 1000
        self._load = load
        self._sessions: dict[str, SessionState] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[SessionState]:
        return iter(self._sessions.values())

    def get(self, session_id: str) -> SessionState | None:
        return self._sessions.get(session_id)

    def evict(self, session_id: str) -> None:
        """Forget a session (its state must be persisted by the caller first)."""
        self._sessions.pop(session_id, None)

    def apply(self, event: Event) -> SessionOut | None:
        """Fold one event in; return the record to emit, if any."""
        sid = event.session_id
        state = self._sessions.get(sid)
        if state is None:
            state = self._load(sid) or SessionState(
                session_id=sid,
                tenant=event.tenant,
                station_id=event.station_id,
                connector_id=event.connector_id,
            )
            self._sessions[sid] = state
        was_closed = state.closed
        ms = event_ms(event)
        apply_event(state, event, ms)

        if state.version == 0 or (state.closed and not was_closed):
            return self._emit(state)
        if was_closed:
            # Late or duplicate event after the stop: emit only a real change.
            candidate = build_record(state, state.version + 1)
            if record_digest(candidate) != state.emitted_digest:
                return self._commit(state, candidate)
            return None
        last = state.last_emit_ms
        if last is None or ms - last >= self._interval_ms:
            return self._emit(state)
        return None

    def settle(self, session_id: str) -> SessionOut | None:
        """The up-to-date record of a session, emitting a new version if it changed
        since the last emission (used at the end of a replay)."""
        state = self._sessions.get(session_id)
        if state is None:
            return None
        candidate = build_record(state, state.version + 1)
        if state.version and record_digest(candidate) == state.emitted_digest:
            return build_record(state, state.version)
        return self._commit(state, candidate)

    def _emit(self, state: SessionState) -> SessionOut:
        return self._commit(state, build_record(state, state.version + 1))

    @staticmethod
    def _commit(state: SessionState, record: SessionOut) -> SessionOut:
        state.version = record.version
        assert state.last_ms is not None
        state.last_emit_ms = state.last_ms
        state.emitted_digest = record_digest(record)
        return record
