"""The charger simulator: determinism, event invariants, and ground truth that
follows from the emitted events alone (recomputed here, independently of both
the simulator's model and the pipeline's code)."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from pydantic import TypeAdapter

import chargewatch.simulator.producer as producer_module
from chargewatch.errors import BrokerError
from chargewatch.simulator import (
    GroundTruth,
    SimConfig,
    Simulation,
    produce,
    read_truth,
    simulate,
    write_truth,
)
from schemas.events import ChargingEvent
from schemas.vocabulary import CHARGING_STATES
from streams.core.events import (
    AuthorizationResult,
    Event,
    MeterSample,
    SessionStarted,
    SessionStopped,
    StateChanged,
    decode_event,
    encode_event,
)

_KIND_ORDER = {SessionStarted: 0, AuthorizationResult: 1, StateChanged: 2, MeterSample: 3}


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return simulate(SimConfig())  # 50 stations, one weekday, seed 42


@pytest.fixture(scope="module")
def by_session(sim: Simulation) -> dict[str, list[Event]]:
    sessions: dict[str, list[Event]] = defaultdict(list)
    for event in sim.events:
        sessions[event.session_id].append(event)
    return sessions


def _encoded(sim: Simulation) -> list[bytes]:
    return [encode_event(event) for event in sim.events]


# --- determinism -----------------------------------------------------------------


def test_same_seed_same_events_and_truth() -> None:
    config = SimConfig(stations=5, seed=7)
    first, second = simulate(config), simulate(config)
    assert _encoded(first) == _encoded(second)
    assert first.truth == second.truth


def test_other_seed_other_events() -> None:
    assert _encoded(simulate(SimConfig(stations=5, seed=7))) != _encoded(
        simulate(SimConfig(stations=5, seed=8))
    )


def test_a_station_does_not_depend_on_the_fleet_size() -> None:
    small = simulate(SimConfig(stations=3, sample_interval_s=600))
    large = simulate(SimConfig(stations=6, sample_interval_s=600))
    first_three = {"CP-0001", "CP-0002", "CP-0003"}
    assert _encoded(small) == [encode_event(e) for e in large.events if e.station_id in first_three]


# --- event invariants ------------------------------------------------------------


def test_events_are_valid_for_both_contracts() -> None:
    events = simulate(SimConfig(stations=4, sample_interval_s=300)).events
    contract = TypeAdapter(ChargingEvent)
    for event in events:
        raw = encode_event(event)
        assert decode_event(raw) == event
        contract.validate_json(raw)


def test_sorted_on_whole_utc_seconds(sim: Simulation) -> None:
    for event in sim.events:
        assert event.ts.utcoffset() == timedelta(0)
        assert event.ts.microsecond == 0
    times = [event.ts for event in sim.events]
    assert times == sorted(times)
    assert len({event.event_id for event in sim.events}) == len(sim.events)


def test_every_session_is_started_and_stopped_in_order(
    sim: Simulation, by_session: dict[str, list[Event]]
) -> None:
    assert set(by_session) == {row.session_id for row in sim.truth}
    assert len(by_session) == len(sim.truth)
    for events in by_session.values():
        assert isinstance(events[0], SessionStarted)
        assert isinstance(events[1], AuthorizationResult)
        assert isinstance(events[-1], SessionStopped)
        assert sum(isinstance(e, SessionStarted) for e in events) == 1
        assert sum(isinstance(e, SessionStopped) for e in events) == 1
        assert [e.seq for e in events] == list(range(len(events)))
        # One session per (station, connector, transaction) and constant ids.
        assert len({(e.station_id, e.connector_id, e.transaction_id) for e in events}) == 1
        # Within a second: started, auth, state changes, samples, stopped.
        keys = [(e.ts, _KIND_ORDER.get(type(e), 4)) for e in events]
        assert keys == sorted(keys)


def test_registers_monotonic_across_sessions_and_no_overlap(
    sim: Simulation, by_session: dict[str, list[Event]]
) -> None:
    per_connector: dict[tuple[str, int], list[GroundTruth]] = defaultdict(list)
    for row in sim.truth:
        per_connector[row.station_id, row.connector_id].append(row)
    assert len(per_connector) > 50
    for rows in per_connector.values():
        rows.sort(key=lambda row: row.started_at)
        registers: list[int] = []
        for before, after in pairwise(rows):
            assert after.started_at >= before.ended_at + timedelta(seconds=60)
        for row in rows:
            for event in by_session[row.session_id]:
                if isinstance(event, SessionStarted):
                    registers.append(event.meter_start_wh or -1)
                elif isinstance(event, MeterSample):
                    registers.append(event.energy_wh or -1)
                elif isinstance(event, SessionStopped):
                    registers.append(event.meter_stop_wh or -1)
        assert registers[0] >= 1_000_000
        assert registers == sorted(registers)


def test_only_arrivals_are_limited_to_the_window(sim: Simulation) -> None:
    end = sim.config.end
    assert all(sim.config.start <= row.started_at < end for row in sim.truth)
    assert any(row.ended_at > end for row in sim.truth)  # run past the window, still closed


def test_token_hash_is_a_digest_not_a_token(sim: Simulation) -> None:
    for row in sim.truth:
        assert len(row.token_hash) == 64
        int(row.token_hash, 16)


# --- ground truth from the events alone ------------------------------------------


def _charging_seconds(
    states: Sequence[tuple[datetime, str]], start: datetime, stop: datetime
) -> int:
    """Seconds in a charging state; idle before the first state change (OCPI)."""
    total, since = 0, None
    for when, state in [*states, (stop, "idle")]:
        if since is not None:
            total += int((when - since).total_seconds())
        since = when if state in CHARGING_STATES else None
    assert all(start <= when < stop for when, _ in states)
    return total


def test_truth_follows_from_the_events(sim: Simulation, by_session: dict[str, list[Event]]) -> None:
    for row in sim.truth:
        events = by_session[row.session_id]
        start, stop = events[0], events[-1]
        assert isinstance(start, SessionStarted)
        assert isinstance(stop, SessionStopped)
        samples = [e for e in events if isinstance(e, MeterSample)]
        states = [(e.ts, e.state) for e in events if isinstance(e, StateChanged)]
        socs = [e.soc for e in samples if e.soc is not None]
        assert start.meter_start_wh is not None
        assert stop.meter_stop_wh is not None

        assert row.transaction_id == start.transaction_id
        assert (row.started_at, row.ended_at) == (start.ts, stop.ts)
        assert row.duration_s == int((stop.ts - start.ts).total_seconds())
        assert row.charging_s == _charging_seconds(states, start.ts, stop.ts)
        assert row.idle_s == row.duration_s - row.charging_s
        assert row.energy_wh == stop.meter_stop_wh - start.meter_start_wh
        assert samples[-1].energy_wh == stop.meter_stop_wh  # a sample at the stop
        assert samples[-1].ts == stop.ts
        assert row.max_power_w == max(e.power_w or 0 for e in samples)
        assert (row.soc_start, row.soc_end) == ((socs[0], socs[-1]) if socs else (None, None))
        assert row.auth_method == start.auth_method
        assert row.token_hash == start.token_hash
        assert row.stop_reason == stop.reason


def test_sample_spacing_and_power_bounds(
    sim: Simulation, by_session: dict[str, list[Event]]
) -> None:
    limits = {s.station_id: s.max_power_w for s in sim.stations}
    for events in by_session.values():
        samples = [e for e in events if isinstance(e, MeterSample)]
        start = events[0].ts
        for index, sample in enumerate(samples[:-1]):
            assert sample.ts == start + timedelta(seconds=60 * index)
        for sample in samples:
            assert 0 <= (sample.power_w or 0) <= limits[sample.station_id]


def test_session_mix(sim: Simulation, by_session: dict[str, list[Event]]) -> None:
    patterns = Counter(row.pattern for row in sim.truth)
    assert patterns["zero_energy"] >= 1
    assert 0.15 < patterns["left_before_full"] / len(sim.truth) < 0.45
    assert sum(row.idle_s > 600 and row.energy_wh > 0 for row in sim.truth) > 50
    for row in sim.truth:
        if row.pattern == "zero_energy":
            assert (row.energy_wh, row.charging_s, row.max_power_w) == (0, 0, 0)
        if row.pattern == "left_before_full":
            assert row.idle_s <= 180  # at most a delayed start, never idle after full
        if row.pattern == "idle_after_full":
            assert row.idle_s >= 60
        if row.current == "AC":
            assert row.soc_start is None
        else:
            assert row.soc_start is not None
            assert row.soc_end is not None
            assert row.soc_end >= row.soc_start
    dc_charged = [r for r in sim.truth if r.current == "DC" and r.energy_wh > 0]
    assert len(dc_charged) > 20
    assert max(r.max_power_w for r in dc_charged) >= 50_000
    all_states = Counter(
        e.state for events in by_session.values() for e in events if isinstance(e, StateChanged)
    )
    assert all_states.keys() >= {"charging", "suspended_ev", "suspended_evse", "ev_connected"}
    auth = Counter(row.auth_method for row in sim.truth)
    assert auth.most_common(1)[0][0] == "rfid"
    assert set(auth) <= {"rfid", "app", "plug_and_charge"}


def test_counts_are_plausible_for_50_stations_a_day(sim: Simulation) -> None:
    # Seed 42 gives 333 sessions and ~69k events; allow for model tuning.
    assert 200 <= len(sim.truth) <= 700
    assert 40_000 <= len(sim.events) <= 150_000
    connectors = sum(s.connectors for s in sim.stations)
    kinds = Counter(s.current for s in sim.stations)
    assert 0.5 < kinds["AC"] / len(sim.stations) < 0.9
    assert len(sim.stations) <= connectors <= 4 * len(sim.stations)


def test_arrivals_follow_the_hour_of_day_shape() -> None:
    # Few samples keep a week cheap; arrivals do not depend on the sample interval.
    week = simulate(SimConfig(stations=30, days=7, sample_interval_s=3600))
    hours = Counter(row.started_at.hour for row in week.truth)
    morning = sum(hours[h] for h in (7, 8, 9))
    night = sum(hours[h] for h in (0, 1, 2, 3, 4))
    assert morning > 4 * night
    per_day = Counter(row.started_at.weekday() for row in week.truth)
    weekday_mean = sum(per_day[d] for d in range(5)) / 5
    weekend_mean = (per_day[5] + per_day[6]) / 2
    assert weekend_mean < 0.8 * weekday_mean


def test_sample_interval_does_not_change_the_sessions() -> None:
    fine = simulate(SimConfig(stations=4, sample_interval_s=60))
    coarse = simulate(SimConfig(stations=4, sample_interval_s=900))
    keep = ("session_id", "started_at", "ended_at", "charging_s", "energy_wh")
    assert [[getattr(r, k) for k in keep] for r in fine.truth] == [
        [getattr(r, k) for k in keep] for r in coarse.truth
    ]


# --- truth file and config -------------------------------------------------------


def test_truth_round_trips_through_json_lines(sim: Simulation, tmp_path: Path) -> None:
    path = tmp_path / "truth.jsonl"
    write_truth(path, sim.truth)
    assert read_truth(path) == sim.truth
    first = sim.truth[0].to_json()
    assert first["started_at"].endswith("Z")
    assert first["started_at"] == sim.truth[0].started_at.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_read_truth_rejects_naive_times(sim: Simulation, tmp_path: Path) -> None:
    path = tmp_path / "truth.jsonl"
    write_truth(path, sim.truth[:1])
    path.write_text(path.read_text().replace("Z", ""))
    with pytest.raises(Exception, match="timezone"):
        read_truth(path)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"start": datetime(2026, 5, 4)},  # noqa: DTZ001 - the naive time under test
        {"start": datetime(2026, 5, 4, 0, 0, 0, 500, tzinfo=UTC)},
        {"stations": 0},
        {"days": 0},
        {"sample_interval_s": 0},
        {"tenant": ""},
    ],
)
def test_config_rejects_bad_values(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="SimConfig"):
        SimConfig(**kwargs)  # type: ignore[arg-type]


def test_config_normalises_start_to_utc() -> None:
    other = datetime(2026, 5, 4, 2, tzinfo=UTC).astimezone()
    assert SimConfig(start=other).start.tzinfo is UTC


# --- producer, with a fake confluent-kafka Producer --------------------------------


class _FakeProducer:
    """Records messages; raises BufferError on the first produce; fails on demand."""

    def __init__(self, config: dict[str, object], *, fail: bool = False) -> None:
        self.config = config
        self.fail = fail
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.pending: list[object] = []
        self.buffer_errors = 1

    def produce(self, topic: str, *, value: bytes, key: bytes, on_delivery: object) -> None:
        if self.buffer_errors:
            self.buffer_errors -= 1
            raise BufferError("queue full")
        self.sent.append((topic, key, value))
        self.pending.append(on_delivery)

    def poll(self, timeout: float = 0) -> int:
        served, self.pending = self.pending, []
        for callback in served:
            callback("broker down" if self.fail else None, None)  # type: ignore[operator]
        return len(served)

    def flush(self, timeout: float = 0) -> int:
        self.poll()
        return 0


def test_produce_sends_every_event_keyed_by_station(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[_FakeProducer] = []

    def factory(config: dict[str, object]) -> _FakeProducer:
        made.append(_FakeProducer(config))
        return made[-1]

    monkeypatch.setattr(producer_module, "Producer", factory)
    small = simulate(SimConfig(stations=2, sample_interval_s=600))
    seen: list[tuple[int, int]] = []
    count = produce(
        small, bootstrap="b:9092", topic="t", speed=None, progress=lambda d, t: seen.append((d, t))
    )
    (fake,) = made
    assert count == len(small.events) == len(fake.sent)
    assert fake.config["acks"] == "all"
    assert fake.config["enable.idempotence"] is True
    assert [decode_event(value) for _, _, value in fake.sent] == small.events
    assert all(key == decode_event(value).station_id.encode() for _, key, value in fake.sent)
    assert seen[-1] == (count, count)


def test_produce_raises_broker_error_on_failed_delivery(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(producer_module, "Producer", lambda c: _FakeProducer(c, fail=True))
    small = simulate(SimConfig(stations=1, sample_interval_s=3600))
    with pytest.raises(BrokerError, match="broker down"):
        produce(small, bootstrap="b:9092", topic="t", speed=None)


def test_produce_paces_by_event_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(producer_module, "Producer", _FakeProducer)
    small = simulate(SimConfig(stations=1, sample_interval_s=3600))
    first = small.events[0]
    later = next(e for e in small.events if e.ts > first.ts)
    span = (later.ts - first.ts).total_seconds()
    paced = Simulation(small.config, small.stations, [first, later], [])
    began = time.monotonic()
    produce(paced, bootstrap="b:9092", topic="t", speed=span / 0.2)  # the span in 0.2 s
    assert 0.18 <= time.monotonic() - began < 2.0
