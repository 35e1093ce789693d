"""No id token ever reaches a log line, at any level, whatever happens to the message.

Tokens do travel in the envelopes (the worker pseudonymises them); this test
checks both sides of that contract.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta

import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from chargewatch.gateway import Gateway, GatewayConfig, MemorySink
from chargewatch.simulator import SimConfig, simulate
from chargewatch.simulator.ocpp_driver import Protocol, drive, fake_id_token
from streams.core.events import SessionStarted

_PROTOCOLS: tuple[Protocol, ...] = ("ocpp1.6", "ocpp2.0.1")
_SECRET = "SECRETCARD0042"  # an RFID UID
_KEY_CODE = "PIN-774411"  # a 2.0.1 KeyCode: C04.FR.04 forbids logging it
_TOO_LONG = "SECRETCARD-WAY-TOO-LONG-FOR-1.6"  # fails the schema: the error path


async def _raw(url: str, protocol: str, frames: list[list[object]]) -> None:
    quiet = logging.getLogger("test.wsclient")  # the client's own frame log is not under test
    async with connect(url, subprotocols=[Subprotocol(protocol)], logger=quiet) as ws:
        for frame in frames:
            await ws.send(json.dumps(frame))
            await ws.recv()


def test_no_token_in_any_log_line(caplog: pytest.LogCaptureFixture) -> None:
    sim = simulate(
        SimConfig(stations=2, days=0.1, seed=5, start=SimConfig().start + timedelta(hours=8))
    )
    tokens = {
        fake_id_token(e.token_hash, e.session_id)
        for e in sim.events
        if isinstance(e, SessionStarted)
    }
    assert tokens
    secrets = tokens | {_SECRET, _KEY_CODE, _TOO_LONG}
    sink = MemorySink()
    caplog.set_level(logging.DEBUG)

    async def scenario() -> None:
        config = GatewayConfig(port=0, allowed_tokens=frozenset({next(iter(tokens))}))
        async with Gateway(config, sink=sink) as gw:
            for protocol in _PROTOCOLS:
                result = await drive(sim, gw.url, protocol)
                assert result.call_errors == 0
            await _raw(gw.url + "RAW-16", "ocpp1.6", [
                [2, "a", "Authorize", {"idTag": _SECRET}],
                [2, "b", "Authorize", {"idTag": _TOO_LONG}],  # schema error -> logged CALLERROR
                [2, "c", "StartTransaction", {"idTag": _SECRET}],  # missing fields
                [2, "d", "Authorize", {"idTag": _SECRET, "extra": _SECRET}],
                [2, "e", "NoSuchAction", {"idTag": _SECRET}],
            ])  # fmt: skip
            key_code = {"idToken": _KEY_CODE, "type": "KeyCode"}
            await _raw(gw.url + "RAW-201", "ocpp2.0.1", [
                [2, "f", "Authorize", {"idToken": key_code}],
                [2, "g", "Authorize", {"idToken": {**key_code, "type": "Nope"}}],
                [2, "h", "TransactionEvent", {"idToken": key_code}],  # missing fields
            ])  # fmt: skip

    asyncio.run(asyncio.wait_for(scenario(), 60))

    records = [r for r in caplog.records if not r.name.startswith("test.wsclient")]
    assert any(r.name.startswith("chargewatch.gateway") for r in records)  # logging was on
    assert any("CALLERROR" in r.getMessage() for r in records)  # the error paths ran
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    logged = "\n".join(formatter.format(r) + repr(r.args) for r in records)
    leaked = sorted(s for s in secrets if s in logged or s.lower() in logged)
    assert not leaked

    # ... while the envelopes do carry the raw tokens (the contract).
    published = b"\n".join(value for _, value in sink.records).decode()
    assert all(s in published for s in secrets)
