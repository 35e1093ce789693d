"""The batch lane's fetch loop and commit bookkeeping, against a fake consumer."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from types import SimpleNamespace
from typing import Any

from faust.types import TP

from streams.batch_lane import BatchLane, _drain_in_batches

EV0, EV1, TARIFFS = TP("events", 0), TP("events", 1), TP("tariffs", 0)


def _rec(tp: TP, offset: int) -> Any:
    return SimpleNamespace(topic=tp.topic, partition=tp.partition, offset=offset,
                           key=b"k", value=f"{tp.topic}-{offset}".encode())  # fmt: skip


class _Stop:
    def __init__(self) -> None:
        self.flag = False

    def is_set(self) -> bool:
        return self.flag


class _Consumer:
    """Fetches the given batches one after the other, then stops."""

    def __init__(self, fetches: list[dict[TP, list[Any]]], rebalance_after: int = -1) -> None:
        self.app = SimpleNamespace(
            consumer_generation_id=1,
            topics=SimpleNamespace(acks_enabled_for=lambda topic: True),
        )
        self.fetches = fetches
        self.rebalance_after = rebalance_after
        self.flow_active = True
        self.should_stop = False
        self._stopped = _Stop()
        self._read_offset: dict[TP, int | None] = defaultdict(lambda: None)
        self._committed_offset: dict[TP, int | None] = defaultdict(lambda: None)
        self._acked: dict[TP, list[int]] = defaultdict(list)
        self._buffered_partitions: set[TP] = set()
        self.delivered: list[tuple[str, int]] = []
        self.sought: list[tuple[TP, int]] = []
        self.suspend_flow = SimpleNamespace(wait=self._never)

    async def _never(self) -> None:
        await asyncio.sleep(3600)

    async def callback(self, message: Any) -> None:
        self.delivered.append((message.topic, message.offset))

    def _to_message(self, tp: TP, record: Any) -> Any:
        return record

    async def wait_first(self, *coros: Any) -> None:
        await coros[0]
        coros[1].close()

    async def _add_gap(self, tp: TP, start: int, end: int) -> None:
        return None

    async def seek(self, tp: TP, offset: int) -> None:
        self.sought.append((tp, offset))
        self._read_offset[tp] = offset

    async def perform_seek(self) -> None:  # Faust: every partition to its commit
        self.sought.append((None, -1))
        for tp in list(self._read_offset):
            self._read_offset[tp] = self._committed_offset.get(tp)

    async def _wait_next_records(self, timeout: float) -> tuple[dict[TP, list[Any]], set[TP]]:
        if not self.fetches:
            self._stopped.flag = True
            return {}, set()
        return self.fetches.pop(0), {EV0, EV1, TARIFFS}


def _run(consumer: _Consumer, lane: BatchLane) -> None:
    fetcher = SimpleNamespace(_stopped=_Stop())
    asyncio.run(_drain_in_batches(consumer, fetcher, lane))


def _lane(seen: list[tuple[int, list[int]]]) -> BatchLane:
    return BatchLane({"events": lambda p, records: seen.append((p, [r.offset for r in records]))})


def test_each_fetched_batch_goes_to_the_handler_whole_and_is_committable() -> None:
    seen: list[tuple[int, list[int]]] = []
    lane = _lane(seen)
    consumer = _Consumer([
        {EV0: [_rec(EV0, o) for o in range(10, 13)], EV1: [_rec(EV1, 5)]},
        {EV0: [_rec(EV0, 13)]},
    ])  # fmt: skip
    consumer._committed_offset[EV0] = 10
    _run(consumer, lane)
    assert seen == [(0, [10, 11, 12]), (1, [5]), (0, [13])]
    assert lane.committable(consumer, EV0) == 14
    assert lane.committable(consumer, EV1) == 6
    assert consumer._read_offset[EV0] == 13
    assert EV0 in consumer._acked  # visited by Faust's commit loop


def test_records_below_the_read_offset_are_skipped_as_refetched() -> None:
    seen: list[tuple[int, list[int]]] = []
    lane = _lane(seen)
    consumer = _Consumer([{EV0: [_rec(EV0, o) for o in range(5, 10)]}])
    consumer._read_offset[EV0] = 8
    _run(consumer, lane)
    assert seen == [(0, [8, 9])]


def test_other_topics_go_through_faust_one_message_at_a_time() -> None:
    seen: list[tuple[int, list[int]]] = []
    lane = _lane(seen)
    consumer = _Consumer([{TARIFFS: [_rec(TARIFFS, 0), _rec(TARIFFS, 1)], EV0: [_rec(EV0, 0)]}])
    _run(consumer, lane)
    assert consumer.delivered == [("tariffs", 0), ("tariffs", 1)]
    assert seen == [(0, [0])]
    assert lane.committable(consumer, TARIFFS) is None


def test_a_rebalance_during_a_batch_stops_it_and_nothing_old_is_committable() -> None:
    seen: list[tuple[int, list[int]]] = []

    def handler(partition: int, records: list[Any]) -> None:
        seen.append((partition, [r.offset for r in records]))
        consumer.app.consumer_generation_id += 1  # a rebalance begins meanwhile

    lane = BatchLane({"events": handler})
    consumer = _Consumer([{EV0: [_rec(EV0, 0)], EV1: [_rec(EV1, 0)]}])
    _run(consumer, lane)
    assert seen == [(0, [0])]  # partition 1 of the old generation is left alone
    lane.forget({EV0})
    assert lane.committable(consumer, EV0) is None


def test_nothing_beyond_the_committed_offset_is_committable_twice() -> None:
    lane = BatchLane({"events": lambda p, r: None})
    consumer = _Consumer([])
    lane.done[EV0] = 20
    consumer._committed_offset[EV0] = 20
    assert lane.committable(consumer, EV0) is None


def test_a_stale_batch_is_dropped_and_the_partition_read_again_from_the_gap() -> None:
    seen: list[tuple[int, list[int]]] = []
    lane = _lane(seen)
    consumer = _Consumer([
        {EV0: [_rec(EV0, o) for o in range(300, 303)]},  # fetched for an older position
        {EV0: [_rec(EV0, o) for o in range(100, 102)]},  # read again from the commit
    ])  # fmt: skip
    consumer._committed_offset[EV0] = 100  # Faust sought here after the rebalance
    _run(consumer, lane)
    assert consumer.sought == [(EV0, 100)]
    assert seen == [(0, [100, 101])]
    assert lane.committable(consumer, EV0) == 102
    assert lane.gaps == 1


def test_a_batch_continuing_the_last_one_is_not_a_gap() -> None:
    seen: list[tuple[int, list[int]]] = []
    lane = _lane(seen)
    consumer = _Consumer([{EV0: [_rec(EV0, 5)]}, {EV0: [_rec(EV0, 6)]}, {EV0: [_rec(EV0, 9)]}])
    _run(consumer, lane)
    assert seen == [(0, [5]), (0, [6])]  # 7 and 8 never came: not processed past them
    assert consumer.sought == [(EV0, 7)]


def test_a_fetch_answered_after_a_rebalance_began_seeks_back_to_the_commits() -> None:
    seen: list[tuple[int, list[int]]] = []
    lane = _lane(seen)
    consumer = _Consumer([{EV0: [_rec(EV0, 7)], TARIFFS: [_rec(TARIFFS, 3)]}])
    consumer.flow_active = False  # stopped while the fetch was in flight
    consumer._committed_offset[EV0] = 5
    consumer._read_offset[EV0] = 6
    consumer._read_offset[TARIFFS] = 40  # no commit: cleared, as Faust's seek does
    _run(consumer, lane)
    assert seen == [] and consumer.delivered == []
    assert consumer.sought == [(None, -1)]
    assert consumer._read_offset[EV0] == 5
    assert consumer._read_offset[TARIFFS] is None


def test_a_rebalance_during_a_one_by_one_hand_over_does_not_record_its_offset() -> None:
    seen: list[tuple[int, list[int]]] = []
    lane = _lane(seen)
    consumer = _Consumer([{TARIFFS: [_rec(TARIFFS, 50), _rec(TARIFFS, 51)]}])
    original = consumer.callback

    async def rebalancing_callback(message: Any) -> None:
        await original(message)
        consumer.app.consumer_generation_id += 1  # recovery seeks meanwhile
        consumer._read_offset[TARIFFS] = None

    consumer.callback = rebalancing_callback  # type: ignore[method-assign]
    _run(consumer, lane)
    assert consumer.delivered == [("tariffs", 50)]
    assert consumer._read_offset[TARIFFS] is None  # the seek stands
