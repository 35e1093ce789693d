"""The ten worked cases of OCPI-PRICING.md, each on chargewatch's own fixtures.

Every expected amount is exact; the reported figures follow the rounding
policy (half up, 4 decimals).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D
from fractions import Fraction

from schemas.cdr import read_cdr
from streams.core.pricing import build_periods, price, price_cdr
from tests.fixtures.pricing.builders import (
    AMS,
    FIXTURES,
    charge,
    fixture_tariff,
    local,
    park,
    priced,
    session,
    total,
)


def test_case01_energy_step_rounds_the_session_total_at_the_last_price() -> None:
    # 4.3 kWh before 17:00 at 0.20, 1.1 kWh after at 0.27, both step 500 Wh.
    tariff = fixture_tariff("case01_energy_peak_after_17")
    result = priced(
        session(datetime(2025, 6, 2, 16, 0, tzinfo=UTC), charge(60, 4300), charge(60, 1100)),
        tariff,
    )
    assert result.energy_wh == 5400
    assert result.billed_energy_wh == 5500  # the total, not the after-17:00 part
    assert [p.billed_energy_wh for p in result.periods] == [4300, 1200]
    assert result.costs.total.excl == Fraction("1.184")  # not 1.265
    assert total(result) == (D("1.1840"), None)


def test_case02_only_the_parking_is_rounded() -> None:
    tariff = fixture_tariff("case02_charging_then_parking")  # 1/h charging, 2/h parking, step 600
    result = priced(session(datetime(2025, 6, 2, 9, 0, tzinfo=UTC), charge(21), park(16)), tariff)
    assert result.billed_charging_s == 21 * 60  # followed by parking: billed exactly
    assert result.billed_parking_s == 20 * 60
    assert result.costs.time.excl == Fraction("0.35")
    assert result.costs.parking.excl == Fraction(2, 3)
    assert result.costs.total.excl == Fraction(61, 60)
    assert total(result)[0] == D("1.0167")


def test_case02_second_example_with_step_300() -> None:
    tariff = fixture_tariff("case02_charging_then_parking").model_copy(deep=True)
    data = tariff.model_dump()
    for component in data["elements"][0]["price_components"]:
        component["step_size"] = 300
    tariff = type(tariff).model_validate(data)
    result = priced(session(datetime(2025, 6, 2, 9, 0, tzinfo=UTC), charge(21), park(7)), tariff)
    assert (result.billed_charging_s, result.billed_parking_s) == (21 * 60, 10 * 60)


def test_case03_window_across_midnight_cuts_at_22_local() -> None:
    # 21:00-01:00 Amsterdam summer time at a steady 11 kW: 11 kWh @0.30 + 33 kWh @0.20.
    tariff = fixture_tariff("case03_night_energy")
    start = local(AMS, 2025, 7, 10, 21, 0)
    periods = build_periods(session(start, charge(240, 44_000)), tariff, AMS)
    assert [p.local_start.hour for p in periods] == [21, 22]
    assert [p.energy_wh for p in periods] == [11_000, 33_000]
    result = price(periods, tariff)
    assert result.costs.total.excl == Fraction("9.90")
    assert total(result)[0] == D("9.9000")


def test_case03_end_time_midnight_means_end_of_day() -> None:
    from tests.fixtures.pricing.builders import comp, el
    from tests.fixtures.pricing.builders import tariff as make_tariff

    tariff = make_tariff(
        el(comp("ENERGY", "0.20"), start_time="20:00", end_time="00:00"),
        el(comp("ENERGY", "0.30")),
    )
    start = local(AMS, 2025, 7, 10, 19, 0)
    result = priced(session(start, charge(360, 60_000)), tariff, AMS)  # 10 kW, 19:00-01:00
    # 19-20 @0.30, 20-24 @0.20, 00-01 @0.30: the window does not wrap into the morning.
    assert [p.period.energy_wh for p in result.periods] == [10_000, 40_000, 10_000]
    assert result.costs.total.excl == Fraction("14.00")


def test_case04_max_kwh_switches_price_exactly_at_20_kwh() -> None:
    tariff = fixture_tariff("case04_energy_tiers")
    result = priced(session(datetime(2025, 6, 2, 8, 0, tzinfo=UTC), charge(180, 30_000)), tariff)
    assert [p.period.energy_wh for p in result.periods] == [20_000, 10_000]
    assert result.costs.total.excl == Fraction("8.50")  # judged once at the start: 7.50


def test_case04_threshold_instant_is_interpolated_and_energy_is_exact() -> None:
    # 7 kW from 08:00: 20 kWh is reached at 10:51:25.71..., so the cut is at 10:51:26
    # and the first period holds exactly 20 000 Wh.
    tariff = fixture_tariff("case04_energy_tiers")
    periods = build_periods(
        session(datetime(2025, 6, 2, 8, 0, tzinfo=UTC), charge(300, 35_000)), tariff, "UTC"
    )
    assert periods[1].start == datetime(2025, 6, 2, 10, 51, 26, tzinfo=UTC)
    assert [p.energy_wh for p in periods] == [20_000, 15_000]
    assert periods[1].energy_before_wh == 20_000
    assert price(periods, tariff).costs.total.excl == Fraction("5.00") + Fraction("5.25")


def test_case05_parking_after_charging_with_mixed_vat() -> None:
    tariff = fixture_tariff("case05_time_then_parking_vat")
    result = priced(session(datetime(2025, 6, 2, 8, 0, tzinfo=UTC), charge(150), park(42)), tariff)
    assert result.billed_parking_s == 45 * 60
    assert result.costs.time.excl == Fraction("7.50")
    assert result.costs.parking.excl == Fraction("3.75")
    assert result.costs.total.incl == Fraction("12.75")  # 8.25 + 4.50
    assert total(result) == (D("11.2500"), D("12.7500"))


def test_case06_vat_per_component_with_a_flat_fee() -> None:
    tariff = fixture_tariff("case06_start_fee_energy_vat")
    result = priced(session(datetime(2025, 6, 2, 8, 0, tzinfo=UTC), charge(120, 20_000)), tariff)
    assert total(result) == (D("5.5000"), D("6.1000"))
    assert result.reported.fixed.incl_vat == D("0.6000")
    assert result.reported.energy.incl_vat == D("5.5000")


def test_case07_min_price_raises_excl_and_incl_separately() -> None:
    tariff = fixture_tariff("case07_min_price")
    result = priced(session(datetime(2025, 6, 2, 8, 0, tzinfo=UTC), charge(10, 1200)), tariff)
    assert result.costs.subtotal.excl == Fraction("0.30")
    assert result.costs.subtotal.incl == Fraction("0.33")
    assert total(result) == (D("0.5000"), D("0.5500"))  # not 0.30 / 0.33
    assert result.min_price_applied and not result.max_price_applied
    assert result.reported.energy.excl_vat == D("0.3000")  # categories are not adjusted


def test_case08_flat_is_charged_once_across_periods() -> None:
    tariff = fixture_tariff("case08_flat_once")
    result = priced(session(datetime(2025, 6, 2, 7, 30, tzinfo=UTC), charge(120, 10_000)), tariff)
    assert len(result.periods) == 3  # 07:30, 08:00, 09:00: the FLAT element is active in all
    assert all(p.selection.flat is not None for p in result.periods)
    assert result.costs.fixed.excl == Fraction("1.00")  # not 3.00
    # 10 kWh at 0.25 + one hour of TIME at 2.00 + the flat fee.
    assert result.costs.total.excl == Fraction("2.50") + Fraction("2.00") + Fraction("1.00")


def test_case09_fully_rounded_time_only_cdr() -> None:
    tariff = fixture_tariff("case09_time_per_5_min")
    cdr = read_cdr((FIXTURES / "cdr_case09_time_only.json").read_bytes())
    repriced = price_cdr(tariff, cdr, "Europe/Amsterdam")
    assert repriced.total_cost.excl_vat == D("4.0000")
    assert repriced.total_cost.incl_vat == D("4.4000")
    assert repriced.total_time == D("1.9731")  # 7103 s
    assert repriced.total_time_cost is not None and repriced.total_time_cost.excl_vat == D("4.0000")


def test_case10_spring_forward_the_skipped_hour_never_happens() -> None:
    # 2025-03-30: 00:30 CET to 04:30 CEST is three real hours; the 02:00-03:00
    # window does not exist that night, so all three hours are at 1.00.
    tariff = fixture_tariff("case10_dst_hour")
    start = local(AMS, 2025, 3, 30, 0, 30)
    end = local(AMS, 2025, 3, 30, 4, 30)
    assert end.timestamp() - start.timestamp() == 3 * 3600
    result = priced(session(start, charge(180)), tariff, AMS)
    assert result.costs.total.excl == Fraction("3.00")


def test_case10_fall_back_the_repeated_hour_counts_twice() -> None:
    # 2025-10-26: 01:00 CEST to 04:00 CET is four real hours; 02:00-03:00 happens
    # twice (CEST then CET), two hours at 2.00 and two at 1.00.
    tariff = fixture_tariff("case10_dst_hour")
    start = local(AMS, 2025, 10, 26, 1, 0)
    result = priced(session(start, charge(240)), tariff, AMS)
    assert [(p.period.local_start.hour, p.period.duration_s) for p in result.periods] == [
        (1, 3600),
        (2, 7200),
        (3, 3600),
    ]
    assert result.costs.total.excl == Fraction("6.00")


def test_case10_restriction_dates_are_local_and_end_date_is_exclusive() -> None:
    from tests.fixtures.pricing.builders import comp, el
    from tests.fixtures.pricing.builders import tariff as make_tariff

    # 1-2 June local in Amsterdam is 31 May 22:00Z to 2 June 22:00Z.
    tariff = make_tariff(
        el(comp("TIME", "3.00"), start_date="2025-06-01", end_date="2025-06-03"),
        el(comp("TIME", "1.00")),
    )
    start = datetime(2025, 5, 31, 21, 0, tzinfo=UTC)  # 23:00 local on 31 May
    result = priced(session(start, charge(120)), tariff, AMS)
    assert [p.period.start.hour for p in result.periods] == [21, 22]
    assert result.costs.total.excl == Fraction("4.00")
    late = priced(session(datetime(2025, 6, 2, 21, 0, tzinfo=UTC), charge(120)), tariff, AMS)
    assert late.costs.total.excl == Fraction("4.00")  # 3.00 until local midnight, then 1.00
    assert [p.period.start.hour for p in late.periods] == [21, 22]
