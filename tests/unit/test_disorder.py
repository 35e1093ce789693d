"""Sessions stay right when the real world is messy (late, duplicated, reordered,
lost and anomalous events) - the pure core, with hypothesis."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from chargewatch.simulator import SimConfig, simulate
from streams.core import Stitcher
from streams.core.events import Event
from streams.core.record import SessionOut
from streams.core.stitcher import Timeouts
from tests.factories import sample, started, state, stopped

LATENESS_S = 600
IGNORED = {"version", "correction"}  # emission artefacts, not session content


def final_records(events: list[Event], lateness: int = LATENESS_S) -> dict[str, dict[str, Any]]:
    stitcher = Stitcher(update_interval_s=300, allowed_lateness_s=lateness)
    for event in events:
        stitcher.apply(event)
    out = {}
    for s in list(stitcher):
        record = stitcher.settle(s.session_id)
        assert record is not None
        out[s.session_id] = {
            k: v for k, v in msgspec.structs.asdict(record).items() if k not in IGNORED
        }
    return out


def messy(events: list[Event], rng: random.Random, dup_rate: float) -> list[Event]:
    """Duplicates (some re-sent with a new message id), then arrival shuffled:
    every event arrives within the allowed lateness of its event time."""
    copies = list(events)
    for event in events:
        if rng.random() < dup_rate:
            resent = rng.random() < 0.5
            copies.append(msgspec.structs.replace(event, event_id=event.event_id + "-r")
                          if resent else event)  # fmt: skip
    delay = {id(e): rng.uniform(0, LATENESS_S - 1) for e in copies}
    return sorted(copies, key=lambda e: e.ts.timestamp() + delay[id(e)])


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), arrival=st.integers(0, 2**32),
       dup_rate=st.sampled_from([0.0, 0.05, 0.3]))  # fmt: skip
def test_any_arrival_within_lateness_with_duplicates_gives_the_in_order_sessions(
    seed: int, arrival: int, dup_rate: float
) -> None:
    sim = simulate(replace(SimConfig(), stations=2, days=0.5, seed=seed))
    shuffled = messy(sim.events, random.Random(arrival), dup_rate)
    assert final_records(shuffled) == final_records(sim.events)


def anomalous_session(rng: random.Random) -> list[Event]:
    """A session whose meter resets to zero and glitches, at 60 s samples."""
    events: list[Event] = [started("a", 0, meter=50_000), state("a", 0, "charging")]
    wh = 50_000
    for i in range(1, 60):
        if i == 25:
            wh = rng.randint(0, 50)  # reset
        elif i % 17 == 0:
            events.append(sample("a", i * 60, wh - rng.randint(1, 90)))  # glitch low
            continue
        else:
            wh += rng.randint(0, 200)
        events.append(sample("a", i * 60, wh))
    events.append(stopped("a", 3600, wh))
    return events


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), arrival=st.integers(0, 2**32))
def test_meter_anomalies_fold_the_same_whatever_the_arrival_order(seed: int, arrival: int) -> None:
    events = anomalous_session(random.Random(seed))
    in_order = final_records(events)["a"]
    assert {"meter_reset", "meter_regression"} <= set(in_order["flags"])
    assert final_records(messy(events, random.Random(arrival), 0.2))["a"] == in_order


def test_reset_to_zero_counts_energy_before_and_after_and_is_flagged() -> None:
    events = [
        started("r", 0, meter=10_000),
        sample("r", 60, 12_000),
        sample("r", 120, 0),  # the meter restarted
        sample("r", 180, 500),
        stopped("r", 240, meter=900),
    ]
    record = final_records(events)["r"]
    assert record["energy_wh"] == 2_000 + 900
    assert "meter_reset" in record["flags"]


def test_register_regression_is_ignored_never_negative_or_inflated() -> None:
    events = [
        started("g", 0, meter=10_000),
        sample("g", 60, 11_000),
        sample("g", 120, 10_900),  # glitch
        sample("g", 180, 11_500),
        stopped("g", 240, meter=11_500),
    ]
    record = final_records(events)["g"]
    assert record["energy_wh"] == 1_500
    assert "meter_regression" in record["flags"]


def test_meter_stop_below_meter_start_gives_energy_from_samples() -> None:
    events = [started("m", 0, meter=5_000), sample("m", 60, 6_000), stopped("m", 120, 4_000)]
    record = final_records(events)["m"]
    assert record["energy_wh"] == 1_000
    assert {"meter_stop_below_start", "meter_regression"} <= set(record["flags"])


def test_samples_outside_the_session_window_are_left_out() -> None:
    events = [
        sample("w", -120, 1),  # before the start
        started("w", 0, meter=1_000),
        sample("w", 60, 1_400),
        stopped("w", 120, meter=1_500),
        sample("w", 300, 9_999),  # after the stop
    ]
    record = final_records(events)["w"]
    assert record["energy_wh"] == 500
    assert {"sample_outside_window", "event_before_start"} <= set(record["flags"])


def test_energy_missing_between_consecutive_sessions_on_a_connector() -> None:
    events = [
        started("p", 0, meter=1_000),
        stopped("p", 600, meter=2_000),
        started("q", 900, meter=2_300, tx="18"),  # 300 Wh flowed outside any session
        stopped("q", 1500, meter=3_000, tx="18"),
        started("z", 1800, meter=0, tx="19"),  # rebased meter
        stopped("z", 2400, meter=100, tx="19"),
    ]
    records = final_records(events)
    assert "energy_gap_before" in records["q"]["flags"]
    assert "meter_rebased" in records["z"]["flags"]
    assert not {"energy_gap_before", "meter_rebased"} & set(records["p"]["flags"])


def seq_session(seqs: list[int]) -> list[Event]:
    last = max(seqs)
    events: list[Event] = []
    for n in seqs:
        if n == 0:
            events.append(started("s", 0, seq=0))
        elif n == last:
            events.append(stopped("s", n * 60, meter=1_000 + n, seq=n))
        else:
            events.append(sample("s", n * 60, 1_000 + n, seq=n))
    return events


def test_seq_completeness_lists_the_missing_seqnos() -> None:
    complete = final_records(seq_session(list(range(11))))["s"]
    assert complete["seq_complete"] is True and complete["missing_seq"] == []
    gappy = final_records(seq_session([0, 1, 2, 3, 5, 6, 8, 9, 10]))["s"]
    assert gappy["seq_complete"] is False
    assert gappy["missing_seq"] == [4, 7]
    assert "seq_gap" in gappy["flags"]
    assert final_records(seq_session([0, 5]))["s"]["missing_seq"] == [1, 2, 3, 4]
    unknown = final_records([started("u", 0), stopped("u", 60, 1_000)])["u"]
    assert unknown["seq_complete"] is None


def test_a_stop_seqno_far_ahead_lists_only_the_first_missing_ones() -> None:
    """Found by the OCPP fuzz test: every missing seqNo was listed before the first
    50 were kept, so a charger's glitch (a stop at seqNo 4,000,000,000) took the
    worker's memory. Ten million here, with the memory it may take bounded."""
    import tracemalloc

    events = [started("b", 0, seq=0), sample("b", 60, 1_001, seq=1)]
    events.append(stopped("b", 120, meter=1_002, seq=10_000_000))
    tracemalloc.start()
    try:
        record = final_records(events)["b"]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert record["seq_complete"] is False
    assert record["missing_seq"] == list(range(2, 52))
    assert peak < 5_000_000, peak  # listing them all: hundreds of megabytes


def test_late_event_beyond_the_close_produces_exactly_one_correction() -> None:
    stitcher = Stitcher(update_interval_s=300, allowed_lateness_s=LATENESS_S)
    events = [
        started("c", 0, meter=0),
        state("c", 0, "charging"),
        sample("c", 1800, 5_000, power=11_000),
        stopped("c", 3600, meter=5_000),
    ]
    emitted = [r for e in events if (r := stitcher.apply(e)) is not None]
    assert emitted[-1].status == "completed" and not emitted[-1].correction
    assert emitted[-1].charging_s == 3600
    # the charger's queued "EV full" status arrives an hour after the stop
    late = state("c", 2400, "suspended_ev")
    correction = stitcher.apply(late)
    assert isinstance(correction, SessionOut)
    assert correction.correction and correction.version == emitted[-1].version + 1
    assert (correction.charging_s, correction.idle_s) == (2400, 1200)
    assert stitcher.apply(late) is None  # redelivered: nothing new
    assert stitcher.apply(msgspec.structs.replace(late, event_id="again")) is None


def test_missing_stop_stalls_then_auto_closes_then_a_late_stop_corrects() -> None:
    timeouts = Timeouts(stall_factor=5, stall_min_s=60, auto_close_s=7200)
    stitcher = Stitcher(update_interval_s=300, timeouts=timeouts)
    for event in [
        started("x", 0, meter=0),
        state("x", 0, "charging"),
        *[sample("x", t, t * 3) for t in range(60, 1260, 60)],
    ]:
        stitcher.apply(event)
    assert stitcher.tick((1200 + 299) * 1000 + _T0) == []  # 5 x 60 s not reached yet
    [stalled] = stitcher.tick((1200 + 300) * 1000 + _T0)
    assert stalled.status == "stalled" and stalled.ended_at is None
    assert stitcher.tick((1200 + 400) * 1000 + _T0) == []  # stalled once, not again
    [closed] = stitcher.tick((1200 + 7200) * 1000 + _T0)
    assert closed.status == "auto_closed"
    assert closed.energy_wh == 1200 * 3 and closed.duration_s == 1200  # at the last reading
    late_stop = stitcher.apply(stopped("x", 1300, meter=1300 * 3))
    assert late_stop is not None and late_stop.correction
    assert late_stop.status == "completed" and late_stop.duration_s == 1300


def test_events_after_a_stall_make_the_session_active_again() -> None:
    stitcher = Stitcher(update_interval_s=300, timeouts=Timeouts(stall_min_s=60))
    stitcher.apply(started("y", 0, meter=0))
    [stalled] = stitcher.tick(10_000 * 1000 + _T0)
    assert stalled.status == "stalled"
    resumed = stitcher.apply(sample("y", 10_000, 50))
    assert resumed is not None and resumed.status == "active"


def test_stop_before_start_stop_without_start_start_twice_status_before_start() -> None:
    records = final_records(
        [
            started("b", 600, meter=0),
            stopped("b", 300, meter=100),  # stop before start
            stopped("n", 600, meter=100, tx="20"),  # stop without start
            started("d", 0, meter=0, tx="21"),
            started("d", 30, meter=0, tx="21"),  # start twice
            state("e", -60, "charging", tx="22"),  # status before start
            started("e", 0, meter=0, tx="22"),
            stopped("e", 60, meter=10, tx="22"),
        ]
    )
    assert "stop_before_start" in records["b"]["flags"] and records["b"]["duration_s"] == 0
    assert "missing_start" in records["n"]["flags"]
    assert "duplicate_start" in records["d"]["flags"]
    assert "event_before_start" in records["e"]["flags"]
    assert records["e"]["charging_s"] == 60  # the early status still says what the EV does


_T0 = round(started("t0", 0).ts.timestamp() * 1000)
