"""The pure stitching core: sessions from events, no I/O."""

from __future__ import annotations

import random

import pytest

from chargewatch.errors import DecodeError
from streams.core import Stitcher, decode_event, restore_state, snapshot_state
from streams.core.events import encode_event
from streams.core.record import SessionOut
from tests.factories import authorised, sample, started, state, stopped


def run(events: list, interval: int = 300, lateness: int = 600) -> dict[str, SessionOut]:
    stitcher = Stitcher(update_interval_s=interval, allowed_lateness_s=lateness)
    for event in events:
        stitcher.apply(event)
    return {s.session_id: stitcher.settle(s.session_id) for s in stitcher}  # type: ignore[misc]


def normal_session(sid: str = "s1", offset: float = 0, base: int = 1000) -> list:
    t = offset
    return [
        started(sid, t, meter=base),
        authorised(sid, t),
        state(sid, t, "charging"),
        sample(sid, t + 600, base + 1800, power=11000),
        sample(sid, t + 1200, base + 3600, power=11000),
        state(sid, t + 1800, "suspended_ev"),
        sample(sid, t + 1800, base + 5400, power=0),
        stopped(sid, t + 3600, base + 5400, reason="EVDisconnected"),
    ]


def test_normal_session_with_idle_after_full() -> None:
    record = run(normal_session())["s1"]
    assert record.status == "completed"
    assert record.duration_s == 3600
    assert record.charging_s == 1800
    assert record.idle_s == 1800
    assert record.energy_wh == 5400
    assert record.max_power_w == 11000
    assert record.stop_reason == "EVDisconnected"
    assert record.auth_method == "rfid" and record.auth_result == "accepted"
    assert record.transaction_id == "17"
    assert record.ended_at is not None and record.started_at < record.ended_at
    assert record.flags == []


def test_session_without_meter_samples_uses_start_and_stop_readings() -> None:
    events = [
        started("s2", 0, meter=500),
        state("s2", 0, "charging"),
        stopped("s2", 900, meter=2700),
    ]
    record = run(events)["s2"]
    assert record.energy_wh == 2200
    assert record.charging_s == 900 and record.idle_s == 0
    assert "no_meter_samples" in record.flags


def test_zero_energy_session_is_all_idle_and_flagged() -> None:
    events = [
        started("s3", 0, meter=4000),
        state("s3", 0, "ev_connected"),
        sample("s3", 60, 4000, power=0),
        stopped("s3", 300, meter=4000),
    ]
    record = run(events)["s3"]
    assert record.energy_wh == 0
    assert record.charging_s == 0 and record.idle_s == 300
    assert "zero_energy" in record.flags


def test_suspended_evse_counts_as_charging_time() -> None:
    events = [
        started("s4", 0),
        state("s4", 0, "charging"),
        state("s4", 100, "suspended_evse"),
        state("s4", 400, "charging"),
        state("s4", 500, "suspended_ev"),
        stopped("s4", 700, meter=2000),
    ]
    record = run(events)["s4"]
    assert record.charging_s == 500
    assert record.idle_s == 200


def test_back_to_back_sessions_on_one_connector_stay_apart() -> None:
    first = normal_session("a", offset=0, base=10_000)
    second = normal_session("b", offset=3600, base=15_400)  # starts at the first one's stop
    records = run(first + second)
    assert set(records) == {"a", "b"}
    assert records["a"].energy_wh == records["b"].energy_wh == 5400
    assert records["a"].ended_at == records["b"].started_at


def test_charging_inferred_from_meter_when_no_state_changes() -> None:
    events = [
        started("s5", 0, meter=0),
        sample("s5", 600, 1000),
        sample("s5", 1200, 2000),
        sample("s5", 1800, 2000),
        stopped("s5", 2400, meter=2000),
    ]
    record = run(events)["s5"]
    assert record.charging_s == 1200 and record.idle_s == 1200
    assert "charging_inferred" in record.flags


@pytest.mark.parametrize("seed", range(5))
def test_duplicates_and_reordering_do_not_change_the_session(seed: int) -> None:
    events = normal_session()
    rng = random.Random(seed)
    messy = events + rng.sample(events, 4)
    rng.shuffle(messy)
    # the whole hour-long session arrives shuffled: within a lateness of one hour
    clean, dirty = run(events, lateness=3600)["s1"], run(messy, lateness=3600)["s1"]
    for field in ("energy_wh", "duration_s", "charging_s", "idle_s", "max_power_w", "status",
                  "flags"):  # fmt: skip
        assert getattr(clean, field) == getattr(dirty, field), field


def test_emission_policy_start_updates_final_and_nothing_for_duplicates() -> None:
    stitcher = Stitcher(update_interval_s=600)
    events = normal_session()
    emitted = [r for e in events if (r := stitcher.apply(e)) is not None]
    # first event, 600 s later, 1200 s later, 1800 s later, then the stop
    assert [r.status for r in emitted] == ["active"] * 4 + ["completed"]
    assert [r.version for r in emitted] == [1, 2, 3, 4, 5]
    assert all(stitcher.apply(e) is None for e in events)  # redelivery: no new versions


def test_late_event_after_close_emits_one_correction() -> None:
    stitcher = Stitcher(update_interval_s=300)
    for event in normal_session():
        stitcher.apply(event)
    late = sample("s1", 1500, 1000 + 4800, power=22000)
    correction = stitcher.apply(late)
    assert correction is not None and correction.max_power_w == 22000
    assert correction.version == 6 and correction.status == "completed"
    assert stitcher.apply(late) is None


def test_state_snapshot_round_trips_exactly() -> None:
    stitcher = Stitcher(update_interval_s=300)
    for event in normal_session():
        stitcher.apply(event)
    original = stitcher.get("s1")
    assert original is not None
    restored = restore_state(snapshot_state(original))
    assert restored == original
    assert len(snapshot_state(original)) < 400


def test_restored_state_continues_the_session() -> None:
    events = normal_session()
    first = Stitcher(update_interval_s=300)
    for event in events[:4]:
        first.apply(event)
    saved = snapshot_state(first.get("s1"))  # type: ignore[arg-type]
    second = Stitcher(update_interval_s=300, load=lambda sid: restore_state(saved))
    for event in events[2:]:  # overlaps: events 2 and 3 are re-delivered
        second.apply(event)
    assert second.settle("s1") == run(events)["s1"]


def test_event_round_trip_through_json() -> None:
    event = sample("s1", 10, 1234, power=7000)
    assert decode_event(encode_event(event)) == event


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"{}",
        b'{"type":"meter_sample"}',
        b'{"type":"nope","event_id":"1","station_id":"a","connector_id":1,'
        b'"session_id":"s","ts":"2026-05-04T08:00:00Z"}',
        # naive timestamp: refused, event time must be unambiguous
        b'{"type":"meter_sample","event_id":"1","station_id":"a","connector_id":1,'
        b'"session_id":"s","ts":"2026-05-04T08:00:00"}',
        # negative register
        b'{"type":"meter_sample","event_id":"1","station_id":"a","connector_id":1,'
        b'"session_id":"s","ts":"2026-05-04T08:00:00Z","energy_wh":-5}',
        # invalid UTF-8 inside a string
        b'{"type":"meter_sample","event_id":"\xff\xfe","station_id":"a","connector_id":1,'
        b'"session_id":"s","ts":"2026-05-04T08:00:00Z"}',
    ],
)
def test_invalid_events_raise_decode_error(raw: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_event(raw)
