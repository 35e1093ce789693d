"""The compiled fast path of the normaliser (``native/``, Rust via PyO3).

OCPP 1.6 MeterValues are nine messages in ten. ``chargewatch_native`` validates
such a request against the official schema and reduces its meter values in one
pass, for the common shape of the message, and returns ``None`` (Python
decides) for anything else; ``tests/unit/test_native_meter_values.py`` holds
it to the Python path's results on every dataset message and on mutated ones.
It does so for a request (``project_meter_values_v16``, after the envelope is
decoded) and for a whole ``ocpp.messages`` value, envelope checked as
``decode_envelope`` checks it (``project_envelope_meter_values_v16``: the
worker's and the replay's first try, which skips the envelope decode).

``make install`` builds it. Without it (an install that skipped ``native/``)
the normaliser takes the Python path for every message, with the same results;
``OcppNormaliser.compiled`` says which path is in use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = [
    "Projected",
    "ProjectedEnvelope",
    "project_envelope_meter_values_v16",
    "project_meter_values_v16",
]

Row = tuple[int, int | None, int | None, float | None]
"""One meterValue's reading: (epoch_ms, energy_wh, power_w, soc)."""

Projected = tuple[int, int | None, list[Row]]
"""(connector_id, transaction_id or None, rows) of a MeterValues request."""

ProjectedEnvelope = tuple[str, str | None, int, int | None, list[Row]]
"""(station_id, tenant or None, connector_id, transaction_id or None, rows) of a
whole ``ocpp.messages`` value holding a 1.6 MeterValues."""

project_meter_values_v16: Callable[[Any], Projected | None] | None
project_envelope_meter_values_v16: Callable[[Any], ProjectedEnvelope | None] | None
try:
    from chargewatch_native import meter_values_envelope_v16 as project_envelope_meter_values_v16
    from chargewatch_native import meter_values_v16 as project_meter_values_v16
except ImportError:  # pragma: no cover - the build includes it
    project_meter_values_v16 = project_envelope_meter_values_v16 = None
