"""Meter samples handed over as values (``events.Sample``) stitch exactly as the
events they stand for, and the OCPP normaliser's compact output is its full
output with those samples as values - the hot path's shortcut changes nothing."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from chargewatch.simulator import SimConfig, simulate
from chargewatch.simulator.ocpp_log import ocpp_envelopes
from streams.core import Stitcher
from streams.core.events import Event, MeterSample, as_sample
from streams.core.ocpp import StationContext, decode_envelope
from streams.core.ocpp.errors import OcppInputError
from streams.core.record import SessionOut
from streams.core.state import SessionState, event_ms, restore_state, snapshot_state
from tests.factories import sample, started, stopped
from tests.fixtures.ocpp.scenarios import SCENARIOS, messages, normaliser, raw


def _plain(event: Event) -> bool:
    return type(event) is MeterSample and event.seq is None and not event.flags


def _stitch_both(
    events: list[Event], **options: Any
) -> tuple[tuple[Stitcher, list[SessionOut]], tuple[Stitcher, list[SessionOut]]]:
    """The events through ``apply`` alone, and with plain samples through ``apply_sample``."""
    full, compact = Stitcher(**options), Stitcher(**options)
    out_full: list[SessionOut] = []
    out_compact: list[SessionOut] = []
    for event in events:
        ms = event_ms(event)
        record = full.apply(event, ms)
        other = (
            compact.apply_sample(as_sample(event, ms))
            if _plain(event)
            else compact.apply(event, ms)
        )
        out_full += [record] if record is not None else []
        out_compact += [other] if other is not None else []
    return (full, out_full), (compact, out_compact)


def _states(stitcher: Stitcher) -> dict[str, bytes]:
    return {state.session_id: snapshot_state(state) for state in stitcher}


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), arrival=st.integers(0, 2**32))
def test_samples_as_values_stitch_as_the_events_in_any_arrival_order(
    seed: int, arrival: int
) -> None:
    sim = simulate(replace(SimConfig(), stations=2, days=0.5, seed=seed))
    rng = random.Random(arrival)
    # The simulator numbers its events (seq); OCPP 1.6 samples have no number.
    # Every other sample loses it, so both kinds meet in the same sessions.
    events = [
        msgspec.structs.replace(e, seq=None) if type(e) is MeterSample and rng.random() < 0.5 else e
        for e in sim.events
    ]
    events += rng.sample(events, len(events) // 10)  # duplicates
    delay = {id(e): rng.uniform(0, 900) for e in events}  # some beyond the lateness
    events.sort(key=lambda e: e.ts.timestamp() + delay[id(e)])
    assert sum(map(_plain, events)) > len(events) // 4
    (full, out_full), (compact, out_compact) = _stitch_both(
        events, update_interval_s=300, allowed_lateness_s=600
    )
    assert out_compact == out_full
    assert _states(compact) == _states(full)
    newest = max(event_ms(e) for e in events)
    assert compact.tick(newest + 3_600_000) == full.tick(newest + 3_600_000)  # stalls
    assert [compact.settle(s.session_id) for s in full] == [full.settle(s.session_id) for s in full]


def test_a_sample_of_a_session_not_in_memory_is_loaded_or_starts_one() -> None:
    before = Stitcher(update_interval_s=60)
    before.apply(started("s1", 0, meter=1000))
    stored = {"s1": snapshot_state(next(iter(before)))}

    def load(session_id: str) -> SessionState | None:
        raw_state = stored.get(session_id)
        return restore_state(raw_state) if raw_state is not None else None

    events = [sample("s1", 30, 1500, power=7000), sample("s2", 30, 200), stopped("s1", 90, 2000)]
    (full, out_full), (compact, out_compact) = _stitch_both(events, update_interval_s=60)
    assert out_compact == out_full
    (full, out_full), (compact, out_compact) = _stitch_both(events, update_interval_s=60, load=load)
    assert out_compact == out_full
    assert _states(compact) == _states(full)
    loaded = compact.get("s1")
    # It went on from the stored state: its start, and the energy from meterStart.
    assert loaded is not None and loaded.meter_start_wh == 1000
    assert out_compact[-1].energy_wh == 1000


def _compact_matches_full(raw_message: bytes, full_ctx: StationContext, ctx: StationContext) -> int:
    """Normalise one message both ways on twin contexts; return the values given."""
    norm = NORMALISER
    try:
        events, times = norm.normalise_timed(decode_envelope(raw_message), full_ctx)
    except OcppInputError as exc:
        try:
            norm.normalise_compact(decode_envelope(raw_message), ctx)
        except OcppInputError as again:
            assert again.reason == exc.reason
            return 0
        raise AssertionError("the compact path accepted what the full path refused") from exc
    items, compact_times = norm.normalise_compact(decode_envelope(raw_message), ctx)
    assert compact_times == times
    assert len(items) == len(events)
    values = 0
    for item, event, ms in zip(items, events, times, strict=True):
        if isinstance(item, tuple):
            assert _plain(event)
            assert item == as_sample(event, ms)  # type: ignore[arg-type]
            values += 1
        else:
            assert item == event  # the same event, its id included
            assert not _plain(event)
    assert ctx.snapshot() == full_ctx.snapshot()
    return values


NORMALISER = normaliser()


def test_compact_normalising_is_the_full_one_with_plain_samples_as_values() -> None:
    values = 0
    for name in SCENARIOS:
        full_ctx, ctx = StationContext(), StationContext()
        for message in messages(name):
            values += _compact_matches_full(raw(message), full_ctx, ctx)
    sim = simulate(replace(SimConfig(), stations=3, days=0.5, seed=7))
    for protocol in ("ocpp1.6", "ocpp2.0.1"):
        contexts: dict[str, tuple[StationContext, StationContext]] = {}
        for station, value in ocpp_envelopes(sim, protocol):  # type: ignore[arg-type]
            pair = contexts.setdefault(station, (StationContext(), StationContext()))
            values += _compact_matches_full(value, *pair)
    assert values > 1000  # the shortcut is taken (most samples), not only allowed


def test_compact_events_stitch_to_the_same_sessions() -> None:
    sim = simulate(replace(SimConfig(), stations=3, days=0.5, seed=11))
    envelopes = ocpp_envelopes(sim, "ocpp1.6")
    full, compact = Stitcher(update_interval_s=300), Stitcher(update_interval_s=300)
    contexts: dict[str, tuple[StationContext, StationContext]] = {}
    for station, value in envelopes:
        full_ctx, ctx = contexts.setdefault(station, (StationContext(), StationContext()))
        events, times = NORMALISER.normalise_timed(decode_envelope(value), full_ctx)
        for event, ms in zip(events, times, strict=True):
            full.apply(event, ms)
        items, item_times = NORMALISER.normalise_compact(decode_envelope(value), ctx)
        for item, ms in zip(items, item_times, strict=True):
            if isinstance(item, tuple):
                compact.apply_sample(item)
            else:
                compact.apply(item, ms)
    assert len(full) > 0
    settled = [(full.settle(s.session_id), compact.settle(s.session_id)) for s in full]
    assert all(a == b for a, b in settled)
    assert msgspec.json.encode(_states(full)) == msgspec.json.encode(_states(compact))
