"""The compiled fast path of the normaliser (``native/``, Rust via PyO3).

OCPP 1.6 MeterValues are nine messages in ten. ``chargewatch_native`` validates
such a request against the official schema and reduces its meter values in one
pass, for the common shape of the message, and returns ``None`` (Python
decides) for anything else; ``tests/unit/test_native_meter_values.py`` holds
it to the Python path's results on every dataset message and on mutated ones.

``make install`` builds it. Without it (an install that skipped ``native/``)
the normaliser takes the Python path for every message, with the same results;
``OcppNormaliser.compiled`` says which path is in use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Projected", "project_meter_values_v16"]

Projected = tuple[int, int | None, list[tuple[int, int | None, int | None, float | None]]]
"""(connector_id, transaction_id or None, [(epoch_ms, energy_wh, power_w, soc)])."""

project_meter_values_v16: Callable[[Any], Projected | None] | None
try:
    from chargewatch_native import meter_values_v16 as project_meter_values_v16
except ImportError:  # pragma: no cover - the build includes it
    project_meter_values_v16 = None
