"""Tariff restrictions, compiled once into predicates over a :class:`Moment`.

A :class:`Moment` is everything a restriction can look at, at one instant of
the session: local time of day, local date and weekday, energy consumed so far,
seconds since the start, present power and current. An element is active when
*every* restriction it sets matches (logical AND, OCPI 2.2.1).

How the rules are read, including the points OCPI leaves open (settled as
the team's OCPI-PRICING.md design notes recommend):

* ``start_time``/``end_time``: ``[start, end)`` on the local clock, to the
  second. ``end < start`` wraps past midnight. ``end_time "00:00"`` is the end
  of the day (24:00), so ``20:00-00:00`` is 20:00 to midnight and
  ``00:00-00:00`` the whole day. A missing bound is unbounded: only
  ``start_time`` means from then to midnight, only ``end_time`` from midnight
  to then (ocpi #466, #502). ``start == end`` (other than 00:00) is read as a
  full day, the window wrapping round to its own start - never as "never".
* ``day_of_week`` with a wrapping window (Mon-Fri 20:00-15:00): option (a),
  each field is judged on its own at the local instant. Saturday 02:00 does
  not match (Saturday is not listed); Monday 08:00 does. This follows the
  spec's "logical AND"; the night is *not* attributed to the day the window
  opened (tandemdrive #64 discussed the alternative).
* ``start_date``/``end_date``: local dates, start inclusive, end exclusive.
  Combined with times they give a *daily* window inside the date range, not
  one continuous span from start date+time to end date+time (ocpi #499).
* ``min_kwh``/``max_kwh``: energy consumed so far in the session, ``[min,
  max)``; compared in whole Wh (``ceil(kWh * 1000)``, exact for any decimal).
* ``min_power``/``max_power`` (kW) and ``min_current``/``max_current`` (A,
  summed over phases): the *present* value, active while ``>= min`` and
  ``< max``. When the value is unknown, a power/current restriction does not
  match: an element whose condition cannot be checked is not applied.
* ``min_duration``/``max_duration``: seconds since the session start, parking
  included, ``[min, max)``. For reservation periods: since the reservation start.
* ``reservation``: not a predicate here. Elements with it price only
  reservation periods and elements without it only the session (see
  :mod:`streams.core.pricing.compiled`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import NamedTuple

from schemas.tariff import TariffRestrictions

__all__ = ["Check", "Moment", "Restriction", "compile_restrictions", "milli_ceil"]

_DAY_S = 86_400
_WEEKDAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")


class Moment(NamedTuple):
    """What the restrictions see at one instant."""

    second_of_day: int  # local wall clock
    day: int  # local date, proleptic ordinal
    weekday: int  # local, Monday = 0
    energy_wh: int  # consumed since the session start
    elapsed_s: int  # since the session (or reservation) start
    power_w: int | None
    current_a: Decimal | None


Check = Callable[[Moment], bool]


def milli_ceil(value: Decimal) -> int:
    """``value * 1000`` rounded up: kWh to the first whole Wh (kW to W) reaching it.

    For an integer ``x``, ``x >= value * 1000`` exactly when ``x >= milli_ceil(value)``,
    and ``x < value * 1000`` exactly when ``x < milli_ceil(value)``.
    """
    return math.ceil(value * 1000)


def _hhmm(text: str) -> int:
    return int(text[:2]) * 3600 + int(text[3:5]) * 60


@dataclass(frozen=True, slots=True)
class Restriction:
    """One element's restrictions, compiled; plus the thresholds they cut at."""

    checks: tuple[Check, ...] = ()
    seconds_of_day: frozenset[int] = frozenset()
    local: bool = False  # depends on local time, date or weekday
    energy_wh: frozenset[int] = frozenset()
    duration_s: frozenset[int] = frozenset()
    power_w: frozenset[int] = frozenset()
    current_a: frozenset[Decimal] = field(default_factory=frozenset)

    def matches(self, moment: Moment) -> bool:
        return all(check(moment) for check in self.checks)


def compile_restrictions(r: TariffRestrictions | None) -> Restriction:
    """The predicate and cut points of one element's restrictions."""
    if r is None:
        return Restriction()
    checks: list[Check] = []
    walls: set[int] = set()
    local = False

    if r.start_time is not None or r.end_time is not None:
        local = True
        check, walls = _time_window(r.start_time, r.end_time)
        if check is not None:
            checks.append(check)
    if r.start_date is not None or r.end_date is not None:
        local = True
        first = date.fromisoformat(r.start_date).toordinal() if r.start_date else None
        until = date.fromisoformat(r.end_date).toordinal() if r.end_date else None
        if first is not None:
            checks.append(lambda m: m.day >= first)
        if until is not None:
            checks.append(lambda m: m.day < until)
    if r.day_of_week is not None:
        local = True
        days = frozenset(_WEEKDAYS.index(d) for d in r.day_of_week)
        checks.append(lambda m: m.weekday in days)

    energy = _range_checks(checks, "energy_wh", r.min_kwh, r.max_kwh, milli_ceil)
    duration = _range_checks(checks, "elapsed_s", r.min_duration, r.max_duration, int)
    power = _range_checks(checks, "power_w", r.min_power, r.max_power, milli_ceil)
    current = _current_checks(checks, r.min_current, r.max_current)
    return Restriction(
        checks=tuple(checks),
        seconds_of_day=frozenset(walls | ({0} if local else set())),
        local=local,
        energy_wh=frozenset(energy),
        duration_s=frozenset(duration),
        power_w=frozenset(power),
        current_a=frozenset(current),
    )


def _time_window(start: str | None, end: str | None) -> tuple[Check | None, set[int]]:
    lo = _hhmm(start) if start is not None else None
    hi = _hhmm(end) if end is not None else None
    if hi == 0:
        hi = _DAY_S  # "00:00" ends at midnight, the end of the day
    walls = {v % _DAY_S for v in (lo, hi) if v is not None}
    if lo is None:
        if hi is None or hi == _DAY_S:
            return None, walls  # no bound at all, or midnight to midnight
        until = hi
        return (lambda m: m.second_of_day < until), walls
    since = lo
    if hi is None:
        return (lambda m: m.second_of_day >= since), walls
    if since == hi % _DAY_S:
        return None, walls  # the window wraps round to its own start: a full day
    until = hi
    if since < until:
        return (lambda m: since <= m.second_of_day < until), walls
    return (lambda m: m.second_of_day >= since or m.second_of_day < until), walls


def _range_checks(
    checks: list[Check],
    attr: str,
    low: Decimal | int | None,
    high: Decimal | int | None,
    to_int: Callable[[Decimal], int],
) -> set[int]:
    """``[low, high)`` on an integer attribute of the moment; None never matches."""
    cuts: set[int] = set()
    index = Moment._fields.index(attr)
    if low is not None:
        lo = to_int(Decimal(low))
        cuts.add(lo)
        checks.append(lambda m: (v := m[index]) is not None and v >= lo)
    if high is not None:
        hi = to_int(Decimal(high))
        cuts.add(hi)
        checks.append(lambda m: (v := m[index]) is not None and v < hi)
    return cuts


def _current_checks(checks: list[Check], low: Decimal | None, high: Decimal | None) -> set[Decimal]:
    cuts: set[Decimal] = set()
    if low is not None:
        lo = low
        cuts.add(lo)
        checks.append(lambda m: m.current_a is not None and m.current_a >= lo)
    if high is not None:
        hi = high
        cuts.add(hi)
        checks.append(lambda m: m.current_a is not None and m.current_a < hi)
    return cuts
