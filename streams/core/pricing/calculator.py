"""Pricing charging periods under a tariff (OCPI 2.2.1), on session close.

Steps, in this order:

1. **Validity.** The tariff must be valid (``start_date_time`` inclusive,
   ``end_date_time`` exclusive) at the start of the first period; it then
   prices the whole session, even past its ``end_date_time``.
2. **Active components.** Each period is judged at its start: per dimension,
   the first matching element that has it (:mod:`.compiled`).
3. **Billable quantities.** Energy of periods with an active ENERGY component;
   charging seconds with an active TIME; parking seconds with an active
   PARKING_TIME; reservation seconds with an active reservation TIME.
4. **step_size, once per session.** ENERGY: the billable energy total is
   rounded up to the ``step_size`` of the last period that billed energy (an
   active ENERGY component and energy > 0: a parking period with another
   ENERGY price but no energy does not count), and the extra is billed at that
   period's price. TIME and PARKING_TIME share one rounding: if any parking
   time was billable, only the parking total is rounded (step and price of the
   last billable parking period) and charging time is billed exactly;
   otherwise the charging total is rounded the same way. Reservation TIME is
   rounded on its own. Step sizes of earlier periods are ignored.
5. **FLAT once.** The FLAT component active in the first period that has one
   is charged once for the session, and the reservation's FLAT once for the
   reservation.
6. **VAT per component**: ``incl = excl * (1 + vat/100)`` for each component.
   A component without ``vat`` has no VAT applicable: its incl amount is its
   excl amount, and if *no* active component has a ``vat`` the result says
   ``vat_applicable=False`` and the CDR leaves ``incl_vat`` out.
7. **min_price/max_price** on the session total, excl and incl separately
   (``incl`` only when the limit gives ``incl_vat``).
8. **Rounding once** at the end (:mod:`.money`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo

from schemas.tariff import Price, Tariff
from streams.core.pricing.compiled import (
    ActiveComponent,
    CompiledTariff,
    Selection,
    compile_tariff,
)
from streams.core.pricing.errors import PricingError
from streams.core.pricing.money import DEFAULT_POLICY, Money, RoundingPolicy
from streams.core.pricing.periods import ChargingPeriod, cut_session
from streams.core.pricing.profile import SessionProfile
from streams.core.pricing.result import Costs, PricedPeriod, PriceResult, ReportedCosts

__all__ = ["price", "price_session"]


def price(
    periods: Sequence[ChargingPeriod],
    tariff: Tariff | CompiledTariff,
    *,
    policy: RoundingPolicy = DEFAULT_POLICY,
) -> PriceResult:
    """Price a finished session's ``periods`` (from :func:`build_periods`) under ``tariff``."""
    compiled = tariff if isinstance(tariff, CompiledTariff) else compile_tariff(tariff)
    selections = [compiled.select(p.kind, p.moment()) for p in periods]
    return _price(periods, selections, compiled, policy)


def price_session(
    profile: SessionProfile,
    tariff: Tariff | CompiledTariff,
    tz: tzinfo | str,
    *,
    policy: RoundingPolicy = DEFAULT_POLICY,
) -> PriceResult:
    """``price(build_periods(profile, tariff, tz), tariff)``, judging each period once."""
    compiled = tariff if isinstance(tariff, CompiledTariff) else compile_tariff(tariff)
    periods, selections = cut_session(profile, compiled, tz)
    return _price(periods, selections, compiled, policy)


_FIXED, _ENERGY, _TIME, _PARKING, _RESERVATION = range(5)


def _price(  # noqa: PLR0912, PLR0915 - one pass on purpose: this is the hot path
    periods: Sequence[ChargingPeriod],
    selections: list[Selection],
    compiled: CompiledTariff,
    policy: RoundingPolicy,
) -> PriceResult:
    if not periods:
        raise PricingError("nothing to price: the session has no charging periods")
    if not compiled.active_at(periods[0].start):
        raise PricingError(
            f"tariff {compiled.tariff.id} is not valid at the session start "
            f"{periods[0].start.isoformat()}"
        )
    n = len(periods)
    # Billable quantities (step 3): energy Wh, TIME s (charging or reservation), parking s.
    wh = [0] * n
    time_s = [0] * n
    parking_s = [0] * n
    last_energy = last_time = last_parking = last_reserved = flat_at = reserved_flat_at = -1
    duration = energy = charging = parking = reservation = 0
    billable_time = billable_reserved = 0
    vat_applicable = False
    for i, (period, sel) in enumerate(zip(periods, selections, strict=True)):
        energy_c, time_c, parking_c, flat_c = sel
        vat_applicable = vat_applicable or any(c is not None and c.has_vat for c in sel)
        kind, d = period.kind, period.duration_s
        if kind in {"charging", "parking"}:
            duration += d
            energy += period.energy_wh
            if energy_c is not None and period.energy_wh:
                wh[i], last_energy = period.energy_wh, i
            if kind == "charging":
                charging += d
                if time_c is not None and d:
                    time_s[i], last_time = d, i
                    billable_time += d
            else:
                parking += d
                if parking_c is not None and d:
                    parking_s[i], last_parking = d, i
            if flat_c is not None and flat_at < 0:
                flat_at = i  # FLAT once: the first period that has one (step 5)
        else:
            reservation += d
            if time_c is not None and d:
                time_s[i], last_reserved = d, i
                billable_reserved += d
            if flat_c is not None and reserved_flat_at < 0:
                reserved_flat_at = i

    # step_size once per session (step 4): the extra goes to the last priced period.
    billable_energy = sum(wh)
    billable_parking = sum(parking_s)
    if last_energy >= 0:
        wh[last_energy] += -billable_energy % _step(selections[last_energy][0])
    if billable_parking > 0:
        parking_s[last_parking] += -billable_parking % _step(selections[last_parking][2])
    elif last_time >= 0:
        time_s[last_time] += -billable_time % _step(selections[last_time][1])
    if last_reserved >= 0:
        time_s[last_reserved] += -billable_reserved % _step(selections[last_reserved][1])

    # Money (step 6), summed exactly by CDR category.
    den = compiled.denominator
    excl = [0] * 5
    incl = [0] * 5
    billed_reserved = 0
    priced: list[PricedPeriod] = []
    for i, (period, sel) in enumerate(zip(periods, selections, strict=True)):
        energy_c, time_c, parking_c, flat_c = sel
        is_flat = i in {flat_at, reserved_flat_at}
        priced.append(PricedPeriod(period, sel, wh[i], time_s[i], parking_s[i], is_flat, den))
        reserved = period.kind not in {"charging", "parking"}
        if reserved:
            billed_reserved += time_s[i]
        if energy_c is not None and wh[i]:
            excl[_ENERGY] += energy_c.excl_per_unit * wh[i]
            incl[_ENERGY] += energy_c.incl_per_unit * wh[i]
        if time_c is not None and time_s[i]:
            category = _RESERVATION if reserved else _TIME
            excl[category] += time_c.excl_per_unit * time_s[i]
            incl[category] += time_c.incl_per_unit * time_s[i]
        if parking_c is not None and parking_s[i]:
            excl[_PARKING] += parking_c.excl_per_unit * parking_s[i]
            incl[_PARKING] += parking_c.incl_per_unit * parking_s[i]
        if is_flat and flat_c is not None:
            category = _PARKING if flat_c.parking_flat else _FIXED
            category = _RESERVATION if reserved else category
            excl[category] += flat_c.excl_per_unit
            incl[category] += flat_c.incl_per_unit

    fixed, energy_m, time_m, parking_m, reserved_m = (
        Money(e, v, den) for e, v in zip(excl, incl, strict=True)
    )
    subtotal = Money(sum(excl), sum(incl), den)
    total, raised, capped = _limits(subtotal, compiled)  # step 7
    costs = Costs(fixed, energy_m, time_m, parking_m, reserved_m, subtotal, total)
    return PriceResult(
        tariff=compiled.tariff,
        periods=tuple(priced),
        costs=costs,
        reported=_report(costs, policy, vat_applicable),  # step 8
        policy=policy,
        vat_applicable=vat_applicable,
        min_price_applied=raised,
        max_price_applied=capped,
        duration_s=duration,
        energy_wh=energy,
        billed_energy_wh=sum(wh),
        charging_s=charging,
        billed_charging_s=sum(time_s) - billed_reserved,
        parking_s=parking,
        billed_parking_s=sum(parking_s),
        reservation_s=reservation,
        billed_reservation_s=billed_reserved,
    )


def _step(component: ActiveComponent | None) -> int:
    assert component is not None  # only called for a period where it is active
    return component.step_size


def _limits(subtotal: Money, compiled: CompiledTariff) -> tuple[Money, bool, bool]:
    excl, incl = subtotal.excl_units, subtotal.incl_units
    raised = capped = False
    if compiled.min_units is not None:
        low_excl, low_incl = compiled.min_units
        if excl < low_excl:
            excl, raised = low_excl, True
        if low_incl is not None and incl < low_incl:
            incl, raised = low_incl, True
    if compiled.max_units is not None:
        high_excl, high_incl = compiled.max_units
        if excl > high_excl:
            excl, capped = high_excl, True
        if high_incl is not None and incl > high_incl:
            incl, capped = high_incl, True
    return Money(excl, incl, subtotal.denominator), raised, capped


def _report(costs: Costs, policy: RoundingPolicy, vat_applicable: bool) -> ReportedCosts:
    def rounded(money: Money) -> Price:
        excl = policy.round_units(money.excl_units, money.denominator)
        incl = policy.round_units(money.incl_units, money.denominator) if vat_applicable else None
        return Price.model_construct(excl_vat=excl, incl_vat=incl)  # values are ours: no checks

    return ReportedCosts(
        fixed=rounded(costs.fixed),
        energy=rounded(costs.energy),
        time=rounded(costs.time),
        parking=rounded(costs.parking),
        reservation=rounded(costs.reservation),
        total=rounded(costs.total),
    )
