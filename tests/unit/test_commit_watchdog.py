"""The stuck-commit watchdog: when it resyncs, and what a resync does."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from faust.types import TP

from streams.commit_watchdog import CommitWatchdog, Reading, readings, resync_to_committed

TP0, TP1 = TP("events", 0), TP("events", 1)


def test_a_commit_that_moves_is_never_stuck() -> None:
    dog = CommitWatchdog(stuck_after_s=30)
    for t in range(0, 300, 5):
        assert dog.stuck({TP0: Reading(committed=100 + t, read=150 + t)}, float(t)) == []


def test_a_partition_fully_committed_is_never_stuck() -> None:
    dog = CommitWatchdog(stuck_after_s=30)
    for t in range(0, 300, 5):  # idle: last read 99, committed 100 (the next offset)
        assert dog.stuck({TP0: Reading(committed=100, read=99)}, float(t)) == []


def test_read_past_a_commit_that_does_not_move_is_stuck_after_the_delay() -> None:
    dog = CommitWatchdog(stuck_after_s=30)
    stuck_at = [
        t for t in range(0, 60, 5)
        if dog.stuck({TP0: Reading(100, 150), TP1: Reading(7, 6)}, float(t))
    ]  # fmt: skip
    assert stuck_at[0] == 30
    assert dog.stuck({TP0: Reading(100, 150)}, 61.0) == [TP0]
    dog.forget()
    assert dog.stuck({TP0: Reading(100, 150)}, 62.0) == []


def test_an_idle_partition_just_seeked_to_its_commit_is_not_stuck() -> None:
    dog = CommitWatchdog(stuck_after_s=30)
    for t in range(0, 300, 5):  # after a seek the read offset is the committed one
        assert dog.stuck({TP0: Reading(committed=100, read=100)}, float(t)) == []


def test_no_commit_yet_is_not_judged() -> None:
    dog = CommitWatchdog(stuck_after_s=1)
    assert dog.stuck({TP0: Reading(None, 10)}, 0.0) == []
    assert dog.stuck({TP0: Reading(None, 10)}, 100.0) == []


class _Consumer:
    def __init__(self) -> None:
        self._committed_offset: dict[Any, int | None] = defaultdict(lambda: None)
        self._read_offset: dict[Any, int | None] = defaultdict(lambda: None)
        self._committed_offset.update({TP0: 100, TP1: 7})
        self._read_offset.update({TP0: 150, TP1: 6})
        self._acked: dict[Any, list[int]] = {TP0: [120, 121], TP1: []}
        self._acked_index: dict[Any, set[int]] = {TP0: {120, 121}, TP1: set()}
        self.calls: list[str] = []

    def assignment(self) -> set[Any]:
        return {TP0, TP1, TP("changelog", 0)}

    def stop_flow(self) -> None:
        self.calls.append("stop")

    def resume_flow(self) -> None:
        self.calls.append("resume")

    async def perform_seek(self) -> None:
        self.calls.append("seek")
        self._read_offset.update(self._committed_offset)


def test_readings_cover_the_input_partitions_only() -> None:
    got = readings(_Consumer(), {"events"})
    assert got == {TP0: Reading(100, 150), TP1: Reading(7, 6)}


def test_a_resync_forgets_uncommitted_acks_and_reads_again_from_the_commit() -> None:
    consumer = _Consumer()
    asyncio.run(resync_to_committed(consumer, [TP0]))
    assert consumer.calls == ["stop", "seek", "resume"]
    assert consumer._acked[TP0] == [] and consumer._acked_index[TP0] == set()
    assert consumer._read_offset[TP0] == 100
    assert getattr(consumer, "_chargewatch_resyncs", 0) == 1
