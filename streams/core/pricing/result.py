"""What pricing returns: per-period detail, exact costs and reported (rounded) costs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from schemas.tariff import Price, Tariff
from streams.core.pricing.compiled import ActiveComponent, Selection
from streams.core.pricing.money import Money, RoundingPolicy
from streams.core.pricing.periods import ChargingPeriod

__all__ = ["Costs", "PriceResult", "PricedPeriod", "ReportedCosts"]


@dataclass(frozen=True, slots=True)
class PricedPeriod:
    """One period with its active components and what it is billed.

    Billed quantities include the ``step_size`` extra where this period is
    the one that carries it (the last period priced in that dimension).
    ``billed_time_s`` is charging TIME, or reservation TIME in a reservation
    period. ``flat_charged`` marks the period that carries the once-per-session
    FLAT fee (or the reservation's). Costs are exact and computed on demand.
    """

    period: ChargingPeriod
    selection: Selection
    billed_energy_wh: int
    billed_time_s: int
    billed_parking_s: int
    flat_charged: bool
    denominator: int

    @property
    def energy_cost(self) -> Money:
        return _cost(self.selection.energy, self.billed_energy_wh, self.denominator)

    @property
    def time_cost(self) -> Money:
        return _cost(self.selection.time, self.billed_time_s, self.denominator)

    @property
    def parking_cost(self) -> Money:
        return _cost(self.selection.parking, self.billed_parking_s, self.denominator)

    @property
    def flat_cost(self) -> Money:
        return _cost(self.selection.flat, int(self.flat_charged), self.denominator)

    @property
    def cost(self) -> Money:
        return self.energy_cost + self.time_cost + self.parking_cost + self.flat_cost


def _cost(component: ActiveComponent | None, quantity: int, den: int) -> Money:
    if component is None:
        return Money.zero(den)
    return Money(component.excl_per_unit * quantity, component.incl_per_unit * quantity, den)


@dataclass(frozen=True, slots=True)
class Costs:
    """Exact (unrounded) costs by CDR category.

    ``fixed``: FLAT fees except parking and reservation ones. ``time``:
    charging time. ``parking``: parking time plus parking FLAT fees (a FLAT in
    an element that prices PARKING_TIME). ``reservation``: reservation TIME and
    FLAT. ``subtotal`` is their sum; ``total`` is the subtotal after
    ``min_price``/``max_price``, applied to excl and incl VAT separately. The
    categories are never adjusted by min/max, so ``total`` may differ from
    their sum.
    """

    fixed: Money
    energy: Money
    time: Money
    parking: Money
    reservation: Money
    subtotal: Money
    total: Money


@dataclass(frozen=True, slots=True)
class ReportedCosts:
    """The costs as a CDR reports them: each rounded once by the policy.

    ``incl_vat`` is ``None`` when no active component carried a VAT rate.
    """

    fixed: Price
    energy: Price
    time: Price
    parking: Price
    reservation: Price
    total: Price


@dataclass(frozen=True, slots=True)
class PriceResult:
    """The price of one session under one tariff.

    Quantities are actual (``*_wh``, ``*_s``) and billed (after ``step_size``;
    only what had an active component counts as billed). ``duration_s`` is the
    session without its reservation.
    """

    tariff: Tariff
    periods: tuple[PricedPeriod, ...]
    costs: Costs
    reported: ReportedCosts
    policy: RoundingPolicy
    vat_applicable: bool
    min_price_applied: bool
    max_price_applied: bool
    duration_s: int
    energy_wh: int
    billed_energy_wh: int
    charging_s: int
    billed_charging_s: int
    parking_s: int
    billed_parking_s: int
    reservation_s: int
    billed_reservation_s: int

    @property
    def currency(self) -> str:
        return self.tariff.currency

    @property
    def start(self) -> datetime:
        """Start of the first period (the reservation start when there is one)."""
        return self.periods[0].period.start

    @property
    def end(self) -> datetime:
        return self.periods[-1].period.end
