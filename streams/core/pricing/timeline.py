"""A session profile as integer-time signals: energy, power, current, activity.

Everything is in whole epoch seconds and whole Wh, so cutting the session into
periods never loses or invents energy: period energies are differences of one
function and always add up to the session total.

* **Energy at an instant** is the linear interpolation between meter points,
  rounded *down* to a whole Wh, so a kWh threshold is never reported reached
  before it is.
* **The instant a kWh threshold is reached** is the first whole second at
  which the interpolated energy is at or above it (rounded up), and at that
  instant the energy is taken to be exactly the threshold: the period before
  the cut holds precisely the energy below the threshold.
* **Power and current are step signals**: a meter point's reported value holds
  until the next point that reports one (a sample is the latest known value).
  A threshold is therefore crossed *at the sample* that first reports a value
  on the other side. Before any reported power, the power of a stretch is its
  average (energy / time) between meter points; after the last point, with no
  reported value, 0. Current stays unknown until reported.
"""

from __future__ import annotations

from bisect import bisect_right
from decimal import Decimal

from streams.core.pricing.profile import Activity, SessionProfile, epoch_s

__all__ = ["Timeline"]


class Timeline:
    """Integer-time view of a :class:`SessionProfile`."""

    __slots__ = (
        "_activity",
        "_activity_t",
        "_e",
        "_steps",
        "_steps_t",
        "_t",
        "end",
        "start",
    )

    def __init__(self, profile: SessionProfile) -> None:
        self.start = epoch_s(profile.start)
        self.end = epoch_s(profile.end)
        readings = _collapse(profile, self.start)
        self._t = [t for t, _, _, _ in readings]
        self._e = [e for _, e, _, _ in readings]
        self._steps = _power_steps(readings, self.end)
        self._steps_t = [t for t, _, _ in self._steps]
        switches = [(epoch_s(s.time), s.activity) for s in profile.states]
        self._activity_t = [t for t, _ in switches]
        self._activity = [a for _, a in switches]

    @property
    def total_wh(self) -> int:
        return self._e[-1]

    def energy_at(self, t: int) -> int:
        """Session energy at ``t``, whole Wh rounded down."""
        ts, es = self._t, self._e
        i = bisect_right(ts, t) - 1
        if i < 0:
            return 0
        if i >= len(ts) - 1:
            return es[-1]
        t0, e0 = ts[i], es[i]
        return e0 + (es[i + 1] - e0) * (t - t0) // (ts[i + 1] - t0)

    def reaches(self, wh: int) -> int | None:
        """First whole second at which the session energy is ``>= wh``, if ever."""
        if wh <= 0:
            return self.start
        es = self._e
        if es[-1] < wh:
            return None
        i = bisect_right(es, wh - 1)  # first reading at or above wh
        if i == 0:
            return self._t[0]
        t0, e0, t1, e1 = self._t[i - 1], es[i - 1], self._t[i], es[i]
        return t0 + -(-(wh - e0) * (t1 - t0) // (e1 - e0))  # ceil division

    def activity_at(self, t: int) -> Activity:
        if not self._activity:
            return "charging"  # only an empty session may have no state
        i = bisect_right(self._activity_t, t) - 1
        return self._activity[max(i, 0)]

    def switch_times(self) -> list[int]:
        """Instants of the charging/parking switches."""
        return self._activity_t

    def step_times(self) -> list[int]:
        """Instants where the power or current signal may change."""
        return self._steps_t

    def power_current(
        self, a: int, b: int
    ) -> tuple[int | None, int | None, Decimal | None, Decimal | None]:
        """(min power, max power, min current, max current) over ``[a, b)``."""
        ts, steps = self._steps_t, self._steps
        i = max(bisect_right(ts, a) - 1, 0)
        powers: list[int] = []
        currents: list[Decimal] = []
        while True:
            _, power, current = steps[i]
            if power is not None:
                powers.append(power)
            if current is not None:
                currents.append(current)
            i += 1
            if i >= len(ts) or ts[i] >= b:
                break
        return (
            min(powers, default=None),
            max(powers, default=None),
            min(currents, default=None),
            max(currents, default=None),
        )


_Reading = tuple[int, int, int | None, Decimal | None]


def _collapse(profile: SessionProfile, start: int) -> list[_Reading]:
    """Readings in integer time, one per second, energy relative to the start."""
    raw = [(epoch_s(p.time), p.energy_wh, p.power_w, p.current_a) for p in profile.points]
    base = raw[0][1] if raw and raw[0][0] == start else 0
    out: list[_Reading] = []
    if not raw or raw[0][0] > start:
        out.append((start, 0, None, None))
    for t, e, power, current in raw:
        if out and out[-1][0] == t:  # same second: the later reading wins, values merge
            _, _, p0, c0 = out[-1]
            out[-1] = (
                t,
                e - base,
                power if power is not None else p0,
                current if current is not None else c0,
            )
        else:
            out.append((t, e - base, power, current))
    return out


def _power_steps(
    readings: list[_Reading], end: int
) -> list[tuple[int, int | None, Decimal | None]]:
    """(from, power W, current A) steps, each holding until the next."""
    steps: list[tuple[int, int | None, Decimal | None]] = []
    power: int | None = None
    current: Decimal | None = None
    for i, (t, e, reported_power, reported_current) in enumerate(readings):
        if reported_power is not None:
            power = reported_power
        if reported_current is not None:
            current = reported_current
        if power is not None:
            value: int | None = power
        elif i + 1 < len(readings):
            t1, e1 = readings[i + 1][0], readings[i + 1][1]
            value = (e1 - e) * 3600 // (t1 - t) if t1 > t else None
        else:
            value = 0 if t < end else None
        steps.append((t, value, current))
    return steps
