"""OCPP 2.0.1 semantics, asserted explicitly on the hand-written scenarios."""

from __future__ import annotations

import random

from streams.core.events import (
    AuthorizationResult,
    MeterSample,
    SessionStarted,
    SessionStopped,
    StateChanged,
)
from streams.core.ocpp import StationContext, session_id_for
from tests.fixtures.ocpp.scenarios import (
    TENANT,
    events_of,
    messages,
    normaliser,
    raw,
    run,
    stitch,
)


def test_full_session_stitches_to_the_expected_record() -> None:
    events = events_of(run("v201_session"))
    sid = session_id_for(TENANT, "CS-2001", "2.0.1", "f3a1c2e4-0001")
    assert {e.session_id for e in events} == {sid}
    record = stitch(events)[sid]
    # EVConnected 10:00:00, Charging 10:00:10, Faulted (suspended_evse) 10:25,
    # Occupied again 10:27 (carried Charging), SuspendedEV 10:40, Ended 11:00.
    assert record.duration_s == 3600
    assert record.charging_s == 2390  # matches the station's timeSpentCharging
    assert record.idle_s == 1210
    assert record.energy_wh == 56000 - 52125
    assert record.max_power_w == 11000
    assert record.stop_reason == "Local"
    assert record.auth_method == "rfid" and record.auth_result == "accepted"
    assert record.connector_id == 1
    assert record.flags == []


def test_units_and_multipliers() -> None:
    samples = [e for e in events_of(run("v201_session")) if isinstance(e, MeterSample)]
    by_time = {e.ts.strftime("%H:%M"): e for e in samples}
    assert by_time["10:00"].energy_wh == 52125  # 52.125 kWh
    assert by_time["10:15"].energy_wh == 54125  # 5.4125 Wh x 10^4
    assert by_time["10:15"].power_w == 11000  # 11 W x 10^3
    assert by_time["10:15"].soc == 48.0
    assert by_time["10:20"].energy_wh == 18100 + 18150 + 18200  # phases, no total


def test_evse_and_token_are_carried_forward() -> None:
    results = run("v201_session")
    started = results[1].events[0]
    assert isinstance(started, SessionStarted) and started.connector_id == 1
    for result in results[2:9]:
        assert all(e.connector_id == 1 for e in result.events)
    assert started.auth_method == "rfid" and started.token_hash is not None


def test_seq_is_carried_and_standalone_meter_values_are_attributed_by_time() -> None:
    results = run("v201_session")
    assert [e.seq for e in results[1].events] == [0, 0, 0, 0]
    assert [e.seq for e in results[8].events] == [4, 4, 4]
    standalone = results[4]
    assert len(standalone.events) == 1 and standalone.events[0].seq is None
    assert standalone.flags[standalone.events[0].event_id] == ("attribution_inferred",)


def test_status_notifications_fault_and_recovery() -> None:
    results = run("v201_session")
    fault, recovered = results[5].events, results[6].events
    assert isinstance(fault[0], StateChanged) and fault[0].state == "suspended_evse"
    assert isinstance(recovered[0], StateChanged) and recovered[0].state == "charging"
    assert results[9].events == []  # Available after Ended: no session


def test_ended_without_stopped_reason_is_local() -> None:
    stopped = run("v201_session")[8].events[-1]
    assert isinstance(stopped, SessionStopped)
    assert stopped.reason == "Local" and stopped.meter_stop_wh == 56000


def test_out_of_order_offline_events_give_the_same_session_in_any_order() -> None:
    ordered = stitch(events_of(run("v201_out_of_order")))
    record = next(iter(ordered.values()))
    assert (record.energy_wh, record.charging_s, record.idle_s) == (8000, 2700, 900)
    assert record.auth_method == "none" and record.token_hash is None
    results = run("v201_out_of_order")
    assert all(flags == ("offline",) for r in results[1:] for flags in r.flags.values())
    # Any delivery order after the Started event gives the same record.
    msgs = messages("v201_out_of_order")
    for seed in range(5):
        rest = msgs[1:]
        random.Random(seed).shuffle(rest)
        norm, context = normaliser(), StationContext()
        events = [e for m in [msgs[0], *rest] for e in norm.normalise(raw(m), context)]
        again = next(iter(stitch(events).values()))
        assert (again.energy_wh, again.charging_s, again.idle_s) == (8000, 2700, 900)


def test_auth_methods_and_results() -> None:
    results = run("v201_auth_methods")
    auths = [e for e in events_of(results) if isinstance(e, AuthorizationResult)]
    assert [(a.method, a.result) for a in auths] == [
        ("app", "accepted"),  # Central token, remote start
        ("plug_and_charge", "accepted"),  # eMAID
        ("key_code", "invalid"),  # NotAtThisTime is a refusal
        ("mac_address", "blocked"),  # no response: from the earlier Authorize
    ]
    starts = [e for e in events_of(results) if isinstance(e, SessionStarted)]
    assert [s.connector_id for s in starts] == [1, 2, 3, 4]
