"""The duplicate-offset fix to Faust's commit bookkeeping."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from faust.transport.consumer import Consumer

from streams.faust_patches import apply_faust_patches, dedupe_acked_offsets


class _Bookkeeping:
    """Just the attributes ``Consumer._new_offset`` reads."""

    def __init__(self, acked: list[int], committed: int) -> None:
        self._acked: dict[Any, list[int]] = {"tp": acked}
        self._acked_index: dict[Any, set[int]] = {"tp": set(acked)}
        self._gap: dict[Any, Any] = defaultdict(lambda: None)
        self._committed_offset = {"tp": committed}


def test_duplicates_are_removed_in_place() -> None:
    book = _Bookkeeping([12, 10, 11, 11, 12, 13], committed=10)
    dedupe_acked_offsets(book, "tp")
    assert book._acked["tp"] == [10, 11, 12, 13]


def test_patched_new_offset_commits_the_whole_run_despite_duplicates() -> None:
    acked = [4561, 4562, 4562, 4563, 4563, *range(4564, 6000)]
    unpatched = Consumer.__dict__["_new_offset"]
    apply_faust_patches()
    apply_faust_patches()  # idempotent
    patched = Consumer.__dict__["_new_offset"]
    assert getattr(patched, "_chargewatch_patched", False)
    original = getattr(patched, "__wrapped__", unpatched)
    # Faust alone stops at the first duplicate ...
    assert original(_Bookkeeping(list(acked), committed=4561), "tp") == 4563
    # ... the patched version commits everything acked.
    assert patched(_Bookkeeping(list(acked), committed=4561), "tp") == 6000
