"""The OCPP envelope log a gateway would have written for a simulation, with no network.

:func:`ocpp_envelopes` sends every station's calls (:func:`station_scripts`,
the same calls and message ids :func:`~chargewatch.simulator.ocpp_driver.drive`
sends) to the gateway's own station classes, in event-time order across
stations, and records each CALL with its answer as :func:`encode_envelope`
does. The gateway's "now" is the call's event time, so ``received_at``, a
BootNotification's ``currentTime`` and the 1.6 transaction ids (the gateway's
:class:`TransactionIds`, which follow its clock) are all fixed by the
simulation: the same seed gives the same bytes.

What is skipped, and why it changes nothing for these calls:

* the WebSocket and the OCPP-J frame round trip: the answer is produced by the
  station's ``@on`` handler itself (looked up in the ``ocpp`` package's route
  map, serialised with that package's helpers) and stored as the gateway
  stores it, without JSON text in between;
* JSON-schema validation of request and answer: it is two thirds of the cost,
  and the translated calls are schema-valid (the driver's gateway tests see no
  CALLERROR; ``tests/unit/test_ocpp_log.py`` compares this log with a real
  in-memory gateway's).

An action the gateway does not route, or a handler that raises, is stored with
``response: null``, as the gateway stores a CALLERROR.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, NamedTuple

from ocpp.charge_point import (  # type: ignore[import-untyped]
    camel_to_snake_case,
    remove_nones,
    serialize_as_dict,
    snake_to_camel_case,
)

from chargewatch.gateway import GatewayConfig, MemorySink, TokenPolicy, TransactionIds
from chargewatch.gateway.envelope import encode_envelope
from chargewatch.gateway.stations import (
    GatewayCounters,
    Station,
    StationContext,
    V16Station,
    V201Station,
)
from chargewatch.simulator.model import Simulation
from chargewatch.simulator.ocpp_driver import OcppCall, Protocol, message_id, station_scripts

__all__ = ["ocpp_envelopes"]

_STATIONS: dict[str, type[Station]] = {"ocpp1.6": V16Station, "ocpp2.0.1": V201Station}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # the clock of a simulation without events (unread)


class _EventClock:
    """The offline gateway's clock: the event time of the call being answered."""

    __slots__ = ("now",)

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def seconds(self) -> float:
        return self.now.timestamp()


_SNAKE_KEYS: dict[str, str] = {}


def _snake(value: Any) -> Any:
    """The package's ``camel_to_snake_case``, memoised per key: its per-key regexes
    cost more than everything else here together, and the mapping depends on
    the key alone."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            snake = _SNAKE_KEYS.get(key)
            if snake is None:
                snake = _SNAKE_KEYS[key] = next(iter(camel_to_snake_case({key: None})))
            out[snake] = _snake(item)
        return out
    if isinstance(value, list):
        return [_snake(item) for item in value]
    return value


def _answer(station: Station, action: str, payload: dict[str, Any]) -> dict[str, Any] | None:
    """The station's CALLRESULT payload, as the ``ocpp`` package builds it; None
    where the gateway would answer CALLERROR."""
    handlers = station.route_map.get(action)
    if handlers is None or "_on_action" not in handlers:
        return None  # NotImplemented / NotSupported
    try:
        result = handlers["_on_action"](**_snake(payload))
    except Exception:  # the package turns any handler error into a CALLERROR
        return None
    answer: dict[str, Any] = snake_to_camel_case(remove_nones(serialize_as_dict(result)))
    return answer


class _Step(NamedTuple):
    at: datetime
    station_id: str
    position: int  # in its station's script: the message id follows from it
    call: OcppCall


def _numbered(station_id: str, calls: Iterator[OcppCall]) -> Iterator[_Step]:
    for position, call in enumerate(calls):
        yield _Step(call.at, station_id, position, call)


def _in_time_order(scripts: dict[str, Iterator[OcppCall]]) -> Iterator[_Step]:
    """All calls by event time; a station's own order is kept, and ties across
    stations go in station order (``heapq.merge`` is stable), so runs repeat.
    Lazy: only one pending call per station is alive, which keeps memory and the
    garbage collector's work flat in the fleet's size."""
    per_station = [_numbered(sid, calls) for sid, calls in scripts.items()]
    return heapq.merge(*per_station, key=lambda step: step.at)


def ocpp_envelopes(
    sim: Simulation, protocol: Protocol, config: GatewayConfig | None = None
) -> list[tuple[str, bytes]]:
    """(station id, envelope JSON) for every call of ``sim`` as ``protocol``, in
    event-time order: what a gateway with ``config`` (its tenant, allowed tokens
    and heartbeat interval; default: ``GatewayConfig()``) publishes to
    ``ocpp.messages`` when the simulated chargers drive it.
    """
    if protocol not in _STATIONS:
        raise ValueError(f"protocol must be ocpp1.6 or ocpp2.0.1, not {protocol!r}")
    cfg = config or GatewayConfig()
    scripts = station_scripts(sim, protocol)
    clock = _EventClock(sim.events[0].ts if sim.events else _EPOCH)
    context = StationContext(
        sink=MemorySink(),  # required by the type; nothing is published through it
        tokens=TokenPolicy(cfg.allowed_tokens),
        transaction_ids=TransactionIds(clock.seconds),
        tenant=cfg.tenant,
        heartbeat_interval_s=cfg.heartbeat_interval_s,
        clock=clock,
    )
    station_class = _STATIONS[protocol]
    counters = GatewayCounters()
    # The connection is never used: answers are taken from the handlers directly.
    stations = {sid: station_class(sid, None, context, counters) for sid in scripts}
    transaction_ids: dict[str, int] = {}  # 1.6: session -> the answered transactionId
    out: list[tuple[str, bytes]] = []
    for step in _in_time_order(scripts):
        clock.now = step.at
        call = step.call
        request = call.resolved(transaction_ids)
        response = _answer(stations[step.station_id], call.action, request)
        if call.starts_transaction and call.session_id is not None and response is not None:
            transaction_ids[call.session_id] = int(response["transactionId"])
        envelope = encode_envelope(
            station_id=step.station_id,
            ocpp_version=station_class.ocpp_version,
            message_id=message_id(protocol, step.station_id, step.position),
            action=call.action,
            received_at=step.at,
            request=request,
            response=response,
            tenant=cfg.tenant,
        )
        out.append((step.station_id, envelope))
    return out
