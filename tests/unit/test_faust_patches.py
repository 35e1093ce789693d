"""The fixes to Faust in ``streams.faust_patches``."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from types import SimpleNamespace
from typing import Any

from faust.transport.consumer import Consumer

from streams.faust_patches import (
    apply_faust_patches,
    dedupe_acked_offsets,
    drop_fetches_across_rebalance,
)


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


class _Fetching:
    """A consumer whose fetch is answered while (maybe) a rebalance happens."""

    def __init__(self, rebalance_during_fetch: bool, new_generation: bool = True) -> None:
        self.app = SimpleNamespace(rebalancing_count=3, consumer_generation_id=7)
        self._rebalance = rebalance_during_fetch
        self._new_generation = new_generation

    async def fetch(self, timeout: float) -> tuple[dict[str, list[int]], set[str]]:
        await asyncio.sleep(0)
        if self._rebalance:
            self.app.rebalancing_count += 1  # on_rebalance_start
            if self._new_generation:
                self.app.consumer_generation_id += 1  # on_partitions_assigned
        return {"tp": [120, 121, 122]}, {"tp"}


def _wait(consumer: _Fetching) -> tuple[dict[str, list[int]], set[str]]:
    wrapped = drop_fetches_across_rebalance(type(consumer).fetch)
    result: tuple[dict[str, list[int]], set[str]] = asyncio.run(wrapped(consumer, 1.0))
    return result


def test_a_fetch_without_a_rebalance_is_delivered() -> None:
    assert _wait(_Fetching(rebalance_during_fetch=False)) == ({"tp": [120, 121, 122]}, {"tp"})


def test_a_fetch_answered_after_a_rebalance_is_dropped() -> None:
    assert _wait(_Fetching(rebalance_during_fetch=True)) == ({}, {"tp"})


def test_a_fetch_answered_while_a_rebalance_is_still_running_is_dropped() -> None:
    # revoked, not yet re-assigned: the generation has not moved yet
    assert _wait(_Fetching(rebalance_during_fetch=True, new_generation=False)) == ({}, {"tp"})


def test_the_fetch_fix_is_installed_once() -> None:
    apply_faust_patches()
    first = Consumer.__dict__["_wait_next_records"]
    apply_faust_patches()
    assert Consumer.__dict__["_wait_next_records"] is first
    assert getattr(first, "_chargewatch_patched", False)


def _worker_consumer(app: Any) -> Any:
    """The aiokafka consumer Faust would start for ``app`` (not started here)."""

    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    # Faust's consumer thread, as far as creating the consumer reads it (the real
    # one starts an event loop of its own).
    thread = SimpleNamespace(app=app, consumer=SimpleNamespace(in_transaction=False))

    async def create() -> Any:
        consumer = AIOKafkaConsumerThread._create_worker_consumer(thread, app.transport)
        await consumer.stop()  # never started: only marks it closed
        return consumer

    return asyncio.run(create())


def test_the_worker_consumer_fetches_as_configured_not_as_faust_does() -> None:
    import faust

    from streams.faust_patches import set_fetch_limits

    plain = faust.App("chargewatch-test-fetch-wait-plain", broker="kafka://127.0.0.1:1")
    faust_s = _worker_consumer(plain)
    assert (faust_s._fetch_max_wait_ms, faust_s._fetch_min_bytes) == (1500, 1)  # what it fixes
    app = faust.App("chargewatch-test-fetch-wait", broker="kafka://127.0.0.1:1")
    set_fetch_limits(app, max_wait_ms=100, min_bytes=65_536)
    set_fetch_limits(app, max_wait_ms=100, min_bytes=65_536)  # idempotent
    ours = _worker_consumer(app)
    assert (ours._fetch_max_wait_ms, ours._fetch_min_bytes) == (100, 65_536)
    untouched = _worker_consumer(plain)  # other apps keep Faust's
    assert (untouched._fetch_max_wait_ms, untouched._fetch_min_bytes) == (1500, 1)
