"""The thin shell between Faust and the stitching core.

Per event (the hot path): decode with msgspec, fold into the in-memory
state, send a session record when the core says so. Nothing is written to
the changelog table per event - a Faust table write produces one changelog
message, which would cap a worker at a few thousand events per second.

Instead the states touched since the last commit ("dirty") are written to the
table once each, *at the start of every offset commit* (``StateFlushSensor``).
Faust computes the offsets to commit right after that hook, without yielding
to the event loop, then flushes the producer - so the changelog writes are
durable - and only then commits. A crash at any moment therefore leaves
either the state write *and* the commit, or neither: the events are
re-delivered and folded again, which the idempotent state absorbs.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from typing import Any

import faust

from chargewatch.errors import InputError
from streams import metrics
from streams.core import SessionState, Stitcher, decode_event, encode_record, restore_state
from streams.core.state import snapshot_state
from streams.deadletter import dead_letter

__all__ = ["SessionWorker", "StateFlushSensor"]

log = logging.getLogger(__name__)


class SessionWorker:
    """Owns the hot session state of one worker process."""

    def __init__(
        self, *, table: Any, sessions_topic: Any, deadletter_topic: Any, update_interval_s: int
    ) -> None:
        self._table = table
        self._sessions_topic = sessions_topic
        self._deadletter_topic = deadletter_topic
        self.stitcher = Stitcher(update_interval_s=update_interval_s, load=self._load)
        # partition -> session ids whose state changed since the last flush
        self._dirty: dict[int, set[str]] = defaultdict(set)
        self._partition_of: dict[str, int] = {}
        self._counts: Counter[str] = Counter()

    # -- hot path -----------------------------------------------------------
    def handle(self, message: Any) -> None:
        """Process one Kafka message of the events topic."""
        try:
            ev = decode_event(message.value)
        except InputError as exc:
            self._reject(exc, message)
            return
        self._counts[str(ev.__struct_config__.tag)] += 1
        record = self.stitcher.apply(ev)
        sid = ev.session_id
        self._dirty[message.partition].add(sid)
        self._partition_of[sid] = message.partition
        if record is not None:
            self._sessions_topic.send_soon(key=sid.encode(), value=encode_record(record))
            metrics.SESSIONS_EMITTED.labels(record.status).inc()

    def _reject(self, exc: InputError, message: Any) -> None:
        self._deadletter_topic.send_soon(
            key=message.key,
            value=dead_letter(
                exc,
                topic=message.topic,
                partition=message.partition,
                offset=message.offset,
                key=message.key,
                value=message.value,
            ),
        )
        metrics.DEADLETTERS.labels(exc.reason).inc()

    # -- state persistence --------------------------------------------------
    def _load(self, session_id: str) -> SessionState | None:
        raw = self._table.data.get(session_id.encode())
        return restore_state(raw) if raw is not None else None

    def flush(self) -> int:
        """Write every dirty state to the changelog table, once; return how many."""
        started = time.perf_counter()
        writes = 0
        store = self._table.data
        # The memory store remembers each key's partition to drop keys of
        # partitions this worker no longer owns after a rebalance.
        key_partition = getattr(store, "_key_partition", None)
        for partition, sids in self._dirty.items():
            for sid in sids:
                state = self.stitcher.get(sid)
                if state is None:
                    continue
                key, value = sid.encode(), snapshot_state(state)
                store[key] = value
                if key_partition is not None:
                    key_partition[key] = partition
                self._table.send_changelog(partition, key, value)
                writes += 1
                if state.closed:
                    # Closed sessions leave memory; the table keeps them for late events.
                    self.stitcher.evict(sid)
                    self._partition_of.pop(sid, None)
            sids.clear()
        for kind, n in self._counts.items():
            metrics.EVENTS.labels(kind).inc(n)
        self._counts.clear()
        metrics.STATE_WRITES.inc(writes)
        metrics.SESSIONS_OPEN.set(len(self.stitcher))
        metrics.STATE_FLUSH_SECONDS.observe(time.perf_counter() - started)
        return writes

    def forget_partitions(self, partitions: set[int]) -> None:
        """Drop hot state of revoked partitions: their new owner restores it from the table."""
        for partition in partitions:
            self._dirty.pop(partition, None)
        for sid, partition in list(self._partition_of.items()):
            if partition in partitions:
                self.stitcher.evict(sid)
                del self._partition_of[sid]


class StateFlushSensor(faust.Sensor):
    """Writes dirty session state right before Faust computes offsets to commit."""

    def __init__(self, worker: SessionWorker) -> None:
        super().__init__()
        self._worker = worker

    def on_commit_initiated(self, consumer: Any) -> Any:
        return self._worker.flush()
