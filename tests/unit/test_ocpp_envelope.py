"""The ocpp.messages contract (pydantic) and its msgspec twin agree."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from pydantic import ValidationError

from chargewatch.errors import InputError
from schemas.ocpp import OcppEnvelope as Contract
from streams.core.ocpp import (
    BadJsonError,
    EnvelopeError,
    OcppEnvelope,
    OcppInputError,
    StationContext,
    UnknownVersionError,
    decode_envelope,
    encode_envelope,
    make_envelope,
)
from streams.core.ocpp.registry import SUPPORTED_VERSIONS
from tests.fixtures.ocpp.scenarios import SCENARIOS, envelope, messages, normaliser

GOOD: dict[str, Any] = {
    "station_id": "CP-0042",
    "ocpp_version": "1.6",
    "message_id": "19223201",
    "action": "Heartbeat",
    "received_at": "2026-05-01T08:00:01.250Z",
    "request": {},
    "response": {"currentTime": "2026-05-01T08:00:01Z"},
}


def test_fields_match() -> None:
    assert set(Contract.model_fields) == set(OcppEnvelope.__struct_fields__)
    assert set(Contract.model_fields["ocpp_version"].annotation.__args__) == SUPPORTED_VERSIONS  # type: ignore[union-attr]


def test_json_schema_exports() -> None:
    schema = Contract.model_json_schema()
    assert set(schema["required"]) == {
        "station_id",
        "ocpp_version",
        "message_id",
        "action",
        "received_at",
        "request",
    }
    assert schema["properties"]["received_at"]["format"] == "date-time"


def _hot_path_accepts(doc: dict[str, Any]) -> bool:
    """What the worker accepts at the envelope level (decode + version + object payloads)."""
    try:
        env = decode_envelope(json.dumps(doc).encode())
    except OcppInputError:
        return False
    payloads = [msgspec.json.decode(env.request)]
    if env.has_response:
        payloads.append(msgspec.json.decode(env.response))
    return env.ocpp_version in SUPPORTED_VERSIONS and all(isinstance(p, dict) for p in payloads)


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"response": None},
        {"tenant": "acme"},
        {"ocpp_version": "2.0.1"},
        {"schema_version": 1},
        {"ocpp_version": "2.1"},
        {"ocpp_version": "1.5"},
        {"station_id": ""},
        {"station_id": "X" * 65},
        {"message_id": "m" * 37},  # beyond OCPP-J's 36, tolerated
        {"message_id": "m" * 65},
        {"message_id": ""},
        {"received_at": "2026-05-01T08:00:01"},
        {"received_at": "not a time"},
        {"request": []},
        {"request": "x"},
        {"response": []},
        {"tenant": ""},
        {"extra": 1},
        {"schema_version": 2},
    ],
)
def test_contract_and_hot_path_accept_the_same_envelopes(change: dict[str, Any]) -> None:
    doc = GOOD | change
    try:
        Contract.model_validate_json(json.dumps(doc))
        contract_ok = True
    except ValidationError:
        contract_ok = False
    assert _hot_path_accepts(doc) == contract_ok


def test_every_scenario_message_is_a_valid_contract_envelope() -> None:
    for name in SCENARIOS:
        for message in messages(name):
            Contract.model_validate_json(json.dumps(message))


def test_missing_response_key_means_no_response() -> None:
    doc = {k: v for k, v in GOOD.items() if k != "response"}
    assert not decode_envelope(json.dumps(doc).encode()).has_response
    assert not decode_envelope(json.dumps(GOOD | {"response": None}).encode()).has_response
    assert decode_envelope(json.dumps(GOOD).encode()).has_response


@pytest.mark.parametrize(
    ("raw", "error", "reason"),
    [
        (b"", BadJsonError, "bad_json"),
        (b"{not json", BadJsonError, "bad_json"),
        (b"\xff\xfe", BadJsonError, "bad_json"),
        (b"[]", EnvelopeError, "envelope_invalid"),
        (b'{"station_id": "CP"}', EnvelopeError, "envelope_invalid"),
        (json.dumps(GOOD | {"received_at": "2026-05-01T08:00:01"}).encode(), EnvelopeError, None),
        (json.dumps(GOOD | {"ocpp_version": "2.1"}).encode(), UnknownVersionError, None),
        (json.dumps(GOOD | {"ocpp_version": "1.6J"}).encode(), UnknownVersionError, None),
    ],
)
def test_bad_input_raises_an_input_error_with_a_reason(
    raw: bytes, error: type[OcppInputError], reason: str | None
) -> None:
    with pytest.raises(error) as caught:
        normaliser().normalise(raw, StationContext())
    assert isinstance(caught.value, InputError)
    assert caught.value.reason == (reason or error.reason)


def test_normalise_envelope_takes_a_decoded_envelope() -> None:
    env = make_envelope(
        station_id="CP-1",
        ocpp_version="1.6",
        message_id="s1",
        action="StartTransaction",
        received_at=datetime(2026, 5, 1, 8, tzinfo=UTC),
        request={
            "connectorId": 1,
            "idTag": "A1",
            "meterStart": 0,
            "timestamp": "2026-05-01T08:00:00Z",
        },
        response={"transactionId": 3, "idTagInfo": {"status": "Accepted"}},
    )
    norm = normaliser()
    from_struct = norm.normalise_envelope(env, StationContext())
    from_bytes = norm.normalise(encode_envelope(env), StationContext())
    assert from_struct == from_bytes
    assert len(from_struct) == 2


def test_naive_or_offset_times_in_payloads_become_utc() -> None:
    start = {
        "connectorId": 1,
        "idTag": "A1",
        "meterStart": 0,
        "timestamp": "2026-05-01T10:00:00.123+02:00",
    }
    events = normaliser().normalise(
        envelope(
            "StartTransaction", start, {"transactionId": 1, "idTagInfo": {"status": "Accepted"}}
        ),
        StationContext(),
    )
    assert events[0].ts == datetime(2026, 5, 1, 8, 0, 0, 123000, tzinfo=UTC)
    assert events[0].ts.tzinfo is UTC
