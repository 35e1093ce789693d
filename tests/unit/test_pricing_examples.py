"""Tariff examples in the style of OCPI 2.2.1's Tariffs module, as our own fixtures.

The amounts are the ones the spec's rules give (where an example in the errata
branch slips, the rules win and the test says so).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from fractions import Fraction

import pytest

from schemas.tariff import Tariff
from streams.core.pricing import ReservationWindow, SessionProfile
from tests.fixtures.pricing.builders import (
    AMS,
    charge,
    comp,
    el,
    local,
    park,
    priced,
    session,
    tariff,
    total,
)

T0 = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)  # a Monday


def test_simple_per_kwh() -> None:
    result = priced(session(T0, charge(90, 20_000)), tariff(el(comp("ENERGY", "0.25", vat="10"))))
    assert total(result) == (D("5.0000"), D("5.5000"))


def test_per_hour_charging_only_parking_is_free() -> None:
    t = tariff(el(comp("TIME", "2.00", vat="10")))
    result = priced(session(T0, charge(105, 9000), park(30)), t)
    assert result.parking_s == 1800 and result.billed_parking_s == 0
    assert total(result) == (D("3.5000"), D("3.8500"))


def test_free_of_charge_tariff() -> None:
    result = priced(session(T0, charge(60, 7000), park(60)), tariff(el(comp("FLAT", "0.00"))))
    assert total(result) == (D("0.0000"), None)  # no VAT applicable: incl is not reported
    assert result.vat_applicable is False


def test_start_fee_energy_and_time_with_three_vat_rates() -> None:
    t = tariff(
        el(
            comp("FLAT", "0.50", vat="20"),
            comp("ENERGY", "0.25", vat="10"),
            comp("TIME", "2.00", vat="20"),
        )
    )
    result = priced(session(T0, charge(45, 20_000)), t)
    assert total(result) == (D("7.0000"), D("7.9000"))


@pytest.mark.parametrize(
    ("kwh", "expected"),
    [(50, (D("10.0000"), D("11.0000"))), (30, (D("8.0000"), D("8.8500")))],
)
def test_max_price_caps_the_session(kwh: int, expected: tuple[D, D]) -> None:
    t = tariff(
        el(comp("FLAT", "0.50", vat="20"), comp("ENERGY", "0.25", vat="10")),
        max_price={"excl_vat": "10.00", "incl_vat": "11.00"},
    )
    result = priced(session(T0, charge(240, kwh * 1000)), t)
    assert total(result) == expected
    assert result.max_price_applied is (kwh == 50)


def test_min_price_can_bind_on_one_side_only() -> None:
    # FLAT 0.60 at 50% VAT, 1.6 kWh at 0.25 without VAT: 1.00 excl, 1.30 incl.
    t = tariff(
        el(comp("FLAT", "0.60", vat="50"), comp("ENERGY", "0.25")),
        min_price={"excl_vat": "1.10", "incl_vat": "1.20"},
    )
    result = priced(session(T0, charge(20, 1600)), t)
    assert total(result) == (D("1.1000"), D("1.3000"))
    assert result.min_price_applied


def _complex() -> Tariff:
    weekdays = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"]
    return tariff(
        el(comp("FLAT", "2.50", vat="15")),
        el(comp("TIME", "1.00", 900, "20"), max_current=32),
        el(comp("TIME", "2.00", 600, "20"), min_current=32, day_of_week=weekdays),
        el(comp("TIME", "1.25", 600, "20"), min_current=32, day_of_week=["SATURDAY", "SUNDAY"]),
        el(
            comp("PARKING_TIME", "5.00", 300, "10"),
            start_time="09:00",
            end_time="18:00",
            day_of_week=weekdays,
        ),
        el(
            comp("PARKING_TIME", "6.00", 300, "10"),
            start_time="10:00",
            end_time="17:00",
            day_of_week=["SATURDAY"],
        ),
    )


def test_complex_tariff_monday_morning() -> None:
    start = local(AMS, 2025, 6, 2, 9, 30)  # Monday
    profile = session(start, charge(165, 9000, current_a=D(16)), park(42, current_a=D(0)))
    result = priced(profile, _complex(), AMS)
    assert result.billed_charging_s == 165 * 60  # followed by parking: not rounded
    assert result.billed_parking_s == 45 * 60
    assert total(result) == (D("9.0000"), D("10.3000"))


def test_complex_tariff_saturday_afternoon_follows_the_rules_not_the_errata_figure() -> None:
    # 114 min at 1.25/h is 2.375 (the errata example prints 2.28); 71 min parking -> 75 min.
    start = local(AMS, 2025, 6, 7, 13, 30)  # Saturday
    profile = session(start, charge(114, 20_000, current_a=D(43)), park(71, current_a=D(0)))
    result = priced(profile, _complex(), AMS)
    assert result.costs.time.excl == Fraction("2.375")
    assert result.costs.parking.excl == Fraction("7.50")
    assert total(result) == (D("12.3750"), D("13.9750"))


def test_max_power_tiers() -> None:
    t = tariff(
        el(comp("ENERGY", "0.20"), max_power=16),
        el(comp("ENERGY", "0.35"), min_power=16, max_power=32),
        el(comp("ENERGY", "0.50")),
    )
    profile = session(
        T0,
        charge(10, 1000, power_w=6000),
        charge(50, 40_000, power_w=48_000),
        charge(7.5, 500, power_w=4000),
    )
    result = priced(profile, t)
    assert [p.period.energy_wh for p in result.periods] == [1000, 40_000, 500]
    assert result.costs.total.excl == Fraction("20.30")


def test_max_duration_free_first_half_hour() -> None:
    t = tariff(
        el(comp("ENERGY", "0.00", vat="20"), max_duration=1800),
        el(comp("ENERGY", "0.25", vat="20"), max_duration=3600),
        el(comp("ENERGY", "0.40", vat="20")),
    )
    result = priced(session(T0, charge(30, 5000), charge(10, 1200)), t)
    assert result.costs.total.excl == Fraction("0.30")


def _evening() -> Tariff:
    """Charging 1.20/h before 17:00 (step 30 min), 2.40/h after (step 15 min);
    parking 1.00/h before 20:00 (step 15 min), free after."""
    return tariff(
        el(comp("TIME", "1.20", 1800), end_time="17:00"),
        el(comp("TIME", "2.40", 900), start_time="17:00"),
        el(comp("PARKING_TIME", "1.00", 900), end_time="20:00"),
    )


def test_step_switching_elements_parking_rounded_with_its_own_step() -> None:
    result = priced(session(T0.replace(hour=16, minute=55), charge(10), park(2)), _evening())
    assert result.costs.time.excl == Fraction("0.30")  # 5 min @1.20 + 5 min @2.40
    assert result.costs.parking.excl == Fraction("0.25")  # 2 min -> 15 min
    assert result.costs.total.excl == Fraction("0.55")


def test_step_switching_elements_charging_total_rounded_at_last_step_and_price() -> None:
    result = priced(session(T0.replace(hour=16, minute=35), charge(35)), _evening())
    # 35 min -> 45 min with the after-17:00 step; 25 min @1.20, 20 min @2.40.
    assert [p.billed_time_s for p in result.periods] == [25 * 60, 20 * 60]
    assert result.costs.total.excl == Fraction("1.30")


def test_step_switching_to_free_parking_rounds_only_billable_parking() -> None:
    result = priced(session(T0.replace(hour=19, minute=40), charge(12), park(20)), _evening())
    assert result.parking_s == 20 * 60
    assert result.billed_parking_s == 15 * 60  # 8 billable minutes -> 15
    assert result.costs.total.excl == Fraction("0.73")


def test_time_step_extra_is_billed_after_the_switch() -> None:
    t = tariff(
        el(comp("TIME", "5.00", 600), end_time="17:00"),
        el(comp("TIME", "7.00", 600)),
    )
    result = priced(session(T0.replace(hour=16, minute=54), charge(28)), t)
    # 6 + 22 = 28 min -> 30 min; 24 min billed after 17:00.
    assert [p.billed_time_s for p in result.periods] == [6 * 60, 24 * 60]
    assert result.costs.total.excl == Fraction("0.50") + Fraction("2.80")


def _reserved(minutes: float, *, expired: bool = False, charge_kwh: int = 20) -> SessionProfile:
    start = T0 + timedelta(minutes=minutes)
    window = ReservationWindow(T0, start, expired)
    if expired:
        return SessionProfile(start, start, reservation=window)
    return session(start, charge(60, charge_kwh * 1000), reservation=window)


def _start_fee_energy() -> dict[str, object]:
    return el(comp("FLAT", "0.50", vat="20"), comp("ENERGY", "0.25", vat="10"))


def test_reservation_time_per_minute() -> None:
    t = tariff(el(comp("TIME", "5.00", 60, "20"), reservation="RESERVATION"), _start_fee_energy())
    result = priced(_reserved(15), t)
    assert result.reported.reservation.excl_vat == D("1.2500")
    assert total(result) == (D("6.7500"), D("7.6000"))


def test_reservation_fee_and_time_are_separate_from_the_start_fee() -> None:
    t = tariff(
        el(
            comp("FLAT", "2.00", vat="20"),
            comp("TIME", "5.00", 300, "20"),
            reservation="RESERVATION",
        ),
        _start_fee_energy(),
    )
    result = priced(_reserved(13), t)
    assert result.billed_reservation_s == 15 * 60
    assert result.reported.reservation.excl_vat == D("3.2500")
    assert result.reported.fixed.excl_vat == D("0.5000")
    assert total(result) == (D("8.7500"), D("10.0000"))


def _expiry_fee() -> Tariff:
    return tariff(
        el(comp("FLAT", "4.00", vat="20"), reservation="RESERVATION_EXPIRES"),
        el(comp("TIME", "2.00", 600, "20"), reservation="RESERVATION"),
        _start_fee_energy(),
    )


def test_reservation_with_expiry_fee_used_in_time() -> None:
    result = priced(_reserved(22), _expiry_fee())
    assert result.billed_reservation_s == 30 * 60
    assert total(result) == (D("6.5000"), D("7.3000"))  # no expiry fee


def test_reservation_with_expiry_fee_expired() -> None:
    result = priced(_reserved(60, expired=True), _expiry_fee())
    assert all(p.period.reservation for p in result.periods)
    assert total(result) == (D("6.0000"), D("7.2000"))  # fee + an hour; no start fee


def _expiry_time() -> Tariff:
    return tariff(
        el(comp("TIME", "6.00", 600, "20"), reservation="RESERVATION_EXPIRES"),
        el(comp("TIME", "3.00", 600, "20"), reservation="RESERVATION"),
        _start_fee_energy(),
    )


def test_reservation_with_expiry_time_used_in_time() -> None:
    assert total(priced(_reserved(22), _expiry_time())) == (D("7.0000"), D("7.9000"))


def test_reservation_with_expiry_time_expired_uses_the_expires_price() -> None:
    result = priced(_reserved(90, expired=True), _expiry_time())
    assert total(result) == (D("9.0000"), D("10.8000"))


def test_expired_reservation_prefers_expires_elements_whatever_their_position() -> None:
    t = tariff(
        el(comp("TIME", "3.00", vat="20"), reservation="RESERVATION"),
        el(comp("TIME", "6.00", vat="20"), reservation="RESERVATION_EXPIRES"),
        _start_fee_energy(),
    )
    assert total(priced(_reserved(30, expired=True), t))[0] == D("3.0000")
    assert total(priced(_reserved(30), t))[0] == D("1.5000") + D("5.5000")
