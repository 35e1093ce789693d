"""A deterministic EV charger simulator: canonical events plus their ground truth.

``simulate(SimConfig(...))`` is pure and seeded; ``produce(sim, ...)`` sends its
events to Kafka (key = station id), optionally paced to simulated time.
"""

from chargewatch.simulator.fleet import StationSpec
from chargewatch.simulator.model import (
    SESSION_NAMESPACE,
    GroundTruth,
    SimConfig,
    Simulation,
    read_truth,
    simulate,
    write_truth,
)
from chargewatch.simulator.producer import produce

__all__ = [
    "SESSION_NAMESPACE",
    "GroundTruth",
    "SimConfig",
    "Simulation",
    "StationSpec",
    "produce",
    "read_truth",
    "simulate",
    "write_truth",
]
