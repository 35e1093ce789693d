"""Drive an OCPP gateway like real chargers, from a simulation's canonical events.

One WebSocket per station (the ``ocpp`` package's ``ChargePoint`` as client),
all stations concurrently, each sending its events in event-time order,
optionally paced like :func:`chargewatch.simulator.produce`. Every timestamp in
a payload is the event's time, never the wall clock, and message ids are
derived from (protocol, station, index), so the same simulation always sends
the same calls; only 1.6 transaction ids (the gateway's choice) differ per run,
and :attr:`DriveResult.transaction_ids` records them.

Translation (:func:`translate_station`):

=================  ===================================  =====================================
canonical event    OCPP 1.6                             OCPP 2.0.1
=================  ===================================  =====================================
(connect)          BootNotification                     BootNotification (PowerUp)
session_started    Authorize (not for app/none starts)  TransactionEvent Started, seqNo 0:
                   + StartTransaction (meterStart,      idToken, evse, chargingState, meter
                   timestamp, idTag)                    value Transaction.Begin
authorization      -- (the gateway's answer is it)      -- (idToken is in Started)
state_changed      StatusNotification                   Updated, ChargingStateChanged (a
                                                        change at the start second rides in
                                                        Started's chargingState instead)
meter_sample       MeterValues (transactionId,          Updated, MeterValuePeriodic
                   values as strings)
session_stopped    StopTransaction (meterStop, reason;  Ended (stoppedReason, meter value
                   idTag on a Local stop)               Transaction.End)
=================  ===================================  =====================================

Samples carry Energy.Active.Import.Register (Wh), Power.Active.Import (W) and
SoC (Percent) when present. The id token is :func:`fake_id_token` of the
session's ``token_hash``: a deterministic 16-character stand-in for an RFID UID.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

from ocpp import v16, v201  # type: ignore[import-untyped]
from ocpp.charge_point import camel_to_snake_case  # type: ignore[import-untyped]
from ocpp.exceptions import OCPPError  # type: ignore[import-untyped]
from ocpp.v16.enums import Reason  # type: ignore[import-untyped]
from ocpp.v201.enums import ReasonEnumType  # type: ignore[import-untyped]
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.typing import Subprotocol

from chargewatch.errors import ChargewatchError
from chargewatch.gateway.logsafe import NoFrameLogger, PayloadFreeLogger
from chargewatch.simulator.fleet import StationSpec
from chargewatch.simulator.model import Simulation
from streams.core.events import (
    Event,
    MeterSample,
    SessionStarted,
    SessionStopped,
    StateChanged,
)

__all__ = [
    "DriveError",
    "DriveResult",
    "OcppCall",
    "Protocol",
    "SentCall",
    "drive",
    "drive_blocking",
    "fake_id_token",
    "iter_station_calls",
    "message_id",
    "station_scripts",
    "translate_station",
]

Protocol = Literal["ocpp1.6", "ocpp2.0.1"]

log = logging.getLogger(__name__)
_quiet = logging.getLogger("chargewatch.simulator.ocpp_driver.wire")

_MESSAGE_NAMESPACE = uuid.UUID("0d7c6a3e-2f41-5b8e-a9c4-51e08b7d3f26")
_VENDOR = "chargewatch-sim"
_MAX_SLEEP_S = 0.5

_STATUS_V16 = {
    "charging": "Charging",
    "suspended_ev": "SuspendedEV",
    "suspended_evse": "SuspendedEVSE",
    "ev_connected": "Preparing",
    "idle": "Available",
}
_STATE_V201 = {
    "charging": "Charging",
    "suspended_ev": "SuspendedEV",
    "suspended_evse": "SuspendedEVSE",
    "ev_connected": "EVConnected",
    "idle": "Idle",
}
_TOKEN_TYPE_V201 = {
    "rfid": "ISO14443",
    "app": "Central",
    "plug_and_charge": "eMAID",
    "mac_address": "MacAddress",
    "key_code": "KeyCode",
    "none": "NoAuthorization",
}
_START_TRIGGER_V201 = {"app": "RemoteStart", "none": "CablePluggedIn"}  # else Authorized
_STOP_TRIGGER_V201 = {
    "EVDisconnected": "EVDeparted",
    "Local": "StopAuthorized",
    "Remote": "RemoteStop",
    "DeAuthorized": "Deauthorized",
    "EnergyLimitReached": "EnergyLimitReached",
    "TimeLimitReached": "TimeLimitReached",
}
_REASONS_V16 = frozenset(str(r.value) for r in Reason)
_REASONS_V201 = frozenset(str(r.value) for r in ReasonEnumType)
_NO_AUTHORIZE_V16 = frozenset({"app", "none"})  # remote / free starts skip Authorize


class DriveError(ChargewatchError):
    """The gateway refused a station's connection or dropped it mid-run.

    Operator action: check that the gateway runs at the URL given, offers the
    chosen subprotocol, and look at its log for the station named here.
    """


@dataclass(frozen=True)
class OcppCall:
    """One CALL a simulated charger sends: action, camelCase payload, event time.

    1.6 only: ``needs_transaction`` calls get ``transactionId`` from the answer
    to the session's StartTransaction (``starts_transaction``), ``-1`` when it
    failed (OCPP 1.6 errata 3.18).
    """

    at: datetime
    action: str
    payload: dict[str, Any]
    session_id: str | None = None
    starts_transaction: bool = False
    needs_transaction: bool = False

    def resolved(self, transaction_ids: Mapping[str, int]) -> dict[str, Any]:
        if not self.needs_transaction:
            return self.payload
        return {**self.payload, "transactionId": transaction_ids.get(self.session_id or "", -1)}


@dataclass(frozen=True)
class SentCall:
    """What was sent (with ``drive(record=True)``), in send order per station."""

    station_id: str
    message_id: str
    action: str
    payload: dict[str, Any]
    ok: bool
    session_id: str | None = None  # the simulated session the call belongs to


@dataclass
class DriveResult:
    """Counts of one drive."""

    protocol: Protocol
    stations: int = 0
    calls: int = 0
    call_errors: int = 0  # CALLERROR or no answer in time
    by_action: Counter[str] = field(default_factory=Counter)
    transaction_ids: dict[str, int] = field(default_factory=dict)  # 1.6: session -> CSMS id
    elapsed_s: float = 0.0
    sent: list[SentCall] = field(default_factory=list)

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.elapsed_s if self.elapsed_s > 0 else 0.0


def fake_id_token(token_hash: str | None, session_id: str) -> str:
    """A deterministic 16-character hex "RFID UID" for a driver (never the hash itself)."""
    source = token_hash or uuid.uuid5(_MESSAGE_NAMESPACE, session_id).hex
    return source[:16].upper()


def message_id(protocol: str, station_id: str, index: int) -> str:
    """The OCPP-J message id of a station's ``index``-th call (36 characters)."""
    return str(uuid.uuid5(_MESSAGE_NAMESPACE, f"{protocol}|{station_id}|{index}"))


def _ts(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    if utc.microsecond:
        return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"
    return f"{utc:%Y-%m-%dT%H:%M:%S}Z"


def _boot(protocol: Protocol, station: StationSpec | None, at: datetime) -> OcppCall:
    model = f"SIM-{station.current}-{station.max_power_w // 1000}kW" if station else "SIM"
    if protocol == "ocpp1.6":
        payload: dict[str, Any] = {"chargePointVendor": _VENDOR, "chargePointModel": model}
    else:
        payload = {"chargingStation": {"model": model, "vendorName": _VENDOR}, "reason": "PowerUp"}
    return OcppCall(at, "BootNotification", payload)


_MEASURANDS = (
    ("energy_wh", "Energy.Active.Import.Register", "Wh"),
    ("power_w", "Power.Active.Import", "W"),
    ("soc", "SoC", "Percent"),
)


def _sampled(event: MeterSample, *, v16: bool) -> list[dict[str, Any]]:
    """The sample's readings as sampledValue entries (1.6: value strings, unit;
    2.0.1: numbers, unitOfMeasure)."""
    values: list[dict[str, Any]] = []
    for attr, measurand, unit in _MEASURANDS:
        reading = getattr(event, attr)
        if reading is None:
            continue
        value: dict[str, Any] = {
            "value": str(reading) if v16 else reading,
            "context": "Sample.Periodic",
            "measurand": measurand,
        }
        if measurand == "SoC":
            value["location"] = "EV"
        if v16:
            value["unit"] = unit
        else:
            value["unitOfMeasure"] = {"unit": unit}
        values.append(value)
    return values


class _V16:
    """1.6 translation; remembers each session's idTag for a Local stop."""

    def __init__(self) -> None:
        self._tags: dict[str, str] = {}

    def calls(self, event: Event) -> list[OcppCall]:
        if isinstance(event, SessionStarted):
            return self._started(event)
        if isinstance(event, StateChanged):
            return [self._status(event)]
        if isinstance(event, MeterSample):
            return self._sample(event)
        if isinstance(event, SessionStopped):
            return [self._stopped(event)]
        return []  # AuthorizationResult: the gateway's answer is the result

    def _started(self, event: SessionStarted) -> list[OcppCall]:
        sid = event.session_id
        tag = self._tags[sid] = fake_id_token(event.token_hash, sid)
        payload = {
            "connectorId": event.connector_id,
            "idTag": tag,
            "meterStart": event.meter_start_wh or 0,
            "timestamp": _ts(event.ts),
        }
        start = OcppCall(event.ts, "StartTransaction", payload, sid, starts_transaction=True)
        if event.auth_method in _NO_AUTHORIZE_V16:
            return [start]
        return [OcppCall(event.ts, "Authorize", {"idTag": tag}, sid), start]

    def _status(self, event: StateChanged) -> OcppCall:
        payload = {
            "connectorId": event.connector_id,
            "errorCode": "NoError",
            "status": _STATUS_V16[event.state],
            "timestamp": _ts(event.ts),
        }
        return OcppCall(event.ts, "StatusNotification", payload, event.session_id)

    def _sample(self, event: MeterSample) -> list[OcppCall]:
        values = _sampled(event, v16=True)
        if not values:
            return []
        payload = {
            "connectorId": event.connector_id,
            "meterValue": [{"timestamp": _ts(event.ts), "sampledValue": values}],
        }
        return [
            OcppCall(event.ts, "MeterValues", payload, event.session_id, needs_transaction=True)
        ]

    def _stopped(self, event: SessionStopped) -> OcppCall:
        sid = event.session_id
        reason = event.reason if event.reason in _REASONS_V16 else "Other"
        payload: dict[str, Any] = {
            "meterStop": event.meter_stop_wh or 0,
            "timestamp": _ts(event.ts),
            "reason": reason,
        }
        if reason == "Local":  # the driver badged out with the card
            payload["idTag"] = self._tags.get(sid) or fake_id_token(None, sid)
        return OcppCall(event.ts, "StopTransaction", payload, sid, needs_transaction=True)


class _V201:
    """2.0.1 translation; seqNo per transaction and the start-second charging state."""

    def __init__(self, events: Sequence[Event]) -> None:
        self._seq: dict[str, int] = {}
        self._start_state: dict[str, str] = {}
        self._folded: set[str] = set()  # event ids carried by Started's chargingState
        started = {e.session_id: e.ts for e in events if isinstance(e, SessionStarted)}
        for e in events:
            if (
                isinstance(e, StateChanged)
                and e.session_id not in self._start_state
                and started.get(e.session_id) == e.ts
            ):
                self._start_state[e.session_id] = _STATE_V201[e.state]
                self._folded.add(e.event_id)

    def calls(self, event: Event) -> list[OcppCall]:
        if isinstance(event, SessionStarted):
            return [self._started(event)]
        if isinstance(event, StateChanged):
            return self._state(event)
        if isinstance(event, MeterSample):
            return self._sample(event)
        if isinstance(event, SessionStopped):
            return [self._ended(event)]
        return []  # AuthorizationResult: the idToken rides in Started

    def _event(
        self, e: Event, kind: str, trigger: str, info: dict[str, Any], **fields: Any
    ) -> OcppCall:
        seq = self._seq.get(e.session_id, 0)
        self._seq[e.session_id] = seq + 1
        payload = {
            "eventType": kind,
            "timestamp": _ts(e.ts),
            "triggerReason": trigger,
            "seqNo": seq,
            "transactionInfo": {"transactionId": e.transaction_id or e.session_id, **info},
            **fields,
        }
        return OcppCall(e.ts, "TransactionEvent", payload, e.session_id)

    def _started(self, event: SessionStarted) -> OcppCall:
        method = event.auth_method or "unknown"
        fields: dict[str, Any] = {"evse": {"id": event.connector_id, "connectorId": 1}}
        token_type = _TOKEN_TYPE_V201.get(method)
        if token_type is not None:
            token = "" if method == "none" else fake_id_token(event.token_hash, event.session_id)
            fields["idToken"] = {"idToken": token, "type": token_type}
        if event.meter_start_wh is not None:
            fields["meterValue"] = [_register(event.ts, event.meter_start_wh, "Transaction.Begin")]
        state = self._start_state.get(event.session_id, "EVConnected")
        trigger = _START_TRIGGER_V201.get(method, "Authorized")
        return self._event(event, "Started", trigger, {"chargingState": state}, **fields)

    def _state(self, event: StateChanged) -> list[OcppCall]:
        if event.event_id in self._folded:
            return []
        info = {"chargingState": _STATE_V201[event.state]}
        return [self._event(event, "Updated", "ChargingStateChanged", info)]

    def _sample(self, event: MeterSample) -> list[OcppCall]:
        values = _sampled(event, v16=False)
        if not values:
            return []
        meter = [{"timestamp": _ts(event.ts), "sampledValue": values}]
        return [self._event(event, "Updated", "MeterValuePeriodic", {}, meterValue=meter)]

    def _ended(self, event: SessionStopped) -> OcppCall:
        reason = event.reason or "Local"
        stopped = reason if reason in _REASONS_V201 else "Other"
        trigger = _STOP_TRIGGER_V201.get(reason, "AbnormalCondition")
        fields: dict[str, Any] = {}
        if event.meter_stop_wh is not None:
            fields["meterValue"] = [_register(event.ts, event.meter_stop_wh, "Transaction.End")]
        return self._event(event, "Ended", trigger, {"stoppedReason": stopped}, **fields)


def _register(at: datetime, wh: int, context: str) -> dict[str, Any]:
    value = {
        "value": wh,
        "context": context,
        "measurand": "Energy.Active.Import.Register",
        "unitOfMeasure": {"unit": "Wh"},
    }
    return {"timestamp": _ts(at), "sampledValue": [value]}


def iter_station_calls(
    events: Sequence[Event], protocol: Protocol, station: StationSpec | None = None
) -> Iterator[OcppCall]:
    """:func:`translate_station` one call at a time, so a whole fleet's calls need
    not be held at once."""
    if not events:
        return
    translator = _V16() if protocol == "ocpp1.6" else _V201(events)
    yield _boot(protocol, station, events[0].ts)
    for event in events:
        yield from translator.calls(event)


def translate_station(
    events: Sequence[Event], protocol: Protocol, station: StationSpec | None = None
) -> list[OcppCall]:
    """Every call one station sends for its ``events`` (in order), BootNotification first.

    Pure and deterministic. A station without events sends nothing.
    """
    return list(iter_station_calls(events, protocol, station))


def station_scripts(sim: Simulation, protocol: Protocol) -> dict[str, Iterator[OcppCall]]:
    """Every station's calls (lazily, as :func:`iter_station_calls`), stations in
    order of first event."""
    by_station: dict[str, list[Event]] = {}
    for event in sim.events:
        by_station.setdefault(event.station_id, []).append(event)
    specs = {spec.station_id: spec for spec in sim.stations}
    return {
        station_id: iter_station_calls(events, protocol, specs.get(station_id))
        for station_id, events in by_station.items()
    }


def _request(protocol: Protocol, action: str, payload: dict[str, Any]) -> Any:
    """The ``ocpp`` package's request dataclass (it turns the keys back into camelCase)."""
    module = v16.call if protocol == "ocpp1.6" else v201.call
    return getattr(module, action)(**camel_to_snake_case(payload))


@dataclass(frozen=True)
class _Pacing:
    wall_start: float  # loop time
    sim_start: datetime | None
    speed: float | None

    async def wait(self, at: datetime) -> None:
        if self.speed is None or self.sim_start is None:
            return
        loop = asyncio.get_running_loop()
        due = self.wall_start + (at - self.sim_start).total_seconds() / self.speed
        while (left := due - loop.time()) > 0:
            await asyncio.sleep(min(left, _MAX_SLEEP_S))


@dataclass(frozen=True)
class _StationRun:
    base_url: str
    station_id: str
    protocol: Protocol
    pacing: _Pacing
    record: bool
    response_timeout_s: float


async def _run_station(run: _StationRun, calls: Iterable[OcppCall], result: DriveResult) -> None:
    station_id, protocol = run.station_id, run.protocol
    uri = f"{run.base_url.rstrip('/')}/{quote(station_id, safe='')}"
    client = v16.ChargePoint if protocol == "ocpp1.6" else v201.ChargePoint
    try:
        async with connect(
            uri,
            subprotocols=[Subprotocol(protocol)],
            logger=NoFrameLogger(_quiet),
            open_timeout=run.response_timeout_s,
        ) as ws:
            if ws.subprotocol != protocol:
                raise DriveError(f"{station_id}: gateway at {uri} did not agree to {protocol}")
            cp = client(
                station_id,
                ws,
                response_timeout=run.response_timeout_s,
                logger=PayloadFreeLogger(_quiet, station_id),
            )
            reader = asyncio.create_task(cp.start(), name=f"ocpp-read-{station_id}")
            try:
                for index, call in enumerate(calls):
                    await run.pacing.wait(call.at)
                    await _send(run, cp, index, call, result)
            finally:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
    except (OSError, InvalidHandshake, TimeoutError) as exc:
        raise DriveError(f"{station_id}: cannot connect to {uri} or lost it: {exc}") from exc
    except ConnectionClosed as exc:
        raise DriveError(f"{station_id}: gateway closed the connection: {exc}") from exc


async def _send(run: _StationRun, cp: Any, index: int, call: OcppCall, result: DriveResult) -> None:
    payload = call.resolved(result.transaction_ids)
    mid = message_id(run.protocol, run.station_id, index)
    ok = True
    try:
        request = _request(run.protocol, call.action, payload)
        answer = await cp.call(request, suppress=False, unique_id=mid)
    except (OCPPError, TimeoutError) as exc:
        ok = False
        result.call_errors += 1
        log.warning("%s: %s %s failed: %s", run.station_id, call.action, mid, type(exc).__name__)
    else:
        if call.starts_transaction and call.session_id is not None:
            result.transaction_ids[call.session_id] = int(answer.transaction_id)
    result.calls += 1
    result.by_action[call.action] += 1
    if run.record:
        sent = SentCall(run.station_id, mid, call.action, payload, ok, call.session_id)
        result.sent.append(sent)


async def drive(
    sim: Simulation,
    url: str,
    protocol: Protocol,
    speed: float | None = None,
    *,
    record: bool = False,
    response_timeout_s: float = 30.0,
) -> DriveResult:
    """Send ``sim`` to the gateway at ``url`` (``ws://host:port/ocpp/``; the station
    id is appended) as ``protocol``; return the counts.

    ``speed`` is simulated seconds per wall second (``None``: as fast as the
    gateway answers). ``record=True`` keeps every sent payload in
    :attr:`DriveResult.sent` (for tests). Raises ``DriveError`` when a station
    cannot connect or is disconnected; a CALLERROR or a missing answer is only
    counted (``call_errors``), as a charger would carry on.
    """
    if protocol not in ("ocpp1.6", "ocpp2.0.1"):
        raise ValueError(f"protocol must be ocpp1.6 or ocpp2.0.1, not {protocol!r}")
    if speed is not None and not speed > 0:
        raise ValueError("speed must be positive (or None for as fast as possible)")
    scripts = station_scripts(sim, protocol)
    result = DriveResult(protocol, stations=len(scripts))
    loop = asyncio.get_running_loop()
    pacing = _Pacing(loop.time(), sim.events[0].ts if sim.events else None, speed)
    started = time.perf_counter()
    outcomes = await asyncio.gather(
        *(
            _run_station(
                _StationRun(url, station_id, protocol, pacing, record, response_timeout_s),
                calls,
                result,
            )
            for station_id, calls in scripts.items()
        ),
        return_exceptions=True,
    )
    result.elapsed_s = time.perf_counter() - started
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return result


def drive_blocking(
    sim: Simulation, url: str, protocol: Protocol, speed: float | None = None, **kwargs: Any
) -> DriveResult:
    """:func:`drive` in a fresh event loop (for scripts and the CLI)."""
    return asyncio.run(drive(sim, url, protocol, speed, **kwargs))
