"""One planned session turned into canonical events, and its ground truth.

The truth comes from the plan (arrival, departure, when the EV was full, the
energy integrated into the register) and from the values emitted here, never
from the pipeline's code.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta
from typing import Any

from chargewatch.simulator.charging import SessionPlan
from chargewatch.simulator.fleet import StationSpec
from chargewatch.simulator.truth import GroundTruth
from streams.core.events import (
    AuthorizationResult,
    Event,
    MeterSample,
    SessionStarted,
    SessionStopped,
    StateChanged,
)

__all__ = ["SESSION_NAMESPACE", "Row", "emit_session"]

SESSION_NAMESPACE = uuid.UUID("6f2b8e0c-5d1a-4c7e-9b3f-2a8d4e6c1f07")
"""uuid5 namespace of simulated session ids (fixed: ids are stable across runs)."""

Row = tuple[int, str, int, int, Event]
"""(second from the origin, station, connector, seq in the session, event): sortable."""


def emit_session(
    plan: SessionPlan,
    station: StationSpec,
    *,
    tenant: str,
    seed: int,
    origin: datetime,
    sample_interval_s: int,
    transaction_id: str,
    register_ws: int,
    rows: list[Row],
) -> GroundTruth:
    """Append one session's events to ``rows``; return its ground truth.

    ``register_ws`` is the connector's energy register (watt-seconds) at arrival.
    """
    station_id, connector_id = station.station_id, plan.connector_id
    session_id = str(uuid.uuid5(SESSION_NAMESPACE, f"{tenant}/{station_id}/{transaction_id}"))
    # A stand-in for the pipeline's keyed HMAC: hex, stable per driver, never a raw token.
    token_hash = hashlib.sha256(f"chargewatch-sim/{seed}/{plan.driver}".encode()).hexdigest()
    seq = 0  # index of the next event in the session

    def at(second: int) -> datetime:
        return origin + timedelta(seconds=second)

    def head(second: int) -> dict[str, Any]:
        """The fields every event of this session shares, for the next event."""
        return {
            "event_id": f"{session_id}:{seq}",
            "tenant": tenant,
            "station_id": station_id,
            "connector_id": connector_id,
            "session_id": session_id,
            "transaction_id": transaction_id,
            "ts": at(second),
            "seq": seq,
        }

    def add(second: int, event: Event) -> None:
        nonlocal seq
        rows.append((second, station_id, connector_id, seq, event))
        seq += 1

    arrive, leave = plan.arrive_s, plan.leave_s
    meter_start = register_ws // 3600
    meter_stop = (register_ws + plan.delivered_ws) // 3600
    add(
        arrive,
        SessionStarted(
            **head(arrive),
            meter_start_wh=meter_start,
            auth_method=plan.auth_method,
            token_hash=token_hash,
        ),
    )
    add(
        arrive,
        AuthorizationResult(
            **head(arrive),
            method=plan.auth_method,
            result="accepted",
            token_hash=token_hash,
        ),
    )

    dc = station.current == "DC"
    ws_per_pct = plan.capacity_wh * 36
    segments = plan.segments
    pending_states = list(reversed(plan.states))  # pop() takes the earliest
    powers: list[int] = []
    socs: list[float] = []
    seg = 0
    for second in [*range(arrive, leave, sample_interval_s), leave]:
        while pending_states and pending_states[-1][0] <= second:
            state_at, state = pending_states.pop()
            add(
                state_at,
                StateChanged(
                    **head(state_at),
                    state=state,
                ),
            )
        while seg < len(segments) and segments[seg].end_s <= second:
            seg += 1
        if seg < len(segments) and segments[seg].start_s <= second:
            power = segments[seg].power_w
            delivered = segments[seg].ws_before + power * (second - segments[seg].start_s)
        else:  # before charging, after full, or at the stop: nothing drawn
            power = 0
            delivered = segments[seg].ws_before if seg < len(segments) else plan.delivered_ws
        soc = min(100.0, round(plan.soc_arrival + delivered / ws_per_pct, 1)) if dc else None
        powers.append(power)
        if soc is not None:
            socs.append(soc)
        add(
            second,
            MeterSample(
                **head(second),
                energy_wh=(register_ws + delivered) // 3600,
                power_w=power,
                soc=soc,
            ),
        )
    add(
        leave,
        SessionStopped(
            **head(leave),
            meter_stop_wh=meter_stop,
            reason=plan.stop_reason,
        ),
    )

    charging_s = plan.charging_s()
    return GroundTruth(
        session_id=session_id,
        tenant=tenant,
        station_id=station_id,
        connector_id=connector_id,
        transaction_id=transaction_id,
        started_at=at(arrive),
        ended_at=at(leave),
        duration_s=leave - arrive,
        charging_s=charging_s,
        idle_s=leave - arrive - charging_s,
        energy_wh=meter_stop - meter_start,
        meter_start_wh=meter_start,
        meter_stop_wh=meter_stop,
        max_power_w=max(powers),
        soc_start=socs[0] if socs else None,
        soc_end=socs[-1] if socs else None,
        auth_method=plan.auth_method,
        token_hash=token_hash,
        stop_reason=plan.stop_reason,
        current=station.current,
        pattern=plan.pattern,
    )
