"""Disorder and scale-out on the real broker: duplicates, shuffled arrival,
SIGKILLs and two workers in one group still give exactly the ground truth."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import replace

import msgspec
import pytest

from chargewatch.simulator import SimConfig, simulate
from streams.core.events import Event
from tests.integration.harness import Pipeline
from tests.integration.test_pipeline import assert_sessions_equal_truth

pytestmark = pytest.mark.integration


def messy_stream(events: list[Event], seed: int) -> list[Event]:
    """5% duplicates (half re-sent with a new message id), every event delivered
    up to 10 minutes after its event time (the default allowed lateness)."""
    rng = random.Random(seed)
    copies = list(events)
    for event in events:
        if rng.random() < 0.05:
            copies.append(msgspec.structs.replace(event, event_id=event.event_id + "-resent")
                          if rng.random() < 0.5 else event)  # fmt: skip
    delay = {id(e): rng.uniform(0, 599) for e in copies}
    return sorted(copies, key=lambda e: e.ts.timestamp() + delay[id(e)])


def test_duplicates_shuffle_and_two_sigkills_give_the_ground_truth(pipeline: Pipeline) -> None:
    sim = simulate(replace(SimConfig(), stations=10, days=1.0, seed=13))
    stream = messy_stream(sim.events, seed=1)
    assert len(stream) > len(sim.events)
    pipeline.start("sink")
    third = len(stream) // 3
    pipeline.produce(stream[:third])
    for kill in range(2):
        worker = pipeline.start("worker")
        time.sleep(6)  # started and busy
        feeder = threading.Thread(
            target=pipeline.produce,
            args=(stream[third * (kill + 1) : third * (kill + 2)],),
            kwargs={"rate": 3000.0},
        )
        feeder.start()
        time.sleep(1.0)
        assert worker.alive()
        assert feeder.is_alive(), "the kill must happen while events are still arriving"
        worker.kill()
        feeder.join()
    pipeline.produce(stream[third * 3 :])
    pipeline.start("worker")
    pipeline.wait(timeout=90)
    pipeline.stop_all()
    assert_sessions_equal_truth(pipeline, sim.truth)


def test_two_workers_in_one_group_give_the_same_sessions_as_one(pipeline: Pipeline) -> None:
    sim = simulate(replace(SimConfig(), stations=12, days=1.0, seed=17))
    assert pipeline.partitions >= 4
    pipeline.start("worker-a", "worker")
    pipeline.start("sink")
    half = len(sim.events) // 2
    pipeline.produce(sim.events[:half])
    pipeline.start("worker-b", "worker")  # joins the group: a rebalance mid-stream
    # Worker a may drain the first half before b has joined (it did, once the
    # worker became fast enough): the second half waits for b's partitions, so
    # sessions open at the rebalance go on in the other worker, and both work.
    assigned = "Setting newly assigned partitions"
    pipeline.wait_for(lambda: assigned in pipeline.log("worker-b"), timeout=60)
    pipeline.produce(sim.events[half:])
    pipeline.wait(timeout=90)
    logs = [pipeline.log("worker-a"), pipeline.log("worker-b")]
    pipeline.stop_all()
    for log in logs:  # both shared the work
        assert assigned in log
    assert_sessions_equal_truth(pipeline, sim.truth)
