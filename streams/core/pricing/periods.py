"""Cutting a session into charging periods for one tariff.

OCPI requires a new charging period whenever the active price component may
change. :func:`build_periods` cuts the session at every instant where one of
the tariff's restrictions, or the charging/parking state, can flip:

* the charging <-> parking switches;
* local wall-clock boundaries: every ``start_time``/``end_time`` in the tariff,
  local midnight (dates, weekdays) and UTC-offset changes, via ``zoneinfo``
  (see :mod:`streams.core.pricing.localtime` for DST);
* the instant each ``min_kwh``/``max_kwh`` is reached (interpolated, see
  :mod:`streams.core.pricing.timeline`);
* ``session start + min_duration/max_duration``;
* the meter samples at which power or current moves across a ``min/max_power``
  or ``min/max_current`` threshold (at the sample, since a sample holds until
  the next one).

Only thresholds the tariff actually uses cut. Then neighbouring pieces with the
same kind, the same active component in every dimension and power/current on
the same side of every threshold are merged again, so the periods are the
coarsest ones with one price each - what a CDR should show. Each piece is
judged at its start; nothing can flip inside it.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from schemas.cdr import CdrDimension
from schemas.tariff import Tariff
from streams.core.pricing.compiled import CompiledTariff, PeriodKind, Selection, compile_tariff
from streams.core.pricing.errors import PricingError
from streams.core.pricing.localtime import local_boundaries
from streams.core.pricing.profile import SessionProfile, epoch_s
from streams.core.pricing.restrictions import Moment
from streams.core.pricing.timeline import Timeline
from streams.core.pricing.units import hours, kw, kwh

__all__ = ["ChargingPeriod", "build_periods", "cut_session", "zone"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ChargingPeriod:
    """A stretch of the session with one active component per dimension.

    ``energy_before_wh`` and ``elapsed_s`` are the session's energy and age at
    the period start (what kWh and duration restrictions see). Power and
    current are the extremes over the period; restrictions judge the maximum
    (within a period built here every value is on the same side of every
    threshold, so any would do).
    """

    start: datetime
    end: datetime
    local_start: datetime
    kind: PeriodKind
    duration_s: int
    energy_wh: int
    energy_before_wh: int = 0
    elapsed_s: int = 0
    min_power_w: int | None = None
    max_power_w: int | None = None
    min_current_a: Decimal | None = None
    max_current_a: Decimal | None = None

    @property
    def charging(self) -> bool:
        return self.kind == "charging"

    @property
    def parking(self) -> bool:
        return self.kind == "parking"

    @property
    def reservation(self) -> bool:
        return self.kind in ("reservation", "reservation_expired")

    def moment(self) -> Moment:
        """What the restrictions see at the period start."""
        local = self.local_start
        return Moment(
            second_of_day=local.hour * 3600 + local.minute * 60 + local.second,
            day=local.toordinal(),
            weekday=local.weekday(),
            energy_wh=self.energy_before_wh,
            elapsed_s=self.elapsed_s,
            power_w=self.max_power_w,
            current_a=self.max_current_a,
        )

    def dimensions(self) -> tuple[CdrDimension, ...]:
        """The period's OCPI CDR dimensions (kWh, hours, kW, A)."""
        if self.reservation:
            return (CdrDimension(type="RESERVATION_TIME", volume=hours(self.duration_s)),)
        dims: list[CdrDimension] = []
        if self.charging or self.energy_wh:
            dims.append(CdrDimension(type="ENERGY", volume=kwh(self.energy_wh)))
        time_type = "TIME" if self.charging else "PARKING_TIME"
        dims.append(CdrDimension(type=time_type, volume=hours(self.duration_s)))
        if self.min_power_w is not None and self.max_power_w is not None:
            dims.append(CdrDimension(type="MIN_POWER", volume=kw(self.min_power_w)))
            dims.append(CdrDimension(type="MAX_POWER", volume=kw(self.max_power_w)))
        if self.min_current_a is not None and self.max_current_a is not None:
            dims.append(CdrDimension(type="MIN_CURRENT", volume=self.min_current_a))
            dims.append(CdrDimension(type="MAX_CURRENT", volume=self.max_current_a))
        return tuple(dims)


def zone(tz: tzinfo | str) -> tzinfo:
    """A time zone from an IANA name (or a tzinfo, returned as is)."""
    if not isinstance(tz, str):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise PricingError(f"unknown time zone {tz!r}") from exc


def build_periods(
    profile: SessionProfile, tariff: Tariff | CompiledTariff, tz: tzinfo | str
) -> list[ChargingPeriod]:
    """The session's charging periods under ``tariff``, in time order.

    Reservation periods (if any) come first; an expired reservation has only
    those. A session of zero length still gets one (empty) period, so a FLAT
    fee can apply.
    """
    compiled = tariff if isinstance(tariff, CompiledTariff) else compile_tariff(tariff)
    return cut_session(profile, compiled, tz)[0]


def cut_session(
    profile: SessionProfile, compiled: CompiledTariff, tz: tzinfo | str
) -> tuple[list[ChargingPeriod], list[Selection]]:
    """:func:`build_periods`, plus the active components found for each period."""
    where = zone(tz)
    periods: list[ChargingPeriod] = []
    selections: list[Selection] = []
    reservation = profile.reservation
    if reservation is not None:
        start, end = epoch_s(reservation.start), epoch_s(reservation.end)
        kind: PeriodKind = "reservation_expired" if reservation.expired else "reservation"
        cuts = _local_and_duration_cuts(compiled, start, end, where)
        _pieces(
            compiled,
            where,
            (start, end),
            cuts,
            _Fixed(kind, start),
            periods=periods,
            selections=selections,
        )
        if reservation.expired:
            return periods, selections
    timeline = Timeline(profile)
    start, end = timeline.start, timeline.end
    cuts = _local_and_duration_cuts(compiled, start, end, where)
    cuts.update(t for t in timeline.switch_times() if start < t < end)
    at_threshold: dict[int, int] = {}
    for wh in compiled.energy_wh:
        t = timeline.reaches(wh)
        if t is not None and start < t < end:
            cuts.add(t)
            at_threshold[t] = max(at_threshold.get(t, 0), wh)
    if compiled.power_w or compiled.current_a:
        cuts.update(_signal_cuts(timeline, compiled, start, end))
    source = _Session(timeline, at_threshold)
    _pieces(compiled, where, (start, end), cuts, source, periods=periods, selections=selections)
    return periods, selections


def _local_and_duration_cuts(
    compiled: CompiledTariff, start: int, end: int, where: tzinfo
) -> set[int]:
    cuts = local_boundaries(start, end, where, compiled.seconds_of_day) if compiled.local else set()
    cuts.update(start + d for d in compiled.duration_s if start < start + d < end)
    return cuts


def _signal_cuts(timeline: Timeline, compiled: CompiledTariff, start: int, end: int) -> list[int]:
    """Samples where power or current changes side of a tariff threshold."""
    cuts = []
    previous: tuple[int, int] | None = None
    for t in timeline.step_times():
        if t >= end:
            break
        _, power, _, current = timeline.power_current(t, t + 1)
        side = (_side(compiled.power_w, power), _side(compiled.current_a, current))
        if previous is not None and side != previous and t > start:
            cuts.append(t)
        previous = side
    return cuts


def _side(thresholds: Sequence[Any], value: Any) -> int:
    return -1 if value is None else bisect_right(thresholds, value)


class _Fixed:
    """A reservation: one kind, no energy, no power; age counted from its start."""

    def __init__(self, kind: PeriodKind, origin: int) -> None:
        self.kind, self.origin = kind, origin

    def describe(self, a: int, b: int) -> _Piece:
        return (self.kind, 0, 0, a - self.origin, None, None, None, None)


class _Session:
    """The session's signals, read piece by piece in time order."""

    def __init__(self, timeline: Timeline, at_threshold: dict[int, int]) -> None:
        self.timeline, self.at_threshold = timeline, at_threshold
        self._last_edge, self._last_energy = -1, 0

    def energy(self, t: int) -> int:
        exact = self.at_threshold.get(t)
        return self.timeline.energy_at(t) if exact is None else exact

    def describe(self, a: int, b: int) -> _Piece:
        tl = self.timeline
        before = self._last_energy if a == self._last_edge else self.energy(a)
        after = self.energy(b)
        self._last_edge, self._last_energy = b, after  # the next piece starts at b
        return (tl.activity_at(a), before, after - before, a - tl.start, *tl.power_current(a, b))


# kind, energy before, energy in piece, elapsed, min/max power, min/max current
_Piece = tuple[PeriodKind, int, int, int, int | None, int | None, Decimal | None, Decimal | None]


def _pieces(
    compiled: CompiledTariff,
    where: tzinfo,
    span: tuple[int, int],
    cuts: set[int],
    source: _Fixed | _Session,
    *,
    periods: list[ChargingPeriod],
    selections: list[Selection],
) -> None:
    """Cut ``span`` at ``cuts``, merge neighbours with the same prices, append them."""
    edges = [span[0], *sorted(cuts), span[1]]
    merged: list[list[Any]] = []
    chosen: list[Selection] = []
    last_key: tuple[Any, ...] | None = None
    for a, b in pairwise(edges):
        kind, before, energy, elapsed, pmin, pmax, cmin, cmax = source.describe(a, b)
        local = datetime.fromtimestamp(a, where)
        moment = Moment(
            local.hour * 3600 + local.minute * 60 + local.second,
            local.toordinal(),
            local.weekday(),
            before,
            elapsed,
            pmax,
            cmax,
        )
        selection = compiled.select(kind, moment)
        # The power/current side is part of the key: a merged period must be
        # judged the same at its start whatever value of it the judge looks at.
        # (Active components are shared objects: tuple equality is identity here.)
        key = (
            kind,
            selection,
            _side(compiled.power_w, pmax) if compiled.power_w else 0,
            _side(compiled.current_a, cmax) if compiled.current_a else 0,
        )
        if key == last_key:
            row = merged[-1]
            row[1] = b
            row[4] += energy
            row[7], row[8] = _low(row[7], pmin), _high(row[8], pmax)
            row[9], row[10] = _low(row[9], cmin), _high(row[10], cmax)
            continue
        merged.append([a, b, local, kind, energy, before, elapsed, pmin, pmax, cmin, cmax])
        chosen.append(selection)
        last_key = key
    utc = {t: _EPOCH + timedelta(seconds=t) for t in edges}  # neighbours share an edge
    periods.extend(
        ChargingPeriod(
            start=utc[a],
            end=utc[b],
            local_start=local,
            kind=kind,
            duration_s=b - a,
            energy_wh=energy,
            energy_before_wh=before,
            elapsed_s=elapsed,
            min_power_w=pmin,
            max_power_w=pmax,
            min_current_a=cmin,
            max_current_a=cmax,
        )
        for a, b, local, kind, energy, before, elapsed, pmin, pmax, cmin, cmax in merged
    )
    selections.extend(chosen)


def _low(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else min(a, b)


def _high(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else max(a, b)
