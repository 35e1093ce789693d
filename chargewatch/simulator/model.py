"""A deterministic fleet simulation: canonical events plus their ground truth.

Pure: no Kafka, no clock, no I/O. ``simulate(config)`` returns every event of
every session whose EV *arrives* inside the window; sessions still plugged in
at the end of the window run to their natural end, so every session in the
truth is closed and the last events lie after the window.

Event conventions a consumer can rely on:

* every timestamp is a whole second, aware UTC;
* ``events`` is sorted by (ts, station, connector, order in the session); a
  session's own order is started, authorization, state changes, samples,
  stopped, and at the same second a state change precedes a sample;
* a connector holds one session at a time, with at least 60 s between one
  stop and the next start, so no two sessions of a connector share a second;
* ``seq`` is the event's index in its session (0 = session_started);
* samples at the start and every ``sample_interval_s`` after it, plus one at
  the stop; ``power_w`` is the power drawn during the second starting at the
  sample time, so it is 0 in the stop sample (the EV is gone).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import itemgetter

from chargewatch.simulator.charging import SessionPlan, plan_session
from chargewatch.simulator.emit import SESSION_NAMESPACE, Row, emit_session
from chargewatch.simulator.fleet import StationSpec, build_fleet, next_arrival, station_rng
from chargewatch.simulator.truth import GroundTruth, read_truth, write_truth
from streams.core.events import Event

__all__ = [
    "SESSION_NAMESPACE",
    "GroundTruth",
    "SimConfig",
    "Simulation",
    "read_truth",
    "simulate",
    "write_truth",
]

_MIN_GAP_S = 60  # an EV leaving and the next one plugging in


@dataclass(frozen=True)
class SimConfig:
    """What to simulate. ``start`` must be aware; it is normalised to UTC."""

    stations: int = 50
    seed: int = 42
    start: datetime = datetime(2026, 5, 4, tzinfo=UTC)  # a Monday
    days: float = 1.0
    sample_interval_s: int = 60
    tenant: str = "default"
    station_prefix: str = "CP-"

    def __post_init__(self) -> None:
        if self.start.utcoffset() is None:
            raise ValueError("SimConfig.start must be timezone-aware")
        if self.start.microsecond:
            raise ValueError("SimConfig.start must be on a whole second")
        # Frozen dataclass: normalising in place is the documented way.
        object.__setattr__(self, "start", self.start.astimezone(UTC))
        if self.stations < 1:
            raise ValueError("SimConfig.stations must be at least 1")
        if not self.days > 0:
            raise ValueError("SimConfig.days must be positive")
        if self.sample_interval_s < 1:
            raise ValueError("SimConfig.sample_interval_s must be at least 1")
        if not 1 <= len(self.tenant) <= 64:
            raise ValueError("SimConfig.tenant must have 1 to 64 characters")
        if len(self.station_prefix) + max(4, len(str(self.stations))) > 64:
            raise ValueError("SimConfig.station_prefix makes station ids longer than 64")

    @property
    def window_s(self) -> int:
        """Length of the arrival window in whole seconds."""
        return max(1, round(self.days * 86_400))

    @property
    def end(self) -> datetime:
        """End of the arrival window (exclusive)."""
        return self.start + timedelta(seconds=self.window_s)


@dataclass(frozen=True)
class Simulation:
    """The events of a run, in emission order, and one truth row per session."""

    config: SimConfig
    stations: tuple[StationSpec, ...]
    events: list[Event]
    truth: list[GroundTruth]  # sorted by (started_at, station, connector)


_sort_key = itemgetter(0, 1, 2, 3)  # (second, station, connector, seq)


def simulate(config: SimConfig | None = None) -> Simulation:
    """Run the whole simulation in memory (50 stations x 1 day: ~70k events, ~0.5 s)."""
    config = config or SimConfig()
    origin_epoch = int(config.start.timestamp())
    fleet = build_fleet(config.stations, config.seed, config.station_prefix)
    rows: list[Row] = []
    truth: list[GroundTruth] = []
    for station in fleet:
        plans: list[tuple[SessionPlan, int]] = []  # with the connector's Ws before it
        for connector_id in range(1, station.connectors + 1):
            rng = station_rng(config.seed, station.station_id, connector_id)
            # The register is kept in Ws so fractions of a Wh carry over between
            # sessions, as in a real meter; it is never reset.
            register_ws = station.initial_registers_wh[connector_id - 1] * 3600
            after_s = 0
            while True:
                arrive_s = next_arrival(
                    rng,
                    station,
                    after_s=after_s,
                    window_s=config.window_s,
                    origin_epoch=origin_epoch,
                )
                if arrive_s is None:
                    break
                plan = plan_session(rng, station, connector_id, arrive_s, origin_epoch=origin_epoch)
                plans.append((plan, register_ws))
                register_ws += plan.delivered_ws
                after_s = plan.leave_s + _MIN_GAP_S
        # Transaction ids count up per station in start order, as a CSMS hands
        # them out (OCPP 1.6 integer ids).
        plans.sort(key=lambda item: (item[0].arrive_s, item[0].connector_id))
        for offset, (plan, register_ws) in enumerate(plans):
            transaction_id = str(station.first_transaction_id + offset)
            truth.append(
                emit_session(
                    plan,
                    station,
                    tenant=config.tenant,
                    seed=config.seed,
                    origin=config.start,
                    sample_interval_s=config.sample_interval_s,
                    transaction_id=transaction_id,
                    register_ws=register_ws,
                    rows=rows,
                )
            )
    rows.sort(key=_sort_key)
    truth.sort(key=lambda row: (row.started_at, row.station_id, row.connector_id))
    return Simulation(config, fleet, [row[4] for row in rows], truth)
