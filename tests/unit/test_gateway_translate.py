"""The OCPP driver's translation of canonical events into charger calls (no network)."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import UTC, timedelta
from itertools import pairwise
from typing import Any

import msgspec
import pytest
from ocpp.charge_point import remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.messages import get_validator

from chargewatch.simulator import SimConfig, Simulation, ocpp_driver, simulate
from chargewatch.simulator.ocpp_driver import (
    OcppCall,
    fake_id_token,
    message_id,
    translate_station,
)
from streams.core.events import (
    Event,
    MeterSample,
    SessionStarted,
    SessionStopped,
    StateChanged,
)

_VERSION = {"ocpp1.6": "1.6", "ocpp2.0.1": "2.0.1"}
_CALL = 2


@pytest.fixture(scope="module")
def sim() -> Simulation:
    # Six stations for a day: AC and DC (SoC), several connectors, all auth methods.
    return simulate(SimConfig(stations=6, days=1.0, seed=11, sample_interval_s=300))


def _by_station(sim: Simulation) -> dict[str, list[Event]]:
    stations: dict[str, list[Event]] = defaultdict(list)
    for event in sim.events:
        stations[event.station_id].append(event)
    return stations


def _scripts(sim: Simulation, protocol: ocpp_driver.Protocol) -> dict[str, list[OcppCall]]:
    specs = {s.station_id: s for s in sim.stations}
    return {
        station: translate_station(events, protocol, specs[station])
        for station, events in _by_station(sim).items()
    }


def _fake_ids(calls: list[OcppCall]) -> dict[str, int]:
    return {
        c.session_id: 1000 + i for i, c in enumerate(calls) if c.starts_transaction and c.session_id
    }


def _iso(moment: Any) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_fixture_covers_the_cases(sim: Simulation) -> None:
    methods = {e.auth_method for e in sim.events if isinstance(e, SessionStarted)}
    assert methods == {"rfid", "app", "plug_and_charge"}
    assert any(isinstance(e, MeterSample) and e.soc is not None for e in sim.events)
    assert any(isinstance(e, StateChanged) and e.state == "suspended_ev" for e in sim.events)
    assert {s.connectors for s in sim.stations} - {1}


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
def test_every_call_validates_against_the_ocpp_schema(
    sim: Simulation, protocol: ocpp_driver.Protocol
) -> None:
    checked = 0
    for calls in _scripts(sim, protocol).values():
        ids = _fake_ids(calls)
        for call in calls:
            payload = call.resolved(ids)
            get_validator(_CALL, call.action, _VERSION[protocol]).validate(payload)
            checked += 1
    assert checked > 1000


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
def test_request_dataclasses_round_trip_to_the_same_payload(
    sim: Simulation, protocol: ocpp_driver.Protocol
) -> None:
    """The driver hands the ``ocpp`` package dataclasses; what it sends must be our payload."""
    for calls in _scripts(sim, protocol).values():
        ids = _fake_ids(calls)
        for call in calls[:40]:
            payload = call.resolved(ids)
            request = ocpp_driver._request(protocol, call.action, payload)
            assert type(request).__name__ == call.action
            assert snake_to_camel_case(remove_nones(serialize_as_dict(request))) == payload


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
def test_translation_is_deterministic(sim: Simulation, protocol: ocpp_driver.Protocol) -> None:
    again = simulate(sim.config)
    assert _scripts(sim, protocol) == _scripts(again, protocol)
    assert message_id(protocol, "CP-0001", 7) == message_id(protocol, "CP-0001", 7)
    assert len(message_id(protocol, "CP-0001", 7)) == 36
    assert message_id(protocol, "CP-0001", 7) != message_id(protocol, "CP-0001", 8)


def test_fake_id_token_is_a_short_deterministic_stand_in() -> None:
    token_hash = "ab" * 32
    tag = fake_id_token(token_hash, "s")
    assert tag == "AB" * 8
    assert len(tag) <= 20
    assert tag != token_hash
    assert fake_id_token(None, "session-1") == fake_id_token(None, "session-1")
    assert re.fullmatch(r"[0-9A-F]{16}", fake_id_token(None, "session-1"))


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
def test_payloads_carry_event_times_and_never_the_token_hash(
    sim: Simulation, protocol: ocpp_driver.Protocol
) -> None:
    event_times = {e.ts for e in sim.events}
    hashes = {e.token_hash for e in sim.events if isinstance(e, SessionStarted) and e.token_hash}
    for calls in _scripts(sim, protocol).values():
        for call in calls:
            text = json.dumps(call.payload)
            assert not any(h in text for h in hashes)
            if call.action == "BootNotification":
                continue
            assert call.at in event_times
            if call.action == "Authorize":  # no time in the message
                continue
            stamps = re.findall(r'"timestamp": "([^"]+)"', text)
            assert stamps
            assert set(stamps) == {_iso(call.at)}


def test_v16_calls_follow_each_session(sim: Simulation) -> None:
    events = _by_station(sim)
    for station, calls in _scripts(sim, "ocpp1.6").items():
        assert calls[0].action == "BootNotification"
        assert calls[0].payload["chargePointVendor"] == "chargewatch-sim"
        ids = _fake_ids(calls)
        by_session: dict[str, list[dict[str, Any]]] = defaultdict(list)
        actions: dict[str, list[str]] = defaultdict(list)
        for call in calls[1:]:
            assert call.session_id is not None
            by_session[call.session_id].append(call.resolved(ids))
            actions[call.session_id].append(call.action)
        session_events: dict[str, list[Event]] = defaultdict(list)
        for event in events[station]:
            session_events[event.session_id].append(event)
        for session_id, evs in session_events.items():
            start = evs[0]
            stop = evs[-1]
            assert isinstance(start, SessionStarted)
            assert isinstance(stop, SessionStopped)
            samples = [e for e in evs if isinstance(e, MeterSample)]
            states = [e for e in evs if isinstance(e, StateChanged)]
            head = (
                ["StartTransaction"]
                if start.auth_method == "app"
                else ["Authorize", "StartTransaction"]
            )
            assert actions[session_id][: len(head)] == head
            assert actions[session_id][-1] == "StopTransaction"
            assert actions[session_id].count("MeterValues") == len(samples)
            assert actions[session_id].count("StatusNotification") == len(states)
            payloads = by_session[session_id]
            started = payloads[len(head) - 1]
            tag = fake_id_token(start.token_hash, session_id)
            assert started == {
                "connectorId": start.connector_id,
                "idTag": tag,
                "meterStart": start.meter_start_wh,
                "timestamp": _iso(start.ts),
            }
            statuses = [p["status"] for p in payloads if "status" in p]
            mapping = {
                "charging": "Charging",
                "suspended_ev": "SuspendedEV",
                "suspended_evse": "SuspendedEVSE",
                "ev_connected": "Preparing",
            }
            assert statuses == [mapping[s.state] for s in states]
            meter = [p for p in payloads if "meterValue" in p]
            for payload, sample in zip(meter, samples, strict=True):
                assert payload["transactionId"] == ids[session_id]
                assert payload["connectorId"] == sample.connector_id
                values = {v["measurand"]: v for v in payload["meterValue"][0]["sampledValue"]}
                assert values["Energy.Active.Import.Register"]["value"] == str(sample.energy_wh)
                assert values["Energy.Active.Import.Register"]["unit"] == "Wh"
                assert values["Power.Active.Import"] == {
                    "value": str(sample.power_w),
                    "context": "Sample.Periodic",
                    "measurand": "Power.Active.Import",
                    "unit": "W",
                }
                assert ("SoC" in values) == (sample.soc is not None)
                if sample.soc is not None:
                    assert float(values["SoC"]["value"]) == sample.soc
                    assert values["SoC"]["unit"] == "Percent"
            stopped = payloads[-1]
            assert stopped["transactionId"] == ids[session_id]
            assert stopped["meterStop"] == stop.meter_stop_wh
            assert stopped["reason"] == stop.reason
            assert stopped["timestamp"] == _iso(stop.ts)
            assert ("idTag" in stopped) == (stop.reason == "Local")


def test_v16_without_a_start_answer_uses_transaction_id_minus_one() -> None:
    sim = simulate(SimConfig(stations=1, days=0.5, seed=3))
    calls = translate_station(sim.events, "ocpp1.6")
    later = [c for c in calls if c.needs_transaction]
    assert later
    assert all(c.resolved({})["transactionId"] == -1 for c in later)
    assert all("transactionId" not in c.payload for c in later)


def test_v201_transaction_events(sim: Simulation) -> None:
    events = _by_station(sim)
    token_types = {"rfid": "ISO14443", "app": "Central", "plug_and_charge": "eMAID"}
    for station, calls in _scripts(sim, "ocpp2.0.1").items():
        assert calls[0].action == "BootNotification"
        assert calls[0].payload["reason"] == "PowerUp"
        assert {c.action for c in calls[1:]} == {"TransactionEvent"}
        per_tx: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for call in calls[1:]:
            per_tx[call.payload["transactionInfo"]["transactionId"]].append(call.payload)
        starts = {e.transaction_id: e for e in events[station] if isinstance(e, SessionStarted)}
        assert set(per_tx) == set(starts)
        for tx, payloads in per_tx.items():
            start = starts[tx]
            evs = [e for e in events[station] if e.session_id == start.session_id]
            assert [p["seqNo"] for p in payloads] == list(range(len(payloads)))
            kinds = [p["eventType"] for p in payloads]
            assert kinds[0] == "Started"
            assert kinds[-1] == "Ended"
            assert set(kinds[1:-1]) <= {"Updated"}
            first = payloads[0]
            assert first["evse"] == {"id": start.connector_id, "connectorId": 1}
            assert all("evse" not in p and "idToken" not in p for p in payloads[1:])
            assert start.auth_method is not None
            assert first["idToken"] == {
                "idToken": fake_id_token(start.token_hash, start.session_id),
                "type": token_types[start.auth_method],
            }
            expected_trigger = "RemoteStart" if start.auth_method == "app" else "Authorized"
            assert first["triggerReason"] == expected_trigger
            begin = first["meterValue"][0]["sampledValue"][0]
            assert begin["context"] == "Transaction.Begin"
            assert begin["value"] == start.meter_start_wh
            # The start-second state rides in Started; later changes are Updated events.
            states = [e for e in evs if isinstance(e, StateChanged)]
            names = {
                "charging": "Charging",
                "suspended_ev": "SuspendedEV",
                "suspended_evse": "SuspendedEVSE",
                "ev_connected": "EVConnected",
            }
            assert states[0].ts == start.ts
            sent_states = [
                p["transactionInfo"]["chargingState"]
                for p in payloads
                if "chargingState" in p["transactionInfo"]
            ]
            assert sent_states == [names[s.state] for s in states]
            changes = [p for p in payloads if p["triggerReason"] == "ChargingStateChanged"]
            assert len(changes) == len(states) - 1
            samples = [e for e in evs if isinstance(e, MeterSample)]
            periodic = [p for p in payloads if p["triggerReason"] == "MeterValuePeriodic"]
            for payload, sample in zip(periodic, samples, strict=True):
                values = {v["measurand"]: v for v in payload["meterValue"][0]["sampledValue"]}
                assert values["Energy.Active.Import.Register"]["value"] == sample.energy_wh
                assert values["Energy.Active.Import.Register"]["unitOfMeasure"] == {"unit": "Wh"}
                assert values["Power.Active.Import"]["value"] == sample.power_w
                assert ("SoC" in values) == (sample.soc is not None)
            stop = evs[-1]
            assert isinstance(stop, SessionStopped)
            last = payloads[-1]
            assert last["transactionInfo"]["stoppedReason"] == stop.reason
            end = last["meterValue"][0]["sampledValue"][0]
            assert end == {
                "value": stop.meter_stop_wh,
                "context": "Transaction.End",
                "measurand": "Energy.Active.Import.Register",
                "unitOfMeasure": {"unit": "Wh"},
            }
            assert last["triggerReason"] == (
                "EVDeparted" if stop.reason == "EVDisconnected" else "StopAuthorized"
            )


def test_v201_start_without_a_state_at_that_second_is_ev_connected() -> None:
    sim = simulate(SimConfig(stations=1, days=0.5, seed=3))
    session = sim.events[0].session_id
    events = [
        e
        for e in sim.events
        if e.session_id == session
        and not (isinstance(e, StateChanged) and e.ts == sim.events[0].ts)
    ]
    calls = translate_station(events, "ocpp2.0.1")
    assert calls[1].payload["transactionInfo"]["chargingState"] == "EVConnected"


def test_unknown_stop_reasons_become_other() -> None:
    sim = simulate(SimConfig(stations=1, days=0.5, seed=3))
    stop = next(e for e in sim.events if isinstance(e, SessionStopped))
    odd = msgspec.structs.replace(stop, reason="Meteor")
    session = [e for e in sim.events if e.session_id == stop.session_id and e is not stop] + [odd]
    v16 = translate_station(session, "ocpp1.6")[-1].payload
    v201 = translate_station(session, "ocpp2.0.1")[-1].payload
    assert v16["reason"] == "Other"
    assert v201["transactionInfo"]["stoppedReason"] == "Other"
    assert v201["triggerReason"] == "AbnormalCondition"


def test_no_events_no_calls() -> None:
    assert translate_station([], "ocpp1.6") == []


def test_samples_in_order_per_station(sim: Simulation) -> None:
    for calls in _scripts(sim, "ocpp2.0.1").values():
        assert all(a.at <= b.at + timedelta(0) for a, b in pairwise(calls[1:]))
