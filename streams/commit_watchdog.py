"""Notices a partition whose committed offset is stuck, and re-reads it from there.

Faust commits a partition's offsets only up to the first offset it has not
seen acknowledged. If a message in between is never acknowledged - it was
dropped by one of the fetch/rebalance races of ``streams.faust_patches`` or one
not yet known - the commit stops for good while the worker looks idle, and
every later restart re-processes the whole tail.

The watchdog looks at each input partition every tick: if the worker has read
past the committed offset and that offset has not moved for ``stuck_after_s``
(far longer than the commit interval), it does what a rebalance does - stops
the fetch loop, forgets acknowledgements not yet committed, seeks every
partition back to its committed offset and resumes. The messages after the
committed offset are then delivered again; the session state is idempotent,
so folding them twice changes nothing, and the hole is filled. Each resync is
logged and counted (``chargewatch_commit_resyncs_total``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from streams import metrics

__all__ = ["CommitWatchdog", "Reading", "resync_to_committed"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reading:
    """What the consumer says about one partition at one moment."""

    committed: int | None  # next offset to process, as last committed
    read: int | None  # last offset handed to the streams


@dataclass
class CommitWatchdog:
    """Decides, from successive readings, which partitions are stuck."""

    stuck_after_s: float
    _since: dict[Any, tuple[int, float]] = field(default_factory=dict)  # tp -> (committed, t)

    def stuck(self, readings: dict[Any, Reading], now: float) -> list[Any]:
        """Partitions read past a committed offset that has not moved for too long."""
        stuck = []
        for tp, reading in readings.items():
            committed, read = reading.committed, reading.read
            # After a seek Faust sets the read offset to the committed one (the
            # next to read); after reading message X it is X. So only a read
            # offset above the commit proves messages read past it.
            if committed is None or read is None or read <= committed:
                self._since.pop(tp, None)  # nothing read beyond the commit: healthy
                continue
            first = self._since.get(tp)
            if first is None or first[0] != committed:
                self._since[tp] = (committed, now)  # the commit moved: start again
                continue
            if now - first[1] >= self.stuck_after_s:
                stuck.append(tp)
        for tp in set(self._since) - set(readings):
            del self._since[tp]  # revoked
        return stuck

    def forget(self) -> None:
        """After a resync every partition starts a fresh observation."""
        self._since.clear()


def readings(consumer: Any, topics: set[str]) -> dict[Any, Reading]:
    """The committed and read offsets of the assigned partitions of ``topics``."""
    return {
        tp: Reading(consumer._committed_offset.get(tp), consumer._read_offset.get(tp))
        for tp in consumer.assignment()
        if tp.topic in topics
    }


async def resync_to_committed(consumer: Any, stuck: list[Any]) -> None:
    """Re-read every assigned partition from its committed offset, as after a rebalance."""
    log.warning(
        "committed offsets stuck on %s (committed %s, read %s): re-reading from the commit",
        stuck,
        [consumer._committed_offset.get(tp) for tp in stuck],
        [consumer._read_offset.get(tp) for tp in stuck],
    )
    metrics.COMMIT_RESYNCS.inc()
    # A fetch in flight now is dropped by the fetch patch (see faust_patches):
    # every partition is re-read from its committed offset below.
    consumer._chargewatch_resyncs = getattr(consumer, "_chargewatch_resyncs", 0) + 1
    consumer.stop_flow()
    try:
        # Let the fetch loop see the stop: it records the offset of the message
        # it was handing over, which the seek below must overwrite, not follow.
        await asyncio.sleep(0.1)
        for tp in list(consumer._acked):
            consumer._acked[tp] = []
            consumer._acked_index[tp] = set()
        await consumer.perform_seek()
    finally:
        consumer.resume_flow()
