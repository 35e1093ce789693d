"""The compiled MeterValues path (``native/``) against the Python path.

Its contract (``native/src/lib.rs``): for an OCPP 1.6 MeterValues request it
either defers (``None``) or gives exactly what Python gives - never accepting a
request Python rejects, never a different reading. Checked here three ways: the
projection alone on generated and mutated requests, the whole normaliser on
every message of the datasets, the simulator and the hand-written scenarios,
and a few readable examples.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from chargewatch.datasets import acn_office001, sap_labs_france
from chargewatch.simulator import SimConfig, simulate
from chargewatch.simulator.ocpp_log import ocpp_envelopes
from streams.core.ocpp import OcppNormaliser, StationContext, decode_envelope
from streams.core.ocpp.compiled import (
    project_envelope_meter_values_v16,
    project_meter_values_v16,
)
from streams.core.ocpp.emit import epoch_ms, utc
from streams.core.ocpp.errors import OcppInputError
from streams.core.ocpp.meter import reading_v16
from streams.core.ocpp.registry import SchemaRegistry
from streams.ocpp_ingest import OcppIngest
from tests.fixtures.ocpp.scenarios import KEY, SCENARIOS, TENANT, messages, raw

REGISTRY = SchemaRegistry()


def _project(request: bytes) -> Any:
    assert project_meter_values_v16 is not None, "make install builds native/"
    return project_meter_values_v16(request)


def _python(request: bytes) -> Any:
    """What the Python path makes of a request: the projection, or the error."""
    try:
        decoded = REGISTRY.decode("1.6", "MeterValues", "request", request)
    except OcppInputError as exc:
        return exc
    rows = []
    for mv in decoded.meterValue:
        reading = reading_v16(mv.sampledValue)
        if (reading.energy_wh, reading.power_w, reading.soc) != (None, None, None):
            rows.append(
                (epoch_ms(utc(mv.timestamp)), reading.energy_wh, reading.power_w, reading.soc)
            )
    tx = decoded.transactionId
    return (decoded.connectorId, None if tx is msgspec.UNSET else tx, rows)


def _agrees(request: bytes) -> Any:
    """Assert the contract for one request; return the compiled projection."""
    compiled, python = _project(request), _python(request)
    if isinstance(python, OcppInputError):
        assert compiled is None, f"accepted what Python rejects ({python}): {request!r}"
    elif compiled is not None:
        assert compiled == python, request
        assert [type(row[3]) for row in compiled[2]] == [type(row[3]) for row in python[2]]
    return compiled


# -- generated requests ----------------------------------------------------------------

# The measurands and units we keep come three times: they are the interesting ones.
KEPT = ["Energy.Active.Import.Register", "Power.Active.Import", "SoC"]
MEASURANDS = KEPT * 3 + [
    "Voltage",
    "Energy.Active.Import.Interval",
    "Current.Import",
    "Temperature",
]
UNITS = ["Wh", "kWh", "W", "kW", "Percent"] * 3 + ["varh", "A", "V", "Celsius", "Hertz"]
CONTEXTS = [
    "Sample.Periodic",
    "Sample.Clock",
    "Transaction.Begin",
    "Transaction.End",
    "Trigger",
    "Interruption.Begin",
    "Other",
]
PHASES = ["L1", "L2", "L3", "N", "L1-N", "L1-L2"]
LOCATIONS = ["Outlet", "Inlet", "Cable", "EV", "Body"]
INVALID = ["", "bogus", "wh", "outlet", "l1"]  # outside every enum
VALUES = [
    *["0", "7", "12", "007", "1000", "999999999999999"],  # whole numbers
    *["12.5", "0.5", "2.5", "99.5", "1.0005", "0.0015", "0.0005"],  # halves: rounded up
    *["12.4999", "1.2345", ".5", "5.", "55", "55.5", "100", "100.0", "100.05", "101"],
    *["1000000000000000", "1000000000000001", "99999999999999999999999"],  # the maximum
    *["999999999999999999999999", "0.000000000000000000000001", "33.333333333333333333333"],
    *["12345678901234567890.5", ".", "", "-1", "+1", "1e3", "1E-2", "NaN", "inf", "1.2.3"],
    *["\uff11\uff12", "\u00b2", "1_000", " 1", "1 "],  # not ASCII digits, or not only digits
]
TIMES = [
    "2026-05-04T00:09:20Z",
    "2026-05-04T00:09:20.5Z",
    "2026-05-04T00:09:20.123Z",
    "2026-05-04T00:09:20.1234Z",
    "2026-05-04T00:09:20.123456Z",
    "2026-05-04T02:09:20+02:00",
    "2026-05-04T00:09:20-00:00",
    "2026-05-04T00:09:20+00:00",
    "2026-05-04T00:09:20+23:59",
    "2026-05-04T00:09:20+24:00",
    "2026-05-04T00:09:20",
    "2026-05-04 00:09:20Z",
    "2026-05-04t00:09:20z",
    "2026-05-04T00:09:20.Z",
    "2024-02-29T23:59:59.999Z",
    "2023-02-29T00:00:00Z",
    "2026-04-31T00:00:00Z",
    "2026-13-01T00:00:00Z",
    "2026-05-04T24:00:00Z",
    "2026-05-04T23:60:00Z",
    "2026-05-04T23:59:60Z",
    "1970-01-01T00:00:00Z",
    "1971-01-01T00:30:00+01:00",
    "9998-12-31T23:59:59Z",
    "0001-01-01T00:00:00Z",
    "2026-5-4T00:09:20Z",
    "2026-05-04T00:09:20+0200",
    "20260504T000920Z",
    "2026-05-04T00:09:20.000000001Z",
]


def _one_in(draw: st.DrawFn, n: int) -> bool:
    # Not st.integers(0, n - 1) == 0: Hypothesis draws the bounds far more often than 1/n.
    return bool(draw(st.sampled_from(range(n))) == n - 1)


def _rarely(draw: st.DrawFn, valid: st.SearchStrategy[Any], invalid: st.SearchStrategy[Any]) -> Any:
    """Mostly ``valid``: a request with one invalid part is rejected whatever else
    it holds, so invalid parts must be rare for the rest to be compared."""
    return draw(invalid) if _one_in(draw, 25) else draw(valid)


@st.composite
def _odd_timestamps(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        return draw(st.sampled_from(TIMES))
    year = draw(st.integers(1969, 2101))
    month, day = draw(st.integers(0, 13)), draw(st.integers(0, 32))
    hour, minute, second = (
        draw(st.integers(0, 24)),
        draw(st.integers(0, 60)),
        draw(st.integers(0, 60)),
    )
    fraction = draw(st.sampled_from(["", ".1", ".12", ".999", ".5555", ".100000"]))
    zone = draw(st.sampled_from(["Z", "+01:00", "-05:30", "+14:00", "-12:45", "+00:60"]))
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}{fraction}{zone}"


@st.composite
def _timestamps(draw: st.DrawFn) -> str:
    if _one_in(draw, 4):
        return draw(_odd_timestamps())
    zone = draw(
        st.sampled_from(
            [UTC, timezone(timedelta(hours=1)), timezone(-timedelta(hours=5, minutes=30))]
        )
    )
    moment = draw(
        st.datetimes(datetime(1971, 1, 2), datetime(9998, 12, 30), timezones=st.just(zone))  # noqa: DTZ001 - bounds of st.datetimes are naive
    )
    text = moment.isoformat(timespec=draw(st.sampled_from(["seconds", "milliseconds"])))
    return text.replace("+00:00", "Z") if draw(st.booleans()) else text


_FIELDS = (
    ("measurand", MEASURANDS),
    ("unit", UNITS),
    ("context", CONTEXTS),
    ("format", ["Raw", "SignedData"]),
    ("phase", PHASES),
    ("location", LOCATIONS),
)
_DIGITS = st.from_regex(r"\A[0-9]{0,20}\.?[0-9]{0,8}\Z")


@st.composite
def _sampled_values(draw: st.DrawFn) -> dict[str, Any]:
    value = _rarely(
        draw, st.one_of(st.sampled_from(VALUES), _DIGITS), st.sampled_from([12, 12.5, None, ["1"]])
    )
    sv: dict[str, Any] = {"value": value}
    for name, choices in _FIELDS:
        # measurand and unit are usually there; the others now and then
        if _one_in(draw, 6 if name in ("measurand", "unit") else 2):
            continue
        if name in ("phase", "location") and draw(st.booleans()):
            continue
        sv[name] = _rarely(draw, st.sampled_from(choices), st.sampled_from([*INVALID, None]))
    if _one_in(draw, 40):
        sv["signedMeterValue"] = "x"  # not in the schema
    if _one_in(draw, 40):
        return list(sv.values())  # type: ignore[return-value] # an array, not an object
    return sv


@st.composite
def _requests(draw: st.DrawFn) -> dict[str, Any]:
    meter_value = st.fixed_dictionaries(
        {
            "timestamp": _timestamps(),
            "sampledValue": st.lists(
                _sampled_values(), min_size=_rarely(draw, st.just(1), st.just(0)), max_size=4
            ),
        }
    )
    request: dict[str, Any] = {
        "connectorId": _rarely(
            draw, st.integers(0, 3), st.sampled_from([-1, 256, 1.0, "1", None, 2**63])
        ),
        "meterValue": draw(
            st.lists(meter_value, min_size=_rarely(draw, st.just(1), st.just(0)), max_size=3)
        ),
    }
    if not _one_in(draw, 6):
        request["transactionId"] = _rarely(
            draw, st.integers(-1, 2**40), st.sampled_from([None, 1.5, "7", -(2**63) - 1])
        )
    if _one_in(draw, 40):
        del request[draw(st.sampled_from(["connectorId", "meterValue"]))]
    if request.get("meterValue") and _one_in(draw, 40):
        request["meterValue"][0] = list(request["meterValue"][0].values())  # an array
    return request


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=_requests())
@example(
    request={
        "connectorId": 1,
        "meterValue": [{"timestamp": "2023-02-29T00:00:00Z", "sampledValue": [{"value": "1"}]}],
    }
)
def test_a_generated_request_is_deferred_or_projected_as_python_does(
    request: dict[str, Any],
) -> None:
    _agrees(json.dumps(request).encode())


_MUTATIONS = [
    (b'"Wh"', b'"\\u0057h"'),  # an escape: decodes to the same enum value in Python
    (b'"2556563"', b'"2556\\u0035563"'),
    (b'"connectorId"', b'"connectorId": 1, "connectorId"'),  # a duplicate key
    (b"}]}]", b"}]}], }"),  # trailing comma
    (b'"timestamp"', b'"timeStamp"'),
    (b"1,", b"01,"),
    (b'{"connectorId"', b'  {"connectorId"'),
    (b'"value": "', b'"value": "\\n'),
]


@pytest.mark.parametrize(("old", "new"), _MUTATIONS)
def test_mutated_bytes_never_make_the_compiled_path_disagree(old: bytes, new: bytes) -> None:
    base = (
        b'{"connectorId": 1, "transactionId": 7, "meterValue": [{"timestamp": '
        b'"2026-05-04T00:09:20Z", "sampledValue": [{"value": "2556563", "unit": "Wh"}]}]}'
    )
    assert _agrees(base) == (1, 7, [(1777853360000, 2556563, None, None)])
    mutated = base.replace(old, new, 1)
    assert mutated != base
    _agrees(mutated)
    _agrees(mutated + b"x")  # trailing garbage: invalid JSON for both


_AS_ARRAYS = [
    b'[1, 7, [{"timestamp": "2026-05-04T00:09:20Z", "sampledValue": [{"value": "2556563"}]}]]',
    b'{"connectorId": 1, "transactionId": 7, "meterValue": [["2026-05-04T00:09:20Z", '
    b'[{"value": "2556563"}]]]}',
    b'{"connectorId": 1, "transactionId": 7, "meterValue": [{"timestamp": '
    b'"2026-05-04T00:09:20Z", "sampledValue": [["2556563"]]}]}',
]


@pytest.mark.parametrize("request_json", _AS_ARRAYS)
def test_an_array_in_place_of_an_object_is_never_taken(request_json: bytes) -> None:
    """serde's derived structs also decode an array of their fields in order; the
    schema (and Python) says object. An early build took all three."""
    assert isinstance(_python(request_json), OcppInputError)
    assert _project(request_json) is None


# -- readable examples ------------------------------------------------------------------


def _one(value: str, **fields: str) -> bytes:
    sv = {"value": value, **fields}
    return json.dumps(
        {
            "connectorId": 2,
            "transactionId": 9,
            "meterValue": [{"timestamp": "2026-05-04T02:09:20.5+02:00", "sampledValue": [sv]}],
        }
    ).encode()


@pytest.mark.parametrize(
    ("request_json", "row"),
    [
        (_one("12.5", unit="kWh"), (1777853360500, 12500, None, None)),
        (
            _one("7.4005", measurand="Power.Active.Import", unit="kW"),
            (1777853360500, None, 7401, None),
        ),
        (_one("55.5", measurand="SoC"), (1777853360500, None, None, 55.5)),
        (_one("0.5"), (1777853360500, 1, None, None)),  # half up, not half even
    ],
)
def test_examples_are_projected_as_the_meter_rules_say(request_json: bytes, row: Any) -> None:
    assert _agrees(request_json) == (2, 9, [row])


@pytest.mark.parametrize(
    "request_json",
    [
        _one("1e3"),  # exponent: Python's Decimal path
        _one("12", phase="L1"),  # phases: Python's _combine
        _one("12", location="Inlet"),
        _one("33.3333333333333333333333", measurand="SoC"),  # more than 22 decimals
    ],
)
def test_the_cases_left_to_python_are_deferred(request_json: bytes) -> None:
    assert _project(request_json) is None
    assert not isinstance(_python(request_json), OcppInputError)  # valid all the same


def test_readings_nobody_can_use_leave_no_row() -> None:
    assert _agrees(_one("12", measurand="Voltage", unit="V")) == (2, 9, [])
    assert _agrees(_one("12", context="Other")) == (2, 9, [])
    assert _agrees(_one("1000000000000001")) == (2, 9, [])  # above the contract's maximum


# -- whole ocpp.messages values ---------------------------------------------------------


def _project_value(value: bytes) -> Any:
    assert project_envelope_meter_values_v16 is not None, "make install builds native/"
    return project_envelope_meter_values_v16(value)


def _python_value(value: bytes) -> Any:
    """What the Python path makes of a value: the projection, the error, or
    ``"other"`` for a valid envelope of another message."""
    try:
        envelope = decode_envelope(value)
    except OcppInputError as exc:
        return exc
    if (envelope.ocpp_version, envelope.action) != ("1.6", "MeterValues"):
        return "other"
    if envelope.has_response:
        try:
            REGISTRY.decode("1.6", "MeterValues", "response", envelope.response)
        except OcppInputError as exc:
            return exc
    request = _python(bytes(envelope.request))
    if isinstance(request, OcppInputError):
        return request
    return (envelope.station_id, envelope.tenant, *request)


def _value_agrees(value: bytes) -> Any:
    """The contract for a whole value: deferred, or exactly Python's projection."""
    compiled = _project_value(value)
    if compiled is not None:
        python = _python_value(value)
        assert compiled == python, value
        assert [type(row[3]) for row in compiled[4]] == [type(row[3]) for row in python[4]]
    return compiled


_ABSENT = object()
_IDS = ["CP-0001", "x" * 64, "\u00df" * 64, "\u00e9"]  # 64 characters of 2 bytes each
_BAD_IDS = ["", "x" * 65, "\u00df" * 65, 7, None]
_OPTIONAL: list[tuple[str, list[Any], list[Any]]] = [
    ("response", [_ABSENT, None, {}], [{"currentTime": "x"}, [], "", 0]),
    ("tenant", [_ABSENT, None, "acme", "t" * 64], ["", "t" * 65, 5]),
    ("schema_version", [_ABSENT, 1], [2, 1.0, None, True, "1"]),
]


@st.composite
def _plain_requests(draw: st.DrawFn) -> dict[str, Any]:
    """A valid request of the usual shape: more than half the generated ones are
    invalid, and a value's envelope is only compared when its request is valid."""
    moments = st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1), timezones=st.just(UTC))  # noqa: DTZ001 - naive bounds
    sampled = st.fixed_dictionaries(
        {"value": _DIGITS, "measurand": st.sampled_from(KEPT), "unit": st.sampled_from(UNITS)}
    )
    meter_value = st.fixed_dictionaries(
        {
            "timestamp": moments.map(lambda m: m.isoformat(timespec="milliseconds")),
            "sampledValue": st.lists(sampled, min_size=1, max_size=3),
        }
    )
    return {
        "connectorId": draw(st.integers(1, 3)),
        "transactionId": draw(st.integers(0, 2**31)),
        "meterValue": draw(st.lists(meter_value, min_size=1, max_size=2)),
    }


@st.composite
def _values(draw: st.DrawFn) -> bytes:
    """An ocpp.messages value holding a generated MeterValues request, with rare
    invalid envelope parts, in any key order and spacing."""
    envelope: dict[str, Any] = {
        "station_id": _rarely(draw, st.sampled_from(_IDS), st.sampled_from(_BAD_IDS)),
        "ocpp_version": _rarely(draw, st.just("1.6"), st.sampled_from(["2.0.1", "1.6 ", None])),
        "message_id": _rarely(draw, st.sampled_from(_IDS), st.sampled_from(_BAD_IDS)),
        "action": _rarely(
            draw, st.just("MeterValues"), st.sampled_from(["StatusNotification", "meterValues"])
        ),
        "received_at": _rarely(draw, _timestamps(), st.sampled_from([None, 0, ""])),
        "request": draw(_requests() if _one_in(draw, 3) else _plain_requests()),
    }
    for name, valid, invalid in _OPTIONAL:
        chosen = _rarely(draw, st.sampled_from(valid), st.sampled_from(invalid))
        if chosen is not _ABSENT:
            envelope[name] = chosen
    if _one_in(draw, 40):
        envelope["partition"] = 3  # not in the contract
    if _one_in(draw, 40):
        del envelope[draw(st.sampled_from(sorted(envelope)))]
    order = draw(st.permutations(sorted(envelope)))
    spacing = draw(st.sampled_from([(",", ":"), (", ", ": ")]))
    # ensure_ascii=False: non-ASCII ids as UTF-8 (lengths count characters, not bytes)
    text = json.dumps(
        {key: envelope[key] for key in order},
        separators=spacing,
        ensure_ascii=draw(st.booleans()),
    )
    return text.encode()


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=_values())
def test_a_generated_value_is_deferred_or_projected_as_python_does(value: bytes) -> None:
    _value_agrees(value)


def _value(**changes: Any) -> bytes:
    envelope = {
        "station_id": "CP-0001",
        "ocpp_version": "1.6",
        "message_id": "m-1",
        "action": "MeterValues",
        "received_at": "2026-05-04T00:09:21.000Z",
        "request": json.loads(_one("12.5", unit="kWh")),
        "response": {},
        **changes,
    }
    return json.dumps({k: v for k, v in envelope.items() if v is not _ABSENT}).encode()


def test_a_value_is_projected_with_its_station_and_tenant() -> None:
    row = (1777853360500, 12500, None, None)
    assert _value_agrees(_value()) == ("CP-0001", None, 2, 9, [row])
    assert _value_agrees(_value(tenant="acme", response=None)) == ("CP-0001", "acme", 2, 9, [row])
    assert _value_agrees(_value(response=_ABSENT, schema_version=1)) is not None


@pytest.mark.parametrize(
    "value",
    [
        _value(response={"x": 1}),  # invalid against MeterValues.conf
        _value(response=[]),  # an array, not an object
        _value(received_at="2026-05-04T00:09:21"),  # no time zone
        _value(received_at="2026-05-04T00:09:21.123456Z"),  # valid, but not the subset's
        _value(station_id="CP\n1"),  # an escape (valid)
        _value(tenant=""),
        _value(schema_version=2),
        _value(ocpp_version="2.0.1"),
        _value(action="StatusNotification"),
        _value(extra=1),
        _value().replace(b'"station_id"', b'"station_id": "CP-0002", "station_id"'),
        _value() + b" x",
        b"[" + _value() + b"]",
        None,  # a tombstone
        bytearray(_value()),  # not bytes: Python decides
    ],
)
def test_a_value_outside_the_subset_is_left_to_python(value: Any) -> None:
    assert _project_value(value) is None


# -- the whole normaliser, both paths ----------------------------------------------------


def _both_paths(values: list[bytes]) -> tuple[int, int]:
    """Normalise ``values`` with and without the compiled path; assert identical
    events, times, errors and station contexts. Return (MeterValues, projected)."""
    paths = [OcppNormaliser({"k1": KEY}, "k1", TENANT, compiled=c) for c in (True, False)]
    contexts: list[dict[str, StationContext]] = [{}, {}]
    meter_values = projected = 0
    for value in values:
        envelope = decode_envelope(value)
        results = []
        for normaliser, of_path in zip(paths, contexts, strict=True):
            context = of_path.setdefault(envelope.station_id, StationContext())
            try:
                results.append(normaliser.normalise_compact(envelope, context))
            except OcppInputError as exc:
                results.append((type(exc), exc.reason))
        assert results[0] == results[1], value
        if envelope.action == "MeterValues" and envelope.ocpp_version == "1.6":
            meter_values += 1
            projected += _project(bytes(envelope.request)) is not None
    for station, context in contexts[0].items():
        assert context.snapshot() == contexts[1][station].snapshot(), station
    whole = _ingest_both_paths(values)
    assert whole <= projected  # a value is taken whole only if its request is taken
    return meter_values, whole


@dataclass
class _Record:
    value: bytes


def _ingest_both_paths(values: list[bytes]) -> int:
    """The worker's batch (``OcppIngest.normalise_batch``, which tries the compiled
    projection of the whole value first) with and without the compiled path:
    identical events, times, errors and station contexts. Return how many values
    the compiled path took whole."""
    results = []
    for compiled in (True, False):
        normaliser = OcppNormaliser({"k1": KEY}, "k1", TENANT, compiled=compiled)
        ingest = OcppIngest(normaliser, {}, TENANT)
        rejected: list[tuple[type, str, bytes]] = []
        out = ingest.normalise_batch(
            [_Record(value) for value in values],
            0,
            lambda exc, record, into=rejected: into.append((type(exc), exc.reason, record.value)),
        )
        results.append((out, rejected, sorted(ingest.dirty())))
    assert results[0] == results[1]
    return sum(_project_value(value) is not None for value in values)


def test_the_build_has_the_compiled_path() -> None:
    assert OcppNormaliser({"k1": KEY}, "k1", TENANT).compiled
    assert not OcppNormaliser({"k1": KEY}, "k1", TENANT, compiled=False).compiled


def test_both_paths_agree_on_a_simulated_network_and_the_compiled_one_takes_nearly_all() -> None:
    sim = simulate(replace(SimConfig(), stations=8, days=1.0, seed=16))
    values = [value for _, value in ocpp_envelopes(sim, "ocpp1.6")]
    meter_values, projected = _both_paths(values)
    assert meter_values > 1000
    assert projected / meter_values > 0.95, (projected, meter_values)


@pytest.mark.parametrize("dataset", [sap_labs_france, acn_office001])
def test_both_paths_agree_on_the_real_datasets(dataset: Any) -> None:
    log = dataset()
    meter_values, projected = _both_paths([value for _, value in log.records])
    assert meter_values > 0 and projected > 0


@pytest.mark.parametrize("name", [n for n in SCENARIOS if n.startswith("v16")])
def test_both_paths_agree_on_the_hand_written_scenarios(name: str) -> None:
    _both_paths([raw(message) for message in messages(name)])
