"""Money: exact inside, rounded once, at the end, by one written policy.

**Exact inside.** Every amount is an integer number of *units* over one
denominator per tariff, so sums and products never round. A tariff's prices
(and VAT rates, min/max prices) are scaled to integers by ``10**p`` (``p`` =
most decimals any of them has); quantities are integer Wh and seconds. A price
per kWh times Wh and a price per hour times seconds meet over 18 000 (the least
common multiple of 1000 Wh and 3600 s), and VAT multiplies by
``(100 + vat) / 100``. So ``denominator = 10**p * 18000 * 100 * 10**v``. This
is fixed-point ``Decimal`` arithmetic done on ``int`` (about ten times faster
than ``Decimal`` or ``Fraction`` objects per operation); the unrounded value
is available exactly as a ``Fraction`` (:attr:`Money.excl`).

**Rounding policy** (OCPI sets none: its Tariffs module leaves price rounding
to law, contracts and currency):

* CDR amounts are rounded **half up** (away from zero on a tie) to **4
  decimals**. Four because OCPI's ``number`` type says numbers use 4 decimals
  unless mentioned otherwise, and because it keeps the spec's 3-decimal
  examples (2.875, 13.861) exact; half up because it is the commercial rule
  drivers and auditors expect (banker's rounding surprises people on invoices).
  Rounding to the currency's minor unit is the invoicing system's job.
* Rounding happens **once**, on the final figures: each reported amount (the
  total, and each sub-total) is rounded from its own exact value, never summed
  from rounded parts. So the rounded sub-totals may differ from the rounded
  total by at most half a unit of the last place per sub-total; the total is
  always the closest to the truth.
* Quantities are never rounded (integer Wh and seconds), except by the
  tariff's own ``step_size`` rules.
* The unrounded amounts are kept (``PriceResult.costs``) for storage and
  reconciliation.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal
from fractions import Fraction

__all__ = [
    "DEFAULT_POLICY",
    "ENERGY_UNITS_PER_WH",
    "FLAT_UNITS",
    "TIME_UNITS_PER_S",
    "UNITS_PER_MONEY",
    "Money",
    "RoundingPolicy",
    "decimal_places",
    "scale",
]

UNITS_PER_MONEY = 18_000
"""Quantity units per unit of money: lcm(1000 Wh/kWh, 3600 s/h)."""
ENERGY_UNITS_PER_WH = UNITS_PER_MONEY // 1000
TIME_UNITS_PER_S = UNITS_PER_MONEY // 3600
FLAT_UNITS = UNITS_PER_MONEY


def decimal_places(value: Decimal) -> int:
    """How many digits ``value`` has after the point (0 for integers)."""
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def scale(value: Decimal, places: int) -> int:
    """``value * 10**places`` as an exact integer (``places`` must cover its decimals)."""
    scaled = value.scaleb(places)
    integral = int(scaled)
    if integral != scaled:
        raise ValueError(f"{value} has more than {places} decimals")
    return integral


@dataclass(frozen=True, slots=True)
class RoundingPolicy:
    """How exact amounts become CDR amounts. Default: 4 decimals, half up."""

    places: int = 4
    rounding: str = ROUND_HALF_UP

    def __post_init__(self) -> None:
        if self.places < 0:
            raise ValueError("places must be >= 0")

    def round(self, value: Fraction) -> Decimal:
        """``value`` rounded by this policy, computed without intermediate error."""
        return self.round_units(value.numerator, value.denominator)

    def round_units(self, num: int, den: int) -> Decimal:
        """``num / den`` (``den > 0``) rounded by this policy, exactly."""
        if self.rounding == ROUND_HALF_UP:  # the default: pure integer arithmetic
            quotient, remainder = divmod(abs(num) * 10**self.places, den)
            if 2 * remainder >= den:
                quotient += 1
            value = Decimal(-quotient if num < 0 else quotient)
            if quotient < _SCALEB_SAFE:  # scaleb rounds to the context's 28 digits
                return value.scaleb(-self.places)
            return Decimal((value.is_signed(), value.as_tuple().digits, -self.places))
        # Enough digits that an inexact quotient cannot land on a rounding
        # boundary: a rational with denominator ``den`` that is not on a boundary
        # stays at least 1 / (2 * den * 10**places) away from it.
        digits = len(str(abs(num))) + len(str(den)) + self.places + 8
        exact = Context(prec=digits).divide(Decimal(num), Decimal(den))
        rounded = exact.quantize(Decimal(1).scaleb(-self.places), rounding=self.rounding)
        return rounded if rounded else rounded.copy_abs()  # never -0


DEFAULT_POLICY = RoundingPolicy()
_SCALEB_SAFE = 10**27


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount excluding and including VAT, in units of ``1/denominator``."""

    excl_units: int
    incl_units: int
    denominator: int

    @classmethod
    def zero(cls, denominator: int) -> Money:
        return cls(0, 0, denominator)

    @property
    def excl(self) -> Fraction:
        """Exact amount excluding VAT."""
        return Fraction(self.excl_units, self.denominator)

    @property
    def incl(self) -> Fraction:
        """Exact amount including VAT (equal to ``excl`` where no VAT applies)."""
        return Fraction(self.incl_units, self.denominator)

    def __add__(self, other: Money) -> Money:
        if other.denominator != self.denominator:
            raise ValueError("amounts of different tariffs cannot be added")
        return Money(
            self.excl_units + other.excl_units,
            self.incl_units + other.incl_units,
            self.denominator,
        )

    def __neg__(self) -> Money:
        return Money(-self.excl_units, -self.incl_units, self.denominator)

    def __bool__(self) -> bool:
        return bool(self.excl_units or self.incl_units)
