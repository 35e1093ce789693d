"""Targeted fixes to faust-streaming, applied at start-up: two to its offset
bookkeeping, one to how its consumer fetches.

1. Duplicate acked offsets. The symptom (robinhood/faust#625, "Offsets not
committed due to duplicate in _acked"): after a worker restarts, Faust's gap
tracking adds offsets that were also acked to ``Consumer._acked[tp]``.
``Consumer._new_offset`` commits only the first run of *consecutive* offsets,
and a duplicate breaks the run, so the committed offset advances by one or two
messages per commit interval while the worker has long processed everything:
here a 20k-event backlog took a minute to commit after a SIGKILL, not a second.

A duplicate offset carries no information, so removing duplicates before
Faust computes the offset to commit is always safe.

2. A fetch that straddles a rebalance. ``Consumer.getmany`` reads the
consumer generation *after* the records of a fetch arrive, so a fetch issued
before a rebalance and answered after it passes as current. Its records
continue the *old* fetch position, which is ahead of the committed offset the
new assignment seeks to (revocation does not commit here). The fetch loop
processes them and moves its read offset ahead; the records re-fetched from
the committed offset are then below the read offset and dropped, never acked;
and ``_new_offset`` refuses to commit past the hole: the group's committed
offset stops for good while the worker looks idle (seen about one run in five
after a SIGKILL restart or a second worker joining). The fix drops a fetch
during which a rebalance started: every rebalance ends with Faust seeking
each assigned partition to its committed offset, so those records are fetched
again, in order, under the new assignment.

3. The fetch wait. Faust creates its aiokafka consumer with
``fetch_max_wait_ms=1500``, hard-coded. aiokafka keeps one fetch in flight per
broker, and a fetch that names only partitions without new data - an idle
input topic (a worker reads both the canonical and the OCPP topic, and a
deployment feeds one), the tariffs partition - is held by the broker for that
long. Every partition drained meanwhile waits behind it: the worker sat idle
up to 1.5 s between fetches, fell behind, fetched bigger batches, and stayed
there (StopTransaction -> session record p50 1.3-1.5 s at 6,000 msg/s on the
bench, against 0.04 s while it kept up). The wait is set from
``CHARGEWATCH_WORKER_FETCH_MAX_WAIT_MS`` instead, and with it the bytes a fetch
waits for (``CHARGEWATCH_WORKER_FETCH_MIN_BYTES``; Faust leaves aiokafka's 1):
a fetch answered as soon as one record is there made hundreds of tiny fetches a
second under steady traffic, and the broker's CPU went to answering them.

Pinned to the faust versions these were checked against (``pyproject.toml``);
the restart and scale-out integration tests fail (by timeout) if a new
version breaks them.
"""

from __future__ import annotations

import functools
from typing import Any

from faust.transport.consumer import Consumer

__all__ = [
    "apply_faust_patches",
    "dedupe_acked_offsets",
    "drop_fetches_across_rebalance",
    "set_fetch_limits",
]


def dedupe_acked_offsets(consumer: Any, tp: Any) -> None:
    """Sort and de-duplicate the acked offsets of one partition, in place."""
    acked = consumer._acked[tp]
    if len(acked) > 1:
        acked[:] = sorted(set(acked))


def _rebalance_mark(consumer: Any) -> tuple[int, int, int]:
    # A resync (streams.commit_watchdog) re-seeks every partition like a rebalance.
    app = consumer.app
    resyncs = getattr(consumer, "_chargewatch_resyncs", 0)
    return app.rebalancing_count, app.consumer_generation_id, resyncs


def drop_fetches_across_rebalance(original: Any) -> Any:
    """Wrap ``Consumer._wait_next_records``: a fetch answered after a rebalance
    began returns no records (they are re-fetched from the committed offsets)."""

    @functools.wraps(original)
    async def _wait_next_records(self: Any, timeout: float) -> Any:
        before = _rebalance_mark(self)
        records, active_partitions = await original(self, timeout)
        if records and _rebalance_mark(self) != before:
            return {}, active_partitions
        return records, active_partitions

    _wait_next_records._chargewatch_patched = True  # type: ignore[attr-defined]
    return _wait_next_records


def apply_faust_patches(drop_straddling_fetches: bool = True) -> None:
    """Idempotently install the fixes on ``faust.transport.consumer.Consumer``.

    With the batch lane (``streams.batch_lane``) the fetch fix is left out: the
    lane checks that every batch continues its partition and reads again from
    the gap otherwise - dropping a fetch there would lose the records of a
    partition that has no committed offset to seek back to.
    """
    if drop_straddling_fetches and not getattr(
        Consumer._wait_next_records, "_chargewatch_patched", False
    ):
        Consumer._wait_next_records = drop_fetches_across_rebalance(  # type: ignore[method-assign]
            Consumer._wait_next_records
        )
    original = Consumer._new_offset
    if getattr(original, "_chargewatch_patched", False):
        return

    @functools.wraps(original)
    def _new_offset(self: Any, tp: Any) -> Any:
        dedupe_acked_offsets(self, tp)
        return original(self, tp)

    _new_offset._chargewatch_patched = True  # type: ignore[attr-defined]
    Consumer._new_offset = _new_offset  # type: ignore[method-assign]


def set_fetch_limits(app: Any, *, max_wait_ms: int, min_bytes: int) -> None:
    """Create ``app``'s worker consumer with ``fetch_max_wait_ms`` and
    ``fetch_min_bytes`` set (fix 3 above)."""
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    app._chargewatch_fetch_limits = (max_wait_ms, min_bytes)
    original = AIOKafkaConsumerThread._create_worker_consumer
    if getattr(original, "_chargewatch_patched", False):
        return

    @functools.wraps(original)
    def _create_worker_consumer(self: Any, transport: Any) -> Any:
        consumer = original(self, transport)
        limits = getattr(self.app, "_chargewatch_fetch_limits", None)
        if limits is not None:
            # Both read by AIOKafkaConsumer.start() when it builds its fetcher.
            consumer._fetch_max_wait_ms, consumer._fetch_min_bytes = limits
        return consumer

    _create_worker_consumer._chargewatch_patched = True  # type: ignore[attr-defined]
    AIOKafkaConsumerThread._create_worker_consumer = _create_worker_consumer  # type: ignore[method-assign]
