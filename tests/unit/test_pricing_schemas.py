"""The OCPI Tariff and CDR models: strict contract, lenient reading, exact numbers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.cdr import Cdr, dump_cdr_json, read_cdr
from schemas.tariff import Tariff, TariffRestrictions, load_ocpi_json, read_tariff
from tests.fixtures.pricing.builders import FIXTURES, comp, el


def _tariff(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "country_code": "NL",
        "party_id": "CWT",
        "id": "T1",
        "currency": "EUR",
        "elements": [el(comp("ENERGY", "0.25"))],
        "last_updated": "2025-01-01T00:00:00Z",
    }
    base.update(fields)
    return base


def test_every_fixture_tariff_parses() -> None:
    paths = sorted(FIXTURES.glob("tariff_*.json"))
    assert len(paths) == 10
    for path in paths:
        assert read_tariff(path.read_bytes()).elements


def test_json_numbers_become_exact_decimals() -> None:
    text = (
        '{"country_code": "NL", "party_id": "CWT", "id": "T1", "currency": "EUR",'
        ' "last_updated": "2025-01-01T00:00:00Z", "elements": [{"price_components": [{"type":'
        ' "ENERGY", "price": 0.12345678901234567890123, "vat": 9.99, "step_size": 1}]}]}'
    )
    component = read_tariff(text).elements[0].price_components[0]
    assert component.price == D("0.12345678901234567890123")  # no float on the way
    assert component.vat == D("9.99")


def test_naive_timestamps_are_utc_and_offsets_are_normalised() -> None:
    tariff = Tariff.model_validate(
        _tariff(last_updated="2025-01-01T12:00:00", start_date_time="2025-01-01T12:00:00+02:00")
    )
    assert tariff.last_updated == datetime(2025, 1, 1, 12, tzinfo=UTC)
    assert tariff.start_date_time == datetime(2025, 1, 1, 10, tzinfo=UTC)
    assert tariff.last_updated.tzinfo is UTC


@pytest.mark.parametrize(
    "restrictions",
    [
        {"start_time": "24:00"},
        {"end_time": "7:30"},
        {"start_date": "2025-02-30"},
        {"start_date": "2025-03-02", "end_date": "2025-03-01"},
        {"min_kwh": 10, "max_kwh": 5},
        {"min_power": -1},
        {"day_of_week": ["MONDAY", "FUNDAY"]},
        {"reservation": "MAYBE"},
        {"max_duration": 1.5},
    ],
)
def test_bad_restrictions_are_rejected(restrictions: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        TariffRestrictions.model_validate(restrictions)


@pytest.mark.parametrize(
    "fields",
    [
        {"elements": []},
        {"elements": [{"price_components": []}]},
        {"elements": [el(comp("ENERGY", "0.25"), reservation="RESERVATION")]},
        {"elements": [el(comp("PARKING_TIME", "1"), reservation="RESERVATION_EXPIRES")]},
        {"elements": [{"price_components": [{"type": "ENERGY", "price": "-1", "step_size": 1}]}]},
        {"elements": [{"price_components": [{"type": "ENERGY", "price": "1", "step_size": 0}]}]},
        {"elements": [{"price_components": [{"type": "KWH", "price": "1", "step_size": 1}]}]},
        {"min_price": {"excl_vat": "5"}, "max_price": {"excl_vat": "4"}},
        {"min_price": {"excl_vat": "-1"}},
        {"start_date_time": "2025-02-01T00:00:00Z", "end_date_time": "2025-01-01T00:00:00Z"},
        {"currency": "EURO"},
        {"surprise": True},
        {"last_updated": None},
    ],
)
def test_bad_tariffs_are_rejected(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Tariff.model_validate(_tariff(**fields))


def test_reservation_elements_accept_flat_and_time() -> None:
    el_ok = el(comp("FLAT", "2"), comp("TIME", "5", 300), reservation="RESERVATION")
    assert Tariff.model_validate(_tariff(elements=[el_ok])).elements[0].restrictions


def test_tariffs_are_frozen_and_hashable() -> None:
    tariff = Tariff.model_validate(_tariff())
    with pytest.raises(ValidationError):
        tariff.id = "other"  # type: ignore[misc]
    assert hash(tariff) == hash(Tariff.model_validate(_tariff()))
    with_mix = Tariff.model_validate(_tariff(energy_mix={"is_green_energy": True}))
    assert with_mix.energy_mix == {"is_green_energy": True}
    assert hash(with_mix) == hash(tariff) and with_mix != tariff


def test_lenient_reading_drops_unknown_keys_strict_rejects_them() -> None:
    data = _tariff(x_vendor={"a": 1}, elements=[{**el(comp("TIME", "1")), "x_note": "hi"}])
    with pytest.raises(ValidationError):
        read_tariff(data)
    assert read_tariff(data, lenient=True).id == "T1"


def test_ocpi_envelope_is_unwrapped() -> None:
    envelope = {"data": _tariff(), "status_code": 1000, "timestamp": "2025-01-01T00:00:00Z"}
    body = json.dumps(envelope, default=str)
    assert read_tariff(body).id == "T1"


def test_cdr_fixture_is_read_leniently_and_keeps_exact_volumes() -> None:
    cdr = read_cdr((FIXTURES / "cdr_case09_time_only.json").read_bytes())
    assert cdr.charging_periods[0].dimensions[0].volume == D("1.9731")
    assert cdr.total_energy == D("12.5")
    with pytest.raises(ValidationError):  # strict: signed_data, x_vendor_note, time_zone
        Cdr.model_validate(load_ocpi_json((FIXTURES / "cdr_case09_time_only.json").read_bytes()))


def test_cdr_rules() -> None:
    data = load_ocpi_json((FIXTURES / "cdr_unsplit_across_17.json").read_bytes())
    assert Cdr.model_validate(data).credit is None
    with pytest.raises(ValidationError, match="at most 36"):
        Cdr.model_validate({**data, "id": "X" * 37})
    assert read_cdr({**data, "id": "X" * 37}).id == "X" * 37  # relaxed when reading
    assert Cdr.model_validate({**data, "id": "X" * 37, "credit": True, "credit_reference_id": "X"})
    with pytest.raises(ValidationError, match="credit_reference_id"):
        Cdr.model_validate({**data, "credit": True})
    with pytest.raises(ValidationError, match="time order"):
        Cdr.model_validate({**data, "charging_periods": data["charging_periods"][::-1]})
    with pytest.raises(ValidationError):
        Cdr.model_validate({**data, "charging_periods": []})


def test_dump_writes_numbers_exactly_and_leaves_out_unset_fields() -> None:
    cdr = read_cdr((FIXTURES / "cdr_unsplit_across_17.json").read_bytes())
    text = dump_cdr_json(cdr).decode()
    assert '"volume":6.000' in text
    assert '"total_cost":{"excl_vat":1.41}' in text
    assert '"start_date_time":"2025-01-20T16:30:00Z"' in text
    assert "session_id" not in text
    assert read_cdr(text) == cdr  # round trip
    assert dump_cdr_json(cdr, indent=2).count(b"\n") > 10
