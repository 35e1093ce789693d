"""Id tokens are pseudonymised at ingestion and never leak: not in events, flags,
context snapshots, exception messages, tracebacks or log lines."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import traceback
from typing import Any

import pytest

from chargewatch.errors import ConfigurationError, InputError
from streams.core.events import encode_event
from streams.core.ocpp import OcppNormaliser, StationContext, TokenPseudonymiser
from tests.fixtures.ocpp.scenarios import KEY, SCENARIOS, envelope, messages, normaliser, raw

OLD_KEY = b"old-rotation-key-000000000"
PSEUDONYM = re.compile(r"k[12]:[0-9a-f]{64}")


def _tokens(node: Any) -> set[str]:
    """Every id token in a payload (1.6 idTag, 2.0.1 idToken.idToken)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("idTag", "idToken") and isinstance(value, str) and value:
                found.add(value)
            found |= _tokens(value)
    elif isinstance(node, list):
        for value in node:
            found |= _tokens(value)
    return found


RAW_TOKENS = {t for name in SCENARIOS for m in messages(name) for t in _tokens(m)}


def _leaks(text: str) -> set[str]:
    lowered = text.lower()
    return {token for token in RAW_TOKENS if token.lower() in lowered}


def test_the_scenarios_carry_every_kind_of_token() -> None:
    assert {"04A1B2C3D4", "482913", "00:1A:2B:3C:4D:5E", "DE8ACC12345678", "APP-5F2E"} <= RAW_TOKENS


def test_no_raw_token_in_any_output_or_context(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    norm = normaliser()
    hashes: set[str] = set()
    for name in SCENARIOS:
        context = StationContext()
        for message in messages(name):
            result = norm.normalise_detailed(raw(message), context)
            for event in result.events:
                text = encode_event(event).decode()
                assert not _leaks(text), (name, text)
                token_hash = getattr(event, "token_hash", None)
                if token_hash is not None:
                    assert PSEUDONYM.fullmatch(token_hash)
                    hashes.add(token_hash)
            assert not _leaks(repr(result.flags))
        snapshot = context.snapshot()
        assert not _leaks(snapshot.decode("latin-1")), name
        assert not _leaks(repr(context))
    assert len(hashes) >= 8
    assert not _leaks(caplog.text)
    assert not caplog.records  # the normaliser logs nothing at all


def _bad_messages(token: str) -> list[bytes]:
    start = {"connectorId": 1, "idTag": token, "meterStart": 0, "timestamp": "2026-05-01T08:00:00Z"}
    ok = {"transactionId": 1, "idTagInfo": {"status": "Accepted"}}
    te = {
        "eventType": "Started",
        "timestamp": "2026-05-01T08:00:00Z",
        "triggerReason": "Authorized",
        "seqNo": 0,
        "transactionInfo": {"transactionId": "t1"},
        "idToken": {"idToken": token, "type": "KeyCode"},
    }
    return [
        envelope("StartTransaction", start | {"idTag": token + "X" * 21}, ok),  # too long
        envelope("StartTransaction", start | {"timestamp": "never"}, ok),
        envelope("StartTransaction", start | {"connectorId": 999}, ok),  # out of range
        envelope("StartTransaction", start | {"reservationId": token}, ok),  # wrong type
        envelope("StartTransaction", start, {"transactionId": 1, "idTagInfo": {"status": token}}),
        envelope("StartTransaction", start | {token: token}, ok),  # unknown key
        envelope("Authorize", {"idToken": {"idToken": token, "type": token}}, version="2.0.1"),
        envelope("TransactionEvent", te | {"seqNo": token}, version="2.0.1"),
        envelope("TransactionEvent", te | {"evse": {"id": 300}}, version="2.0.1"),
        envelope("TransactionEvent", te, {"idTokenInfo": {"status": token}}, version="2.0.1"),
        envelope(
            "StopTransaction",
            {
                "transactionId": -1,
                "idTag": token,
                "meterStop": 1,
                "timestamp": "2026-05-01T08:00:00Z",
            },
        ),
        envelope("Authorize", {"idTag": token}, version="2.1"),
    ]


@pytest.mark.parametrize("token", ["482913", "04A1B2C3D4", "secret-key-code"])
def test_no_raw_token_in_errors_or_tracebacks(token: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    norm = normaliser()
    for message in _bad_messages(token):
        with pytest.raises(InputError) as caught:
            norm.normalise(message, StationContext())
        exc = caught.value
        assert exc.reason != InputError.reason
        text = "".join(traceback.format_exception(exc)) + repr(exc) + str(exc)
        assert token.lower() not in text.lower(), text
    assert token not in caplog.text


def test_pseudonym_is_a_keyed_hmac_of_the_upper_cased_token() -> None:
    tokens = TokenPseudonymiser({"k1": KEY}, "k1")
    expected = hmac.new(KEY, b"04A1B2", hashlib.sha256).hexdigest()
    assert tokens.pseudonym("04a1b2") == tokens.pseudonym("04A1B2") == f"k1:{expected}"


def test_key_rotation() -> None:
    old = TokenPseudonymiser({"k1": OLD_KEY}, "k1")
    rotated = TokenPseudonymiser({"k1": OLD_KEY, "k2": KEY}, "k2")
    assert rotated.pseudonym("TAG").startswith("k2:")
    assert rotated.candidates("TAG") == [rotated.pseudonym("TAG"), old.pseudonym("TAG")]
    assert rotated.pseudonym("TAG") != old.pseudonym("TAG")


def test_state_written_before_a_rotation_is_still_recognised() -> None:
    context = StationContext()
    before = OcppNormaliser({"k1": OLD_KEY}, "k1", "acme")
    before.normalise(
        envelope("Authorize", {"idTag": "TAG9"}, {"idTagInfo": {"status": "Blocked"}}), context
    )
    after = OcppNormaliser({"k1": OLD_KEY, "k2": KEY}, "k2", "acme")
    start = {
        "connectorId": 1,
        "idTag": "TAG9",
        "meterStart": 0,
        "timestamp": "2026-05-01T08:00:10Z",
    }
    events = after.normalise(envelope("StartTransaction", start, message_id="m2"), context)
    started, auth = events[0], events[1]
    assert started.token_hash is not None and started.token_hash.startswith("k2:")  # type: ignore[union-attr]
    assert auth.result == "blocked"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("keys", "active"),
    [({"k1": KEY}, "k2"), ({"k1": b"short"}, "k1"), ({"k:1": KEY}, "k:1"), ({"": KEY}, "")],
)
def test_bad_key_configuration_is_refused(keys: dict[str, bytes], active: str) -> None:
    with pytest.raises(ConfigurationError):
        OcppNormaliser(keys, active)


def test_reprs_show_no_key_material() -> None:
    norm = OcppNormaliser({"k1": KEY, "k0": OLD_KEY}, "k1", "acme")
    text = repr(norm)
    assert KEY.decode() not in text and OLD_KEY.decode() not in text
    assert "k1" in text
