"""The OCPP driver against an in-memory gateway: counts, ids, pacing, failures."""

from __future__ import annotations

import asyncio
import json
import socket
from collections import Counter, defaultdict
from datetime import timedelta

import pytest

from chargewatch.gateway import Gateway, GatewayConfig, MemorySink
from chargewatch.simulator import SimConfig, Simulation, simulate
from chargewatch.simulator.ocpp_driver import (
    DriveError,
    DriveResult,
    Protocol,
    drive,
    drive_blocking,
    translate_station,
)
from streams.core.events import Event

_PROTOCOLS: tuple[Protocol, ...] = ("ocpp1.6", "ocpp2.0.1")


@pytest.fixture(scope="module")
def sim() -> Simulation:
    start = SimConfig().start + timedelta(hours=7)
    return simulate(SimConfig(stations=3, days=0.15, seed=8, start=start, sample_interval_s=300))


def _drive(sim: Simulation, protocol: Protocol, **kwargs: object) -> tuple[DriveResult, MemorySink]:
    sink = MemorySink()

    async def scenario() -> DriveResult:
        async with Gateway(GatewayConfig(port=0), sink=sink) as gw:
            return await drive(sim, gw.url, protocol, **kwargs)  # type: ignore[arg-type]

    return asyncio.run(asyncio.wait_for(scenario(), 60)), sink


@pytest.mark.parametrize("protocol", _PROTOCOLS)
def test_counts_match_the_translation(sim: Simulation, protocol: Protocol) -> None:
    result, sink = _drive(sim, protocol, record=True)
    by_station: dict[str, list[Event]] = defaultdict(list)
    for event in sim.events:
        by_station[event.station_id].append(event)
    expected = Counter(
        call.action
        for events in by_station.values()
        for call in translate_station(events, protocol)
    )
    assert result.by_action == expected
    assert result.calls == expected.total() == len(sink.records) == len(result.sent)
    assert result.call_errors == 0
    assert result.stations == len(by_station)
    assert result.calls_per_s > 0
    if protocol == "ocpp1.6":
        assert len(result.transaction_ids) == len(sim.truth)
        assert set(result.transaction_ids) == {t.session_id for t in sim.truth}
        answers = {
            json.loads(value)["response"]["transactionId"]
            for _, value in sink.records
            if b'"StartTransaction"' in value
        }
        assert answers == set(result.transaction_ids.values())
    else:
        assert result.transaction_ids == {}


def test_the_same_simulation_sends_the_same_calls(sim: Simulation) -> None:
    first, _ = _drive(sim, "ocpp2.0.1", record=True)
    second, _ = _drive(sim, "ocpp2.0.1", record=True)

    def per_station(result: DriveResult) -> dict[str, list[object]]:
        out: dict[str, list[object]] = defaultdict(list)
        for call in result.sent:
            out[call.station_id].append((call.message_id, call.action, call.payload))
        return out

    assert per_station(first) == per_station(second)


def test_speed_paces_by_event_time(sim: Simulation) -> None:
    span = (sim.events[-1].ts - sim.events[0].ts).total_seconds()
    result, _ = _drive(sim, "ocpp1.6", speed=span / 1.5)
    assert 1.4 <= result.elapsed_s < 15


def test_unreachable_gateway_is_a_drive_error(sim: Simulation) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DriveError, match="cannot connect"):
        drive_blocking(sim, f"ws://127.0.0.1:{port}/ocpp/", "ocpp1.6", response_timeout_s=5)


def test_refused_protocol_is_a_drive_error(sim: Simulation) -> None:
    async def scenario() -> None:
        config = GatewayConfig(port=0, subprotocols=("ocpp2.0.1",))
        async with Gateway(config, sink=MemorySink()) as gw:
            await drive(sim, gw.url, "ocpp1.6")

    with pytest.raises(DriveError):
        asyncio.run(scenario())


def test_bad_arguments() -> None:
    sim = simulate(SimConfig(stations=1, days=0.05))
    with pytest.raises(ValueError, match="protocol"):
        drive_blocking(sim, "ws://127.0.0.1:1/ocpp/", "ocpp2.1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="speed"):
        drive_blocking(sim, "ws://127.0.0.1:1/ocpp/", "ocpp1.6", speed=0)
