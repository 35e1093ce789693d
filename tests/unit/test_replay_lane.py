"""The replay's compiled lane (native/src/lane.rs) takes most MeterValues lines
without Python, and changes nothing: the replay gives what it gives without it."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from chargewatch_native import Lane

from chargewatch import replay
from chargewatch.replay import ReplayResult, file_pricer, replay_lines
from chargewatch.settings import PricingSettings, PrivacySettings, WorkerSettings
from chargewatch.simulator import SimConfig, simulate
from chargewatch.simulator.ocpp_log import ocpp_envelopes
from streams.ocpp_ingest import normaliser_for

_KEY = "replay-lane-test-key"
_TARIFF = (
    Path(__file__).parents[1] / "fixtures" / "pricing" / "tariff_case06_start_fee_energy_vat.json"
)


def _log(seed: int, stations: int = 12) -> list[bytes]:
    sim = simulate(replace(SimConfig(), stations=stations, days=1.0, seed=seed))
    return [value for _, value in ocpp_envelopes(sim, "ocpp1.6")]


def _messy(lines: list[bytes], rng: random.Random) -> list[bytes]:
    """Redelivered, reordered and late lines, main-meter readings, a tenant
    named on some lines and not others, and a few broken ones."""
    out: list[bytes] = []
    for line in lines:
        roll = rng.random()
        if roll < 0.04:
            out += [line, line]  # redelivered
        elif roll < 0.06 and b'"MeterValues"' in line:
            out.append(line.replace(b'"connectorId":1', b'"connectorId":0', 1))
        elif roll < 0.08:
            out.append(line.replace(b'{"station_id"', b'{"tenant":"default","station_id"', 1))
        elif roll < 0.09:
            out.append(line[: rng.randrange(1, len(line))])  # cut short
        else:
            out.append(line)
    for _ in range(len(out) // 20):  # neighbours swapped, and a few lines late
        at = rng.randrange(len(out) - 1)
        out[at], out[at + 1] = out[at + 1], out[at]
    for _ in range(len(out) // 200):
        at = rng.randrange(60, len(out))
        out.insert(at - rng.randrange(1, 60), out.pop(at))
    return out


def _both(
    monkeypatch: pytest.MonkeyPatch, lines: list[bytes], **options: Any
) -> tuple[ReplayResult, ReplayResult, list[Lane]]:
    """The replay with the lane (and the lanes it made), and without it."""
    made: list[Lane] = []

    def lane(partitions: int, cap: int) -> Lane:
        made.append(Lane(partitions, cap))
        return made[-1]

    # The event-time clock at the end, too: the lane moves it for the lines it takes.
    newest: list[int] = []
    seen = replay._Replayer.newest
    monkeypatch.setattr(
        replay._Replayer, "newest", lambda self: newest.append(seen(self)) or newest[-1]
    )
    normaliser = normaliser_for(PrivacySettings(token_hmac_key=_KEY))
    monkeypatch.setattr(replay, "_Lane", lane)
    with_lane = replay_lines(lines, normaliser=normaliser, fmt="ocpp", **options)
    monkeypatch.setattr(replay, "_Lane", None)
    without = replay_lines(lines, normaliser=normaliser, fmt="ocpp", **options)
    assert newest[0] == newest[1]
    return with_lane, without, made


def _same(a: ReplayResult, b: ReplayResult) -> None:
    assert a.sessions == b.sessions
    assert a.events == b.events
    assert a.rejected == b.rejected
    assert a.cdrs == b.cdrs


@pytest.mark.parametrize("partitions", [1, 8])
def test_the_lane_takes_most_samples_and_changes_nothing(
    monkeypatch: pytest.MonkeyPatch, partitions: int
) -> None:
    lines = _log(seed=3)
    pricer = file_pricer(_TARIFF, "Europe/Paris", PricingSettings())
    with_lane, without, made = _both(monkeypatch, lines, partitions=partitions, pricer=pricer)
    _same(with_lane, without)
    assert len(with_lane.sessions) > 20 and with_lane.cdrs
    (lane,) = made
    # Five samples a record (60 s samples, 300 s updates): about four held. A
    # line that reaches its partition's next silence check (each minute of
    # event time) is Python's too: 12 stations in 8 partitions make many such.
    assert lane.samples > (0.6 if partitions == 1 else 0.4) * with_lane.events


@pytest.mark.parametrize("seed", range(6))
def test_redelivered_reordered_and_broken_lines_give_the_same_result(
    monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    rng = random.Random(seed)
    lines = _messy(_log(seed=100 + seed, stations=6), rng)
    worker = WorkerSettings(
        update_interval_s=rng.choice([60, 300, 900]), stall_min_s=rng.choice([120, 300])
    )
    with_lane, without, made = _both(
        monkeypatch, lines, partitions=rng.choice([1, 3]), worker=worker
    )
    _same(with_lane, without)
    assert with_lane.rejected and made[0].samples > 0


def test_stalled_and_auto_closed_sessions_are_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    # A station goes silent mid-session: a silence check stalls it while the
    # lane may hold its samples, and later auto-closes it.
    lines = _log(seed=7, stations=4)
    victim = lines[len(lines) // 3].split(b'"', 4)[3]
    cut = len(lines) // 3
    lines = lines[:cut] + [line for line in lines[cut:] if b'"%s"' % victim not in line]
    worker = WorkerSettings(stall_min_s=120, auto_close_s=3600)
    with_lane, without, _ = _both(monkeypatch, lines, partitions=2, worker=worker)
    _same(with_lane, without)
    statuses = {record.status for record in with_lane.sessions}
    assert "auto_closed" in statuses or "stalled" in statuses


def test_the_partitions_clocks_move_line_by_line_as_without_the_lane(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lines = _messy(_log(seed=21, stations=6), random.Random(21))
    normaliser = normaliser_for(PrivacySettings(token_hmac_key=_KEY))
    options = replay._Options(WorkerSettings(), None, normaliser, "ocpp", 3)
    fast = replay._Replayer(options, range(3))
    fast.line(1, lines[0])
    monkeypatch.setattr(replay, "_Lane", None)
    slow = replay._Replayer(options, range(3))
    slow.line(1, lines[0])
    lane = fast.lane
    assert lane is not None and slow.lane is None
    for number, line in enumerate(lines[1:], start=2):
        if lane.take([line], 0) == 0:
            fast.line(number, line)
        elif lane.due is not None:
            fast.check(lane.due)
        slow.line(number, line)
        clocks = [(part.watermark, part.next_tick) for part in slow._partitions.values()]
        assert [lane.clock(p) for p in range(3)] == clocks, number
    assert lane.samples > len(lines) // 3


def test_two_jobs_with_the_lane_give_what_one_gives(tmp_path: Path) -> None:
    path = tmp_path / "ocpp.jsonl"
    path.write_bytes(b"\n".join(_messy(_log(seed=9), random.Random(9))) + b"\n")
    normaliser = normaliser_for(PrivacySettings(token_hmac_key=_KEY))
    one, two = (
        replay.replay_path(path, normaliser=normaliser, partitions=8, jobs=jobs) for jobs in (1, 2)
    )
    _same(one, two)


# The lane's own rules, on lines built here.
_LINE = (
    b'{"station_id":"CP-1","ocpp_version":"1.6","message_id":"m%d","action":"MeterValues",'
    b'"received_at":"2026-05-04T00:00:00Z","request":{"connectorId":1,"transactionId":7,'
    b'"meterValue":[{"timestamp":"2026-05-04T00:%02d:00Z","sampledValue":'
    b'[{"value":"%d","measurand":"Energy.Active.Import.Register","unit":"Wh"}]}]}}'
)
_T0 = 1_777_852_800_000  # 2026-05-04T00:00:00Z


class _Record:
    """Stands in for the normaliser's TxRecord: the lane keeps two of its fields."""

    def __init__(self) -> None:
        self.first_ms = _T0
        self.last_wh: int | None = None
        self.last_wh_ms: int | None = None


def _armed(deadline_min: int = 10, next_tick_min: int = 30) -> tuple[Lane, _Record]:
    lane = Lane(2, 100)
    record = _Record()
    sample = ("sid-1", _T0, "default", "CP-1", 1, "7", 1000, None, None)
    lane.arm("CP-1", None, 7, 1, _T0 + deadline_min * 60_000, sample, record)
    lane.set_clock(1, _T0, _T0 + next_tick_min * 60_000)
    return lane, record


def test_the_lane_takes_armed_lines_until_a_record_or_a_check_falls_due() -> None:
    lane, record = _armed(deadline_min=10)
    record.first_ms = _T0 + 5 * 60_000  # as the normaliser keeps it: the earliest seen
    lines = [_LINE % (i, i, 1000 + i) for i in range(1, 15)]
    assert lane.take(lines, 0) == 9  # 00:10 is the deadline: Python's
    assert lane.samples == 9 and lane.clock(1) == (_T0 + 9 * 60_000, _T0 + 30 * 60_000)
    assert Lane(2, 100).take(lines, 0) == 0  # nothing armed
    runs = lane.release_held(1)
    assert runs == [
        (
            1,
            "sid-1",
            [
                ("sid-1", _T0 + i * 60_000, "default", "CP-1", 1, "7", 1000 + i, None, None)
                for i in range(1, 10)
            ],
        )
    ]
    assert (record.last_wh, record.last_wh_ms) == (1009, _T0 + 9 * 60_000)
    assert record.first_ms == _T0 + 60_000
    assert lane.release_held() == []  # handed over once
    # 00:05 reaches the partition's next check: taken, and Python makes the check.
    lane2, _ = _armed(deadline_min=60, next_tick_min=5)
    assert lane2.take(lines, 0) == 5 and lane2.due == 1
    assert lane2.clock(1) == (_T0 + 5 * 60_000, _T0 + 5 * 60_000)
    lane2.set_clock(1, _T0 + 5 * 60_000, _T0 + 30 * 60_000)  # as Python moves it on
    assert lane2.take(lines, 5) == 14 and lane2.due is None
    # A line whose check falls due before its last sample is Python's.
    two = lines[3].replace(
        b'"meterValue":[', b'"meterValue":[%s,' % lines[4].split(b'"meterValue":[')[1][:-3], 1
    )
    lane3, _ = _armed(deadline_min=60, next_tick_min=4)
    assert lane3.take([lines[0], lines[1], lines[2], two], 0) == 3 and lane3.due is None


def test_the_lane_leaves_other_lines_and_lets_go_when_released() -> None:
    lane, _ = _armed()
    other = [
        (_LINE % (1, 1, 1)).replace(b'"transactionId":7', b'"transactionId":8'),
        (_LINE % (1, 1, 1)).replace(b'"connectorId":1', b'"connectorId":0'),
        (_LINE % (1, 1, 1)).replace(b'"CP-1"', b'"CP-2"'),
        (_LINE % (1, 1, 1)).replace(b'{"station_id"', b'{"tenant":"t","station_id"'),
        (_LINE % (1, 1, 1)).replace(b'"MeterValues"', b'"Heartbeat"'),
        b"{not json",
    ]
    for line in other:
        assert lane.take([line], 0) == 0, line
    assert lane.take([_LINE % (1, 1, 5)], 0) == 1
    assert lane.release_one("CP-1", None, 7) == (
        1,
        "sid-1",
        [("sid-1", _T0 + 60_000, "default", "CP-1", 1, "7", 5, None, None)],
    )
    assert lane.take([_LINE % (2, 2, 6)], 0) == 0  # disarmed
    lane, _ = _armed()
    assert lane.take([_LINE % (1, 1, 5)], 0) == 1
    assert [sid for _, sid, _ in lane.release("CP-1")] == ["sid-1"]
    assert lane.take([_LINE % (2, 2, 6)], 0) == 0
    lane, _ = _armed()
    lane.disarm(["sid-1"])
    assert lane.take([_LINE % (2, 2, 6)], 0) == 0


def test_a_full_lane_takes_nothing_until_released() -> None:
    lane = Lane(1, 3)
    sample = ("s", _T0, "default", "CP-1", 1, "7", 1, None, None)
    lane.arm("CP-1", None, 7, 0, _T0 + 3_600_000, sample, _Record())
    lane.set_clock(0, _T0, _T0 + 3_600_000)
    lines = [_LINE % (i, i, i) for i in range(1, 10)]
    assert lane.take(lines, 0) == 3 and lane.full
    assert lane.take(lines, 3) == 3
    assert len(lane.release_held()[0][2]) == 3 and not lane.full
    assert lane.take(lines, 3) == 6
