"""The replay judges silence per partition, as the worker does, and shares the
partitions among forked jobs without changing the result."""

from __future__ import annotations

import json
import os
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import chargewatch_native
import msgspec
import pytest
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from chargewatch import replay
from chargewatch.errors import ConfigurationError, ReplayJobError
from chargewatch.replay import ReplayResult, file_pricer, replay_lines, replay_path
from chargewatch.settings import PricingSettings, PrivacySettings, WorkerSettings
from chargewatch.simulator import SimConfig, simulate
from chargewatch.simulator.ocpp_log import ocpp_envelopes
from streams.core import SessionOut
from streams.core.events import encode_event
from streams.core.partition import partition_of
from streams.ocpp_ingest import normaliser_for
from tests.factories import sample, started

_KEY = "replay-partitions-test-key"
_TARIFF = (
    Path(__file__).parents[1] / "fixtures" / "pricing" / "tariff_case06_start_fee_energy_vat.json"
)


def test_partition_of_matches_the_kafka_clients_partitioner() -> None:
    rng = random.Random(5)
    keys = [b"", b"a", b"CP-0001", "Ladestation-Ü".encode()]
    keys += [rng.randbytes(n) for n in range(1, 40) for _ in range(20)]
    for key in keys:
        for partitions in (1, 3, 8, 64):
            assert partition_of(key, partitions) == (aiokafka_murmur2(key) & 0x7FFFFFFF) % (
                partitions
            ), key


@pytest.fixture(scope="module")
def ocpp_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sim = simulate(replace(SimConfig(), stations=16, days=1.0, seed=11))
    lines = [value for _, value in ocpp_envelopes(sim, "ocpp1.6")]
    # Unusable lines, each to be reported once whichever job owns what: bad JSON
    # (no station to partition by) and a valid envelope with a bad payload.
    lines.insert(5, b"{not json")
    bad = lines[40].replace(b'"connectorId":', b'"connectorId":"x","c":', 1)
    lines.insert(41, bad)
    # Bad JSON that names its station first: a job that reads the station off
    # the first bytes skips it unless it owns the station, and then reports it.
    stations = sorted({json.loads(line)["station_id"] for line in lines[:5] + lines[6:]})
    lines += [b'{"station_id":"%s","ocpp_version":' % s.encode() for s in stations]
    path = tmp_path_factory.mktemp("replay") / "ocpp.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _replay(path: Path, jobs: int, partitions: int = 8) -> ReplayResult:
    return replay_path(
        path,
        pricer=file_pricer(_TARIFF, "Europe/Paris", PricingSettings()),
        normaliser=normaliser_for(PrivacySettings(token_hmac_key=_KEY)),
        partitions=partitions,
        jobs=jobs,
    )


def test_two_jobs_give_what_one_gives_sessions_cdrs_and_rejections(ocpp_file: Path) -> None:
    one, two = _replay(ocpp_file, jobs=1), _replay(ocpp_file, jobs=2)
    assert len(one.sessions) > 30 and len(one.cdrs) >= len(one.sessions) - 5
    named = ocpp_file.read_bytes().count(b'"ocpp_version":\n')
    assert [line for line, _ in one.rejected][:2] == [6, 42] and len(one.rejected) == 2 + named
    assert one.rejected[0][1].startswith("bad_json") and "connectorId" in one.rejected[1][1]
    assert named > 1 and all(reason.startswith("bad_json") for _, reason in one.rejected[2:])
    assert (two.sessions, two.cdrs, two.rejected, two.events) == (
        one.sessions,
        one.cdrs,
        one.rejected,
        one.events,
    )
    # In memory (even from a one-shot iterator) as well as from a file; and a
    # network whose sessions never fall silent stitches the same whatever the
    # partition count.
    lines = ocpp_file.read_bytes().split(b"\n")
    normaliser = normaliser_for(PrivacySettings(token_hmac_key=_KEY))
    in_memory = replay_lines(iter(lines), normaliser=normaliser, partitions=8, jobs=2)
    single = replay_lines(lines, normaliser=normaliser)
    assert in_memory.sessions == single.sessions == _without_prices(one.sessions)


def _without_prices(sessions: list[SessionOut]) -> list[SessionOut]:
    return [
        msgspec.structs.replace(s, tariff_id=None, currency=None, total_cost=None) for s in sessions
    ]


def test_silence_is_judged_per_partition_and_finally_at_the_newest_event_time() -> None:
    # Two stations in different partitions: the first falls silent after an hour,
    # the second reports for two more days.
    a, b = "CP-A", "CP-C"
    assert partition_of(a.encode(), 8) != partition_of(b.encode(), 8)
    events = [started("s-a", 0, station=a), sample("s-a", 60, 1500, station=a)]
    events += [started("s-b", 0, station=b)]
    events += [sample("s-b", t, 1000 + t, station=b) for t in range(900, 2 * 86400, 900)]
    lines = [encode_event(e) for e in sorted(events, key=lambda e: e.ts)]
    cfg = WorkerSettings(auto_close_s=86400)
    for partitions, jobs in ((1, 1), (8, 1), (8, 2)):
        result = replay_lines(lines, worker=cfg, partitions=partitions, jobs=jobs)
        status = {r.session_id: r.status for r in result.sessions}
        # Auto-closed in every case: by the other station's clock in one partition,
        # by the last check at the newest event time of the input in eight.
        assert status == {"s-a": "auto_closed", "s-b": "active"}, (partitions, jobs)


def test_an_error_in_a_job_is_raised_by_the_parent(ocpp_file: Path) -> None:
    with pytest.raises(ConfigurationError, match="HMAC_KEY"):
        replay_path(ocpp_file, partitions=8, jobs=2)  # OCPP without the pseudonym key


def test_a_job_that_dies_is_reported(ocpp_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def die(*_: Any, **__: Any) -> Any:
        os._exit(7)  # as a job killed by the kernel would, without a word

    monkeypatch.setattr(replay, "_replay", die)  # inherited by the forked jobs
    with pytest.raises(ReplayJobError, match="exit code 7"):
        replay_path(ocpp_file, partitions=8, jobs=2)


def test_the_compiled_line_filter_keeps_the_lines_the_python_skim_keeps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a job reads from a file when it owns some partitions: every line the
    # Python skim (_named_station, partition_of) would not skip, numbered alike,
    # whatever the reads cut lines at.
    rng = random.Random(3)
    stations = [b"CP-1", b"CP-22", "Ladestation-Ü".encode(), b"x" * 70]
    shapes = [
        b'{"station_id":"%s","a":1}',
        b'{"station_id":"%s","a":"\\u0041"}',  # an escape: decode to know
        b'{"station_id":"%s","station_id":"CP-1"}',  # the last key wins
        b'{"ocpp_version":"1.6","station_id":"%s"}',  # not first
        b'{"station_id":"%s',  # unfinished
    ]
    lines = []
    for _ in range(3000):
        roll = rng.random()
        if roll < 0.8:
            shape = rng.choice(shapes[:1] * 6 + shapes[1:])
            lines.append(shape.replace(b"%s", rng.choice(stations)))
        elif roll < 0.9:
            lines.append(rng.choice([b"", b"  ", b"\t\r", b"\x0b\x0c "]))
        elif roll < 0.95:
            lines.append(b'{"station_id":"\xff\xfe","a":1}')  # not UTF-8
        else:
            lines.append(rng.randbytes(rng.randrange(1, 40)).replace(b"\n", b""))
    path = tmp_path / "lines.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    monkeypatch.setattr(replay, "_CHUNK", 97)
    every = list(replay._each(replay._numbered(replay._read_lines(path))))
    assert len(every) > 2500
    for owned in (bytes([1, 0, 0]), bytes([0, 1, 1]), bytes([0, 0, 0, 0, 0, 0, 0, 9])):
        want = [
            (number, line)
            for number, line in every
            if (station := replay._named_station(line)) is None
            or owned[partition_of(station.encode(), len(owned))]
        ]
        assert list(replay._each(replay._read_own_lines(path, owned))) == want
        assert 0 < len(want) < len(every)
    path.write_bytes(path.read_bytes().rstrip(b"\n"))  # no newline at the end
    assert list(replay._each(replay._read_own_lines(path, bytes([1])))) == every
    # The weights the jobs are shared out by: the named lines of each partition.
    for partitions in (1, 3, 8):
        want_weights = [0] * partitions
        for _, line in every:
            if (station := replay._named_station(line)) is not None:
                want_weights[partition_of(station.encode(), partitions)] += 1
        assert chargewatch_native.partition_weights(path.read_bytes(), partitions) == want_weights
        assert sum(want_weights) > 1000


def test_the_compiled_murmur2_is_kafkas() -> None:
    rng = random.Random(9)
    for n in range(0, 64):
        key = rng.randbytes(n)
        assert chargewatch_native.murmur2(key) == aiokafka_murmur2(key) & 0xFFFFFFFF, key
