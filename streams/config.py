"""Building the core's stitcher from the settings (shared by the worker and replay)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from chargewatch.settings import WorkerSettings
from streams.core.stitcher import ConnectorStop, Loader, Stitcher, Timeouts

if TYPE_CHECKING:
    from streams.core.session_pricing import SessionPricer

__all__ = ["stitcher_for"]


def stitcher_for(
    cfg: WorkerSettings,
    load: Loader | None = None,
    load_connector: Callable[[str], ConnectorStop | None] | None = None,
    pricer: SessionPricer | None = None,
) -> Stitcher:
    """A stitcher configured like every other one in this deployment."""
    timeouts = Timeouts(
        stall_factor=cfg.stall_factor, stall_min_s=cfg.stall_min_s, auto_close_s=cfg.auto_close_s
    )
    return Stitcher(
        update_interval_s=cfg.update_interval_s,
        allowed_lateness_s=cfg.allowed_lateness_s,
        timeouts=timeouts,
        load=load,
        load_connector=load_connector,
        pricer=pricer,
    )
