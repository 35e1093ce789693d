"""Properties of the pricer, on random tariffs and sessions (hypothesis).

Monotonicity needs care: OCPI bills the step_size extra at the *last* period's
price with the *last* period's step, so with different steps or prices per
element a longer session can be cheaper (30 min at 2/h with a 1 h step costs
2.00; one more minute at 1/h with a 1 min step makes it 31 min: 1.00 + 0.0167).
The same holds when a TIME price depends on kWh and more energy arrives
earlier. So the monotonicity properties use step_size 1 and keep kWh
restrictions on ENERGY elements; splitting and crediting use everything.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.tariff import Tariff
from streams.core.pricing import (
    ChargingPeriod,
    PriceResult,
    build_periods,
    credit_cdr,
    price,
    price_session,
    to_cdr,
)
from streams.core.pricing.timeline import Timeline
from tests.fixtures.pricing.builders import AMS, HEADER, Step, comp, el, session, tariff

DAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]
PRICES = st.sampled_from(["0", "0.05", "0.20", "0.25", "0.333", "1", "2.40", "5"])
VATS = st.sampled_from([None, "0", "9", "21", "5.5"])
STARTS = st.one_of(
    st.sampled_from(
        [  # around the 2025 DST changes in Amsterdam
            datetime(2025, 3, 29, 22, 0, tzinfo=UTC),
            datetime(2025, 3, 30, 0, 30, tzinfo=UTC),
            datetime(2025, 10, 25, 23, 15, tzinfo=UTC),
            datetime(2025, 10, 26, 0, 45, tzinfo=UTC),
        ]
    ),
    st.integers(0, 365 * 24 * 60).map(
        lambda m: datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=m)
    ),
)
SETTINGS = settings(max_examples=150, deadline=None)


def _hhmm(draw: st.DrawFn) -> str:
    return f"{draw(st.integers(0, 23)):02d}:{draw(st.sampled_from([0, 15, 30, 45])):02d}"


@st.composite
def _time_restrictions(draw: st.DrawFn) -> dict[str, Any]:
    r: dict[str, Any] = {}
    if draw(st.booleans()):
        r["start_time"] = _hhmm(draw)
    if draw(st.booleans()):
        r["end_time"] = _hhmm(draw)
    if draw(st.booleans()):
        r["day_of_week"] = draw(st.lists(st.sampled_from(DAYS), min_size=1, unique=True))
    if draw(st.booleans()):
        low = draw(st.integers(0, 4 * 3600))
        r["min_duration"] = low
        if draw(st.booleans()):
            r["max_duration"] = low + draw(st.integers(0, 4 * 3600))
    elif draw(st.booleans()):
        r["max_duration"] = draw(st.integers(0, 6 * 3600))
    if draw(st.booleans()):
        low_kw = draw(st.integers(0, 30))
        r["min_power"] = low_kw
        if draw(st.booleans()):
            r["max_power"] = low_kw + draw(st.integers(0, 30))
    return r


@st.composite
def _energy_restrictions(draw: st.DrawFn) -> dict[str, Any]:
    r: dict[str, Any] = {}
    low = draw(st.decimals(0, 40, places=3))
    if draw(st.booleans()):
        r["min_kwh"] = low
    if draw(st.booleans()):
        r["max_kwh"] = low + draw(st.decimals(0, 40, places=3))
    return r


@st.composite
def tariffs(draw: st.DrawFn, *, steps: bool, kwh_anywhere: bool = False) -> Tariff:
    """Random tariffs; ``steps=False`` keeps every step_size at 1."""
    step_sizes = st.sampled_from([1, 60, 300, 500, 900]) if steps else st.just(1)
    time_r = _time_restrictions()
    energy_r = _energy_restrictions()
    any_r = st.one_of(time_r, energy_r) if kwh_anywhere else time_r
    elements: list[dict[str, Any]] = []
    if draw(st.booleans()):
        elements.append(el(comp("FLAT", draw(PRICES), vat=draw(VATS)), **draw(time_r)))
    for dimension, restrictions in (
        ("ENERGY", energy_r),
        ("TIME", any_r),
        ("PARKING_TIME", any_r),
    ):
        for _ in range(draw(st.integers(0, 3))):
            component = comp(dimension, draw(PRICES), draw(step_sizes), draw(VATS))
            elements.append(el(component, **draw(restrictions)))
        if draw(st.booleans()):
            elements.append(el(comp(dimension, draw(PRICES), draw(step_sizes), draw(VATS))))
    if not elements:
        elements.append(el(comp("FLAT", "0")))
    elements = draw(st.permutations(elements))
    fields: dict[str, Any] = {}
    if draw(st.booleans()):
        fields["min_price"] = {"excl_vat": draw(st.decimals(0, 5, places=2))}
    if draw(st.booleans()):
        low = fields.get("min_price", {}).get("excl_vat", Decimal(0))
        fields["max_price"] = {"excl_vat": low + draw(st.decimals(0, 50, places=2))}
    return tariff(*elements, **fields)


@st.composite
def steps(draw: st.DrawFn) -> list[Step]:
    out = []
    for _ in range(draw(st.integers(1, 5))):
        charging = draw(st.booleans())
        out.append(
            Step(
                minutes=draw(st.integers(1, 180)),
                wh=draw(st.integers(0, 30_000)) if charging else draw(st.integers(0, 50)),
                activity="charging" if charging else "parking",
                power_w=draw(st.integers(0, 60_000)),
                current_a=Decimal(draw(st.integers(0, 96))),
            )
        )
    return out


def _price(start: datetime, plan: list[Step], t: Tariff) -> PriceResult:
    return price(build_periods(session(start, *plan), t, AMS), t)


def _not_less(longer: PriceResult, shorter: PriceResult) -> bool:
    a, b = longer.costs.total, shorter.costs.total
    return a.excl >= b.excl and a.incl >= b.incl


EXTRA_STEPS = st.builds(
    lambda minutes, wh, charging: Step(
        minutes, wh if charging else 0, "charging" if charging else "parking", 7000
    ),
    st.integers(1, 240),
    st.integers(0, 20_000),
    st.booleans(),
)


@SETTINGS
@given(STARTS, steps(), tariffs(steps=False), EXTRA_STEPS)
def test_adding_time_never_lowers_the_price(
    start: datetime, plan: list[Step], t: Tariff, extra: Step
) -> None:
    assert _not_less(_price(start, [*plan, extra], t), _price(start, plan, t))


@SETTINGS
@given(STARTS, steps(), tariffs(steps=False), st.integers(1, 20_000), st.data())
def test_adding_energy_never_lowers_the_price(
    start: datetime, plan: list[Step], t: Tariff, wh: int, data: st.DataObject
) -> None:
    i = data.draw(st.integers(0, len(plan) - 1))
    more = [*plan[:i], replace(plan[i], wh=plan[i].wh + wh), *plan[i + 1 :]]
    assert _not_less(_price(start, more, t), _price(start, plan, t))


@SETTINGS
@given(STARTS, steps(), tariffs(steps=True, kwh_anywhere=True), st.data())
def test_splitting_a_period_inside_never_changes_the_price(
    start: datetime, plan: list[Step], t: Tariff, data: st.DataObject
) -> None:
    profile = session(start, *plan)
    periods = build_periods(profile, t, AMS)
    long = [i for i, p in enumerate(periods) if p.duration_s >= 2]
    if not long:
        return
    i = data.draw(st.sampled_from(long))
    k = data.draw(st.integers(1, periods[i].duration_s - 1))
    split = [*periods[:i], *_split(periods[i], k, Timeline(profile)), *periods[i + 1 :]]
    assert len(split) == len(periods) + 1
    assert price(split, t).costs == price(periods, t).costs


def _split(period: ChargingPeriod, k: int, timeline: Timeline) -> tuple[ChargingPeriod, ...]:
    at = period.start + timedelta(seconds=k)
    energy_at = timeline.energy_at(int(at.timestamp()))
    first_wh = min(max(energy_at - period.energy_before_wh, 0), period.energy_wh)
    first = replace(period, end=at, duration_s=k, energy_wh=first_wh)
    second = replace(
        period,
        start=at,
        local_start=at.astimezone(AMS),
        duration_s=period.duration_s - k,
        energy_wh=period.energy_wh - first_wh,
        energy_before_wh=period.energy_before_wh + first_wh,
        elapsed_s=period.elapsed_s + k,
    )
    return first, second


@SETTINGS
@given(STARTS, steps(), tariffs(steps=True, kwh_anywhere=True))
def test_a_credit_cdr_negates_the_total_exactly(
    start: datetime, plan: list[Step], t: Tariff
) -> None:
    result = _price(start, plan, t)
    cdr = to_cdr(result, header=HEADER, last_updated=start)
    credit = credit_cdr(cdr, last_updated=start + timedelta(days=1))
    assert credit.total_cost.excl_vat + cdr.total_cost.excl_vat == 0
    if cdr.total_cost.incl_vat is None:
        assert credit.total_cost.incl_vat is None
    else:
        assert credit.total_cost.incl_vat is not None
        assert credit.total_cost.incl_vat + cdr.total_cost.incl_vat == 0
    assert credit.total_energy == cdr.total_energy and credit.total_time == cdr.total_time
    assert cdr.total_cost.excl_vat == result.policy.round(result.costs.total.excl)


@SETTINGS
@given(STARTS, steps(), tariffs(steps=True, kwh_anywhere=True))
def test_periods_cover_the_session_and_add_up(start: datetime, plan: list[Step], t: Tariff) -> None:
    profile = session(start, *plan)
    periods = build_periods(profile, t, AMS)
    assert periods[0].start == profile.start and periods[-1].end == profile.end
    assert all(a.end == b.start for a, b in pairwise(periods))
    assert sum(p.energy_wh for p in periods) == sum(s.wh for s in plan)
    assert sum(p.duration_s for p in periods) == sum(s.minutes for s in plan) * 60
    result = price(periods, t)
    assert price_session(profile, t, AMS) == result  # the one-pass path agrees
    low, high = t.min_price, t.max_price
    if low is not None:
        assert result.costs.total.excl >= Fraction(low.excl_vat)
    if high is not None:
        assert result.costs.total.excl <= Fraction(high.excl_vat)
