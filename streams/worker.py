"""The thin shell between Faust and the stitching core.

Per event (the hot path): decode with msgspec, fold into the in-memory
state, send a session record when the core says so. Nothing is written to
the changelog table per event - a Faust table write produces one changelog
message, which would cap a worker at a few thousand events per second.

Instead, every ``flush_interval_s`` the states touched since the last flush
("dirty") are written to the table, once each, and only *then* are their
events acknowledged. Faust commits offsets of acknowledged events only, and
flushes the producer (so the changelog writes) before it commits, so a crash
at any moment leaves either the state write *and* the commit, or neither: the
events are re-delivered and folded again, which the idempotent state absorbs.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from typing import Any

from chargewatch.errors import InputError
from streams import metrics
from streams.core import SessionState, Stitcher, decode_event, encode_record, restore_state
from streams.core.state import snapshot_state
from streams.deadletter import dead_letter

__all__ = ["SessionWorker"]

log = logging.getLogger(__name__)


class SessionWorker:
    """Owns the hot session state of one worker process."""

    def __init__(
        self,
        *,
        table: Any,
        sessions_topic: Any,
        deadletter_topic: Any,
        update_interval_s: int,
        max_pending_events: int,
    ) -> None:
        self._table = table
        self._sessions_topic = sessions_topic
        self._deadletter_topic = deadletter_topic
        self._max_pending = max_pending_events
        self.stitcher = Stitcher(update_interval_s=update_interval_s, load=self._load)
        # partition -> session ids whose state changed since the last flush
        self._dirty: dict[int, set[str]] = defaultdict(set)
        # partition -> Faust events waiting to be acked after their state write
        self._pending: dict[int, list[Any]] = defaultdict(list)
        self._n_pending = 0
        self._partition_of: dict[str, int] = {}
        self._counts: Counter[str] = Counter()

    # -- hot path -----------------------------------------------------------
    def handle(self, event: Any) -> bool:
        """Process one Faust event; return True when a flush is due early."""
        message = event.message
        partition: int = message.partition
        try:
            ev = decode_event(event.value)
        except InputError as exc:
            self._reject(exc, message)
        else:
            self._counts[str(ev.__struct_config__.tag)] += 1
            record = self.stitcher.apply(ev)
            sid = ev.session_id
            self._dirty[partition].add(sid)
            self._partition_of[sid] = partition
            if record is not None:
                self._sessions_topic.send_soon(key=sid.encode(), value=encode_record(record))
                metrics.SESSIONS_EMITTED.labels(record.status).inc()
        self._pending[partition].append(event)
        self._n_pending += 1
        return self._n_pending >= self._max_pending

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
        """Write dirty states to the changelog table, then ack their events."""
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
        for events in self._pending.values():
            for event in events:
                event.ack()
            events.clear()
        self._n_pending = 0
        for kind, n in self._counts.items():
            metrics.EVENTS.labels(kind).inc(n)
        self._counts.clear()
        metrics.STATE_WRITES.inc(writes)
        metrics.SESSIONS_OPEN.set(len(self.stitcher))
        metrics.STATE_FLUSH_SECONDS.observe(time.perf_counter() - started)
        return writes

    def forget_partitions(self, partitions: set[int]) -> None:
        """Drop unflushed work of revoked partitions: their new owner re-processes it."""
        for partition in partitions:
            self._dirty.pop(partition, None)
            dropped = self._pending.pop(partition, [])
            self._n_pending -= len(dropped)
        for sid, partition in list(self._partition_of.items()):
            if partition in partitions:
                self.stitcher.evict(sid)
                del self._partition_of[sid]
