"""Local wall-clock boundaries: the instants where a local-time restriction can flip.

Restriction times and dates are local to the Location's time zone, so the
session must be cut where the *local* time of day passes a restriction's
``start_time``/``end_time``, at local midnight (dates, weekdays), and where the
UTC offset changes. With ``zoneinfo``:

* a wall time that does not exist (spring forward, 02:30 on 2025-03-30 in
  Europe/Amsterdam) is never reached; the local clock jumps over it at the
  offset change, which is itself a boundary;
* a wall time that happens twice (fall back, 02:30 on 2025-10-26) is a
  boundary both times (``fold`` 0 and 1), and the offset change in between is
  one too (the clock goes back from 02:59:59 to 02:00).

A wall-time candidate is kept only if converting it back gives the same wall
time, which drops the non-existent ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta, tzinfo
from itertools import pairwise

__all__ = ["local_boundaries"]

_ANCHOR_S = 6 * 3600  # offset changes are searched between anchors this far apart


def local_boundaries(
    start_s: int, end_s: int, tz: tzinfo, seconds_of_day: Iterable[int]
) -> set[int]:
    """Epoch seconds strictly inside ``(start_s, end_s)`` where a boundary falls.

    ``seconds_of_day`` are the local wall times to cut at (0 = midnight).
    Offset changes are always included.
    """
    cuts: set[int] = set()
    if end_s <= start_s:
        return cuts
    walls = sorted(set(seconds_of_day))
    day = datetime.fromtimestamp(start_s, tz).date() - timedelta(days=1)
    last_day = datetime.fromtimestamp(end_s, tz).date() + timedelta(days=1)
    while day <= last_day:
        midnight = _plain_day(day, tz)
        if midnight is not None:  # no offset change that day: wall time = midnight + sod
            cuts.update(t for sod in walls if start_s < (t := midnight + sod) < end_s)
        else:
            for sod in walls:
                cuts.update(_wall_time(day, sod, tz, start_s, end_s))
        day += timedelta(days=1)
    cuts.update(_offset_changes(start_s, end_s, tz))
    return cuts


def _plain_day(day: date, tz: tzinfo) -> int | None:
    """Epoch of the day's local midnight if the day is 24 h with one offset, else None."""
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    start_s, end_s = int(start.timestamp()), int(end.timestamp())
    if end_s - start_s != 86_400 or _offset(start_s, tz) != _offset(end_s - 1, tz):
        return None
    return start_s


def _wall_time(day: date, sod: int, tz: tzinfo, lo: int, hi: int) -> list[int]:
    """The instants in ``(lo, hi)`` at which the local clock shows ``day`` at ``sod``."""
    wall = datetime.combine(day, time(sod // 3600, sod % 3600 // 60, sod % 60))
    instants = []
    for fold in (0, 1):
        instant = int(wall.replace(tzinfo=tz, fold=fold).timestamp())
        if lo < instant < hi and datetime.fromtimestamp(instant, tz).replace(tzinfo=None) == wall:
            instants.append(instant)
    return instants


def _offset(t: int, tz: tzinfo) -> timedelta | None:
    return datetime.fromtimestamp(t, tz).utcoffset()


def _offset_changes(start_s: int, end_s: int, tz: tzinfo) -> list[int]:
    anchors = [*range(start_s, end_s, _ANCHOR_S), end_s]
    changes = []
    for first, last in pairwise(anchors):
        before = _offset(first, tz)
        if before == _offset(last, tz):
            continue
        lo, hi = first, last
        while hi - lo > 1:  # first second with the new offset
            mid = (lo + hi) // 2
            if _offset(mid, tz) == before:
                lo = mid
            else:
                hi = mid
        if start_s < hi < end_s:
            changes.append(hi)
    return changes
