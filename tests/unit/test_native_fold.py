"""The compiled meter-sample fold (``native/src/fold.rs``) and the stitcher's
deferred samples: both must give exactly what folding each sample in Python,
at once, gives - the state down to its snapshot bytes, and the records."""

from __future__ import annotations

import copy
import random
from dataclasses import replace
from itertools import pairwise

import chargewatch_native
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import streams.core.stitcher as stitcher_module
from chargewatch.simulator import SimConfig, simulate
from streams.core.events import Event, MeterSample, Sample, as_sample
from streams.core.meter import KNOT_MS, MAX_KNOTS, MeterFold
from streams.core.state import (
    NATIVE_FOLD,
    SessionState,
    event_ms,
    fold_sample,
    fold_samples,
    snapshot_state,
)
from streams.core.stitcher import Stitcher, Timeouts
from tests.unit.test_disorder import messy

LATENESS_MS = 600_000
T0 = 1_700_000_000_000


def test_the_build_folds_in_compiled_code_with_the_python_constants() -> None:
    assert NATIVE_FOLD
    assert (chargewatch_native.KNOT_MS, chargewatch_native.MAX_KNOTS) == (KNOT_MS, MAX_KNOTS)


def _state(window: tuple[int | None, int | None], auto_closed: int | None) -> SessionState:
    return SessionState(
        session_id="s1", tenant="t", station_id="CP-1", connector_id=1,
        started_ms=window[0], stopped_ms=window[1], auto_closed_ms=auto_closed,
    )  # fmt: skip


def _sample(ms: int, energy: int | None, power: int | None, soc: float | None, tx: str | None
            ) -> Sample:  # fmt: skip
    return ("s1", ms, "t", "CP-1", 1, tx, energy, power, soc)


@st.composite
def sample_runs(draw: st.DrawFn) -> tuple[SessionState, list[Sample], list[int]]:
    """A state (window, auto-close) and samples as chargers send them: mostly in
    order every ~15 s, with jitter beyond the lateness, duplicates, resets,
    regressions, gaps of days (knots) and jumps beyond int32 (a wide buffer);
    and the cut points of the runs they are folded in."""
    rng = random.Random(draw(st.integers(0, 2**32)))
    n = draw(st.integers(1, 120))
    ms, wh = T0 + rng.randrange(-(10**6), 10**6), rng.randrange(0, 10**6)
    samples = []
    for _ in range(n):
        roll = rng.random()
        if roll < 0.05:
            ms += rng.choice([KNOT_MS * 3, 86_400_000 * 3, 2**31 + 5])  # gaps
        elif roll < 0.15:
            ms -= rng.randrange(0, 2 * LATENESS_MS)  # late, some beyond the lateness
        else:
            ms += rng.randrange(0, 30_000)
        roll = rng.random()
        if roll < 0.04:
            wh //= 20  # reset
        elif roll < 0.08:
            wh -= rng.randrange(1, 50)  # regression
        elif roll < 0.1:
            wh += 2**32  # a jump beyond int32
        else:
            wh += rng.randrange(0, 500)
        energy = None if rng.random() < 0.1 else wh
        power = None if rng.random() < 0.3 else rng.randrange(0, 350_000)
        soc = None if rng.random() < 0.5 else rng.choice([12.5, 40.0, 80.25])
        tx = None if rng.random() < 0.2 else rng.choice(["T1", "T2"])
        samples.append(_sample(ms, energy, power, soc, tx))
        if rng.random() < 0.05:
            samples.append(samples[-1])  # a duplicate
        elif rng.random() < 0.05:  # another reading at the same time: ties are first-come
            samples.append(_sample(ms, wh + 1, rng.randrange(0, 350_000), 55.5, "T3"))
    lo = draw(st.sampled_from([None, T0 - 10**7, T0 + 60_000]))
    hi = draw(st.sampled_from([None, T0 + 4 * 3_600_000]))
    auto_closed = draw(st.sampled_from([None, T0, T0 + 10**9]))
    cuts = sorted(draw(st.lists(st.integers(0, len(samples)), max_size=8)))
    return _state((lo, hi), auto_closed), samples, cuts


def _runs(samples: list[Sample], cuts: list[int]) -> list[list[Sample]]:
    bounds = [0, *cuts, len(samples)]
    return [samples[a:b] for a, b in pairwise(bounds) if b > a]


@settings(max_examples=300, deadline=None)
@given(sample_runs())
def test_compiled_runs_fold_to_the_state_of_python_sample_by_sample(
    case: tuple[SessionState, list[Sample], list[int]],
) -> None:
    state, samples, cuts = case
    python, native = copy.deepcopy(state), copy.deepcopy(state)
    for sample in samples:
        fold_sample(python, sample, LATENESS_MS)
    for run in _runs(samples, cuts):
        assert chargewatch_native.fold_samples(native, run, LATENESS_MS)
    assert snapshot_state(native) == snapshot_state(python)
    assert native == python  # the buffer's kind (packed or wide) included
    assert type(native.meter.recent) is type(python.meter.recent)


def test_knots_stop_at_the_cap_as_in_python() -> None:
    state = _state((None, None), None)
    python, native = copy.deepcopy(state), copy.deepcopy(state)
    samples = [_sample(T0 + i * 40 * 86_400_000, 1000 + i * 7, None, None, None) for i in range(4)]
    samples.append(_sample(samples[-1][1] + 2 * LATENESS_MS, 5000, None, None, None))
    for sample in samples:
        fold_sample(python, sample, LATENESS_MS)
    assert chargewatch_native.fold_samples(native, samples, LATENESS_MS)
    assert python.meter.knot_wh is not None
    assert len(python.meter.knot_wh) == MAX_KNOTS
    assert native == python


def test_values_beyond_64_bits_change_nothing_and_fold_in_python() -> None:
    state = _state((None, None), None)
    fold_sample(state, _sample(T0, 10, None, None, None), LATENESS_MS)
    before = copy.deepcopy(state)
    huge = [_sample(T0 + 1000, 20, None, None, None), _sample(T0 + 2000, 2**70, None, None, None)]
    assert not chargewatch_native.fold_samples(state, huge, LATENESS_MS)
    assert state == before
    python = copy.deepcopy(state)
    for sample in huge:
        fold_sample(python, sample, LATENESS_MS)
    fold_samples(state, huge, LATENESS_MS)  # falls back to Python
    assert state == python
    assert state.meter.recent_wide is not None  # an offset of 2**70 is not packed


def test_an_empty_run_changes_nothing() -> None:
    state = _state((T0, None), None)
    before = copy.deepcopy(state)
    assert chargewatch_native.fold_samples(state, [], LATENESS_MS)
    assert state == before


def test_a_restored_fold_with_a_broken_buffer_is_left_to_python() -> None:
    state = _state((None, None), None)
    state.meter = MeterFold(recent_wide=[1, 2, 3])  # odd length: never written by the fold
    assert not chargewatch_native.fold_samples(
        state, [_sample(T0, 5, None, None, None)], LATENESS_MS
    )


# -- the stitcher's deferred samples ---------------------------------------


def _without_seq(events: list[Event], rng: random.Random) -> list[Event]:
    """Most meter samples without a seqNo, as OCPP 1.6 chargers send them (the
    simulator numbers them all, as 2.0.1 does): only those can be deferred."""
    return [
        msgspec.structs.replace(e, seq=None) if type(e) is MeterSample and rng.random() < 0.9 else e
        for e in events
    ]


def _drive(events: list[Event], *, defer: bool, tick_every: int, seed: int
           ) -> tuple[list[object], dict[str, object], int]:  # fmt: skip
    """Every record the stitcher emits (with ticks between events, and reads of
    states, as the worker makes them), every session's settled record, and the
    most samples it held deferred at once."""
    stitcher = Stitcher(
        update_interval_s=300, allowed_lateness_s=600, defer_samples=defer,
        timeouts=Timeouts(stall_min_s=300, auto_close_s=3600),
    )  # fmt: skip
    rng = random.Random(seed)
    out: list[object] = []
    newest = None
    held = 0
    for i, event in enumerate(events):
        ms = event_ms(event)
        newest = ms if newest is None else max(newest, ms)
        if type(event) is MeterSample and event.seq is None and not event.flags:
            out.append(stitcher.apply_sample(as_sample(event, ms)))
        else:
            out.append(stitcher.apply(event, ms))
        held = max(held, stitcher._deferred)
        if i % tick_every == 0:
            out.extend(stitcher.tick(newest + rng.choice([0, 0, 400_000, 4_000_000])))
        if rng.random() < 0.01:
            state = stitcher.get(event.session_id)
            assert state is not None
            out.append(snapshot_state(state))  # the worker's changelog write
    assert newest is not None
    out.extend(stitcher.tick(newest + 10**8))
    settled: dict[str, object] = {
        s.session_id: stitcher.settle(s.session_id) for s in list(stitcher)
    }
    return out, settled, held


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), arrival=st.integers(0, 2**32),
       dup_rate=st.sampled_from([0.0, 0.05]),
       tick_every=st.sampled_from([7, 97, 10**9]))  # fmt: skip
def test_deferred_samples_emit_the_records_of_folding_each_at_once(
    seed: int, arrival: int, dup_rate: float, tick_every: int
) -> None:
    sim = simulate(replace(SimConfig(), stations=2, days=0.5, seed=seed, sample_interval_s=15))
    shuffled = messy(sim.events, random.Random(arrival), dup_rate)
    events = _without_seq(shuffled, random.Random(seed))
    # (Whether any sample was deferred depends on the draw: frequent far ticks
    # stall every session. test_deferral_is_bounded_across_sessions checks some are.)
    records, settled, _ = _drive(events, defer=True, tick_every=tick_every, seed=seed)
    assert (records, settled) == _drive(events, defer=False, tick_every=tick_every, seed=seed)[:2]
    assert any(record is not None for record in records)


def test_deferral_is_bounded_across_sessions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stitcher_module, "MAX_DEFERRED", 5)
    sim = simulate(replace(SimConfig(), stations=3, days=0.5, seed=7, sample_interval_s=15))
    events = _without_seq(sim.events, random.Random(7))
    deferred = _drive(events, defer=True, tick_every=10**9, seed=1)
    assert deferred[:2] == _drive(events, defer=False, tick_every=10**9, seed=1)[:2]
    stitcher = Stitcher(update_interval_s=300, allowed_lateness_s=600)
    held = 0
    for event in events:
        stitcher.apply(event)
        held = max(held, stitcher._deferred)
        assert stitcher._deferred == sum(len(run) for run in stitcher._pending.values())
    assert 0 < held < 5


def test_a_sample_due_for_a_record_folds_the_deferred_ones_first() -> None:
    stitcher = Stitcher(update_interval_s=300, allowed_lateness_s=600)
    samples = [_sample(T0 + i * 15_000, 100 + i * 10, 7000, None, "T1") for i in range(25)]
    records = [stitcher.apply_sample(s) for s in samples]
    emitted = [(i, r.energy_wh) for i, r in enumerate(records) if r is not None]
    # The first sample opens the session; the next record is due 300 s later
    # (sample 20), with the energy of all 21 samples folded in order.
    assert emitted == [(0, 0), (20, 200)]
    state = stitcher.get("s1")
    assert state is not None
    assert state.samples == 25
    # All within the lateness of the newest: buffered, none sealed yet.
    assert state.meter.recent is not None
    assert len(state.meter.recent) == 2 * 25
    assert state.meter.last is None
