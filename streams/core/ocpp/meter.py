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
from typing import Any

import msgspec

__all__ = ["Reading", "reading_v16", "reading_v201", "scaled_int"]

ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
SOC = "SoC"

_UNSET: Any = msgspec.UNSET
_isfinite = math.isfinite
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d{1,4})?", re.ASCII)
_MAX = 10**15
_ENERGY_UNITS = {"Wh": 0, "kWh": 3}
_POWER_UNITS = {"W": 0, "kW": 3}
_LOCATIONS = ("Outlet", "Inlet")  # in order of preference; other locations are ignored
_PHASE_GROUPS = (("L1", "L2", "L3"), ("L1-N", "L2-N", "L3-N"))
_SUMMABLE = frozenset(_PHASE_GROUPS[0] + _PHASE_GROUPS[1])


class Reading(msgspec.Struct, frozen=True, gc=False):
    """What one meterValue says; ``None`` = not reported (or not usable).

    A Struct rather than a NamedTuple: one is made per meterValue, and a Struct
    is several times cheaper to create."""

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
    if type(value) is int and exponent == 0:  # 2.0.1, usually
        return float(value) if 0 <= value <= 100 else None
    parsed = _digits(value)
    if parsed is None:
        return None
    digits, decimals = parsed
    shift = exponent - decimals
    soc = float(digits * 10**shift) if shift >= 0 else digits / 10**-shift
    return soc if soc <= 100.0 else None


def _combine(
    others: list[tuple[Any, str, int]], energy: int | None, power: int | None
) -> tuple[int | None, int | None]:
    """Fill energy / power from phase and Inlet readings when no Outlet total exists."""
    # kind -> (location, phase) -> highest value; phase "" is the location's total.
    slots: dict[str, dict[tuple[str, str], int]] = {}
    for sv, kind, number in others:
        location = "Outlet" if sv.location is _UNSET else sv.location
        phase = "" if sv.phase is _UNSET else sv.phase
        if location not in _LOCATIONS or (phase and phase not in _SUMMABLE):
            continue  # Cable / EV / Body, or a neutral or line-to-line phase
        of_kind = slots.setdefault(kind, {})
        current = of_kind.get((location, phase))
        if current is None or number > current:
            of_kind[(location, phase)] = number
    if energy is None and "E" in slots:
        energy = _resolve(slots["E"])
    if power is None and "P" in slots:
        power = _resolve(slots["P"])
    return energy, power


def _resolve(slots: dict[tuple[str, str], int]) -> int | None:
    for location in _LOCATIONS:
        total = slots.get((location, ""))
        if total is not None:
            return total
        for group in _PHASE_GROUPS:
            parts = [slots[key] for phase in group if (key := (location, phase)) in slots]
            if parts:
                return sum(parts)
    return None


def _number(value: object, exponent: int) -> int | None:
    """:func:`scaled_int`, with the usual cases inlined: an int, or a plain
    fixed-point number (1.6 strings; 2.0.1 floats through their shortest repr)."""
    if type(value) is float:
        if not _isfinite(value):
            return None
        return _text_number(repr(value), exponent)
    if type(value) is int and exponent >= 0:
        result = value * 10**exponent
        return result if 0 <= result <= _MAX else None
    if type(value) is str:
        return _text_number(value, exponent)
    return scaled_int(value, exponent)


def _text_number(text: str, exponent: int) -> int | None:
    """:func:`scaled_int` of a string; plain ASCII fixed-point text is done here."""
    if len(text) < 24:
        whole, _, fraction = text.partition(".")
        digits = whole + fraction
        if digits.isdigit() and digits.isascii():  # also rejects "" and "."
            result = int(digits)
            shift = exponent - len(fraction)
            if shift < 0:
                divisor = 10**-shift
                result, remainder = divmod(result, divisor)
                result += 2 * remainder >= divisor  # half up
            elif shift:
                result *= 10**shift
            return result if result <= _MAX else None
    return scaled_int(text, exponent)


_PERCENT = {"Percent": 0}
_KINDS: dict[str, tuple[str, dict[str, int], str]] = {
    ENERGY: ("E", _ENERGY_UNITS, "Wh"),
    POWER: ("P", _POWER_UNITS, "W"),
    SOC: ("S", _PERCENT, "Percent"),
}
# measurand -> unit -> (kind, power of ten): two lookups of interned enum values
# per sampled value on the hot path. UNSET stands for an absent field: the
# measurand defaults to the energy register, the unit to the measurand's default
# unit. Whatever is not listed is ignored.
_SPECS: dict[Any, dict[Any, tuple[str, int]]] = {
    measurand: {
        **{unit: (kind, exponent) for unit, exponent in units.items()},
        _UNSET: (kind, units[default]),
    }
    for name, (kind, units, default) in _KINDS.items()
    for measurand in ((name, _UNSET) if name == ENERGY else (name,))
}
_NO_UNITS: dict[Any, tuple[str, int]] = {}

# Both readers below apply the same rule to each usable number: an Outlet total
# (no phase, Outlet or no location) -- the common case -- is kept in a local
# (the highest wins); anything else waits for ``_combine``. The rule is written
# out in each loop rather than called, because it runs for every sampled value.


def reading_v16(sampled_values: list[Any]) -> Reading:
    """Reduce the ``sampledValue`` list of one 1.6 meterValue."""
    energy: int | None = None
    power: int | None = None
    soc: float | None = None
    others: list[tuple[Any, str, int]] = []
    for sv in sampled_values:
        spec = _SPECS.get(sv.measurand, _NO_UNITS).get(sv.unit)
        if spec is None or sv.context == "Other" or sv.format == "SignedData":
            continue
        kind, exponent = spec
        if kind == "S":
            value = _soc(sv.value, 0)
            soc = value if value is not None else soc
            continue
        value = sv.value  # 1.6 values are strings
        # Whole Wh or W, the common case: at most 15 ASCII digits, so <= _MAX.
        plain = exponent == 0 and len(value) < 16 and value.isdigit() and value.isascii()
        number = int(value) if plain else _text_number(value, exponent)
        if number is None:
            continue
        if sv.phase is not _UNSET or (sv.location is not _UNSET and sv.location != "Outlet"):
            others.append((sv, kind, number))
        elif kind == "E":
            energy = number if energy is None or number > energy else energy
        else:
            power = number if power is None or number > power else power
    if others and (energy is None or power is None):
        energy, power = _combine(others, energy, power)
    return Reading(energy, power, soc)


def reading_v201(sampled_values: list[Any]) -> Reading:
    """Reduce the ``sampledValue`` list of one 2.0.1 meterValue."""
    energy: int | None = None
    power: int | None = None
    soc: float | None = None
    others: list[tuple[Any, str, int]] = []
    for sv in sampled_values:
        uom = sv.unitOfMeasure
        if uom is _UNSET:
            spec, multiplier = _SPECS.get(sv.measurand, _NO_UNITS).get(_UNSET), 0
        else:
            spec = _SPECS.get(sv.measurand, _NO_UNITS).get(uom.unit)
            multiplier = uom.multiplier
            multiplier = 0 if multiplier is _UNSET else multiplier
        if spec is None or sv.context == "Other" or not -12 <= multiplier <= 12:
            continue
        kind, exponent = spec
        if kind == "S":
            value = _soc(sv.value, multiplier)
            soc = value if value is not None else soc
            continue
        number = _number(sv.value, exponent + multiplier)
        if number is None:
            continue
        if sv.phase is not _UNSET or (sv.location is not _UNSET and sv.location != "Outlet"):
            others.append((sv, kind, number))
        elif kind == "E":
            energy = number if energy is None or number > energy else energy
        else:
            power = number if power is None or number > power else power
    if others and (energy is None or power is None):
        energy, power = _combine(others, energy, power)
    return Reading(energy, power, soc)
