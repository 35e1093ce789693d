"""Which session a message belongs to, and the per-station context that decides it."""

from __future__ import annotations

from typing import Any

import pytest

from streams.core.events import (
    AuthorizationResult,
    MeterSample,
    SessionStarted,
    SessionStopped,
    StateChanged,
)
from streams.core.ocpp import (
    OcppNormaliser,
    OutOfRangeError,
    StationContext,
    UnattributableError,
    session_id_for,
)
from streams.core.ocpp.context import MAX_CLOSED, MAX_TRANSACTIONS
from tests.fixtures.ocpp.scenarios import (
    SCENARIOS,
    TENANT,
    envelope,
    events_of,
    messages,
    normaliser,
    raw,
    run,
    stitch,
)

_ids = iter(range(10**9))


def at(minute: int, second: int = 0) -> str:
    return f"2026-05-01T{8 + minute // 60:02d}:{minute % 60:02d}:{second:02d}Z"


class Station:
    """A tiny driver: one station, one context, readable timelines."""

    def __init__(self, norm: OcppNormaliser | None = None, station: str = "CP-T") -> None:
        self.norm = norm or normaliser()
        self.context = StationContext()
        self.station = station

    def send(self, action: str, request: Any, response: Any = None, version: str = "1.6") -> Any:
        return self.norm.normalise_detailed(
            envelope(
                action,
                request,
                response,
                version=version,
                station=self.station,
                message_id=f"m{next(_ids)}",
                received_at=request.get("timestamp", at(0)),
            ),
            self.context,
        )

    def start(
        self, connector: int, minute: int, meter: int, tx: int | None, tag: str = "TAG1"
    ) -> Any:
        request = {
            "connectorId": connector,
            "idTag": tag,
            "meterStart": meter,
            "timestamp": at(minute),
        }
        response = (
            None if tx is None else {"transactionId": tx, "idTagInfo": {"status": "Accepted"}}
        )
        return self.send("StartTransaction", request, response)

    def meter(self, connector: int, minute: int, wh: int, tx: int | None) -> Any:
        request: dict[str, Any] = {
            "connectorId": connector,
            "meterValue": [{"timestamp": at(minute), "sampledValue": [{"value": str(wh)}]}],
        }
        if tx is not None:
            request["transactionId"] = tx
        return self.send("MeterValues", request, {})

    def status(self, connector: int, minute: int, status: str, second: int = 0) -> Any:
        request = {
            "connectorId": connector,
            "errorCode": "NoError",
            "status": status,
            "timestamp": at(minute, second),
        }
        return self.send("StatusNotification", request, {})

    def stop(self, tx: int, minute: int, meter: int) -> Any:
        request = {"transactionId": tx, "meterStop": meter, "timestamp": at(minute)}
        return self.send("StopTransaction", request, {})


def test_minus_one_without_any_session_is_unattributable_and_changes_nothing() -> None:
    station = Station()
    before = station.context.snapshot()
    with pytest.raises(UnattributableError) as caught:
        station.meter(1, 5, 100, tx=-1)
    assert caught.value.reason == "unattributable"
    with pytest.raises(UnattributableError):
        station.stop(-1, 10, 200)
    assert station.context.snapshot() == before


def test_minus_one_stop_is_matched_by_meter_continuity_across_connectors() -> None:
    station = Station()
    a = station.start(1, 0, 1000, tx=None).events[0]
    b = station.start(2, 5, 50000, tx=None).events[0]
    stop = station.stop(-1, 30, 3000)  # only connector 1's register can reach 3000
    assert stop.events[-1].session_id == a.session_id
    assert stop.flags[stop.events[-1].event_id] == ("attribution_inferred",)
    stop_b = station.stop(-1, 40, 52000)  # connector 2 is the only one still open
    assert stop_b.events[-1].session_id == b.session_id


def test_minus_one_with_two_plausible_sessions_is_flagged_uncertain() -> None:
    station = Station()
    station.start(1, 0, 1000, tx=None)
    later = station.start(2, 5, 1000, tx=None).events[0]
    stop = station.stop(-1, 30, 3000)
    assert stop.events[-1].session_id == later.session_id  # the latest start wins
    assert stop.flags[stop.events[-1].event_id] == ("attribution_uncertain",)


def test_minus_one_meter_values_use_their_connector() -> None:
    station = Station()
    one = station.start(1, 0, 1000, tx=7).events[0]
    two = station.start(2, 0, 1000, tx=8).events[0]
    assert station.meter(2, 5, 1500, tx=-1).events[0].session_id == two.session_id
    assert station.meter(1, 5, 1200, tx=-1).events[0].session_id == one.session_id


def test_unknown_transaction_id_without_an_unconfirmed_start_is_its_own_session() -> None:
    station = Station()
    station.start(1, 0, 1000, tx=7)  # confirmed with 7: never the owner of id 99
    sample = station.meter(1, 10, 1500, tx=99)
    sid = session_id_for(TENANT, "CP-T", "1.6", "99")
    assert sample.events[0].session_id == sid and sample.flags == {}
    assert station.stop(99, 20, 2000).events[-1].session_id == sid


def test_an_unknown_id_is_learnt_only_when_the_register_continues() -> None:
    station = Station()
    unconfirmed = station.start(1, 0, 5000, tx=None).events[0]
    other = station.meter(1, 5, 100, tx=99)  # below the start register: another transaction
    assert other.events[0].session_id == session_id_for(TENANT, "CP-T", "1.6", "99")
    learnt = station.meter(1, 6, 5200, tx=98)
    assert learnt.events[0].session_id == unconfirmed.session_id
    assert learnt.events[0].transaction_id == "98"


def test_a_retried_start_is_merged_into_the_open_session() -> None:
    station = Station()
    first = station.start(1, 0, 1000, tx=7)
    again = station.start(1, 0, 1000, tx=8)  # the charger repeated it; the CSMS gave a new id
    sid = first.events[0].session_id
    assert again.events[0].session_id == sid
    assert again.flags[again.events[0].event_id] == ("start_retried",)
    assert station.meter(1, 5, 1500, tx=8).events[0].session_id == sid
    assert station.stop(7, 10, 2000).events[-1].session_id == sid


def test_a_status_that_overtakes_the_start_is_given_to_the_session() -> None:
    station = Station()
    assert station.status(1, 0, "Charging", second=1).events == []  # no session yet
    start = station.start(1, 0, 1000, tx=7)
    assert [type(e) for e in start.events] == [SessionStarted, AuthorizationResult, StateChanged]
    assert start.events[2].ts.second == 1
    stop = station.stop(7, 10, 2000)
    record = next(iter(stitch([*start.events, *stop.events]).values()))
    assert (record.duration_s, record.charging_s, record.idle_s) == (600, 599, 1)


def test_a_charging_status_stamped_just_before_the_start_counts_from_the_start() -> None:
    station = Station()
    start = station.start(1, 1, 1000, tx=7)
    early = station.status(1, 0, "Charging", second=58)  # clock jitter: 2 s before the start
    assert early.events[0].ts == start.events[0].ts
    stop = station.stop(7, 11, 2000)
    record = next(iter(stitch([*start.events, *early.events, *stop.events]).values()))
    assert (record.charging_s, record.idle_s) == (600, 0)
    assert "event_before_start" not in record.flags


def test_a_new_start_closes_the_window_of_a_session_that_lost_its_stop() -> None:
    station = Station()
    old = station.start(1, 0, 1000, tx=7).events[0]
    new = station.start(1, 30, 1500, tx=8).events[0]
    status = station.status(1, 31, "Charging")
    assert status.events[0].session_id == new.session_id
    late_stop = station.stop(7, 29, 1500)  # the old stop, delivered late
    assert late_stop.events[-1].session_id == old.session_id
    assert station.meter(1, 40, 1800, tx=None).events[0].session_id == new.session_id


def test_meter_values_without_transaction_id() -> None:
    station = Station()
    assert station.meter(1, 0, 500, tx=None).events == []  # idle connector: no session
    start = station.start(1, 1, 1000, tx=7)
    sample = station.meter(1, 5, 1200, tx=None)
    assert sample.events[0].session_id == start.events[0].session_id
    assert sample.flags[sample.events[0].event_id] == ("attribution_inferred",)
    assert station.meter(0, 5, 99999, tx=None).events == []  # the main meter


def test_authorize_result_is_used_when_the_start_has_no_response() -> None:
    station = Station()
    station.send("Authorize", {"idTag": "TAG1"}, {"idTagInfo": {"status": "Blocked"}})
    start = station.start(1, 0, 1000, tx=None)
    auth = [e for e in start.events if isinstance(e, AuthorizationResult)]
    assert [(a.method, a.result) for a in auth] == [("rfid", "blocked")]
    # Too long after the Authorize: the result is not known any more.
    late = Station()
    late.send("Authorize", {"idTag": "TAG1"}, {"idTagInfo": {"status": "Blocked"}})
    start = late.start(1, 20, 1000, tx=None)
    assert not any(isinstance(e, AuthorizationResult) for e in start.events)


def test_out_of_range_connector_is_rejected_before_any_change() -> None:
    station = Station()
    before = station.context.snapshot()
    with pytest.raises(OutOfRangeError) as caught:
        station.start(256, 0, 1000, tx=7)
    assert caught.value.reason == "out_of_range"
    assert station.context.snapshot() == before


def test_v201_standalone_meter_values_outside_any_session_give_nothing() -> None:
    station = Station(station="CS-1")
    request = {"evseId": 1, "meterValue": [{"timestamp": at(0), "sampledValue": [{"value": 5}]}]}
    assert station.send("MeterValues", request, {}, version="2.0.1").events == []
    request["evseId"] = 0
    assert station.send("MeterValues", request, {}, version="2.0.1").events == []


def test_the_context_stays_bounded() -> None:
    station = Station()
    for n in range(300):
        tx = 1000 + n
        station.send("Authorize", {"idTag": f"T{n}"}, {"idTagInfo": {"status": "Accepted"}})
        station.start(1 + n % 4, n * 2, n * 100, tx=tx, tag=f"T{n}")
        station.meter(1 + n % 4, n * 2 + 1, n * 100 + 50, tx=tx)
        if n % 10:  # every tenth session loses its stop
            station.stop(tx, n * 2 + 1, n * 100 + 90)
    context = station.context
    assert len(context.transactions) <= MAX_TRANSACTIONS
    closed = [
        r
        for r in context.transactions.values()
        if r.session_id not in context.open_sessions.values()
    ]
    assert len(closed) <= MAX_CLOSED
    assert set(context.native_ids.values()) <= set(context.transactions)
    assert len(context.authorizations) <= 32
    assert len(context.snapshot()) < 20_000


def test_context_snapshot_and_restore_mid_stream_change_nothing() -> None:
    for name in SCENARIOS:
        msgs = messages(name)
        norm = normaliser()
        straight_ctx = StationContext()
        straight = [norm.normalise_detailed(raw(m), straight_ctx) for m in msgs]
        for cut in range(len(msgs) + 1):
            context = StationContext()
            first = [norm.normalise_detailed(raw(m), context) for m in msgs[:cut]]
            context = StationContext.restore(context.snapshot())
            rest = [norm.normalise_detailed(raw(m), context) for m in msgs[cut:]]
            assert first + rest == straight, (name, cut)
        assert StationContext.restore(straight_ctx.snapshot()) == straight_ctx


def test_same_input_gives_the_same_output() -> None:
    for name in SCENARIOS:
        a = [
            normaliser().normalise_detailed(raw(m), ctx)
            for ctx in [StationContext()]
            for m in messages(name)
        ]
        b = [
            normaliser().normalise_detailed(raw(m), ctx)
            for ctx in [StationContext()]
            for m in messages(name)
        ]
        assert a == b


def test_every_event_type_appears_across_the_scenarios() -> None:
    kinds = {type(e) for name in SCENARIOS for e in events_of(run(name))}
    assert {SessionStarted, MeterSample, StateChanged, SessionStopped, AuthorizationResult} <= kinds
