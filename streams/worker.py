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

Silence (stalled and auto-closed sessions) is judged per partition against a
watermark: the newest event time seen on the partition, advanced by the wall
time since that event arrived - so replayed history is judged on its own clock
and a station that goes quiet still stalls in real time.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict, deque
from collections.abc import Sequence
from typing import Any, get_args

import faust
import msgspec

from chargewatch.errors import ConfigurationError, InputError, StateFormatError
from chargewatch.settings import WorkerSettings
from streams import metrics
from streams.config import stitcher_for
from streams.core import SessionOut, SessionState, decode_event, encode_record, restore_state
from streams.core.events import Event, MeterSample, Sample
from streams.core.ocpp import OcppNormaliser
from streams.core.session_pricing import SessionPricer, cdr_json
from streams.core.state import event_ms, snapshot_state
from streams.core.stitcher import ConnectorStop
from streams.deadletter import dead_letter
from streams.ocpp_ingest import OcppIngest
from streams.outputs import Outputs

__all__ = ["SessionWorker", "StateFlushSensor"]

log = logging.getLogger(__name__)
_NOT_SESSIONS = (b"connector|", b"station|")  # other state kept in the same table
# Event type -> its tag, the label of the events metric. Looked up per event:
# ``__struct_config__`` builds a new object on every access.
_TAGS: dict[type[Any], str] = {kind: str(kind.__struct_config__.tag) for kind in get_args(Event)}


class SessionWorker:
    """Owns the hot session state of one worker process."""

    def __init__(
        self,
        *,
        table: Any,
        sessions_topic: Any,
        deadletter_topic: Any,
        cdrs_topic: Any,
        cfg: WorkerSettings,
        pricer: SessionPricer | None = None,
        normaliser: OcppNormaliser | None = None,
    ) -> None:
        self.cfg = cfg
        self._table = table
        self._sessions_topic = sessions_topic
        self._deadletter_topic = deadletter_topic
        self._cdrs_topic = cdrs_topic
        self.stitcher = stitcher_for(
            cfg, load=self._load, load_connector=self._load_connector, pricer=pricer
        )
        # partition -> session ids whose state changed since the last flush
        self._dirty: dict[int, set[str]] = defaultdict(set)
        self._partition_of: dict[str, int] = {}  # open sessions held in memory
        # closed sessions kept in the table for late events, per partition, oldest
        # end first (sessions close roughly in event-time order): (end ms, id)
        self._closed: dict[int, deque[tuple[int, str]]] = defaultdict(deque)
        self._retention_ms = cfg.closed_retention_s * 1000
        self._connector_partition: dict[str, int] = {}
        # partition -> (newest event time, wall time when it was seen), both ms
        self._watermarks: dict[int, tuple[int, float]] = {}
        # Counted per event in plain ints; the metric is incremented at each flush.
        self._by_type: dict[type[Any], int] = dict.fromkeys(_TAGS, 0)  # events, by type
        self._ocpp_messages = 0
        self._emitted_by_status: dict[str, Any] = {}
        # Partitions of the input topics this worker owns now (None: not told yet).
        # A message of any other partition is a zombie - buffered before a
        # revocation - and its new owner processes it: touching state would race.
        self.owned: set[int] | None = None
        self.ocpp = (
            OcppIngest(normaliser, table.data, cfg.tenant) if normaliser is not None else None
        )

    # -- hot path -----------------------------------------------------------
    # Everything per batch that can be: the ownership check, the attribute
    # lookups, the watermark (and its wall-clock read), the connector bookkeeping.
    # Per event only the stitch and two dict writes remain.

    def handle(self, message: Any) -> None:
        """Process one Kafka message of the canonical events topic."""
        self.handle_batch(message.partition, (message,))

    def handle_batch(self, partition: int, records: Sequence[Any]) -> None:
        """A fetched batch of one partition of the events topic (``streams.batch_lane``)."""
        if self.owned is not None and partition not in self.owned:
            return
        events: list[Event] = []
        for record in records:
            try:
                events.append(decode_event(record.value))
            except InputError as exc:
                self._reject(exc, record)
        self._fold(partition, events, [event_ms(ev) for ev in events])

    def handle_ocpp(self, message: Any) -> None:
        """Process one OCPP envelope: normalise, then stitch each event."""
        self.handle_ocpp_batch(message.partition, (message,))

    def handle_ocpp_batch(self, partition: int, records: Sequence[Any]) -> None:
        """A fetched batch of one partition of the OCPP topic (``streams.batch_lane``)."""
        if self.ocpp is None:
            raise ConfigurationError("OCPP input needs CHARGEWATCH_PRIVACY_TOKEN_HMAC_KEY")
        if self.owned is not None and partition not in self.owned:
            return
        events, times, used = self.ocpp.normalise_batch(records, partition, self._reject)
        self._ocpp_messages += used
        self._fold(partition, events, times)

    def _fold(self, partition: int, events: Sequence[Event | Sample], times: list[int]) -> None:
        """Stitch the events of one partition, in order (meter samples given as
        values, ``events.Sample``, included); ``times``: each one's epoch ms."""
        if not events:
            return
        apply, apply_sample = self.stitcher.apply, self.stitcher.apply_sample
        by_type = self._by_type
        dirty = self._dirty[partition]
        partition_of = self._partition_of
        newest = -1
        for ev, ms in zip(events, times, strict=True):
            if isinstance(ev, tuple):
                by_type[MeterSample] += 1
                record = apply_sample(ev)
                sid = ev[0]
            else:
                by_type[type(ev)] += 1
                record = apply(ev, ms)
                sid = ev.session_id
            dirty.add(sid)
            partition_of[sid] = partition
            if ms > newest:  # noqa: PLR1730 - max() is a call per event
                newest = ms
            if record is not None:
                self._send(record)
        seen = self._watermarks.get(partition)
        if seen is None or newest > seen[0]:
            self._watermarks[partition] = (newest, time.time() * 1000)
        if self.stitcher.dirty_connectors:
            for key in self.stitcher.dirty_connectors:
                self._connector_partition.setdefault(key, partition)

    def _send(self, record: SessionOut) -> None:
        self._sessions_topic.send_soon(key=record.session_id.encode(), value=encode_record(record))
        emitted = self._emitted_by_status.get(record.status)
        if emitted is None:  # labels() costs more than the record: look it up once
            emitted = self._emitted_by_status[record.status] = metrics.SESSIONS_EMITTED.labels(
                record.status
            )
        emitted.inc()
        if (
            record.status in ("completed", "auto_closed")
            and not record.correction
            and "not_authorised" in record.flags
        ):
            metrics.SESSIONS_UNAUTHORISED.inc()
        cdrs = self.stitcher.cdrs_out
        if cdrs:
            for cdr in cdrs:
                self._cdrs_topic.send_soon(key=record.session_id.encode(), value=cdr_json(cdr))
                metrics.CDRS_ISSUED.labels("credit" if cdr.credit else "cdr").inc()
            cdrs.clear()

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

    # -- silence ------------------------------------------------------------
    def tick(self, now_ms: float) -> int:
        """Stall or auto-close silent sessions; return how many records went out."""
        by_partition: dict[int, list[str]] = defaultdict(list)
        for sid, partition in self._partition_of.items():
            by_partition[partition].append(sid)
        sent = 0
        for partition, sids in by_partition.items():
            newest = self._watermarks.get(partition)
            if newest is None:
                continue
            watermark = newest[0] + max(0, round(now_ms - newest[1]))
            for record in self.stitcher.tick(watermark, sids):
                self._dirty[partition].add(record.session_id)
                self._send(record)
                sent += 1
        self._expire_closed(now_ms)
        return sent

    def _expire_closed(self, now_ms: float) -> None:
        """Delete closed sessions older than the retention (a changelog tombstone each)."""
        store = self._table.data
        key_partition = getattr(store, "_key_partition", None)
        for partition, queue in self._closed.items():
            newest = self._watermarks.get(partition)
            if newest is None:
                continue
            watermark = newest[0] + max(0, round(now_ms - newest[1]))
            while queue and watermark - queue[0][0] >= self._retention_ms:
                _, sid = queue.popleft()
                if sid in self._partition_of:
                    continue  # re-opened by a late event: it will close (and queue) again
                key = sid.encode()
                if store.pop(key, None) is None:
                    continue  # already expired (queued twice after a correction)
                if key_partition is not None:
                    key_partition.pop(key, None)
                self._table.send_changelog(partition, key, None, value_serializer="raw")
                metrics.SESSIONS_EXPIRED.inc()

    def adopt_open_sessions(self, partitions: set[int]) -> int:
        """After a rebalance: hold the open sessions of these partitions in memory, so
        that silence is noticed even if no event for them ever arrives again."""
        store = self._table.data
        key_partition: dict[bytes, int] = getattr(store, "_key_partition", {})
        adopted = 0
        for key, raw in list(store.items()):
            partition = key_partition.get(key)
            if partition not in partitions or key.startswith(_NOT_SESSIONS):
                continue
            state = self._restore(key, raw)
            if state is None:
                continue
            if state.closed:
                self._closed[partition].append((_end_ms(state), state.session_id))
            else:
                self.stitcher.adopt(state)
                self._partition_of[state.session_id] = partition
                adopted += 1
        for partition in partitions:
            self._closed[partition] = deque(sorted(self._closed[partition]))
        return adopted

    # -- state persistence --------------------------------------------------
    def _load(self, session_id: str) -> SessionState | None:
        key = session_id.encode()
        raw = self._table.data.get(key)
        return self._restore(key, raw) if raw is not None else None

    def _restore(self, key: bytes, raw: bytes) -> SessionState | None:
        """A stored state, or None if it cannot be read: an unreadable state must not
        stop the worker (it is rebuilt from the events that follow, and counted)."""
        try:
            return restore_state(raw)
        except StateFormatError as exc:
            log.error("session %s: %s; rebuilt from the events that follow", key[:80], exc)
            metrics.STATE_UNREADABLE.inc()
            self._table.data.pop(key, None)  # reported once, then forgotten
            return None

    def _load_connector(self, key: str) -> ConnectorStop | None:
        raw = self._table.data.get(key.encode())
        if raw is None:
            return None
        stop_ms, stop_wh, sid = msgspec.msgpack.decode(raw)
        return int(stop_ms), int(stop_wh), str(sid)

    def _write(self, partition: int, key: bytes, value: bytes) -> None:
        store = self._table.data
        store[key] = value
        # The memory store remembers each key's partition to drop keys of
        # partitions this worker no longer owns after a rebalance.
        key_partition = getattr(store, "_key_partition", None)
        if key_partition is not None:
            key_partition[key] = partition
        self._table.send_changelog(partition, key, value)

    def flush(self) -> int:
        """Write every dirty state to the changelog table, once; return how many."""
        started = time.perf_counter()
        writes = 0
        for partition, sids in self._dirty.items():
            if self.owned is not None and partition not in self.owned:
                sids.clear()  # revoked: the new owner has (or will rebuild) this state
                continue
            for sid in sids:
                state = self.stitcher.get(sid)
                if state is None:
                    continue
                self._write(partition, sid.encode(), snapshot_state(state))
                writes += 1
                if state.closed:
                    # Closed sessions leave memory; the table keeps them for late events.
                    self.stitcher.evict(sid)
                    self._partition_of.pop(sid, None)
                    self._closed[partition].append((_end_ms(state), sid))
            sids.clear()
        if self.ocpp is not None:
            for partition, context_key, context in self.ocpp.dirty():
                self._write(partition, context_key, context)
                writes += 1
        for key in self.stitcher.dirty_connectors:
            partition = self._connector_partition.pop(key, -1)
            if partition >= 0:
                value = msgspec.msgpack.encode(self.stitcher.connectors[key])
                self._write(partition, key.encode(), value)
                writes += 1
        self.stitcher.dirty_connectors.clear()
        for kind, n in self._by_type.items():
            if n:
                metrics.EVENTS.labels(_TAGS[kind]).inc(n)
                self._by_type[kind] = 0
        if self._ocpp_messages:
            metrics.EVENTS.labels("ocpp_message").inc(self._ocpp_messages)
            self._ocpp_messages = 0
        metrics.STATE_WRITES.inc(writes)
        metrics.SESSIONS_OPEN.set(len(self.stitcher))
        metrics.STATE_FLUSH_SECONDS.observe(time.perf_counter() - started)
        return writes

    def forget_partitions(self, partitions: set[int]) -> None:
        """Drop hot state of revoked partitions: their new owner restores it from the table."""
        if self.ocpp is not None and partitions:
            self.ocpp.forget_partitions(partitions)
        for partition in partitions:
            self._dirty.pop(partition, None)
            self._watermarks.pop(partition, None)
        for sid, partition in list(self._partition_of.items()):
            if partition in partitions:
                self.stitcher.evict(sid)
                del self._partition_of[sid]
        for partition in partitions:
            self._closed.pop(partition, None)


def _end_ms(state: SessionState) -> int:
    for candidate in (state.stopped_ms, state.auto_closed_ms, state.last_ms):
        if candidate is not None:
            return candidate
    return 0


class StateFlushSensor(faust.Sensor):
    """Writes dirty session state right before Faust computes offsets to commit,
    then waits until every output so far is acknowledged (``streams.outputs``):
    the offsets Faust commits next are only those of records already processed,
    so nothing they produced can be lost."""

    def __init__(self, worker: SessionWorker, outputs: Outputs | None = None) -> None:
        super().__init__()
        self._worker = worker
        self._outputs = outputs

    def on_commit_initiated(self, consumer: Any) -> Any:
        writes = self._worker.flush()
        if self._outputs is not None:
            # Blocks the event loop for one broker round trip; the consumer's
            # heartbeats run on Faust's consumer thread, not here.
            self._outputs.flush()
        return writes

    async def on_stop(self) -> None:
        if self._outputs is not None:
            self._outputs.flush()
