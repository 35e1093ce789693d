"""Sampled values -> energy (Wh), power (W), SoC: units, phases, locations, contexts."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.core.ocpp import SchemaRegistry
from streams.core.ocpp.meter import Reading, _number, reading_v16, reading_v201, scaled_int

REGISTRY = SchemaRegistry()
TS = "2026-05-01T08:00:00Z"


def v16(*sampled: dict[str, Any]) -> Reading:
    request = {"connectorId": 1, "meterValue": [{"timestamp": TS, "sampledValue": list(sampled)}]}
    decoded = REGISTRY.decode("1.6", "MeterValues", "request", json.dumps(request).encode())
    return reading_v16(decoded.meterValue[0].sampledValue)


def v201(*sampled: dict[str, Any]) -> Reading:
    request = {"evseId": 1, "meterValue": [{"timestamp": TS, "sampledValue": list(sampled)}]}
    decoded = REGISTRY.decode("2.0.1", "MeterValues", "request", json.dumps(request).encode())
    return reading_v201(decoded.meterValue[0].sampledValue)


P = "Power.Active.Import"


def test_defaults_are_the_energy_register_in_wh() -> None:
    assert v16({"value": "1234"}) == Reading(1234, None, None)
    assert v201({"value": 1234}) == Reading(1234, None, None)


@pytest.mark.parametrize(
    ("value", "unit", "wh"),
    [
        ("12.3456", "kWh", 12346),  # 12345.6 Wh, half up
        ("0.0005", "kWh", 1),
        ("0.0004", "kWh", 0),
        ("130.250", "kWh", 130250),
        ("1234.5", "Wh", 1235),
        ("1234.4", "Wh", 1234),
        ("2.75e3", "Wh", 2750),
        ("1E-2", "kWh", 10),
    ],
)
def test_v16_units_scale_exactly(value: str, unit: str, wh: int) -> None:
    assert v16({"value": value, "unit": unit}).energy_wh == wh


def test_v16_power_units() -> None:
    assert v16({"value": "7.4", "measurand": P, "unit": "kW"}).power_w == 7400
    assert v16({"value": "7400", "measurand": P}).power_w == 7400  # default W
    assert v16({"value": "7400", "measurand": P, "unit": "VA"}).power_w is None


@pytest.mark.parametrize(
    ("value", "uom", "wh"),
    [
        (5.4125, {"unit": "Wh", "multiplier": 4}, 54125),
        (52.125, {"unit": "kWh"}, 52125),
        (52125, {"unit": "kWh", "multiplier": -3}, 52125),
        (1.5, {"unit": "kWh", "multiplier": 1}, 15000),
        (123, {"multiplier": 2}, 12300),  # unit defaults to Wh
        (7, {"unit": "kWh", "multiplier": 99}, None),  # absurd multiplier
        (7, {"unit": "varh"}, None),
        (7, {"unit": "custom-unit"}, None),
    ],
)
def test_v201_unit_and_multiplier(value: float, uom: dict[str, Any], wh: int | None) -> None:
    assert v201({"value": value, "unitOfMeasure": uom}).energy_wh == wh


def test_v201_power_with_multiplier() -> None:
    reading = v201({"value": 11, "measurand": P, "unitOfMeasure": {"unit": "W", "multiplier": 3}})
    assert reading.power_w == 11000
    reading = v201({"value": 7.36, "measurand": P, "unitOfMeasure": {"unit": "kW"}})
    assert reading.power_w == 7360


def test_phases_are_summed_only_without_a_total() -> None:
    phases = [{"value": v, "phase": p} for v, p in (("100", "L1"), ("200", "L2"), ("300", "L3"))]
    assert v16(*phases).energy_wh == 600
    assert v16(*phases, {"value": "590"}).energy_wh == 590  # the total wins
    assert v16(phases[0]).energy_wh == 100  # single-phase charger
    ln = [{"value": "10", "phase": p} for p in ("L1-N", "L2-N", "L3-N")]
    assert v16(*ln).energy_wh == 30
    assert v16(*ln, *phases).energy_wh == 600  # L1..L3 preferred over L-N, never both
    assert v16({"value": "5", "phase": "N"}, {"value": "7", "phase": "L1-L2"}).energy_wh is None
    power = [{"value": "3.7", "measurand": P, "unit": "kW", "phase": p} for p in ("L1", "L2")]
    assert v16(*power).power_w == 7400


def test_outlet_is_used_and_inlet_only_as_a_fallback() -> None:
    inlet = {"value": "2000", "location": "Inlet"}
    outlet = {"value": "1990", "location": "Outlet"}
    assert v16(inlet, outlet).energy_wh == 1990
    assert v16(outlet, inlet).energy_wh == 1990
    assert v16({"value": "1990"}, inlet).energy_wh == 1990  # Outlet is the default location
    assert v16(inlet).energy_wh == 2000  # a station that meters only its inlet
    for location in ("Cable", "EV", "Body"):
        assert v16({"value": "1", "location": location}).energy_wh is None
    assert v16({"value": "80", "measurand": "SoC", "location": "EV"}).soc == 80.0


@pytest.mark.parametrize(
    "context",
    [
        "Transaction.Begin",
        "Transaction.End",
        "Sample.Periodic",
        "Sample.Clock",
        "Trigger",
        "Interruption.Begin",
        "Interruption.End",
    ],
)
def test_register_contexts_feed_energy(context: str) -> None:
    assert v16({"value": "5", "context": context}).energy_wh == 5
    assert v201({"value": 5, "context": context}).energy_wh == 5


def test_other_context_and_non_register_measurands_are_ignored() -> None:
    assert v16({"value": "5", "context": "Other"}).energy_wh is None
    assert v201({"value": 5, "context": "Other"}).energy_wh is None
    for measurand in ("Energy.Active.Import.Interval", "Energy.Active.Export.Register", "Voltage"):
        assert v16({"value": "5", "measurand": measurand}) == Reading(None, None, None)
    assert v201({"value": 5, "measurand": "Energy.Active.Net"}) == Reading(None, None, None)


@pytest.mark.parametrize(
    "value",
    [
        "NaN",
        "nan",
        "inf",
        "Infinity",
        "1_000",
        " 12",
        "12 ",
        "",
        ".",
        "-5",
        "0x1F",
        "\uff11\uff12",
        "١٢",
        "1e99999",
        "4F434D467C7B",
        "9" * 41,
        "1.2.3",
        "+",
        "e5",
    ],
)
def test_v16_values_that_are_not_plain_numbers_are_ignored(value: str) -> None:
    assert v16({"value": value}).energy_wh is None


def test_signed_data_is_ignored_in_v16() -> None:
    assert v16({"value": "1234", "format": "SignedData"}).energy_wh is None
    assert v16({"value": "1234", "format": "Raw"}).energy_wh == 1234


def test_negative_and_absurd_values_are_ignored() -> None:
    assert v201({"value": -5}).energy_wh is None
    assert v201({"value": -5, "measurand": P}).power_w is None
    assert v201({"value": 1e300}).energy_wh is None
    assert v16({"value": "1" + "0" * 16}).energy_wh is None


def test_soc() -> None:
    assert v16({"value": "55.5", "measurand": "SoC", "unit": "Percent"}).soc == 55.5
    assert v16({"value": "55", "measurand": "SoC"}).soc == 55.0
    assert v16({"value": "101", "measurand": "SoC"}).soc is None
    assert v16({"value": "50", "measurand": "SoC", "unit": "Wh"}).soc is None
    assert v201({"value": 0.47, "measurand": "SoC", "unitOfMeasure": {"multiplier": 2}}).soc == 47.0
    assert v201({"value": 47, "measurand": "SoC", "unitOfMeasure": {"unit": "Percent"}}).soc == 47


@given(st.permutations(["100", "200", "300", "590"]), st.booleans())
def test_the_result_does_not_depend_on_the_order_of_sampled_values(
    values: list[str], inlet: bool
) -> None:
    phases = dict(zip(("L1", "L2", "L3"), ("100", "200", "300"), strict=True))
    sampled: list[dict[str, Any]] = []
    for value in values:
        item: dict[str, Any] = {"value": value}
        phase = next((p for p, v in phases.items() if v == value), None)
        if phase:
            item["phase"] = phase
        sampled.append(item)
    if inlet:
        sampled.append({"value": "9999", "location": "Inlet"})
    assert v16(*sampled).energy_wh == 590


@given(
    st.decimals(min_value=0, max_value=10**9, places=6, allow_nan=False),
    st.integers(min_value=-6, max_value=6),
)
def test_scaling_is_exact_decimal_arithmetic(number: Decimal, exponent: int) -> None:
    text = f"{number:f}"
    expected = int(Decimal(text).scaleb(exponent).to_integral_value(ROUND_HALF_UP))
    assert scaled_int(text, exponent) == (expected if expected <= 10**15 else None)
    as_float = float(text)
    if repr(as_float) == text.rstrip("0").rstrip(".") or f"{as_float}" == text:
        assert scaled_int(as_float, exponent) == scaled_int(text, exponent)


@given(
    st.one_of(
        st.floats(min_value=0, max_value=1e13, allow_nan=False),
        st.integers(min_value=-5, max_value=10**16),
        st.decimals(min_value=0, max_value=10**12, places=4, allow_nan=False).map(str),
        st.text(alphabet="0123456789.e-+ ", max_size=12),
    ),
    st.integers(min_value=-12, max_value=15),
)
def test_the_inlined_fast_path_equals_the_exact_one(value: object, exponent: int) -> None:
    assert _number(value, exponent) == scaled_int(value, exponent)
