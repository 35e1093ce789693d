"""Each pricing rule on its own: component lookup, restrictions, periods, money."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from fractions import Fraction

import pytest

from schemas.tariff import Tariff
from streams.core.pricing import (
    MeterPoint,
    PricingError,
    RoundingPolicy,
    SessionProfile,
    StateSwitch,
    TariffCache,
    activity_of,
    build_periods,
    compile_tariff,
    price,
    select_tariff,
)
from streams.core.pricing.localtime import local_boundaries
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
WEEKDAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"]


# -- which component is active ------------------------------------------------


def test_an_element_without_the_dimension_does_not_stop_the_search() -> None:
    t = tariff(el(comp("FLAT", "1.00")), el(comp("ENERGY", "0.30")))
    result = priced(session(T0, charge(60, 10_000)), t)
    assert result.periods[0].selection.flat is not None
    assert result.periods[0].selection.energy is not None
    assert result.periods[0].selection.energy.element_index == 1
    assert result.costs.total.excl == Fraction("4.00")


def test_an_element_whose_restrictions_fail_is_skipped() -> None:
    t = tariff(el(comp("ENERGY", "0.10"), min_kwh=100), el(comp("ENERGY", "0.30")))
    assert priced(session(T0, charge(60, 10_000)), t).costs.total.excl == Fraction("3.00")


def test_a_matching_component_with_price_zero_makes_the_dimension_free() -> None:
    t = tariff(el(comp("ENERGY", "0.00")), el(comp("ENERGY", "0.30")))
    result = priced(session(T0, charge(60, 10_000)), t)
    assert result.costs.total.excl == 0
    assert result.periods[0].selection.energy is not None  # it is active, at 0


def test_no_matching_element_means_the_dimension_costs_nothing() -> None:
    t = tariff(el(comp("TIME", "9.00"), start_time="20:00", end_time="21:00"))
    assert priced(session(T0, charge(60, 10_000)), t).costs.total.excl == 0


def test_the_first_component_of_a_dimension_in_an_element_wins() -> None:
    t = tariff(el(comp("ENERGY", "0.20"), comp("ENERGY", "0.90")))
    assert priced(session(T0, charge(60, 10_000)), t).costs.total.excl == Fraction("2.00")


def test_time_is_not_priced_while_parking_and_parking_not_while_charging() -> None:
    t = tariff(el(comp("TIME", "1.00"), comp("PARKING_TIME", "10.00")))
    result = priced(session(T0, charge(60), park(30), charge(30)), t)
    assert result.costs.time.excl == Fraction("1.50")
    assert result.costs.parking.excl == Fraction("5.00")


def test_suspended_evse_is_charging_and_suspended_ev_is_parking() -> None:
    assert activity_of("suspended_evse") == "charging"
    assert activity_of("charging") == "charging"
    for state in ("suspended_ev", "ev_connected", "idle"):
        assert activity_of(state) == "parking"


def test_energy_is_priced_in_parking_periods_too() -> None:
    t = tariff(el(comp("ENERGY", "0.30")))
    assert priced(session(T0, charge(30, 5000), park(30, 100)), t).energy_wh == 5100


# -- restrictions: time and date ------------------------------------------------


def _time_tariff(**restrictions: object) -> Tariff:
    """TIME at 2.00 while ``restrictions`` match, else 1.00."""
    return tariff(el(comp("TIME", "2.00"), **restrictions), el(comp("TIME", "1.00")))


@pytest.mark.parametrize(
    ("restrictions", "start_hour", "hours", "expected"),
    [
        ({"start_time": "22:00", "end_time": "06:00"}, 21, 10, Fraction("18.00")),  # 8 h at 2
        ({"start_time": "20:00", "end_time": "00:00"}, 19, 6, Fraction("10.00")),  # 4 h at 2
        ({"start_time": "00:00", "end_time": "00:00"}, 19, 6, Fraction("12.00")),  # all day
        ({"start_time": "10:00", "end_time": "10:00"}, 19, 6, Fraction("12.00")),  # full day
        ({"start_time": "22:00"}, 20, 6, Fraction("8.00")),  # to midnight only
        ({"end_time": "02:00"}, 20, 8, Fraction("10.00")),  # 00-02 only
        ({"end_time": "00:00"}, 20, 6, Fraction("12.00")),  # midnight to midnight
    ],
)
def test_time_windows(
    restrictions: dict[str, str], start_hour: int, hours: int, expected: Fraction
) -> None:
    start = datetime(2025, 6, 2, start_hour, 0, tzinfo=UTC)
    result = priced(session(start, charge(hours * 60)), _time_tariff(**restrictions))
    assert result.costs.total.excl == expected


def test_start_time_inclusive_end_time_exclusive_to_the_second() -> None:
    t = _time_tariff(start_time="09:00", end_time="10:00")
    periods = build_periods(session(T0.replace(hour=8, minute=59), charge(62)), t, "UTC")
    assert [(p.start.time().isoformat(), p.duration_s) for p in periods] == [
        ("08:59:00", 60),
        ("09:00:00", 3600),
        ("10:00:00", 60),
    ]


@pytest.mark.parametrize(
    ("start", "hours", "expected"),
    [
        (local(AMS, 2025, 6, 7, 1, 0), 2, Fraction("2.00")),  # Saturday night: not a listed day
        (local(AMS, 2025, 6, 9, 7, 0), 2, Fraction("4.00")),  # Monday morning: matches
        (local(AMS, 2025, 6, 6, 22, 0), 4, Fraction("6.00")),  # Fri 22-24 at 2, Sat 00-02 at 1
    ],
)
def test_day_of_week_with_a_wrapping_window_is_judged_field_by_field(
    start: datetime, hours: int, expected: Fraction
) -> None:
    t = _time_tariff(start_time="20:00", end_time="15:00", day_of_week=WEEKDAYS)
    assert priced(session(start, charge(hours * 60)), t, AMS).costs.total.excl == expected


def test_date_range_with_daily_window_is_a_daily_window() -> None:
    t = _time_tariff(
        start_date="2025-06-02", end_date="2025-06-04", start_time="12:00", end_time="13:00"
    )
    # 2 June 11:00 to 4 June 14:00 UTC: 12-13 on the 2nd and 3rd only.
    result = priced(session(T0.replace(hour=11), charge(51 * 60)), t)
    assert result.costs.total.excl == Fraction(51) + Fraction(2)


def test_weekday_and_date_are_local() -> None:
    # Sunday 23:30 UTC is Monday 01:30 in Amsterdam.
    t = _time_tariff(day_of_week=["MONDAY"])
    start = datetime(2025, 6, 1, 23, 30, tzinfo=UTC)
    assert priced(session(start, charge(60)), t, AMS).costs.total.excl == Fraction("2.00")
    assert priced(session(start, charge(60)), t, "UTC").costs.total.excl == Fraction("1.50")


def test_local_boundaries_on_dst_days() -> None:
    def utc(*args: int) -> int:
        return int(datetime(*args, tzinfo=UTC).timestamp())

    spring = local_boundaries(utc(2025, 3, 29, 23), utc(2025, 3, 30, 3), AMS, {9000})  # 02:30
    # 02:30 does not exist; the jump 02:00 CET -> 03:00 CEST (01:00Z) is the boundary.
    assert spring == {utc(2025, 3, 30, 1)}
    autumn = local_boundaries(utc(2025, 10, 25, 23), utc(2025, 10, 26, 3), AMS, {9000})
    # 02:30 CEST (00:30Z), the fall back (01:00Z), 02:30 CET (01:30Z).
    assert autumn == {utc(2025, 10, 26, 0, 30), utc(2025, 10, 26, 1), utc(2025, 10, 26, 1, 30)}


def test_window_starting_in_the_skipped_hour_opens_at_the_jump() -> None:
    t = _time_tariff(start_time="02:30", end_time="04:00")
    start = local(AMS, 2025, 3, 30, 1, 0)
    result = priced(session(start, charge(120)), t, AMS)
    # 01:00-02:00 CET at 1; 03:00-04:00 CEST at 2 (the local clock is past 02:30).
    assert [p.period.local_start.hour for p in result.periods] == [1, 3]
    assert result.costs.total.excl == Fraction("3.00")


# -- restrictions: energy, power, current, duration -----------------------------


def test_min_kwh_is_inclusive_and_cumulative() -> None:
    t = tariff(el(comp("ENERGY", "0.10"), min_kwh=10), el(comp("ENERGY", "0.30")))
    result = priced(session(T0, charge(60, 10_000), charge(60, 5000)), t)
    assert result.periods[1].period.energy_before_wh == 10_000
    assert result.costs.total.excl == Fraction("3.00") + Fraction("0.50")


def test_kwh_thresholds_with_decimals_compare_in_whole_wh() -> None:
    t = tariff(el(comp("ENERGY", "1.00"), max_kwh="0.0015"), el(comp("ENERGY", "0.00")))
    # Active while energy < 1.5 Wh, i.e. up to 1 Wh: the cut is where 2 Wh is reached.
    periods = build_periods(session(T0, charge(60, 3600)), t, "UTC")
    assert [p.energy_wh for p in periods] == [2, 3598]


@pytest.mark.parametrize(("power_w", "min_matches"), [(15_999, False), (16_000, True)])
def test_min_power_inclusive_max_power_exclusive(power_w: int, min_matches: bool) -> None:
    t = tariff(
        el(comp("ENERGY", "0.35"), min_power=16),
        el(comp("ENERGY", "0.20"), max_power=16),
        el(comp("ENERGY", "0.99")),
    )
    result = priced(session(T0, charge(60, 10_000, power_w=power_w)), t)
    assert result.costs.total.excl == (Fraction("3.50") if min_matches else Fraction("2.00"))


def test_power_threshold_is_crossed_at_the_sample() -> None:
    t = tariff(el(comp("ENERGY", "0.20"), max_power=16), el(comp("ENERGY", "0.50")))
    profile = session(
        T0,
        charge(10, 1000, power_w=6000),
        charge(10, 1000, power_w=12_000),  # same side: no cut
        charge(20, 16_000, power_w=48_000),
    )
    periods = build_periods(profile, t, "UTC")
    assert [p.start for p in periods] == [T0, T0 + timedelta(minutes=20)]
    assert (periods[0].min_power_w, periods[0].max_power_w) == (6000, 12_000)


def test_power_without_samples_is_the_average_between_meter_points() -> None:
    t = tariff(el(comp("ENERGY", "0.20"), max_power="10.5"), el(comp("ENERGY", "0.50")))
    profile = session(T0, charge(60, 10_000), charge(60, 11_000))  # 10 kW then 11 kW
    periods = build_periods(profile, t, "UTC")
    assert [p.max_power_w for p in periods] == [10_000, 11_000]
    assert price(periods, t).costs.total.excl == Fraction("2.00") + Fraction("5.50")


def test_current_restrictions_and_unknown_current() -> None:
    t = tariff(el(comp("TIME", "2.00"), min_current=32), el(comp("TIME", "1.00")))
    at_32 = priced(session(T0, charge(60, current_a=D(32))), t)
    unknown = priced(session(T0, charge(60)), t)
    assert at_32.costs.total.excl == Fraction("2.00")
    assert unknown.costs.total.excl == Fraction("1.00")  # cannot be checked: not applied


def test_min_duration_counts_from_the_session_start_parking_included() -> None:
    t = tariff(el(comp("PARKING_TIME", "6.00"), min_duration=3600), el(comp("PARKING_TIME", "0")))
    result = priced(session(T0, charge(45), park(45)), t)
    assert [p.period.start for p in result.periods] == [
        T0,
        T0 + timedelta(minutes=45),
        T0 + timedelta(minutes=60),
    ]
    assert result.costs.total.excl == Fraction("3.00")  # the last 30 min at 6.00


# -- step_size, FLAT, VAT, money --------------------------------------------------


def test_energy_step_applies_once_to_the_session_total() -> None:
    t = tariff(el(comp("ENERGY", "1.00", 1000)))
    result = priced(session(T0, charge(30, 1200), park(10), charge(30, 1300)), t)
    assert result.billed_energy_wh == 3000
    assert result.costs.total.excl == Fraction("3.00")


def test_energy_extra_goes_to_the_last_period_that_billed_energy() -> None:
    t = tariff(
        el(comp("ENERGY", "0.20", 1000), end_time="17:00"),
        el(comp("ENERGY", "0.50", 1000)),
    )
    result = priced(session(T0.replace(hour=16), charge(60, 1500), park(30)), t)
    assert [p.billed_energy_wh for p in result.periods] == [2000, 0]  # not 1500 + 500 @0.50
    assert result.costs.total.excl == Fraction("0.40")


def test_charging_time_is_rounded_when_there_is_no_priced_parking() -> None:
    t = tariff(el(comp("TIME", "6.00", 900)))
    result = priced(session(T0, charge(20), park(30)), t)  # parking not priced
    assert result.billed_charging_s == 30 * 60
    assert result.costs.total.excl == Fraction("3.00")


def test_a_parking_flat_is_reported_as_parking_cost() -> None:
    t = tariff(
        el(comp("FLAT", "5.00"), comp("PARKING_TIME", "2.00"), min_duration=3600),
        el(comp("FLAT", "0.50"), comp("ENERGY", "0.30")),
    )
    result = priced(session(T0, charge(30, 5000), park(60)), t)
    assert result.costs.fixed.excl == Fraction("0.50")  # the first FLAT found, once
    assert result.costs.parking.excl == Fraction("1.00")  # 30 min of billable parking
    overstay = tariff(
        el(comp("FLAT", "5.00"), comp("PARKING_TIME", "2.00"), min_duration=3600),
        el(comp("ENERGY", "0.30")),
    )
    late = priced(session(T0, charge(30, 5000), park(60)), overstay)
    assert late.costs.parking.excl == Fraction("6.00")  # overstay fee + 30 min
    assert late.costs.fixed.excl == 0


def test_omitted_vat_reports_incl_equal_to_excl_in_a_mixed_session() -> None:
    t = tariff(el(comp("FLAT", "1.00"), comp("ENERGY", "0.25", vat="21")))
    result = priced(session(T0, charge(60, 4000)), t)
    assert result.vat_applicable
    assert result.costs.total.incl == Fraction("1.00") + Fraction("1.21")
    assert result.reported.fixed.incl_vat == D("1.0000")


def test_zero_vat_is_not_omitted_vat() -> None:
    zero = priced(session(T0, charge(60, 4000)), tariff(el(comp("ENERGY", "0.25", vat="0"))))
    omitted = priced(session(T0, charge(60, 4000)), tariff(el(comp("ENERGY", "0.25"))))
    assert total(zero) == (D("1.0000"), D("1.0000"))
    assert total(omitted) == (D("1.0000"), None)


@pytest.mark.parametrize(
    ("value", "policy", "expected"),
    [
        (Fraction(1, 20_000), RoundingPolicy(), D("0.0001")),  # 0.00005: half up
        (Fraction(1, 30_000), RoundingPolicy(), D("0.0000")),
        (Fraction(2, 3), RoundingPolicy(), D("0.6667")),
        (Fraction(-1, 20_000), RoundingPolicy(), D("-0.0001")),  # away from zero
        (Fraction(-1, 30_000), RoundingPolicy(), D("0.0000")),  # never -0
        (Fraction(-1, 30_000), RoundingPolicy(rounding="ROUND_HALF_EVEN"), D("0.0000")),
        (Fraction(123_456_789, 1000), RoundingPolicy(places=0), D("123457")),
        (Fraction(10**40 + 1, 3), RoundingPolicy(), D("3" * 40 + ".6667")),  # no 28-digit cap
        (Fraction(5, 1000), RoundingPolicy(places=2), D("0.01")),
        (Fraction(5, 1000), RoundingPolicy(places=2, rounding="ROUND_HALF_EVEN"), D("0.00")),
    ],
)
def test_rounding_policy(value: Fraction, policy: RoundingPolicy, expected: D) -> None:
    assert policy.round(value) == expected
    assert str(policy.round(value)) == str(expected)


def test_money_stays_exact_with_long_decimals() -> None:
    t = tariff(el(comp("TIME", "0.123456789", vat="19.6")))
    result = priced(session(T0, charge(7)), t)
    assert result.costs.total.excl == Fraction("0.123456789") * Fraction(7, 60)
    assert result.costs.total.incl == result.costs.total.excl * Fraction("1.196")


# -- validity, inputs ---------------------------------------------------------------


def test_tariff_must_be_valid_at_the_session_start() -> None:
    t = tariff(
        el(comp("ENERGY", "0.30")),
        start_date_time="2025-06-02T09:00:00Z",
        end_date_time="2025-06-02T10:00:00Z",
    )
    with pytest.raises(PricingError, match="not valid"):
        priced(session(T0, charge(120, 1000)), t)  # starts 08:00
    late = priced(session(T0.replace(hour=9, minute=30), charge(120, 1000)), t)
    assert late.costs.total.excl == Fraction("0.30")  # kept past end_date_time
    with pytest.raises(PricingError):
        priced(session(T0.replace(hour=10), charge(10, 1000)), t)  # end is exclusive


def test_select_tariff_takes_the_first_valid_one() -> None:
    old = tariff(el(comp("ENERGY", "0.30")), tariff_id="OLD", end_date_time="2025-06-01T00:00:00Z")
    new = tariff(
        el(comp("ENERGY", "0.35")), tariff_id="NEW", start_date_time="2025-06-01T00:00:00Z"
    )
    ad_hoc = tariff(el(comp("ENERGY", "0.50")), tariff_id="ADHOC", type="AD_HOC_PAYMENT")
    assert select_tariff([old, new], T0) is new
    assert select_tariff([old, new], T0 - timedelta(days=30)) is old
    assert select_tariff([ad_hoc, new], T0) is new
    assert select_tariff([ad_hoc, new], T0, "AD_HOC_PAYMENT") is ad_hoc


def test_profile_needs_its_start_state_and_rising_energy() -> None:
    start = T0
    with pytest.raises(PricingError, match="state at the session start"):
        SessionProfile(start, start + timedelta(hours=1), states=())
    with pytest.raises(PricingError, match="must not decrease"):
        SessionProfile(
            start,
            start + timedelta(hours=1),
            points=(MeterPoint(start, 10), MeterPoint(start + timedelta(minutes=5), 5)),
            states=(StateSwitch(start, "charging"),),
        )
    with pytest.raises(PricingError, match="naive"):
        SessionProfile(datetime(2025, 6, 2, 8), T0)  # noqa: DTZ001


def test_register_readings_work_when_the_first_point_is_at_the_start() -> None:
    profile = SessionProfile(
        T0,
        T0 + timedelta(hours=1),
        points=(MeterPoint(T0, 1_000_000), MeterPoint(T0 + timedelta(hours=1), 1_011_000)),
        states=(StateSwitch(T0, "charging"),),
    )
    assert priced(profile, tariff(el(comp("ENERGY", "0.10")))).energy_wh == 11_000


def test_an_empty_session_still_pays_its_flat_fee() -> None:
    profile = SessionProfile(T0, T0, states=(StateSwitch(T0, "charging"),))
    periods = build_periods(profile, tariff(el(comp("FLAT", "1.00"))), "UTC")
    assert len(periods) == 1 and periods[0].duration_s == 0
    assert price(periods, tariff(el(comp("FLAT", "1.00")))).costs.total.excl == 1


def test_reservation_elements_price_only_the_reservation() -> None:
    t = tariff(el(comp("TIME", "9.00"), reservation="RESERVATION"), el(comp("TIME", "1.00")))
    assert priced(session(T0, charge(60)), t).costs.total.excl == 1
    from streams.core.pricing import ReservationWindow

    window = ReservationWindow(T0 - timedelta(minutes=20), T0)
    result = priced(session(T0, charge(60), reservation=window), t)
    assert result.costs.reservation.excl == 3
    assert result.costs.time.excl == 1


def test_unknown_time_zone_is_a_pricing_error() -> None:
    with pytest.raises(PricingError, match="time zone"):
        build_periods(session(T0, charge(10)), tariff(el(comp("TIME", "1"))), "Mars/Olympus")


def test_tariff_cache_compiles_once_per_version() -> None:
    cache = TariffCache(maxsize=2)
    t = tariff(el(comp("ENERGY", "0.30")))
    assert cache.get(t) is cache.get(t)
    same_key_other_prices = tariff(el(comp("ENERGY", "0.99")))
    assert cache.get(same_key_other_prices).tariff is same_key_other_prices
    for i in range(3):
        cache.get(tariff(el(comp("ENERGY", "0.30")), tariff_id=f"X{i}"))
    assert len(cache) == 2
    compiled = compile_tariff(t)
    periods = build_periods(session(T0, charge(60, 1000)), compiled, "UTC")
    assert price(periods, compiled).costs.total.excl == Fraction("0.30")


def test_the_pricer_is_a_pure_core() -> None:
    import subprocess
    import sys

    code = (
        "import sys, streams.core.pricing, schemas.cdr\n"
        "bad = {'faust', 'aiokafka', 'confluent_kafka', 'clickhouse_connect', 'chdb'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
