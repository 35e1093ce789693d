"""The worker's input partitions, drained a fetched batch at a time.

Faust hands every message to an agent through its own machinery: a message
object, a delivery guarded by four futures, a queue, a stream event, sensors,
an acknowledgement under a lock, and an offset list sorted at every commit.
Measured here that costs ~130 us per message - a do-nothing agent tops out at
~7,500 messages per CPU-second - which is more than the whole stitching core.

The lane keeps everything Faust is good at - the consumer group and its
assignment, table recovery, the changelog, the commit protocol and its
``on_commit_initiated`` hook that flushes the session state - and replaces
only the fetch loop (``Consumer._drain_messages``). For the topics it serves,
each fetched batch goes straight to a handler (the worker shell) as raw
records, synchronously; the partition's read offset and "processed up to"
offset are then set once per batch, and Faust's commit asks the lane, not the
acknowledgement list, how far it may commit. Messages of every other topic
(the changelog during recovery, tariffs) go through Faust's path as before.

Safety, the same as Faust's loop and stricter:
* batches are checked against the consumer generation and flow state before
  each partition, and a batch must continue where the partition left off (its
  last batch, or the committed offset Faust sought to after a rebalance): a
  stale batch - fetched for an earlier position - is dropped and the partition
  read again from the expected offset, so nothing is skipped or committed
  unseen;
* records below the partition's read offset (re-fetched after a seek) are
  skipped, as Faust does;
* a fetch answered after a rebalance began is dropped and every partition
  sought back to its commit, as Faust's ``getmany`` does; and a message handed
  over one by one (changelog, tariffs) while a rebalance begins does not record
  its offset, which could overwrite the seek recovery makes meanwhile and hide
  the changelog records it reads again;
* handling is synchronous: no await between processing a batch and recording
  its offsets, so a rebalance cannot slip in between. The state flush at
  commit time therefore always covers every offset the lane reports.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Sequence
from typing import Any

from faust.transport.consumer import Consumer

__all__ = ["BatchHandler", "BatchLane", "install_batch_lane"]

log = logging.getLogger(__name__)

BatchHandler = Callable[[int, Sequence[Any]], None]
"""(partition, records) -> None; records carry .key, .value, .offset, .topic, .partition."""


class BatchLane:
    """Which topics are drained in batches, and how far each partition is done."""

    def __init__(self, handlers: dict[str, BatchHandler]) -> None:
        self.handlers = handlers
        self.done: dict[Any, int] = {}  # tp -> next offset to commit
        self.batches = 0
        self.records = 0
        self.gaps = 0  # stale batches dropped (the partition was read again)

    def forget(self, tps: Sequence[Any] | set[Any]) -> None:
        """Revoked partitions: their progress belongs to the next owner."""
        for tp in tps:
            self.done.pop(tp, None)

    def expected(self, consumer: Any, tp: Any) -> int | None:
        """The next offset ``tp`` must continue from: after this lane's last batch, or
        the committed offset Faust sought to; None before the partition's first commit."""
        done = self.done.get(tp)
        return done if done is not None else consumer._committed_offset.get(tp)

    def committable(self, consumer: Any, tp: Any) -> int | None:
        """The offset Faust may commit for ``tp`` now, or None."""
        done = self.done.get(tp)
        if done is None:
            return None
        committed = consumer._committed_offset.get(tp)
        return done if committed is None or done > committed else None


async def _drain_in_batches(consumer: Any, fetcher: Any, lane: BatchLane) -> None:
    app = consumer.app
    callback = consumer.callback
    read_offset = consumer._read_offset
    consumer_stopped = consumer._stopped.is_set
    fetcher_stopped = fetcher._stopped.is_set
    while not (consumer_stopped() or fetcher_stopped()):
        records, active = await consumer._wait_next_records(1.0)
        if not records or consumer.should_stop:
            continue
        if not consumer.flow_active:
            # A rebalance began while fetching. As Faust's own getmany does, seek
            # back to the committed offsets: the fetch moved the positions past
            # records nobody will handle, and the seek also clears the read
            # offsets of partitions without a commit (changelogs), which would
            # otherwise filter out the records recovery reads again from 0.
            await _seek_to_committed(consumer)
            continue
        generation = app.consumer_generation_id
        for tp, batch in records.items():
            if not consumer.flow_active or app.consumer_generation_id != generation:
                break  # a rebalance began: it seeks every partition to its commit
            if active is not None and tp not in active and tp not in consumer._buffered_partitions:
                continue
            since = read_offset.get(tp)
            fresh = batch
            if since is not None and batch[0].offset < since:
                fresh = [r for r in batch if r.offset >= since]  # re-fetched after a seek
                if not fresh:
                    continue
            handler = lane.handlers.get(tp.topic)
            if handler is None:
                await _deliver_one_by_one(consumer, callback, tp, fresh, generation)
                continue
            expected = lane.expected(consumer, tp)
            if expected is not None and fresh[0].offset > expected:
                # Input topics are neither compacted nor transactional, so every
                # offset exists: a batch that starts later is stale (fetched for
                # an earlier position, e.g. across a rebalance). Processing it
                # would commit past records never seen. Read again from the gap.
                lane.gaps += 1
                log.warning("offsets %d..%d of %s missing from the fetch: reading again from %d",
                            expected, fresh[0].offset - 1, tp, expected)  # fmt: skip
                await consumer.seek(tp, expected)
                continue
            handler(tp.partition, fresh)
            last = fresh[-1].offset
            read_offset[tp] = last
            lane.done[tp] = last + 1
            consumer._acked.setdefault(tp, [])  # Faust's commit loop visits these tps
            lane.batches += 1
            lane.records += len(fresh)
        await asyncio.sleep(0)


async def _deliver_one_by_one(
    consumer: Any, callback: Any, tp: Any, batch: Sequence[Any], generation: int
) -> None:
    """Faust's own per-message delivery, for topics the lane does not serve."""
    app = consumer.app
    read_offset = consumer._read_offset
    acks_enabled = app.topics.acks_enabled_for(tp.topic)
    for record in batch:
        if not consumer.flow_active or app.consumer_generation_id != generation:
            return
        previous = read_offset.get(tp)
        if previous and acks_enabled and record.offset - previous > 1:
            # offsets missing in between (compaction, transaction markers)
            await consumer._add_gap(tp, previous + 1, record.offset)
        await consumer.wait_first(callback(consumer._to_message(tp, record)),
                                  consumer.suspend_flow.wait())  # fmt: skip
        if not consumer.flow_active or app.consumer_generation_id != generation:
            # A rebalance began during the hand-over, and recovery may already
            # have sought this partition: recording this offset now would
            # overwrite that seek and filter out the records read again.
            return
        read_offset[tp] = record.offset


async def _seek_to_committed(consumer: Any) -> None:
    try:
        await consumer.perform_seek()
    except Exception as exc:  # a partition revoked meanwhile; the rebalance seeks anyway
        log.warning("seek to committed offsets after an interrupted fetch failed: %r", exc)


def install_batch_lane(app: Any, lane: BatchLane) -> None:
    """Serve ``lane``'s topics in batches in this app's consumer (idempotent per class)."""
    app._chargewatch_lane = lane
    if getattr(Consumer._drain_messages, "_chargewatch_lane", False):
        return
    original_drain = Consumer._drain_messages
    original_new_offset = Consumer._new_offset

    @functools.wraps(original_drain)
    async def _drain_messages(self: Any, fetcher: Any) -> None:
        lane_of_app = getattr(self.app, "_chargewatch_lane", None)
        if lane_of_app is None:
            return await original_drain(self, fetcher)
        try:
            await _drain_in_batches(self, fetcher, lane_of_app)
        except self.consumer_stopped_errors:
            if not self.transport.app.should_stop:
                raise
        except asyncio.CancelledError:
            if not self.transport.app.should_stop:
                raise
        return None

    @functools.wraps(original_new_offset)
    def _new_offset(self: Any, tp: Any) -> Any:
        lane_of_app = getattr(self.app, "_chargewatch_lane", None)
        if lane_of_app is not None and tp.topic in lane_of_app.handlers:
            return lane_of_app.committable(self, tp)
        return original_new_offset(self, tp)

    _drain_messages._chargewatch_lane = True  # type: ignore[attr-defined]
    Consumer._drain_messages = _drain_messages  # type: ignore[method-assign]
    Consumer._new_offset = _new_offset  # type: ignore[method-assign]
