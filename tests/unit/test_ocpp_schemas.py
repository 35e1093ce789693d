"""Validation against the official OCPP JSON schemas (compiled to msgspec types)."""

from __future__ import annotations

import copy
import json
import traceback
from datetime import datetime
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # a dependency of ocpp, no stubs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chargewatch.errors import ConfigurationError
from streams.core.ocpp import SchemaError, SchemaRegistry, StationContext, UnknownActionError
from streams.core.ocpp.compiler import UnsupportedSchemaError, compile_schema
from streams.core.ocpp.registry import _load, _patch_v16, _schema_name
from tests.fixtures.ocpp.scenarios import SCENARIOS, envelope, messages, normaliser

REGISTRY = SchemaRegistry()


def test_every_official_schema_of_both_versions_compiles() -> None:
    assert REGISTRY.compile_all() >= 200
    assert {"Authorize", "StartTransaction", "StopTransaction", "MeterValues"} <= (
        REGISTRY.actions("1.6")
    )
    assert {"TransactionEvent", "StatusNotification", "MeterValues"} <= REGISTRY.actions("2.0.1")
    assert "TransactionEvent" not in REGISTRY.actions("1.6")
    assert "StartTransaction" not in REGISTRY.actions("2.0.1")


def test_decoders_are_compiled_once() -> None:
    registry = SchemaRegistry()
    first = registry.decoder("1.6", "MeterValues", "request")
    assert registry.decoder("1.6", "MeterValues", "request") is first


@pytest.mark.parametrize(
    ("version", "action"),
    [("1.6", "TransactionEvent"), ("2.0.1", "StartTransaction"), ("1.6", "../x")],
)
def test_an_action_without_a_schema_is_refused(version: str, action: str) -> None:
    with pytest.raises(UnknownActionError) as caught:
        normaliser().normalise(envelope(action, {}, version=version), StationContext())
    assert caught.value.reason == "unknown_action"


def test_unused_actions_are_validated_then_ignored() -> None:
    norm, context = normaliser(), StationContext()
    boot = {"chargePointVendor": "ACME", "chargePointModel": "X1"}
    reply = {"status": "Accepted", "currentTime": "2026-05-01T08:00:00Z", "interval": 300}
    assert norm.normalise(envelope("BootNotification", boot, reply), context) == []
    with pytest.raises(SchemaError):
        norm.normalise(envelope("BootNotification", {"chargePointVendor": "ACME"}), context)
    data = {"vendorId": "acme", "data": {"free": ["form", 1]}}
    assert norm.normalise(envelope("DataTransfer", data, version="2.0.1"), context) == []


def test_v16_quirk_hertz_is_accepted_in_stop_transaction_data() -> None:
    stop = {
        "transactionId": 1,
        "meterStop": 10,
        "timestamp": "2026-05-01T08:00:00Z",
        "transactionData": [
            {
                "timestamp": "2026-05-01T08:00:00Z",
                "sampledValue": [{"value": "50", "measurand": "Frequency", "unit": "Hertz"}],
            }
        ],
    }
    REGISTRY.decode("1.6", "StopTransaction", "request", json.dumps(stop).encode())


def test_v16_quirk_decimal_multiple_of_does_not_reject_valid_limits() -> None:
    profile = {
        "idTag": "X",
        "chargingProfile": {
            "chargingProfileId": 1,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 21.4}],
            },
        },
    }
    REGISTRY.decode("1.6", "RemoteStartTransaction", "request", json.dumps(profile).encode())


START = {"connectorId": 1, "idTag": "04A1B2", "meterStart": 0, "timestamp": "2026-05-01T08:00:00Z"}


@pytest.mark.parametrize(
    ("request_", "path"),
    [
        ({k: v for k, v in START.items() if k != "idTag"}, "idTag"),
        (START | {"extra": 1}, "unknown field"),
        (START | {"connectorId": "1"}, "$.connectorId"),
        (START | {"connectorId": 1.0}, "$.connectorId"),
        (START | {"idTag": "X" * 21}, "$.idTag"),
        (START | {"timestamp": "2026-05-01T08:00:00"}, "$.timestamp"),
        (START | {"timestamp": "yesterday"}, "$.timestamp"),
        (START | {"reservationId": None}, "$.reservationId"),
    ],
)
def test_schema_invalid_requests_are_rejected_with_the_path(
    request_: dict[str, Any], path: str
) -> None:
    with pytest.raises(SchemaError) as caught:
        normaliser().normalise(envelope("StartTransaction", request_), StationContext())
    assert caught.value.reason == "schema_invalid"
    assert path in str(caught.value)


@pytest.mark.parametrize(
    ("action", "version", "request_", "response"),
    [
        ("StartTransaction", "1.6", START, {"idTagInfo": {"status": "Accepted"}}),
        ("StartTransaction", "1.6", START, {"transactionId": 1, "idTagInfo": {"status": "OK"}}),
        ("MeterValues", "1.6", {"connectorId": 1, "meterValue": []}, {}),
        ("StatusNotification", "1.6", {"connectorId": 1, "status": "Charging"}, {}),
        ("MeterValues", "2.0.1", {"evseId": 1, "meterValue": [{"timestamp": "x"}]}, {}),
        (
            "TransactionEvent",
            "2.0.1",
            {
                "eventType": "Begun",
                "timestamp": "2026-05-01T08:00:00Z",
                "triggerReason": "Authorized",
                "seqNo": 0,
                "transactionInfo": {"transactionId": "t"},
            },
            {},
        ),
        (
            "TransactionEvent",
            "2.0.1",
            {
                "eventType": "Started",
                "timestamp": "2026-05-01T08:00:00Z",
                "triggerReason": "Authorized",
                "seqNo": 0,
                "transactionInfo": {"transactionId": "t" * 37},
            },
            {},
        ),
        ("Authorize", "2.0.1", {"idToken": {"idToken": "A", "type": "Mifare"}}, None),
    ],
)
def test_schema_invalid_messages_of_every_type_are_rejected(
    action: str, version: str, request_: Any, response: Any
) -> None:
    with pytest.raises(SchemaError) as caught:
        normaliser().normalise(
            envelope(action, request_, response, version=version), StationContext()
        )
    assert caught.value.reason == "schema_invalid"


def test_rejections_leave_the_context_unchanged() -> None:
    context = StationContext()
    before = context.snapshot()
    with pytest.raises(SchemaError):
        normaliser().normalise(envelope("StartTransaction", START, {"idTagInfo": {}}), context)
    assert context.snapshot() == before


def test_error_messages_do_not_quote_payload_values() -> None:
    secret = "SECRET-VALUE-42"
    for request_ in (
        START | {secret: 1},
        {"idToken": {"idToken": "x", "type": secret}},
    ):
        action, version = (
            ("StartTransaction", "1.6") if "idTag" in request_ else ("Authorize", "2.0.1")
        )
        with pytest.raises(SchemaError) as caught:
            normaliser().normalise(envelope(action, request_, version=version), StationContext())
        text = "".join(traceback.format_exception(caught.value))
        assert secret not in text


def test_the_compiler_refuses_what_it_does_not_translate() -> None:
    for document in (
        {"type": "object", "properties": {"a": {"type": "string", "pattern": "x"}}},
        {"type": "object", "properties": {"a": {"type": ["string", "null"]}}},
        {"type": "object", "properties": {"a": {"$ref": "http://example.com/x"}}},
        {"type": "object", "additionalProperties": {"type": "string"}},
        {"type": "object", "properties": {"a": {"type": "number", "multipleOf": 0.1}}},
    ):
        with pytest.raises(UnsupportedSchemaError):
            compile_schema(document, "T")
    assert issubclass(UnsupportedSchemaError, ConfigurationError)


# -- differential test: the compiled decoders agree with a reference validator ----------------

_PAYLOADS = [
    (m["ocpp_version"], m["action"], kind, m[kind])
    for name in SCENARIOS
    for m in messages(name)
    for kind in ("request", "response")
    if m[kind] is not None
]
_REPLACEMENTS: dict[type, list[Any]] = {
    str: ["", "x", "A" * 21, "A" * 37, "A" * 51, 0, None, "2026-05-01T08:00:00Z", "08:00"],
    int: [-1, 0, 2**40, 1.5, "1", None, True],
    float: [-1, 0, 2.5, "1.5", None],
    bool: [0, "true", None],
    dict: [{}, [], "x", None, {"vendorId": "v"}],
    list: [[], {}, "x", None],
}
_REFERENCE: dict[tuple[str, str, str], Any] = {}


def _reference(version: str, action: str, kind: str) -> Any:
    key = (version, action, kind)
    if key not in _REFERENCE:
        name = _schema_name(version, action, kind)  # type: ignore[arg-type]
        document = _load(version, name)
        if version == "1.6":
            _patch_v16(name, document)  # compare the translation, not the quirk patches
        checker = jsonschema.FormatChecker(formats=())

        @checker.checks("date-time", raises=ValueError)  # type: ignore[untyped-decorator]
        def _date_time(value: object) -> bool:
            return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None

        cls = jsonschema.Draft4Validator if version == "1.6" else jsonschema.Draft6Validator
        _REFERENCE[key] = cls(document, format_checker=checker)
    return _REFERENCE[key]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*prefix, index))
    return out


@st.composite
def _mutated(draw: st.DrawFn) -> tuple[str, str, str, Any]:
    """A schema-valid payload with one or two type-aware mutations."""
    version, action, kind, payload = draw(st.sampled_from(_PAYLOADS))
    payload = copy.deepcopy(payload)
    for _ in range(draw(st.integers(1, 2))):
        path = draw(st.sampled_from(_paths(payload)[1:] or [()]))
        if not path:
            continue
        parent = payload
        for step in path[:-1]:
            parent = parent[step]
        current = parent[path[-1]]
        op = draw(st.sampled_from(["replace", "replace", "replace", "delete", "add"]))
        if op == "replace":
            pool = _REPLACEMENTS.get(type(current), [None])
            parent[path[-1]] = copy.deepcopy(draw(st.sampled_from(pool)))
        elif op == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif op == "add" and isinstance(current, dict):
            current[draw(st.sampled_from(["extra", "customData", "value"]))] = "x"
        elif isinstance(parent, list):
            parent.append(copy.deepcopy(current))
    return version, action, kind, payload


@settings(max_examples=400, deadline=None)
@given(_mutated())
def test_compiled_decoders_agree_with_jsonschema(case: tuple[str, str, str, Any]) -> None:
    version, action, kind, payload = case
    expected = _reference(version, action, kind).is_valid(payload)
    try:
        REGISTRY.decode(version, action, kind, json.dumps(payload).encode())  # type: ignore[arg-type]
        accepted = True
    except SchemaError:
        accepted = False
    assert accepted == expected, (version, action, kind, payload)
