"""One targeted fix to faust-streaming's offset bookkeeping, applied at start-up.

The symptom (robinhood/faust#625, "Offsets not committed due to duplicate in
_acked"): after a worker restarts, Faust's gap tracking adds offsets that were
also acked to ``Consumer._acked[tp]``. ``Consumer._new_offset`` commits only
the first run of *consecutive* offsets, and a duplicate breaks the run, so the
committed offset advances by one or two messages per commit interval while
the worker has long processed everything: here a 20k-event backlog took a
minute to commit after a SIGKILL instead of a second.

A duplicate offset carries no information, so removing duplicates before
Faust computes the offset to commit is always safe. Pinned to the faust
versions this was checked against (``pyproject.toml``); the restart
integration test fails (by timeout) if a new version breaks it.
"""

from __future__ import annotations

import functools
from typing import Any

from faust.transport.consumer import Consumer

__all__ = ["apply_faust_patches", "dedupe_acked_offsets"]


def dedupe_acked_offsets(consumer: Any, tp: Any) -> None:
    """Sort and de-duplicate the acked offsets of one partition, in place."""
    acked = consumer._acked[tp]
    if len(acked) > 1:
        acked[:] = sorted(set(acked))


def apply_faust_patches() -> None:
    """Idempotently install the fix on ``faust.transport.consumer.Consumer``."""
    original = Consumer._new_offset
    if getattr(original, "_chargewatch_patched", False):
        return

    @functools.wraps(original)
    def _new_offset(self: Any, tp: Any) -> Any:
        dedupe_acked_offsets(self, tp)
        return original(self, tp)

    _new_offset._chargewatch_patched = True  # type: ignore[attr-defined]
    Consumer._new_offset = _new_offset  # type: ignore[method-assign]
