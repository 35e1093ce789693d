"""One ``meterValue`` (a timestamp and its sampled values) -> energy, power, SoC.

Rules (the same for 1.6 and 2.0.1):

* Measurands: ``Energy.Active.Import.Register`` (the default measurand) -> Wh,
  ``Power.Active.Import`` -> W, ``SoC`` -> percent. Everything else is ignored,
  including ``Energy.Active.Import.Interval`` (a delta: without its base it
  cannot become a register reading).
* Units: 1.6 ``Wh``/``kWh`` and ``W``/``kW``; 2.0.1 ``unitOfMeasure.unit`` the
  same, times 10^``multiplier``. Missing unit = Wh for energy, W for power.
  Other units (``varh``, custom 2.0.1 units) are ignored. Scaling is exact
  (decimal) and rounds half up to whole Wh / W.
* Contexts: every reading context feeds energy and power -- Transaction.Begin/
  End, Sample.Periodic (the default), Sample.Clock, Trigger and Interruption.
  Begin/End are all reads of the same monotonic register at their timestamp --
  except ``Other``, whose meaning is vendor-defined.
* Location: ``Outlet`` (the default) is what the EV received. ``Inlet`` is used
  only when a meterValue has no Outlet reading of that measurand (a station
  that meters only its inlet); Outlet and Inlet are never added together.
  ``Cable``, ``EV`` and ``Body`` are ignored for energy and power (SoC is an EV
  value and is taken from any location).
* Phases: a value without ``phase`` is the total and wins. Without a total,
  L1+L2+L3 are summed (else L1-N+L2-N+L3-N); ``N`` and line-to-line phases are
  never summed. Several readings of the same slot -> the highest (registers are
  monotonic; this also makes the result independent of order).
* Values: 1.6 values are strings; only plain ASCII decimal numbers are parsed
  (``SignedData`` blobs, ``"NaN"``, ``"1_000"``, non-ASCII digits are
  ignored, never a crash). Negative or absurd (> 10^15) values are ignored:
  the canonical contract has no negative import energy or power.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any, NamedTuple

import msgspec

__all__ = ["Reading", "reading_v16", "reading_v201", "scaled_int"]

ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
SOC = "SoC"

_UNSET: Any = msgspec.UNSET
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d{1,4})?", re.ASCII)
_MAX = 10**15
_ENERGY_UNITS = {"Wh": 0, "kWh": 3}
_POWER_UNITS = {"W": 0, "kW": 3}
_PHASE_GROUPS = (("L1", "L2", "L3"), ("L1-N", "L2-N", "L3-N"))
_SUMMABLE = frozenset(_PHASE_GROUPS[0] + _PHASE_GROUPS[1])


class Reading(NamedTuple):
    """What one meterValue says; ``None`` = not reported (or not usable)."""

    energy_wh: int | None
    power_w: int | None
    soc: float | None


def _fixed(text: str) -> tuple[int, int] | None:
    """``"12345.6"`` -> ``(123456, 1)`` (digits, decimals); None unless plain ASCII
    fixed-point (no sign, exponent, spaces, underscores or non-ASCII digits)."""
    whole, _, fraction = text.partition(".")
    digits = whole + fraction
    if not digits or len(digits) > 30 or not digits.isascii() or not digits.isdigit():
        return None
    return int(digits), len(fraction)


def _digits(value: object) -> tuple[int, int] | None:
    """(digits, decimals) of a non-negative finite number, exactly as written."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        value = repr(value)  # the shortest text that round-trips
    elif isinstance(value, int) and not isinstance(value, bool):
        return (value, 0) if value >= 0 else None
    if not isinstance(value, str):
        return None
    parsed = _fixed(value)
    if parsed is not None or len(value) > 40 or not _NUMBER.fullmatch(value):
        return parsed
    return _from_decimal(Decimal(value))  # signed or exponent notation: rare


def _from_decimal(number: Decimal) -> tuple[int, int] | None:
    if number.is_signed() and not number.is_zero():
        return None
    _, digit_tuple, exponent = number.as_tuple()
    if not isinstance(exponent, int) or exponent > 20:
        return None
    if exponent < -40:
        return (0, 0)
    whole = int("".join(map(str, digit_tuple)) or "0")
    return (whole * 10**exponent, 0) if exponent >= 0 else (whole, -exponent)


def scaled_int(value: object, exponent: int) -> int | None:
    """``value * 10**exponent`` rounded half up to an int in [0, 10^15], else None.

    Exact: integer arithmetic on the digits as written (no binary floating point)."""
    if type(value) is int and exponent == 0:  # the common case
        return value if 0 <= value <= _MAX else None
    parsed = _digits(value)
    if parsed is None:
        return None
    digits, decimals = parsed
    shift = exponent - decimals
    if shift >= 0:
        result = digits * 10**shift
    else:
        divisor = 10**-shift
        quotient, remainder = divmod(digits, divisor)
        result = quotient + (2 * remainder >= divisor)
    return result if result <= _MAX else None


def _soc(value: object, exponent: int) -> float | None:
    if type(value) is str and exponent == 0 and len(value) <= 3 and value.isdigit():
        soc = float(value) if value.isascii() else 101.0
        return soc if soc <= 100.0 else None
    parsed = _digits(value)
    if parsed is None:
        return None
    digits, decimals = parsed
    shift = exponent - decimals
    soc = float(digits * 10**shift) if shift >= 0 else digits / 10**-shift
    return soc if soc <= 100.0 else None


def _put(slots: dict[tuple[str, str, str], int], key: tuple[str, str, str], value: int) -> None:
    current = slots.get(key)
    if current is None or value > current:
        slots[key] = value


def _resolve(slots: dict[tuple[str, str, str], int], kind: str) -> int | None:
    for location in ("Outlet", "Inlet"):
        total = slots.get((kind, location, ""))
        if total is not None:
            return total
        for group in _PHASE_GROUPS:
            parts = [slots[key] for p in group if (key := (kind, location, p)) in slots]
            if parts:
                return sum(parts)
    return None


def _slot(sv: Any, kind: str) -> tuple[str, str, str] | None:
    location = sv.location
    if location is _UNSET:
        location = "Outlet"
    elif location not in ("Outlet", "Inlet"):
        return None
    phase = sv.phase
    if phase is _UNSET:
        return (kind, location, "")
    return (kind, location, phase) if phase in _SUMMABLE else None


def _combine(others: list[tuple[Any, str, int]], energy: int | None, power: int | None) -> Reading:
    """Fill energy / power from phase and inlet readings when no Outlet total exists."""
    slots: dict[tuple[str, str, str], int] = {}
    for sv, kind, number in others:
        key = _slot(sv, kind)
        if key is not None:
            _put(slots, key, number)
    if energy is None:
        energy = _resolve(slots, "E")
    if power is None:
        power = _resolve(slots, "P")
    return Reading(energy, power, None)


def _number(value: object, exponent: int) -> int | None:
    """:func:`scaled_int`, with the usual cases inlined: an int, or a plain
    fixed-point number (1.6 strings; 2.0.1 floats through their shortest repr)."""
    if type(value) is int and exponent >= 0:
        result = value * 10**exponent
        return result if 0 <= result <= _MAX else None
    if type(value) is float:
        if not math.isfinite(value):
            return None
        value = repr(value)
    if type(value) is str and len(value) < 24:
        whole, _, fraction = value.partition(".")
        digits = whole + fraction if fraction else whole
        if digits and digits.isdigit() and digits.isascii():
            shift = exponent - len(fraction)
            if shift >= 0:
                result = int(digits) * 10**shift
            else:
                divisor = 10**-shift
                quotient, remainder = divmod(int(digits), divisor)
                result = quotient + (2 * remainder >= divisor)
            return result if result <= _MAX else None
    return scaled_int(value, exponent)


_PERCENT = {"Percent": 0}
_KINDS: dict[str, tuple[str, dict[str, int], str]] = {
    ENERGY: ("E", _ENERGY_UNITS, "Wh"),
    POWER: ("P", _POWER_UNITS, "W"),
    SOC: ("S", _PERCENT, "Percent"),
}


def _reduce(numbers: list[tuple[Any, str, int]], soc: float | None) -> Reading:
    energy: int | None = None  # Outlet totals, the common case, stay in locals
    power: int | None = None
    others: list[tuple[Any, str, int]] | None = None
    for sv, kind, number in numbers:
        if sv.phase is _UNSET and (sv.location is _UNSET or sv.location == "Outlet"):
            if kind == "E":
                energy = number if energy is None or number > energy else energy
            else:
                power = number if power is None or number > power else power
        else:
            others = others or []
            others.append((sv, kind, number))
    if others is not None and (energy is None or power is None):
        energy, power, _ = _combine(others, energy, power)
    return Reading(energy, power, soc)


def reading_v16(sampled_values: list[Any]) -> Reading:
    """Reduce the ``sampledValue`` list of one 1.6 meterValue."""
    numbers: list[tuple[Any, str, int]] = []
    soc: float | None = None
    for sv in sampled_values:
        spec = _KINDS.get(ENERGY if sv.measurand is _UNSET else sv.measurand)
        if spec is None or sv.context == "Other" or sv.format == "SignedData":
            continue
        kind, units, default = spec
        exponent = units.get(default if sv.unit is _UNSET else sv.unit)
        if exponent is None:
            continue
        if kind == "S":
            value = _soc(sv.value, 0)
            soc = value if value is not None else soc
            continue
        number = _number(sv.value, exponent)
        if number is not None:
            numbers.append((sv, kind, number))
    return _reduce(numbers, soc)


def reading_v201(sampled_values: list[Any]) -> Reading:
    """Reduce the ``sampledValue`` list of one 2.0.1 meterValue."""
    numbers: list[tuple[Any, str, int]] = []
    soc: float | None = None
    for sv in sampled_values:
        spec = _KINDS.get(ENERGY if sv.measurand is _UNSET else sv.measurand)
        if spec is None or sv.context == "Other":
            continue
        kind, units, default = spec
        uom = sv.unitOfMeasure
        unit, multiplier = (_UNSET, 0) if uom is _UNSET else (uom.unit, uom.multiplier)
        multiplier = 0 if multiplier is _UNSET else multiplier
        exponent = units.get(default if unit is _UNSET else unit)
        if exponent is None or not -12 <= multiplier <= 12:
            continue
        if kind == "S":
            value = _soc(sv.value, multiplier)
            soc = value if value is not None else soc
            continue
        number = _number(sv.value, exponent + multiplier)
        if number is not None:
            numbers.append((sv, kind, number))
    return _reduce(numbers, soc)
