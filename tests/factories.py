"""Small builders for canonical events, so tests read like timelines."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from chargewatch.simulator import GroundTruth
from streams.core.events import (
    AuthorizationResult,
    Event,
    MeterSample,
    SessionStarted,
    SessionStopped,
    StateChanged,
)

T0 = datetime(2026, 5, 4, 8, 0, 0, tzinfo=UTC)
_ids = itertools.count()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _common(session: str, t: float, **kw: Any) -> dict[str, Any]:
    base = {
        "event_id": f"e{next(_ids)}",
        "station_id": kw.pop("station", "CP-0001"),
        "connector_id": kw.pop("connector", 1),
        "session_id": session,
        "ts": at(t),
        "transaction_id": kw.pop("tx", "17"),
    }
    return base | kw


def started(session: str, t: float, meter: int | None = 1000, **kw: Any) -> Event:
    return SessionStarted(**_common(session, t, **kw), meter_start_wh=meter)


def sample(session: str, t: float, wh: int | None, power: int | None = None, **kw: Any) -> Event:
    return MeterSample(**_common(session, t, **kw), energy_wh=wh, power_w=power)


def state(session: str, t: float, value: str, **kw: Any) -> Event:
    return StateChanged(**_common(session, t, **kw), state=value)  # type: ignore[arg-type]


def stopped(session: str, t: float, meter: int | None, reason: str = "Local", **kw: Any) -> Event:
    return SessionStopped(**_common(session, t, **kw), meter_stop_wh=meter, reason=reason)


def authorised(session: str, t: float, result: str = "accepted", **kw: Any) -> Event:
    return AuthorizationResult(
        **_common(session, t, **kw),
        method="rfid",
        result=result,
        token_hash="ab12",  # type: ignore[arg-type]
    )


def truth_rows(truth: list[GroundTruth]) -> set[tuple[Any, ...]]:
    """What the OCPP tests compare with the simulator's truth (whole seconds)."""
    return {
        (t.station_id, t.connector_id, int(t.started_at.timestamp()), t.duration_s,
         t.charging_s, t.idle_s, t.energy_wh)
        for t in truth
    }  # fmt: skip
