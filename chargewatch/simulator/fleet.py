"""The simulated fleet: stations, their connectors, and when EVs arrive.

Every station draws from its own PRNG, seeded by ``(seed, station id)``, so a
station looks the same whatever the fleet size: a 5-station run is exactly the
first 5 stations of a 50-station run.

Arrivals are a non-homogeneous Poisson process per connector, drawn by
thinning: candidate times at the peak rate, each kept with probability
``weight(hour, weekday) <= 1``. Local time is UTC: the simulator has no time
zones and so no DST, which keeps the hour-of-day shape trivially checkable.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "Current",
    "Site",
    "StationSpec",
    "arrival_weight",
    "build_fleet",
    "next_arrival",
    "station_rng",
]

Current = Literal["AC", "DC"]
Site = Literal["workplace", "public"]

# Relative arrival intensity by UTC hour (peak = 1.0). Weekdays: a commuter
# peak 7-10, lunch plateau, a smaller evening peak 17-20, almost nothing at
# night. Weekends: one flat daytime hump.
_WEEKDAY = (
    0.04, 0.03, 0.02, 0.02, 0.03, 0.08, 0.30, 1.00, 1.00, 0.90, 0.60, 0.45,
    0.45, 0.45, 0.40, 0.40, 0.45, 0.65, 0.65, 0.60, 0.35, 0.20, 0.12, 0.06,
)  # fmt: skip
_WEEKEND = (
    0.04, 0.03, 0.02, 0.02, 0.02, 0.04, 0.08, 0.15, 0.30, 0.45, 0.55, 0.60,
    0.60, 0.55, 0.50, 0.50, 0.50, 0.50, 0.45, 0.40, 0.30, 0.20, 0.12, 0.06,
)  # fmt: skip
# Workplace chargers are mostly empty at weekends; public ones less so.
_WEEKEND_SCALE: dict[Site, float] = {"workplace": 0.3, "public": 0.8}
# Arrivals per connector per hour at weight 1.0. DC sessions are short, so a
# DC connector serves many more EVs a day than an AC one.
_PEAK_RATE_PER_H: dict[Current, float] = {"AC": 0.6, "DC": 1.5}

_AC_KW = (3.7, 7.4, 11.0, 11.0, 22.0)
_DC_KW = (50.0, 75.0, 100.0, 150.0)


@dataclass(frozen=True)
class StationSpec:
    """One simulated charging station (all its connectors share kind and limit)."""

    station_id: str
    current: Current
    max_power_w: int
    connectors: int
    site: Site
    load_managed: bool  # sometimes holds power back: suspended_evse periods
    first_transaction_id: int
    initial_registers_wh: tuple[int, ...]  # connector n is index n - 1


def station_rng(seed: int, station_id: str, *parts: object) -> random.Random:
    """A PRNG for one station (or one of its connectors), independent of the fleet size.

    String seeds are hashed with SHA-512 by ``random``, so this is stable across
    processes and Python hash randomisation.
    """
    return random.Random("/".join(["chargewatch-sim", str(seed), station_id, *map(str, parts)]))


def build_fleet(count: int, seed: int, prefix: str) -> tuple[StationSpec, ...]:
    """``count`` stations ``{prefix}0001``..., about 70% AC."""
    fleet = []
    for index in range(1, count + 1):
        station_id = f"{prefix}{index:04d}"
        rng = station_rng(seed, station_id)
        current: Current = "DC" if rng.random() < 0.3 else "AC"
        if current == "AC":
            max_kw = rng.choice(_AC_KW)
            connectors = rng.choices((1, 2, 3, 4), weights=(20, 60, 5, 15))[0]
            site: Site = "workplace" if rng.random() < 0.5 else "public"
            load_managed = rng.random() < 0.25
        else:
            max_kw = rng.choice(_DC_KW)
            connectors = rng.choices((1, 2, 3, 4), weights=(40, 50, 5, 5))[0]
            site = "public"
            load_managed = rng.random() < 0.15
        fleet.append(
            StationSpec(
                station_id=station_id,
                current=current,
                max_power_w=round(max_kw * 1000),
                connectors=connectors,
                site=site,
                load_managed=load_managed,
                first_transaction_id=rng.randint(1, 50_000),
                initial_registers_wh=tuple(
                    rng.randint(1_000_000, 5_000_000) for _ in range(connectors)
                ),
            )
        )
    return tuple(fleet)


def arrival_weight(site: Site, epoch_s: int) -> float:
    """Relative arrival intensity (0..1) at a UTC instant, in epoch seconds."""
    day, second_of_day = divmod(epoch_s, 86_400)
    hour = second_of_day // 3600
    if (day + 3) % 7 >= 5:  # 1970-01-01 was a Thursday (weekday 3)
        return _WEEKEND[hour] * _WEEKEND_SCALE[site]
    return _WEEKDAY[hour]


def next_arrival(
    rng: random.Random, station: StationSpec, *, after_s: int, window_s: int, origin_epoch: int
) -> int | None:
    """The first arrival at or after ``after_s`` (seconds from the origin), if in the window."""
    peak_per_s = _PEAK_RATE_PER_H[station.current] / 3600.0
    t = float(after_s)
    while True:
        t += rng.expovariate(peak_per_s)
        if t >= window_s:
            return None
        # Flooring keeps the arrival inside [after_s, window_s).
        arrival = int(t)
        if rng.random() < arrival_weight(station.site, origin_epoch + arrival):
            return arrival
