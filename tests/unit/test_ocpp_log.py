"""The offline OCPP envelope log: replays to the ground truth, repeats byte for byte,
and says what the real gateway says."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chargewatch.cli import main
from chargewatch.gateway import Gateway, GatewayConfig, MemorySink
from chargewatch.replay import replay_lines
from chargewatch.settings import PrivacySettings
from chargewatch.simulator import SimConfig, Simulation, simulate
from chargewatch.simulator.ocpp_driver import Protocol, drive
from chargewatch.simulator.ocpp_log import ocpp_envelopes
from streams.core import SessionOut
from streams.ocpp_ingest import normaliser_for
from tests.factories import truth_rows

_PROTOCOLS: tuple[Protocol, ...] = ("ocpp1.6", "ocpp2.0.1")
_KEY = "offline-log-test-hmac-key"
_ENVELOPE_KEYS = {
    "station_id", "ocpp_version", "message_id", "action", "received_at", "request", "response",
}  # fmt: skip


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return simulate(replace(SimConfig(), stations=4, days=1.0, seed=41))


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _session_rows(sessions: list[SessionOut]) -> set[tuple[Any, ...]]:
    return {
        (s.station_id, s.connector_id, int(s.started_at.timestamp()), s.duration_s,
         s.charging_s, s.idle_s, s.energy_wh)
        for s in sessions
        if s.status == "completed"
    }  # fmt: skip


@pytest.mark.parametrize("protocol", _PROTOCOLS)
def test_replaying_the_log_gives_the_ground_truth(sim: Simulation, protocol: Protocol) -> None:
    envelopes = ocpp_envelopes(sim, protocol)
    normaliser = normaliser_for(PrivacySettings(token_hmac_key=_KEY))
    result = replay_lines([value for _, value in envelopes], normaliser=normaliser, fmt="ocpp")
    assert result.rejected == []
    assert len(result.sessions) == len(sim.truth)
    assert _session_rows(result.sessions) == truth_rows(sim.truth)


@pytest.mark.parametrize("protocol", _PROTOCOLS)
def test_the_same_seed_gives_the_same_bytes(protocol: Protocol) -> None:
    config = replace(SimConfig(), stations=3, days=0.5, seed=7)
    first = ocpp_envelopes(simulate(config), protocol)
    again = ocpp_envelopes(simulate(config), protocol)
    assert first == again
    other = ocpp_envelopes(simulate(replace(config, seed=8)), protocol)
    assert other != first


@pytest.mark.parametrize("protocol", _PROTOCOLS)
def test_envelopes_are_keyed_by_station_and_in_event_time_order(
    sim: Simulation, protocol: Protocol
) -> None:
    envelopes = ocpp_envelopes(sim, protocol)
    records = [json.loads(value) for _, value in envelopes]
    assert all(set(r) == _ENVELOPE_KEYS for r in records)  # no tenant configured
    assert [key for key, _ in envelopes] == [r["station_id"] for r in records]
    assert {r["ocpp_version"] for r in records} == {protocol.removeprefix("ocpp")}
    times = [r["received_at"] for r in records]
    assert times == sorted(times)
    assert times[0].startswith(f"{sim.events[0].ts:%Y-%m-%dT%H:%M:%S}.000Z")
    # received_at is the event time of the call, which the request also carries
    stamped = [r for r in records if "timestamp" in r["request"]]
    assert stamped
    for r in stamped:
        assert _instant(r["received_at"]) == _instant(r["request"]["timestamp"])
    assert len({r["message_id"] for r in records}) == len(records)
    assert all(r["response"] is not None for r in records)  # nothing the gateway refuses
    # Every station starts with a BootNotification answered at its own event time.
    first_by_station: dict[str, dict[str, Any]] = {}
    for r in records:
        first_by_station.setdefault(r["station_id"], r)
    for r in first_by_station.values():
        assert r["action"] == "BootNotification"
        assert r["response"]["currentTime"] == r["received_at"]


def test_v16_transaction_ids_come_from_the_answers(sim: Simulation) -> None:
    records = [json.loads(value) for _, value in ocpp_envelopes(sim, "ocpp1.6")]
    assigned = [
        r["response"]["transactionId"] for r in records if r["action"] == "StartTransaction"
    ]
    assert len(assigned) == len(sim.truth)
    assert assigned == sorted(set(assigned))  # unique and increasing, as the gateway hands out
    used = {
        r["request"]["transactionId"]
        for r in records
        if r["action"] in ("MeterValues", "StopTransaction")
    }
    stopped = {r["request"]["transactionId"] for r in records if r["action"] == "StopTransaction"}
    assert stopped == set(assigned)  # every transaction is stopped under its own id
    assert used <= set(assigned)  # and nothing is sent under -1 or an unknown id


def test_gateway_config_is_honoured(sim: Simulation) -> None:
    config = GatewayConfig(tenant="acme", allowed_tokens=frozenset({"nobody"}))
    records = [json.loads(value) for _, value in ocpp_envelopes(sim, "ocpp1.6", config)]
    assert {r["tenant"] for r in records} == {"acme"}
    statuses = {r["response"]["idTagInfo"]["status"] for r in records if r["action"] == "Authorize"}
    assert statuses == {"Invalid"}


def test_unknown_protocol_is_refused(sim: Simulation) -> None:
    with pytest.raises(ValueError, match="protocol"):
        ocpp_envelopes(sim, "ocpp2.1")  # type: ignore[arg-type]


def _comparable(records: list[dict[str, Any]], txids: dict[int, int]) -> dict[str, Any]:
    """Envelopes by message id, without what the gateway's wall clock decides
    (arrival time, currentTime) and with 1.6 transaction ids mapped by ``txids``."""
    out = {}
    for r in records:
        request, response = dict(r["request"]), dict(r["response"] or {})
        response.pop("currentTime", None)
        for payload in (request, response):
            if "transactionId" in payload and isinstance(payload["transactionId"], int):
                payload["transactionId"] = txids.get(payload["transactionId"], -2)
        out[r["message_id"]] = (r["station_id"], r["ocpp_version"], r["action"], request, response)
    return out


@pytest.mark.parametrize("protocol", _PROTOCOLS)
def test_the_log_is_what_a_real_gateway_writes(protocol: Protocol) -> None:
    start = SimConfig().start + timedelta(hours=7)
    small = simulate(SimConfig(stations=3, days=0.15, seed=8, start=start, sample_interval_s=300))
    sink = MemorySink()

    async def scenario() -> None:
        async with Gateway(GatewayConfig(port=0), sink=sink) as gw:
            result = await drive(small, gw.url, protocol)
            assert result.call_errors == 0

    asyncio.run(asyncio.wait_for(scenario(), 60))
    live = [json.loads(value) for _, value in sink.records]
    offline = [json.loads(value) for _, value in ocpp_envelopes(small, protocol)]
    assert len(live) == len(offline) > 0

    def starts(records: list[dict[str, Any]]) -> dict[str, int]:
        return {
            r["message_id"]: r["response"]["transactionId"]
            for r in records
            if r["action"] == "StartTransaction"
        }

    offline_starts = starts(offline)
    live_to_offline = {tid: offline_starts[mid] for mid, tid in starts(live).items()}
    identity = {tid: tid for tid in offline_starts.values()}
    assert _comparable(live, live_to_offline) == _comparable(offline, identity)


def test_simulate_command_writes_the_envelope_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.delenv("CHARGEWATCH_GATEWAY_TENANT", raising=False)
    monkeypatch.delenv("CHARGEWATCH_GATEWAY_ALLOWED_TOKENS", raising=False)
    out = tmp_path / "ocpp.jsonl"
    argv = ["simulate", "--stations", "2", "--days", "0.5", "--seed", "5",
            "--protocol", "ocpp2.0.1", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    expected = ocpp_envelopes(simulate(replace(SimConfig(), stations=2, days=0.5, seed=5)),
                              "ocpp2.0.1")  # fmt: skip
    assert out.read_bytes() == b"".join(value + b"\n" for _, value in expected)
    assert f"{len(expected)} ocpp2.0.1 envelopes" in capsys.readouterr().out
    # and the replay command reads it back (format recognised from the first line)
    monkeypatch.setenv("CHARGEWATCH_PRIVACY_TOKEN_HMAC_KEY", _KEY)
    sessions = tmp_path / "sessions.jsonl"
    assert main(["replay", str(out), "--out", str(sessions)]) == 0
    assert sessions.read_text().strip()
