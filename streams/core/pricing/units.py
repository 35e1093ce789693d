"""Integer quantities as OCPI CDR volumes (kWh, hours, kW).

Energy and power are exact (whole Wh and W give at most 3 decimals). Hours are
rounded half up to 4 decimals, OCPI's default for numbers: 0.00005 h is 0.18 s,
so whole seconds are recovered exactly by ``round(hours * 3600)``.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

__all__ = ["HOURS_PLACES", "hours", "kw", "kwh", "seconds_of", "wh_of"]

HOURS_PLACES = 4
_HOURS_QUANTUM = Decimal(1).scaleb(-HOURS_PLACES)


def kwh(wh: int) -> Decimal:
    """Whole Wh as exact kWh."""
    return Decimal(wh).scaleb(-3)


def kw(w: int) -> Decimal:
    """Whole W as exact kW."""
    return Decimal(w).scaleb(-3)


def hours(seconds: int) -> Decimal:
    """Whole seconds as hours, 4 decimals, half up."""
    return (Decimal(seconds) / 3600).quantize(_HOURS_QUANTUM, rounding=ROUND_HALF_UP)


def wh_of(kwh_volume: Decimal) -> int:
    """A kWh volume as whole Wh, half up."""
    return int((kwh_volume * 1000).to_integral_value(rounding=ROUND_HALF_UP))


def seconds_of(hours_volume: Decimal) -> int:
    """An hours volume as whole seconds, half up."""
    return int((hours_volume * 3600).to_integral_value(rounding=ROUND_HALF_UP))
