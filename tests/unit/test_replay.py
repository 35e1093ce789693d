"""Offline replay: the stitching core over files, checked against the simulator's truth."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from chargewatch import replay
from chargewatch.replay import replay_lines
from chargewatch.simulator import SimConfig, simulate, write_truth
from streams.core.events import encode_event

REQUIRED = [
    "session_id", "station_id", "connector_id", "transaction_id", "started_at", "ended_at",
    "duration_s", "charging_s", "idle_s", "energy_wh", "status", "flags",
]  # fmt: skip
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


@pytest.fixture(scope="module")
def sim() -> Any:
    return simulate(replace(SimConfig(), stations=12, days=1.0, seed=21))


def test_replay_reproduces_the_ground_truth_session_by_session(sim: Any) -> None:
    result = replay_lines([encode_event(e) for e in sim.events])
    got = {r.session_id: r for r in result.sessions}
    assert len(got) == len(sim.truth) and result.rejected == []
    for truth in sim.truth:
        record = got[truth.session_id]
        assert record.status == "completed"
        assert (record.started_at, record.ended_at) == (truth.started_at, truth.ended_at)
        assert record.energy_wh == truth.energy_wh
        assert (record.duration_s, record.charging_s, record.idle_s) == (
            truth.duration_s,
            truth.charging_s,
            truth.idle_s,
        )
        assert record.max_power_w == truth.max_power_w
        assert (record.soc_start, record.soc_end) == (truth.soc_start, truth.soc_end)
        assert record.transaction_id == truth.transaction_id


def test_replay_is_deterministic_and_tolerates_arrival_within_lateness(sim: Any) -> None:
    lines = [encode_event(e) for e in sim.events]
    first = replay_lines(lines).sessions
    assert first == replay_lines(lines).sessions
    # every event delivered up to 10 minutes late (the default allowed lateness)
    rng = random.Random(3)
    late = sorted(sim.events, key=lambda e: e.ts.timestamp() + rng.uniform(0, 599))
    shuffled = replay_lines([encode_event(e) for e in late]).sessions
    key = ("session_id", "energy_wh", "duration_s", "charging_s", "idle_s", "started_at",
           "flags", "status")  # fmt: skip
    assert [tuple(getattr(r, k) for k in key) for r in first] == [
        tuple(getattr(r, k) for k in key) for r in shuffled
    ]


def test_replay_path_reads_lines_across_chunks_like_the_line_list(
    sim: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [encode_event(e) for e in sim.events[:300]]
    lines[5:5] = [b"", b"  ", b"not json"]  # blank lines are skipped but keep their numbers
    lines[40] += b"\r"  # a CRLF line
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines))  # and no newline after the last line
    monkeypatch.setattr(replay, "_CHUNK", 97)  # lines straddle many chunk boundaries
    result = replay.replay_path(path)
    expected = replay_lines(lines)
    assert result.sessions == expected.sessions and result.events == expected.events == 300
    assert [n for n, _ in result.rejected] == [n for n, _ in expected.rejected] == [8]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chargewatch", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "CHARGEWATCH_CLICKHOUSE_CHDB_PATH": str(cwd / "ch")},
    )


def test_replay_command_refuses_a_missing_file_and_no_jobs(tmp_path: Path) -> None:
    missing = _cli(
        "replay", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "s"), cwd=tmp_path
    )
    assert missing.returncode == 2 and "no such file" in missing.stderr
    assert "Traceback" not in missing.stderr
    (tmp_path / "e.jsonl").write_text("")
    none = _cli("replay", str(tmp_path / "e.jsonl"), "--out", "s", "--jobs", "0", cwd=tmp_path)
    assert none.returncode == 2 and "jobs must be at least 1" in none.stderr


def test_replay_command_writes_one_record_per_session(tmp_path: Path) -> None:
    events, truth = tmp_path / "events.jsonl", tmp_path / "truth.jsonl"
    done = _cli("simulate", "--stations", "3", "--seed", "4", "--out", str(events),
                "--truth", str(truth), cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    with events.open("ab") as handle:  # bad input is reported, never fatal
        handle.write(b"{not json\n")
    out = tmp_path / "sessions.jsonl"
    done = _cli("replay", str(events), "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "1 lines rejected" in done.stdout
    records = [json.loads(line) for line in out.read_text().splitlines()]
    expected = {json.loads(line)["session_id"] for line in truth.read_text().splitlines()}
    assert {r["session_id"] for r in records} == expected
    for record in records:
        assert set(REQUIRED) <= set(record)
        assert RFC3339_UTC.match(record["started_at"]) and RFC3339_UTC.match(record["ended_at"])
        assert isinstance(record["transaction_id"], str)


def test_replay_to_clickhouse_backfills_the_sessions_table(tmp_path: Path, sim: Any) -> None:
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"".join(encode_event(e) + b"\n" for e in sim.events[:5000]))
    write_truth(tmp_path / "t.jsonl", sim.truth)
    for _ in range(2):  # a second backfill of the same file changes nothing
        done = _cli("replay", str(events), "--clickhouse", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    summary = _cli("summary", cwd=tmp_path)
    assert summary.returncode == 0, summary.stderr
    n_sessions = len(replay_lines(events.read_bytes().splitlines()).sessions)
    expected_done = sum(
        1 for r in replay_lines(events.read_bytes().splitlines()).sessions
        if r.status == "completed"
    )  # fmt: skip
    assert f"sessions completed : {expected_done}" in summary.stdout
    assert n_sessions >= expected_done
