"""Cost in stream on the real broker: a time-of-day tariff with parking fees,
CDRs in ClickHouse equal to an independent computation from the simulator."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest

from chargewatch.simulator import SimConfig, simulate
from streams.core.events import Event, MeterSample, SessionStarted, StateChanged
from tests.integration.harness import Pipeline

pytestmark = pytest.mark.integration

DAY, NIGHT, PARKING = Decimal("0.30"), Decimal("0.20"), Decimal("2.00")
FLAT, VAT = Decimal("0.50"), Decimal(20)
TARIFF = {
    "country_code": "NL", "party_id": "CWT", "id": "DAY-NIGHT-PARK", "currency": "EUR",
    "last_updated": "2026-01-01T00:00:00Z",
    "elements": [
        {"price_components": [{"type": "ENERGY", "price": 0.30, "vat": 20, "step_size": 1}],
         "restrictions": {"start_time": "07:00", "end_time": "23:00"}},
        {"price_components": [{"type": "ENERGY", "price": 0.20, "vat": 20, "step_size": 1},
                              {"type": "PARKING_TIME", "price": 2.00, "vat": 20, "step_size": 1},
                              {"type": "FLAT", "price": 0.50, "vat": 20, "step_size": 1}]},
    ],
}  # fmt: skip


def _day_boundaries(start: datetime, end: datetime) -> list[datetime]:
    """07:00 and 23:00 (UTC: the stations' time zone) strictly inside (start, end)."""
    out = []
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while day <= end:
        out += [t for t in (day + timedelta(hours=7), day + timedelta(hours=23)) if start < t < end]
        day += timedelta(days=1)
    return out


def _expected_costs(events: list[Event]) -> dict[str, tuple[Decimal, Decimal]]:
    """Independently of the pipeline: energy between samples is linear (floored to
    the Wh at a boundary), night energy at 0.20, day at 0.30, every idle second
    at 2.00/h, one flat fee, 20% VAT on everything, rounded once to 4 places."""
    readings: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    idle_s: dict[str, int] = defaultdict(int)
    states: dict[str, list[tuple[datetime, str]]] = defaultdict(list)
    for e in events:
        if isinstance(e, SessionStarted) and e.meter_start_wh is not None:
            readings[e.session_id].append((e.ts, e.meter_start_wh))
        elif isinstance(e, MeterSample) and e.energy_wh is not None:
            readings[e.session_id].append((e.ts, e.energy_wh))
        elif isinstance(e, StateChanged):
            states[e.session_id].append((e.ts, e.state))
    out = {}
    for sid, points in readings.items():
        points.sort()
        start, end = points[0][0], points[-1][0]
        base = points[0][1]
        cuts = _day_boundaries(start, end)
        energy_at = {start: 0, end: points[-1][1] - base}
        for cut in cuts:
            for (t0, w0), (t1, w1) in itertools.pairwise(points):
                if t0 <= cut <= t1:
                    span = int((t1 - t0).total_seconds() * 1000)
                    at = int((cut - t0).total_seconds() * 1000)
                    energy_at[cut] = w0 - base + (w1 - w0) * at // span
                    break
        edges = [start, *cuts, end]
        cost = Decimal(0)
        for a, b in itertools.pairwise(edges):
            kwh = Decimal(energy_at[b] - energy_at[a]) / 1000
            cost += kwh * (DAY if 7 <= a.hour < 23 else NIGHT)
        timeline = [*sorted(states[sid]), (end, "end")]
        for (t0, s0), (t1, _) in itertools.pairwise(timeline):
            if s0 in ("suspended_ev", "ev_connected", "idle"):
                idle_s[sid] += int((t1 - t0).total_seconds())
        cost += PARKING * idle_s[sid] / 3600 + FLAT
        q = Decimal("0.0001")
        out[sid] = (cost.quantize(q, ROUND_HALF_UP),
                    (cost * (1 + VAT / 100)).quantize(q, ROUND_HALF_UP))  # fmt: skip
    return out


def test_cdrs_in_clickhouse_equal_an_independent_computation(pipeline: Pipeline) -> None:
    sim = simulate(replace(SimConfig(), stations=6, days=1.0, seed=29))
    tariff_file = pipeline.root / "tariff.json"
    assignment = {"tariff_id": "DAY-NIGHT-PARK"}
    assignment = {"tariff_id": "DAY-NIGHT-PARK"}
    tariff_file.write_text(json.dumps({"tariffs": [TARIFF], "assignments": [assignment]}))
    assert "published 2 records" in pipeline.run("tariffs", "apply", str(tariff_file))
    assert "DAY-NIGHT-PARK" in pipeline.run("tariffs", "list")
    pipeline.produce(sim.events)
    pipeline.start("worker")
    pipeline.start("sink")
    pipeline.wait()
    pipeline.stop_all()

    expected = _expected_costs(sim.events)
    rows = pipeline.query(
        "SELECT session_id, total_cost_excl_vat, total_cost_incl_vat, credit, tariff_id "
        "FROM chargewatch.cdrs FINAL"
    )
    assert len(rows) == len(sim.truth) == len(expected)
    assert all(not credit and tariff == "DAY-NIGHT-PARK" for _, _, _, credit, tariff in rows)
    got = {sid: (Decimal(excl), Decimal(incl)) for sid, excl, incl, _, _ in rows}
    mismatched = {sid: (got[sid], expected[sid]) for sid in expected if got[sid] != expected[sid]}
    assert not mismatched, f"{len(mismatched)} differ, e.g. {next(iter(mismatched.items()))}"
    # the session rows carry the same final cost
    costs = dict(pipeline.query(
        "SELECT session_id, cost_excl_vat FROM chargewatch.sessions FINAL"
    ))  # fmt: skip
    assert all(Decimal(costs[sid]) == expected[sid][0] for sid in expected)
