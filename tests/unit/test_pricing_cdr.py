"""CDRs: emitting a priced session, crediting it, repricing others' CDRs, the CLI."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest

from chargewatch.errors import InputError
from chargewatch.pricing_cli import run_price
from schemas.cdr import Cdr, dump_cdr_json, read_cdr
from schemas.tariff import Price, load_ocpi_json
from streams.core.pricing import (
    PricingError,
    ReservationWindow,
    credit_cdr,
    price_cdr,
    profile_from_cdr,
    reprice,
    to_cdr,
)
from tests.fixtures.pricing.builders import (
    FIXTURES,
    HEADER,
    charge,
    comp,
    el,
    fixture_tariff,
    park,
    priced,
    session,
    tariff,
)

T0 = datetime(2025, 6, 2, 16, 0, tzinfo=UTC)
STOPPED = T0 + timedelta(hours=3)


def _emitted() -> Cdr:
    t = tariff(
        el(comp("FLAT", "0.50", vat="21"), comp("ENERGY", "0.20", 500, "21"), end_time="17:00"),
        el(comp("FLAT", "0.50", vat="21"), comp("ENERGY", "0.27", 500, "21")),
        el(comp("PARKING_TIME", "3.00", 300, "21")),
    )
    profile = session(T0, charge(60, 4300, power_w=4300), charge(45, 1100), park(22))
    return to_cdr(priced(profile, t), header=HEADER, last_updated=STOPPED)


def test_to_cdr_periods_dimensions_and_totals() -> None:
    cdr = _emitted()
    assert [p.start_date_time for p in cdr.charging_periods] == [
        T0,
        T0 + timedelta(hours=1),
        T0 + timedelta(minutes=105),
    ]
    first = {d.type: d.volume for d in cdr.charging_periods[0].dimensions}
    assert first == {
        "ENERGY": D("4.300"),
        "TIME": D("1.0000"),
        "MIN_POWER": D("4.300"),
        "MAX_POWER": D("4.300"),
    }
    last = {d.type: d.volume for d in cdr.charging_periods[2].dimensions}
    assert last["PARKING_TIME"] == D("0.3667")
    assert all(p.tariff_id == "T1" for p in cdr.charging_periods)
    assert cdr.total_energy == D("5.400")
    assert cdr.total_time == D("2.1167")  # 127 min
    assert cdr.total_parking_time == D("0.3667")
    # 4.3 @0.20 + 1.2 @0.27 (5.4 -> 5.5 kWh) + flat 0.50 + 25 min parking @3.00
    assert cdr.total_energy_cost == Price(excl_vat=D("1.1840"), incl_vat=D("1.4326"))
    assert cdr.total_fixed_cost is not None and cdr.total_fixed_cost.excl_vat == D("0.5000")
    assert cdr.total_parking_cost is not None and cdr.total_parking_cost.excl_vat == D("1.2500")
    assert cdr.total_time_cost is None  # the tariff has no TIME component
    assert cdr.total_reservation_cost is None
    assert cdr.total_cost.excl_vat == D("2.9340")
    assert cdr.total_cost.incl_vat == D("3.5501")  # 3.55014 rounded once
    assert cdr.tariffs[0].id == "T1" and cdr.last_updated == STOPPED


def test_to_cdr_is_valid_strict_ocpi_json() -> None:
    cdr = _emitted()
    assert Cdr.model_validate(load_ocpi_json(dump_cdr_json(cdr))) == cdr


def test_to_cdr_with_a_reservation_starts_at_the_reservation() -> None:
    t = tariff(
        el(comp("TIME", "5.00", 60, "20"), reservation="RESERVATION"), el(comp("ENERGY", "0.25"))
    )
    window = ReservationWindow(T0 - timedelta(minutes=15), T0)
    cdr = to_cdr(
        priced(session(T0, charge(60, 20_000), reservation=window), t),
        header=HEADER,
        last_updated=STOPPED,
    )
    assert cdr.start_date_time == T0 - timedelta(minutes=15)
    assert cdr.charging_periods[0].dimensions[0].type == "RESERVATION_TIME"
    assert cdr.total_time == D("1.0000")  # the session, not the reservation
    assert cdr.total_reservation_cost is not None
    assert cdr.total_reservation_cost.excl_vat == D("1.2500")
    assert cdr.total_cost.excl_vat == D("6.2500")


def test_credit_cdr_negates_total_cost_only() -> None:
    cdr = _emitted()
    credit = credit_cdr(cdr, last_updated=STOPPED + timedelta(days=2))
    assert credit.id == "CW-2025-000001-C"
    assert credit.credit is True and credit.credit_reference_id == cdr.id
    assert credit.total_cost.excl_vat == -cdr.total_cost.excl_vat
    assert credit.total_cost.incl_vat == -cdr.total_cost.incl_vat  # type: ignore[operator]
    assert credit.total_energy_cost == cdr.total_energy_cost  # OCPI: only total_cost
    assert credit.charging_periods == cdr.charging_periods
    changed = {"id", "credit", "credit_reference_id", "total_cost", "last_updated"}
    assert credit.model_dump(exclude=changed) == cdr.model_dump(exclude=changed)
    with pytest.raises(PricingError, match="itself a credit"):
        credit_cdr(credit, last_updated=STOPPED)


def test_credit_cdr_can_negate_sub_costs_and_never_writes_minus_zero() -> None:
    cdr = _emitted()
    credit = credit_cdr(cdr, last_updated=STOPPED, negate_sub_costs=True)
    assert credit.total_energy_cost is not None
    assert credit.total_energy_cost.excl_vat == D("-1.1840")
    free = to_cdr(
        priced(session(T0, charge(10)), tariff(el(comp("FLAT", "0")))),
        header=HEADER,
        last_updated=STOPPED,
    )
    assert b":-0" not in dump_cdr_json(credit_cdr(free, last_updated=STOPPED))


def test_price_cdr_resplits_a_period_across_a_tariff_boundary() -> None:
    tariff01 = fixture_tariff("case01_energy_peak_after_17")
    cdr = read_cdr((FIXTURES / "cdr_unsplit_across_17.json").read_bytes())
    in_utc = price_cdr(tariff01, cdr, "UTC")
    # 16:30-17:30 charging 6 kWh: 3 kWh before 17:00 @0.20 and 3 after @0.27.
    assert in_utc.total_cost.excl_vat == D("1.4100")
    assert in_utc.total_energy_cost is not None
    assert in_utc.total_energy == D("6.000")
    assert in_utc.total_time == D("1.5000")
    assert in_utc.total_parking_time == D("0.5000")
    assert in_utc.charging_periods == cdr.charging_periods  # kept as sent
    assert in_utc.tariffs == (tariff01,)
    in_amsterdam = price_cdr(tariff01, cdr, "Europe/Amsterdam")  # 17:30 local: all peak
    assert in_amsterdam.total_cost.excl_vat == D("1.6200")


def test_profile_from_cdr_spreads_total_energy_when_periods_have_none() -> None:
    cdr = read_cdr((FIXTURES / "cdr_case09_time_only.json").read_bytes())
    profile = profile_from_cdr(cdr)
    assert profile.points[-1].energy_wh == 12_500
    result = reprice(fixture_tariff("case09_time_per_5_min"), cdr, "UTC")
    assert (result.charging_s, result.billed_charging_s) == (7103, 7200)


def test_profile_from_cdr_period_with_time_and_parking_charges_first() -> None:
    data = load_ocpi_json((FIXTURES / "cdr_unsplit_across_17.json").read_bytes())
    data["charging_periods"] = [
        {
            "start_date_time": "2025-01-20T16:30:00Z",
            "dimensions": [
                {"type": "ENERGY", "volume": 6},
                {"type": "TIME", "volume": 1},
                {"type": "PARKING_TIME", "volume": 0.5},
            ],
        }
    ]
    result = reprice(fixture_tariff("case02_charging_then_parking"), read_cdr(data), "UTC")
    assert (result.charging_s, result.parking_s) == (3600, 1800)
    assert result.costs.total.excl == 2  # 1 h @1.00 + 30 min @2.00


def test_price_cdr_of_an_expired_reservation() -> None:
    data = load_ocpi_json((FIXTURES / "cdr_unsplit_across_17.json").read_bytes())
    data["charging_periods"] = [
        {
            "start_date_time": "2025-01-20T16:30:00Z",
            "dimensions": [{"type": "RESERVATION_TIME", "volume": 1.5}],
        }
    ]
    t = tariff(
        el(comp("FLAT", "4.00", vat="20"), reservation="RESERVATION_EXPIRES"),
        el(comp("TIME", "2.00", 600, "20"), reservation="RESERVATION"),
        el(comp("FLAT", "0.50", vat="20"), comp("ENERGY", "0.25", vat="10")),
    )
    repriced = price_cdr(t, read_cdr(data), "UTC")
    assert repriced.total_cost == Price(excl_vat=D("7.0000"), incl_vat=D("8.4000"))
    assert repriced.total_reservation_cost == repriced.total_cost
    assert repriced.total_time == 0


def test_price_cdr_rejects_another_currency() -> None:
    cdr = read_cdr((FIXTURES / "cdr_unsplit_across_17.json").read_bytes())
    t = tariff(el(comp("ENERGY", "0.25")), currency="CHF")
    with pytest.raises(PricingError, match="currency"):
        price_cdr(t, cdr, "UTC")


def test_run_price_prints_the_repriced_cdr(capsys: pytest.CaptureFixture[str]) -> None:
    status = run_price(
        FIXTURES / "tariff_case09_time_per_5_min.json", FIXTURES / "cdr_case09_time_only.json", None
    )
    assert status == 0
    out = json.loads(capsys.readouterr().out)
    assert out["total_cost"] == {"excl_vat": 4.0, "incl_vat": 4.4}
    assert out["total_time_cost"] == {"excl_vat": 4.0, "incl_vat": 4.4}
    assert out["id"] == "CW-2025-000917"
    assert "signed_data" not in out and "x_vendor_note" not in out
    assert out["tariffs"][0]["id"] == "CASE09"


def test_run_price_time_zone_from_flag_location_or_utc(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tariff_path = FIXTURES / "tariff_case01_energy_peak_after_17.json"
    cdr_path = tmp_path / "cdr.json"
    shutil.copy(FIXTURES / "cdr_unsplit_across_17.json", cdr_path)

    def excl(tz: str | None) -> float:
        run_price(tariff_path, cdr_path, tz)
        return float(json.loads(capsys.readouterr().out)["total_cost"]["excl_vat"])

    assert excl(None) == 1.41  # no --tz, no time_zone in the CDR: UTC
    assert excl("Europe/Amsterdam") == 1.62
    data = json.loads(cdr_path.read_text())
    data["cdr_location"]["time_zone"] = "Europe/Amsterdam"
    cdr_path.write_text(json.dumps(data))
    assert excl(None) == 1.62
    assert excl("UTC") == 1.41
    run_price(tariff_path, FIXTURES / "cdr_unsplit_across_17.json", default_tz="Europe/Amsterdam")
    assert json.loads(capsys.readouterr().out)["total_cost"]["excl_vat"] == 1.62


def test_run_price_picks_the_valid_tariff_from_a_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    current = json.loads((FIXTURES / "tariff_case09_time_per_5_min.json").read_text())
    expired = {**current, "id": "OLD", "end_date_time": "2024-01-01T00:00:00Z"}
    path = tmp_path / "tariffs.json"
    path.write_text(json.dumps({"data": [expired, current], "status_code": 1000}))
    run_price(path, FIXTURES / "cdr_case09_time_only.json", "UTC")
    assert json.loads(capsys.readouterr().out)["tariffs"][0]["id"] == "CASE09"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ("{not json", "not JSON"),
        ('{"id": "x"}', "not a valid OCPI 2.2.1 tariff"),
    ],
)
def test_run_price_bad_tariff_input(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "tariff.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(InputError, match=message):
        run_price(path, FIXTURES / "cdr_case09_time_only.json", None)


def test_run_price_bad_cdr_and_bad_zone(tmp_path: Path) -> None:
    tariff_path = FIXTURES / "tariff_case09_time_per_5_min.json"
    bad = tmp_path / "cdr.json"
    bad.write_text('{"id": "x"}')
    with pytest.raises(InputError, match="not a usable OCPI CDR"):
        run_price(tariff_path, bad, None)
    with pytest.raises(InputError, match="time zone"):
        run_price(tariff_path, FIXTURES / "cdr_case09_time_only.json", "Nowhere/Land")
