"""The whole pipeline on the real broker and chDB: simulator -> worker -> sink."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest

from chargewatch.kafka_admin import consumer_lag
from chargewatch.simulator import GroundTruth, SimConfig, simulate
from tests.integration.harness import Pipeline

pytestmark = pytest.mark.integration

COLUMNS = (
    "session_id, station_id, connector_id, transaction_id, status, "
    "toUnixTimestamp64Milli(started_at), toUnixTimestamp64Milli(ended_at), "
    "duration_s, charging_s, idle_s, energy_wh, max_power_w"
)


def _expected(truth: GroundTruth) -> tuple[object, ...]:
    return (
        truth.session_id,
        truth.station_id,
        truth.connector_id,
        truth.transaction_id,
        "completed",
        int(truth.started_at.timestamp() * 1000),
        int(truth.ended_at.timestamp() * 1000),
        truth.duration_s,
        truth.charging_s,
        truth.idle_s,
        truth.energy_wh,
        truth.max_power_w,
    )


def assert_sessions_equal_truth(pipeline: Pipeline, truth: list[GroundTruth]) -> None:
    db = "chargewatch"
    rows = pipeline.query(f"SELECT {COLUMNS} FROM {db}.sessions FINAL ORDER BY session_id")
    got = {row[0]: row for row in rows}
    assert len(rows) == len(got), "a session appears twice"
    want = {t.session_id: _expected(t) for t in truth}
    assert set(got) == set(want), (
        f"missing {len(set(want) - set(got))}, unexpected {len(set(got) - set(want))}"
    )
    mismatched = [sid for sid in want if got[sid] != want[sid]]
    if mismatched:
        first = mismatched[0]
        history = pipeline.query(
            f"SELECT version, status, energy_wh, duration_s, flags, inserted_at "
            f"FROM {db}.sessions WHERE session_id = '{first}' ORDER BY version, inserted_at"
        )
        pytest.fail(
            f"{len(mismatched)} sessions differ, e.g. {got[first]} != {want[first]}; "
            f"its stored versions: {history}"
        )
    # and the latest-version view agrees with FINAL
    (n_latest,) = pipeline.query(f"SELECT count() FROM {db}.sessions_latest")[0]
    assert n_latest == len(truth)


def test_simulated_day_arrives_in_clickhouse_equal_to_ground_truth(pipeline: Pipeline) -> None:
    sim = simulate(replace(SimConfig(), stations=8, days=1.0, seed=7))
    assert len(sim.truth) > 20
    pipeline.produce(sim.events)
    pipeline.produce_raw(b"CP-9999", b'{"type": "meter_sample", "broken": ')  # -> dead letter
    pipeline.start("worker")
    pipeline.start("sink")
    pipeline.wait()
    pipeline.stop_all()
    assert_sessions_equal_truth(pipeline, sim.truth)


def test_worker_killed_mid_stream_loses_and_doubles_nothing(pipeline: Pipeline) -> None:
    sim = simulate(replace(SimConfig(), stations=10, days=1.0, seed=11))
    events = sim.events
    half = len(events) // 2
    pipeline.start("sink")
    pipeline.produce(events[:half])
    worker = pipeline.start("worker")
    settings = pipeline.settings()
    group, topic = settings.worker.app_id, settings.kafka.events_topic
    # Let the worker get going (it has committed part of the backlog) ...
    pipeline.wait_for(lambda: consumer_lag(pipeline.bootstrap, group, topic) < half)
    # ... then kill it while events keep arriving: it dies with events processed
    # but not committed, and with events it never saw.
    feeder = threading.Thread(target=pipeline.produce, args=(events[half:],),
                              kwargs={"rate": 3000.0})  # fmt: skip
    feeder.start()
    time.sleep(1.0)
    assert worker.alive()
    assert feeder.is_alive(), "the kill must happen while events are still arriving"
    worker.kill()  # SIGKILL: no shutdown hook runs, nothing is flushed
    feeder.join()
    pipeline.start("worker")  # a fresh process resumes from the changelog + offsets
    pipeline.wait()
    pipeline.stop_all()
    assert "Restore complete" in pipeline.log("worker")
    assert_sessions_equal_truth(pipeline, sim.truth)
