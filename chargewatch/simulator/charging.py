"""One plugged-in EV: how long it stays, what it draws, and when its state changes.

All times are whole seconds from the simulation origin; energy is integer
watt-seconds (1 Wh = 3600 Ws), so the meter register derived from it is exact.
Power is piecewise constant over *segments*: fixed physics steps of
``STEP_S`` while charging, split wherever the station pauses. A segment's
power is the power drawn during each second of it; between segments the EV
draws nothing.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Literal

from chargewatch.simulator.fleet import StationSpec
from schemas.vocabulary import AuthMethod, ChargingState

__all__ = ["STEP_S", "Pattern", "Segment", "SessionPlan", "plan_session"]

STEP_S = 60
"""Physics step: the taper is re-evaluated this often (power is constant within)."""

Pattern = Literal["left_before_full", "idle_after_full", "zero_energy"]

_EV_AC_LIMIT_W = (3_700, 7_400, 11_000, 11_000, 22_000)  # on-board charger
_EV_DC_LIMIT_W = (50_000, 100_000, 150_000, 250_000)
# Taper: full power up to the knee, then linear down to a floor at 100% SoC.
# DC tapers early and hard (CC/CV of a fast charge); AC barely tapers.
_KNEE = {"AC": 90.0, "DC": 80.0}
_FLOOR = {"AC": 0.3, "DC": 0.1}
_IDLE_MEDIAN_S = {"AC": 2_400, "DC": 480}  # after full, outside workplace hours


@dataclass(frozen=True, slots=True)
class Segment:
    """Constant power from ``start_s`` (inclusive) to ``end_s`` (exclusive)."""

    start_s: int
    end_s: int
    power_w: int
    ws_before: int  # energy delivered in this session before start_s


@dataclass(frozen=True)
class SessionPlan:
    """Everything about one session except its ids (assigned per station later)."""

    connector_id: int
    arrive_s: int
    leave_s: int
    pattern: Pattern
    charge_start_s: int | None  # first second requesting power; None: never
    full_s: int | None  # target reached before leaving (EV stops drawing); else None
    states: tuple[tuple[int, ChargingState], ...]  # strictly increasing times, all < leave_s
    segments: tuple[Segment, ...]  # sorted, inside [charge_start_s, leave_s)
    delivered_ws: int
    capacity_wh: int
    soc_arrival: float
    auth_method: AuthMethod
    driver: int
    stop_reason: str

    def charging_s(self) -> int:
        """Seconds in charging/suspended_evse, from this model (not from events)."""
        if self.charge_start_s is None:
            return 0
        end = self.full_s if self.full_s is not None else self.leave_s
        return end - self.charge_start_s


def _power_w(current: str, max_w: int, soc: float) -> int:
    knee = _KNEE[current]
    if soc < knee:
        return max_w
    taper = min((soc - knee) / (100.0 - knee), 1.0) * (1.0 - _FLOOR[current])
    return max(1, round(max_w * (1.0 - taper)))


def _charge(
    *,
    current: str,
    max_w: int,
    start_s: int,
    capacity_wh: int,
    soc_from: float,
    soc_to: float,
    pause: tuple[int, int] | None,
) -> tuple[list[Segment], int, tuple[int, int] | None]:
    """Charge from ``soc_from`` to ``soc_to``; return segments, the full time and
    the pause if it happened before full."""
    ws_per_pct = capacity_wh * 36  # 1% of capacity in watt-seconds
    need = math.ceil((soc_to - soc_from) * ws_per_pct)
    segments: list[Segment] = []
    t, ws, used_pause = start_s, 0, None
    while True:
        if pause is not None and t == pause[0]:
            segments.append(Segment(t, t + pause[1], 0, ws))
            used_pause, t, pause = (t, t + pause[1]), t + pause[1], None
            continue
        power = _power_w(current, max_w, soc_from + ws / ws_per_pct)
        end = t + STEP_S if pause is None else min(t + STEP_S, pause[0])
        remaining = need - ws
        if power * (end - t) >= remaining:
            end = t - (-remaining // power)  # ceil: the second the target is reached
        last = segments[-1] if segments else None
        if last is not None and last.power_w == power and last.end_s == t:
            # Merge equal-power steps: the constant phase becomes one segment.
            segments[-1] = Segment(last.start_s, end, power, last.ws_before)
        else:
            segments.append(Segment(t, end, power, ws))
        ws += power * (end - t)
        t = end
        if ws >= need:
            return segments, t, used_pause


def _truncate(segments: list[Segment], leave_s: int) -> list[Segment]:
    kept = [s for s in segments if s.start_s < leave_s]
    if kept and kept[-1].end_s > leave_s:
        last = kept[-1]
        kept[-1] = Segment(last.start_s, leave_s, last.power_w, last.ws_before)
    return kept


def _stay_after_full(
    rng: random.Random, station: StationSpec, arrive_s: int, full_s: int, origin_epoch: int
) -> int:
    """Departure time of an EV that stays plugged in after it is full."""
    day_start = arrive_s - (origin_epoch + arrive_s) % 86_400
    weekday = ((origin_epoch + arrive_s) // 86_400 + 3) % 7 < 5
    morning = (arrive_s - day_start) < 11 * 3600
    if station.site == "workplace" and weekday and morning:
        # Commuters leave after work, whenever the car got full.
        home_time = day_start + 16 * 3600 + rng.randint(0, 9_000)
        return max(home_time, full_s + rng.randint(60, 1_800))
    # Fast-charging drivers come back soon (idle fees); AC parkers linger.
    median_s = _IDLE_MEDIAN_S[station.current]
    idle = round(math.exp(rng.gauss(math.log(median_s), 0.9)))
    return full_s + min(max(idle, 60), 8 * 3600)


def plan_session(
    rng: random.Random,
    station: StationSpec,
    connector_id: int,
    arrive_s: int,
    *,
    origin_epoch: int,
) -> SessionPlan:
    """Draw one session that starts at ``arrive_s`` and runs to its natural end."""
    auth: AuthMethod = rng.choices(("rfid", "app", "plug_and_charge"), weights=(70, 20, 10))[0]
    driver = rng.randrange(1_000_000)
    stop_reason = "Local" if rng.random() < 0.1 else "EVDisconnected"

    if rng.random() < 0.03:
        # Plugged in but never charges (EV fault, schedule, full battery).
        leave_s = arrive_s + rng.randint(120, 2_400)
        return SessionPlan(
            connector_id=connector_id,
            arrive_s=arrive_s,
            leave_s=leave_s,
            pattern="zero_energy",
            charge_start_s=None,
            full_s=None,
            states=((arrive_s, "ev_connected"),),
            segments=(),
            delivered_ws=0,
            capacity_wh=rng.randint(40, 100) * 1000,
            soc_arrival=round(rng.uniform(10.0, 60.0), 1),
            auth_method=auth,
            driver=driver,
            stop_reason=stop_reason,
        )

    dc = station.current == "DC"
    capacity_wh = rng.randint(50, 100) * 1000 if dc else rng.randint(40, 100) * 1000
    soc_arrival = round(rng.uniform(10.0, 60.0), 1)
    soc_target = float(rng.randint(80, 100))
    ev_limit = rng.choice(_EV_DC_LIMIT_W if dc else _EV_AC_LIMIT_W)
    # Some EVs wait a little before requesting power (app authorisation, wake-up).
    charge_start_s = arrive_s + (rng.randint(10, 180) if rng.random() < 0.15 else 0)
    pause = None
    if station.load_managed and rng.random() < 0.4:
        pause = (charge_start_s + rng.randint(300, 3_600), rng.randint(300, 1_800))
    segments, full_s, used_pause = _charge(
        current=station.current,
        max_w=min(station.max_power_w, ev_limit),
        start_s=charge_start_s,
        capacity_wh=capacity_wh,
        soc_from=soc_arrival,
        soc_to=soc_target,
        pause=pause,
    )

    leave_s = charge_start_s + int((full_s - charge_start_s) * rng.uniform(0.3, 0.95))
    if rng.random() < 0.3 and leave_s - arrive_s >= 60 and leave_s < full_s:
        pattern: Pattern = "left_before_full"
    else:
        pattern = "idle_after_full"
        leave_s = _stay_after_full(rng, station, arrive_s, full_s, origin_epoch)

    states: list[tuple[int, ChargingState]] = []
    if charge_start_s > arrive_s:
        states.append((arrive_s, "ev_connected"))
    states.append((charge_start_s, "charging"))
    if used_pause is not None:
        states += [(used_pause[0], "suspended_evse"), (used_pause[1], "charging")]
    states.append((full_s, "suspended_ev"))
    kept = _truncate(segments, leave_s)
    return SessionPlan(
        connector_id=connector_id,
        arrive_s=arrive_s,
        leave_s=leave_s,
        pattern=pattern,
        charge_start_s=charge_start_s,
        full_s=full_s if pattern == "idle_after_full" else None,
        states=tuple(s for s in states if s[0] < leave_s),
        segments=tuple(kept),
        delivered_ws=sum(s.power_w * (s.end_s - s.start_s) for s in kept),
        capacity_wh=capacity_wh,
        soc_arrival=soc_arrival,
        auth_method=auth,
        driver=driver,
        stop_reason=stop_reason,
    )
