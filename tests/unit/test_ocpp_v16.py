"""OCPP 1.6 semantics, asserted explicitly on the hand-written scenarios."""

from __future__ import annotations

from streams.core.events import (
    AuthorizationResult,
    MeterSample,
    SessionStarted,
    SessionStopped,
    StateChanged,
)
from streams.core.ocpp import session_id_for
from tests.fixtures.ocpp.scenarios import TENANT, events_of, normaliser, run, stitch


def test_full_rfid_session_stitches_to_the_expected_record() -> None:
    events = events_of(run("v16_session"))
    sid = session_id_for(TENANT, "CP-0042", "1.6", "4711")
    assert {e.session_id for e in events} == {sid}
    record = stitch(events)[sid]
    # Start 08:00:00 (idle until) Charging 08:00:05,
    # SuspendedEV 08:40:00, stop 09:00:00.
    assert record.duration_s == 3600
    assert record.charging_s == 2395
    assert record.idle_s == 1205
    assert record.energy_wh == 130250 - 125000
    assert record.max_power_w == 11040
    assert record.soc_start == 47.0
    assert record.stop_reason == "Local"  # no reason in the Stop
    assert record.auth_method == "rfid" and record.auth_result == "accepted"
    assert record.transaction_id == "4711"
    assert record.flags == []


def test_three_phase_kwh_registers_are_summed_and_inlet_is_not_counted() -> None:
    samples = [e for e in events_of(run("v16_session")) if isinstance(e, MeterSample)]
    by_time = {e.ts.strftime("%H:%M"): e for e in samples}
    # 42.100 + 42.050 + 42.350 kWh, no total given; 11.04 kW -> W; SoC from the EV.
    assert (by_time["08:15"].energy_wh, by_time["08:15"].power_w) == (126500, 11040)
    assert by_time["08:15"].soc == 47.0
    # Inlet 129100 Wh / 11000 W next to Outlet 128900 Wh / 10900 W: Outlet only.
    assert (by_time["08:30"].energy_wh, by_time["08:30"].power_w) == (128900, 10900)


def test_stop_transaction_data_becomes_samples_before_the_stop() -> None:
    stop_result = run("v16_session")[7]
    kinds = [type(e) for e in stop_result.events]
    assert kinds == [MeterSample, MeterSample, SessionStopped]
    begin, end, stop = stop_result.events
    assert isinstance(begin, MeterSample) and begin.energy_wh == 125000
    assert isinstance(end, MeterSample) and end.energy_wh == 130250  # "130.250" kWh
    assert isinstance(stop, SessionStopped) and stop.meter_stop_wh == 130250


def test_idle_status_before_the_start_and_status_after_the_stop_give_no_event() -> None:
    results = run("v16_session")
    # Preparing (ev_connected) before the start: a session starts idle anyway.
    assert results[1].events == []
    assert [type(e) for e in results[2].events] == [SessionStarted, AuthorizationResult]
    charging = results[3].events[0]
    assert isinstance(charging, StateChanged) and charging.state == "charging"
    assert results[8].events == []  # Finishing after the stop: post-transaction, no session
    assert results[9].events == []  # Heartbeat: validated, ignored


def test_transaction_id_minus_one_is_matched_and_flagged() -> None:
    results = run("v16_minus_one")
    events = events_of(results)
    assert len({e.session_id for e in events}) == 1
    start = results[0].events[0]
    assert isinstance(start, SessionStarted) and start.transaction_id is None
    assert results[0].flags[start.event_id] == ("start_unconfirmed",)
    for result in results[2:]:
        assert all(flags == ("attribution_inferred",) for flags in result.flags.values())
        assert len(result.flags) == len(result.events)
    record = next(iter(stitch(events).values()))
    assert (record.energy_wh, record.duration_s, record.charging_s) == (2000, 1800, 1797)
    assert record.stop_reason == "EVDisconnected"


def test_stop_without_a_start_is_its_own_session() -> None:
    results = run("v16_orphan_stop")
    sid = session_id_for("tenant-b", "CP-0200", "1.6", "9001")
    assert all(e.session_id == sid and e.connector_id == 0 for e in results[0].events)
    assert set(results[0].flags.values()) == {("connector_unknown",)}
    record = stitch(events_of(results))[sid]
    assert record.energy_wh == 5000  # Transaction.Begin 15000 -> End 20000
    assert "missing_start" in record.flags
    assert record.tenant == "tenant-b"


def test_unknown_transaction_id_is_learnt_for_the_unconfirmed_start() -> None:
    results = run("v16_learnt_id")
    events = events_of(results)
    assert len({e.session_id for e in events}) == 1
    assert [e.transaction_id for e in events] == [None, "555", "555"]
    record = next(iter(stitch(events).values()))
    assert record.transaction_id == "555"
    assert record.energy_wh == 1500


def test_remote_start_makes_an_app_session_case_insensitively() -> None:
    results = run("v16_remote_start")
    assert results[0].events == []
    started = results[1].events[0]
    assert isinstance(started, SessionStarted) and started.auth_method == "app"
    assert started.meter_start_wh == 880000


def test_rfid_without_remote_start_stays_rfid() -> None:
    results = run("v16_remote_start")
    # The same start on a fresh context, without the RemoteStartTransaction.
    from streams.core.ocpp import StationContext
    from tests.fixtures.ocpp.scenarios import messages, raw

    norm = normaliser()
    events = norm.normalise(raw(messages("v16_remote_start")[1]), StationContext())
    app_start = results[1].events[0]
    assert isinstance(events[0], SessionStarted) and events[0].auth_method == "rfid"
    assert isinstance(app_start, SessionStarted)
    assert events[0].token_hash == app_start.token_hash


def test_string_values_never_crash_and_bad_ones_are_ignored() -> None:
    samples = [e for e in events_of(run("v16_values")) if isinstance(e, MeterSample)]
    seen = [(e.ts.strftime("%H:%M"), e.energy_wh, e.power_w, e.soc) for e in samples]
    assert seen == [
        ("08:05", 1500, None, None),  # SignedData blob ignored, plain value used
        ("08:10", None, None, 55.5),  # "NaN" and "abc" ignored, SoC kept
        ("08:25", 2750, None, None),  # "2.75e3" parsed exactly, negative power ignored
    ]
