"""The pricer's input: what happened in one session, as plain values.

A :class:`SessionProfile` is the session seen from the meter and the state
machine: its start and end, the meter points, the charging/parking switches
and, optionally, the reservation that preceded it. It holds no tariff and no
prices; :func:`streams.core.pricing.build_periods` cuts it into charging
periods for one tariff.

Rules the rest of the pricer relies on:

* **Times** are aware datetimes, handled as whole epoch seconds (rounded half
  up, as the session record does).
* **Energy** ``energy_wh`` is energy delivered since the session start. When
  the first point is exactly at the start its reading is the zero instead, so
  raw register readings work too. Energy is linear between points, flat after
  the last one, and rises from 0 at the start to the first point when that
  point comes later. It must never decrease (the meter fold upstream resolves
  resets and regressions).
* **Activity**: ``states`` are the switches between charging and parking; the
  latest switch at or before the start gives the state at the start, and one
  is required. OCPI 2.2.1 (errata): charging is the EV drawing or requesting
  power (``charging``, ``suspended_evse``), parking is connected but not
  requesting (``suspended_ev``, ``ev_connected``, ``idle``);
  :func:`activity_of` maps the chargewatch vocabulary.
* **Reservation**: an optional window before the session. An expired
  reservation never became a session: then the profile must be empty
  (``start == end``) and only the reservation is priced.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal, NamedTuple

from schemas.vocabulary import CHARGING_STATES, ChargingState
from streams.core.pricing.errors import PricingError

__all__ = [
    "Activity",
    "MeterPoint",
    "ReservationWindow",
    "SessionProfile",
    "StateSwitch",
    "activity_of",
    "epoch_s",
]

Activity = Literal["charging", "parking"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_s(moment: datetime) -> int:
    """Whole epoch seconds of an aware datetime, rounded half up."""
    if moment.tzinfo is None:
        raise PricingError(f"naive timestamp {moment.isoformat()}: pricing needs aware times")
    delta = moment - _EPOCH
    seconds = delta.days * 86_400 + delta.seconds
    return seconds + (1 if delta.microseconds >= 500_000 else 0)


def activity_of(state: ChargingState) -> Activity:
    """OCPI activity of a chargewatch charging state (``suspended_evse`` is charging)."""
    return "charging" if state in CHARGING_STATES else "parking"


class MeterPoint(NamedTuple):
    """One meter reading: energy so far, and the power and current at that moment."""

    time: datetime
    energy_wh: int
    power_w: int | None = None
    current_a: Decimal | None = None


class StateSwitch(NamedTuple):
    """From ``time`` on, the session is ``activity``."""

    time: datetime
    activity: Activity


class ReservationWindow(NamedTuple):
    """The EVSE was reserved from ``start`` to ``end``.

    ``expired``: the reservation ran out without a session (priced with the
    RESERVATION_EXPIRES elements first).
    """

    start: datetime
    end: datetime
    expired: bool = False


@dataclass(frozen=True, slots=True)
class SessionProfile:
    """One session as the pricer sees it (see the module docstring for the rules)."""

    start: datetime
    end: datetime
    points: tuple[MeterPoint, ...] = ()
    states: tuple[StateSwitch, ...] = ()
    reservation: ReservationWindow | None = None

    def __post_init__(self) -> None:
        start, end = epoch_s(self.start), epoch_s(self.end)
        if end < start:
            raise PricingError("session ends before it starts")
        _check_points(self.points, start, end)
        _check_states(self.states, start, end)
        res = self.reservation
        if res is not None:
            res_start, res_end = epoch_s(res.start), epoch_s(res.end)
            if res_end < res_start:
                raise PricingError("reservation ends before it starts")
            if res.expired and end != start:
                raise PricingError("an expired reservation has no session: start must equal end")
            if not res.expired and res_end > start:
                raise PricingError("the reservation must end when the session starts, or before")


def _check_points(points: tuple[MeterPoint, ...], start: int, end: int) -> None:
    last_t, last_wh = start, None
    for point in points:
        t = epoch_s(point.time)
        if t < last_t or t > end:
            raise PricingError("meter points must be in time order inside the session")
        if point.energy_wh < 0 or (last_wh is not None and point.energy_wh < last_wh):
            raise PricingError("meter energy must not decrease within a session")
        if (point.power_w is not None and point.power_w < 0) or (
            point.current_a is not None and point.current_a < 0
        ):
            raise PricingError("power and current must not be negative")
        last_t, last_wh = t, point.energy_wh


def _check_states(states: tuple[StateSwitch, ...], start: int, end: int) -> None:
    if start == end and not states:
        return  # an empty session (e.g. an expired reservation) needs no state
    if not states or epoch_s(states[0].time) > start:
        raise PricingError("the state at the session start is needed (a switch at or before it)")
    times = [epoch_s(s.time) for s in states]
    if times != sorted(times):
        raise PricingError("state switches must be in time order")
    for switch in states:
        if switch.activity not in ("charging", "parking"):
            raise PricingError(f"unknown activity {switch.activity!r}")
