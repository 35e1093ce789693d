"""The gateway as a minimal CSMS: handshake, answers, envelopes (in memory, on loopback)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import pytest
from ocpp.messages import get_validator
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from chargewatch.errors import BrokerError, ConfigurationError
from chargewatch.gateway import (
    Gateway,
    GatewayConfig,
    MemorySink,
    TokenPolicy,
    TransactionIds,
    encode_envelope,
    rfc3339_ms,
)

_NOW = datetime(2026, 5, 1, 8, 0, 1, 250_000, tzinfo=UTC)
_CALL, _RESULT, _ERROR = 2, 3, 4


def _clock() -> datetime:
    return _NOW


def _run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 30))


def _gateway(sink: Any = None, **config: Any) -> Gateway:
    return Gateway(GatewayConfig(port=0, **config), sink=sink or MemorySink(), clock=_clock)


async def _open(gw: Gateway, station: str, protocols: Iterable[str]) -> ClientConnection:
    return await connect(gw.url + station, subprotocols=[Subprotocol(p) for p in protocols])


async def _call(ws: ClientConnection, mid: str, action: str, payload: dict[str, Any]) -> list[Any]:
    await ws.send(json.dumps([_CALL, mid, action, payload]))
    answer: list[Any] = json.loads(await ws.recv())
    return answer


def _valid(version: str, action: str, answer: list[Any]) -> dict[str, Any]:
    """The CALLRESULT payload, checked against the ocpp package's response schema."""
    assert answer[0] == _RESULT, answer
    payload: dict[str, Any] = answer[2]
    get_validator(_RESULT, action, version).validate(payload)
    return payload


def _envelopes(sink: MemorySink) -> list[dict[str, Any]]:
    out = []
    for key, value in sink.records:
        record = json.loads(value)
        assert key == record["station_id"].encode()
        out.append(record)
    return out


def test_v16_answers_and_envelopes() -> None:
    sink = MemorySink()

    async def scenario() -> None:
        ids = TransactionIds(clock=lambda: 1_800_000_000.0)
        gateway = Gateway(
            GatewayConfig(port=0, allowed_tokens=frozenset({"04a1b2c3"}), tenant="acme"),
            sink=sink,
            clock=_clock,
            transaction_ids=ids,
        )
        async with gateway as gw, await _open(gw, "CP-1", ["ocpp1.6"]) as ws:
            assert ws.subprotocol == "ocpp1.6"
            boot = _valid(
                "1.6",
                "BootNotification",
                await _call(
                    ws,
                    "m1",
                    "BootNotification",
                    {"chargePointVendor": "V", "chargePointModel": "M"},
                ),
            )
            assert boot == {
                "currentTime": "2026-05-01T08:00:01.250Z",
                "interval": 300,
                "status": "Accepted",
            }
            beat = _valid("1.6", "Heartbeat", await _call(ws, "m2", "Heartbeat", {}))
            assert beat == {"currentTime": "2026-05-01T08:00:01.250Z"}
            ok = await _call(ws, "m3", "Authorize", {"idTag": "04A1B2C3"})
            assert _valid("1.6", "Authorize", ok) == {"idTagInfo": {"status": "Accepted"}}
            bad = await _call(ws, "m4", "Authorize", {"idTag": "DEADBEEF"})
            assert _valid("1.6", "Authorize", bad) == {"idTagInfo": {"status": "Invalid"}}
            start = {
                "connectorId": 1,
                "idTag": "04a1b2c3",
                "meterStart": 100,
                "timestamp": "2026-05-01T08:00:00Z",
            }
            first = _valid(
                "1.6", "StartTransaction", await _call(ws, "m5", "StartTransaction", start)
            )
            second = _valid(
                "1.6",
                "StartTransaction",
                await _call(ws, "m6", "StartTransaction", {**start, "idTag": "OTHER"}),
            )
            assert first == {
                "transactionId": 1_800_000_000 - 1_704_067_200,
                "idTagInfo": {"status": "Accepted"},
            }
            assert second["transactionId"] == first["transactionId"] + 1
            assert second["idTagInfo"] == {"status": "Invalid"}
            status = {"connectorId": 1, "errorCode": "NoError", "status": "Charging"}
            assert (
                _valid(
                    "1.6", "StatusNotification", await _call(ws, "m7", "StatusNotification", status)
                )
                == {}
            )
            meter = {
                "connectorId": 1,
                "transactionId": first["transactionId"],
                "meterValue": [
                    {"timestamp": "2026-05-01T08:01:00Z", "sampledValue": [{"value": "150"}]}
                ],
            }
            assert _valid("1.6", "MeterValues", await _call(ws, "m8", "MeterValues", meter)) == {}
            stop = {
                "transactionId": first["transactionId"],
                "meterStop": 200,
                "timestamp": "2026-05-01T09:00:00Z",
            }
            assert (
                _valid("1.6", "StopTransaction", await _call(ws, "m9", "StopTransaction", stop))
                == {}
            )
            with_tag = _valid(
                "1.6",
                "StopTransaction",
                await _call(
                    ws, "m10", "StopTransaction", {**stop, "idTag": "04A1B2C3", "reason": "Local"}
                ),
            )
            assert with_tag == {"idTagInfo": {"status": "Accepted"}}
            data = await _call(ws, "m11", "DataTransfer", {"vendorId": "x"})
            assert _valid("1.6", "DataTransfer", data) == {"status": "UnknownVendorId"}

    _run(scenario)
    envelopes = _envelopes(sink)
    assert [e["message_id"] for e in envelopes] == [f"m{i}" for i in range(1, 12)]
    start_env = envelopes[4]
    assert start_env == {
        "station_id": "CP-1",
        "ocpp_version": "1.6",
        "message_id": "m5",
        "action": "StartTransaction",
        "received_at": "2026-05-01T08:00:01.250Z",
        "request": {
            "connectorId": 1,
            "idTag": "04a1b2c3",
            "meterStart": 100,
            "timestamp": "2026-05-01T08:00:00Z",
        },
        "response": {
            "transactionId": 1_800_000_000 - 1_704_067_200,
            "idTagInfo": {"status": "Accepted"},
        },
        "tenant": "acme",
    }


def test_v201_answers() -> None:
    sink = MemorySink()

    async def scenario() -> None:
        gw_cm = _gateway(sink, allowed_tokens=frozenset({"AA11"}))
        async with gw_cm as gw, await _open(gw, "CS-9", ["ocpp2.0.1"]) as ws:
            boot = await _call(
                ws,
                "b",
                "BootNotification",
                {"chargingStation": {"model": "M", "vendorName": "V"}, "reason": "PowerUp"},
            )
            assert _valid("2.0.1", "BootNotification", boot) == {
                "currentTime": "2026-05-01T08:00:01.250Z",
                "interval": 300,
                "status": "Accepted",
            }
            beat = await _call(ws, "h", "Heartbeat", {})
            assert _valid("2.0.1", "Heartbeat", beat)["currentTime"].endswith("Z")
            for token, kind, expected in [
                ("aa11", "ISO14443", "Accepted"),
                ("BB22", "eMAID", "Invalid"),
                ("", "NoAuthorization", "Accepted"),
            ]:
                answer = await _call(
                    ws, f"a-{kind}", "Authorize", {"idToken": {"idToken": token, "type": kind}}
                )
                assert _valid("2.0.1", "Authorize", answer) == {"idTokenInfo": {"status": expected}}
            event = {
                "eventType": "Started",
                "timestamp": "2026-05-01T08:00:00Z",
                "triggerReason": "Authorized",
                "seqNo": 0,
                "transactionInfo": {"transactionId": "tx-1"},
                "idToken": {"idToken": "BB22", "type": "ISO14443"},
                "evse": {"id": 1, "connectorId": 1},
            }
            started = await _call(ws, "t0", "TransactionEvent", event)
            assert _valid("2.0.1", "TransactionEvent", started) == {
                "idTokenInfo": {"status": "Invalid"}
            }
            update = {k: v for k, v in event.items() if k not in ("idToken", "evse")}
            updated = await _call(
                ws,
                "t1",
                "TransactionEvent",
                {
                    **update,
                    "eventType": "Updated",
                    "seqNo": 1,
                    "triggerReason": "MeterValuePeriodic",
                },
            )
            assert _valid("2.0.1", "TransactionEvent", updated) == {}
            status = {
                "timestamp": "2026-05-01T08:00:00Z",
                "connectorStatus": "Occupied",
                "evseId": 1,
                "connectorId": 1,
            }
            assert (
                _valid(
                    "2.0.1",
                    "StatusNotification",
                    await _call(ws, "s", "StatusNotification", status),
                )
                == {}
            )
            meter = {
                "evseId": 1,
                "meterValue": [
                    {"timestamp": "2026-05-01T08:00:00Z", "sampledValue": [{"value": 1.5}]}
                ],
            }
            assert _valid("2.0.1", "MeterValues", await _call(ws, "mv", "MeterValues", meter)) == {}
            notify = {
                "generatedAt": "2026-05-01T08:00:00Z",
                "seqNo": 0,
                "eventData": [
                    {
                        "eventId": 1,
                        "timestamp": "2026-05-01T08:00:00Z",
                        "trigger": "Alerting",
                        "actualValue": "x",
                        "eventNotificationType": "HardWiredNotification",
                        "component": {"name": "C"},
                        "variable": {"name": "V"},
                    }
                ],
            }
            assert _valid("2.0.1", "NotifyEvent", await _call(ws, "n", "NotifyEvent", notify)) == {}

    _run(scenario)
    envelopes = _envelopes(sink)
    assert {e["ocpp_version"] for e in envelopes} == {"2.0.1"}
    assert all("tenant" not in e for e in envelopes)
    started = next(e for e in envelopes if e["message_id"] == "t0")
    assert started["request"]["idToken"] == {"idToken": "BB22", "type": "ISO14443"}
    assert started["response"] == {"idTokenInfo": {"status": "Invalid"}}


def test_empty_allow_list_accepts_every_token() -> None:
    policy = TokenPolicy(frozenset())
    assert policy.status("ANYTHING") == "Accepted"
    strict = TokenPolicy(frozenset({"abc"}))
    assert strict.status("ABC") == "Accepted"
    assert strict.status("abd") == "Invalid"
    assert strict.status("", "NoAuthorization") == "Accepted"


def test_call_errors_are_answered_and_recorded_with_a_null_response() -> None:
    sink = MemorySink()

    async def scenario() -> None:
        async with _gateway(sink) as gw, await _open(gw, "CP-2", ["ocpp1.6"]) as ws:
            missing = await _call(ws, "e1", "StartTransaction", {"connectorId": 1})
            assert missing[0] == _ERROR
            too_long = await _call(ws, "e2", "Authorize", {"idTag": "X" * 21})
            assert too_long[0] == _ERROR
            unknown = await _call(ws, "e3", "FlyToTheMoon", {})
            assert unknown[0] == _ERROR
            assert unknown[2] in {"NotSupported", "NotImplemented"}
            # The connection survives errors.
            beat = await _call(ws, "e4", "Heartbeat", {})
            assert beat[0] == _RESULT
            assert gw.counters.call_errors == 3

    _run(scenario)
    envelopes = _envelopes(sink)
    assert [(e["message_id"], e["response"] is None) for e in envelopes] == [
        ("e1", True),
        ("e2", True),
        ("e3", True),
        ("e4", False),
    ]
    assert envelopes[1]["request"] == {"idTag": "X" * 21}  # stored as received


class _FailingSink:
    def __init__(self) -> None:
        self.closed = False

    async def publish(self, key: bytes, value: bytes) -> None:
        raise BrokerError("broker down")

    async def close(self) -> None:
        self.closed = True


def test_a_call_that_cannot_be_stored_gets_internal_error() -> None:
    sink = _FailingSink()

    async def scenario() -> None:
        async with _gateway(sink) as gw, await _open(gw, "CP-3", ["ocpp1.6"]) as ws:
            answer = await _call(ws, "x1", "Heartbeat", {})
            assert answer[:3] == [_ERROR, "x1", "InternalError"]
            assert gw.counters.store_failures == 1

    _run(scenario)
    assert sink.closed


def test_kafka_sink_without_a_broker_answers_internal_error() -> None:
    """The real producer path: delivery fails after the timeout, the charger retries later."""

    async def scenario() -> None:
        config = GatewayConfig(
            port=0, bootstrap="127.0.0.1:1", delivery_timeout_s=1.0, flush_timeout_s=1.0
        )
        async with Gateway(config) as gw, await _open(gw, "CP-4", ["ocpp2.0.1"]) as ws:
            answer = await _call(ws, "k1", "Heartbeat", {})
            assert answer[:3] == [_ERROR, "k1", "InternalError"]

    _run(scenario)


@pytest.mark.parametrize(
    ("offered", "chosen"),
    [
        (["ocpp1.6"], "ocpp1.6"),
        (["ocpp2.0.1"], "ocpp2.0.1"),
        (["ocpp1.6", "ocpp2.0.1"], "ocpp2.0.1"),
        (["ocpp1.5", "ocpp1.6"], "ocpp1.6"),
    ],
)
def test_subprotocol_negotiation(offered: list[str], chosen: str) -> None:
    async def scenario() -> None:
        async with _gateway() as gw, await _open(gw, "CP-5", offered) as ws:
            assert ws.subprotocol == chosen

    _run(scenario)


@pytest.mark.parametrize(
    ("path", "offered", "status"),
    [
        ("ocpp/CP-6", [], 400),
        ("ocpp/CP-6", ["ocpp2.0"], 400),
        ("other/CP-6", ["ocpp1.6"], 404),
        ("ocpp/", ["ocpp1.6"], 400),
        ("ocpp/a%2Fb", ["ocpp1.6"], 400),
        ("ocpp/" + "x" * 65, ["ocpp1.6"], 400),
    ],
)
def test_handshakes_that_are_refused(path: str, offered: list[str], status: int) -> None:
    async def scenario() -> None:
        async with _gateway() as gw:
            url = f"ws://127.0.0.1:{gw.port}/{path}"
            with pytest.raises(InvalidStatus) as refused:
                await connect(url, subprotocols=[Subprotocol(p) for p in offered])
            assert refused.value.response.status_code == status

    _run(scenario)


def test_station_id_comes_from_the_path() -> None:
    sink = MemorySink()

    async def scenario() -> None:
        async with _gateway(sink) as gw, await _open(gw, "DE*ABC*E1%3A2", ["ocpp1.6"]) as ws:
            await _call(ws, "p1", "Heartbeat", {})

    _run(scenario)
    assert _envelopes(sink)[0]["station_id"] == "DE*ABC*E1:2"


def test_a_second_connection_replaces_the_first() -> None:
    async def scenario() -> None:
        async with _gateway() as gw:
            old = await _open(gw, "CP-7", ["ocpp1.6"])
            new = await _open(gw, "CP-7", ["ocpp1.6"])
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(old.recv(), 5)
            assert (await _call(new, "r", "Heartbeat", {}))[0] == _RESULT
            await new.close()

    _run(scenario)


def test_stop_closes_stations_then_closes_the_sink() -> None:
    events: list[str] = []

    class Spy(MemorySink):
        async def publish(self, key: bytes, value: bytes) -> None:
            events.append("publish")
            await super().publish(key, value)

        async def close(self) -> None:
            events.append("close")

    async def scenario() -> None:
        gw = _gateway(Spy())
        await gw.start()
        ws = await _open(gw, "CP-8", ["ocpp2.0.1"])
        await _call(ws, "s1", "Heartbeat", {})
        await gw.stop()
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1001

    _run(scenario)
    assert events == ["publish", "close"]


def test_transaction_ids_increase_and_follow_the_clock() -> None:
    now = [1_800_000_000.0]
    ids = TransactionIds(clock=lambda: now[0])
    a, b, c = ids.next(), ids.next(), ids.next()
    assert a < b < c
    assert a == 1_800_000_000 - 1_704_067_200
    # A restart later continues above (ids followed the clock, not ahead of it).
    now[0] += 60
    restarted = TransactionIds(clock=lambda: now[0])
    assert restarted.next() > c
    # Still an int32 in 2090.
    assert TransactionIds(clock=lambda: 3_800_000_000.0).next() < 2**31


def test_config_is_validated() -> None:
    with pytest.raises(ConfigurationError):
        GatewayConfig(subprotocols=("ocpp2.1",))
    with pytest.raises(ConfigurationError):
        GatewayConfig(path_prefix="ocpp")
    with pytest.raises(ConfigurationError):
        GatewayConfig(port=70_000)
    with pytest.raises(ConfigurationError):
        GatewayConfig(tenant="")
    assert GatewayConfig(allowed_tokens=frozenset({"ab"})).allowed_tokens == {"AB"}


def test_envelope_encoding() -> None:
    moment = datetime(2026, 5, 1, 8, 0, 1, 250_999, tzinfo=UTC)
    assert rfc3339_ms(moment) == "2026-05-01T08:00:01.250Z"
    raw = encode_envelope(
        station_id="S",
        ocpp_version="1.6",
        message_id="1",
        action="Heartbeat",
        received_at=moment,
        request={},
        response=None,
        tenant=None,
    )
    assert json.loads(raw) == {
        "station_id": "S",
        "ocpp_version": "1.6",
        "message_id": "1",
        "action": "Heartbeat",
        "received_at": "2026-05-01T08:00:01.250Z",
        "request": {},
        "response": None,
    }


def test_integers_beyond_64_bits_are_still_recorded() -> None:
    sink = MemorySink()
    huge = 2**70

    async def scenario() -> None:
        async with _gateway(sink) as gw, await _open(gw, "CP-9", ["ocpp1.6"]) as ws:
            meter = {
                "connectorId": 1,
                "transactionId": huge,
                "meterValue": [
                    {"timestamp": "2026-05-01T08:00:00Z", "sampledValue": [{"value": "1"}]}
                ],
            }
            assert (await _call(ws, "big", "MeterValues", meter))[0] == _RESULT

    _run(scenario)
    assert _envelopes(sink)[0]["request"]["transactionId"] == huge
