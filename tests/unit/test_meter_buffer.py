"""The packed lateness buffer of ``streams.core.meter`` folds exactly like sorted tuples."""

from __future__ import annotations

from array import array

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from streams.core.meter import (
    KNOT_MS,
    MAX_KNOTS,
    MeterFold,
    add_reading,
    fold_total,
    knots,
    meter_total,
    meter_total_python,
    seal_until,
)
from streams.core.state import SessionState, restore_state, snapshot_state

T0 = 1_740_816_000_000
DAY_MS = 24 * 3600 * 1000


def offsets(fold: MeterFold) -> list[int]:
    buf = fold.recent if fold.recent is not None else fold.recent_wide
    return [] if buf is None else list(buf)


def reference_energy(readings: list[tuple[int, int]]) -> MeterFold:
    """Readings folded in order through a fresh buffer, all at once."""
    fold = MeterFold()
    for ms, wh in sorted(set(readings)):
        add_reading(fold, ms, wh)
    return fold_total(fold, None, None)[0]


def test_readings_are_packed_as_int32_offsets_from_the_first() -> None:
    fold = MeterFold()
    for k in range(3):
        add_reading(fold, T0 + k * 15_000, 1_000_000 + k * 45)
    assert isinstance(fold.recent, array) and fold.recent.typecode == "i"
    assert (fold.recent_ms, fold.recent_wh) == (T0, 1_000_000)
    assert list(fold.recent) == [0, 0, 15_000, 45, 30_000, 90]
    assert fold.recent_wide is None


def test_out_of_order_reading_is_inserted_and_duplicates_absorbed() -> None:
    fold = MeterFold()
    for ms, wh in [(T0, 100), (T0 + 30_000, 300), (T0 + 15_000, 200), (T0 + 15_000, 200)]:
        add_reading(fold, ms, wh)
    add_reading(fold, T0 + 30_000, 300)
    assert offsets(fold) == [0, 0, 15_000, 100, 30_000, 200]
    add_reading(fold, T0 + 15_000, 150)  # same time, another value: both kept, sorted
    assert offsets(fold) == [0, 0, 15_000, 50, 15_000, 100, 30_000, 200]


def test_offsets_beyond_int32_move_the_buffer_to_a_list() -> None:
    fold = MeterFold()
    add_reading(fold, T0, 5)
    add_reading(fold, T0 + 30 * DAY_MS, 2**40)  # a month later, a glitching register
    add_reading(fold, T0 + 10, 2**70)  # out of order, and beyond int64 too
    assert fold.recent is None
    assert fold.recent_wide == [0, 0, 10, 2**70 - 5, 30 * DAY_MS, 2**40 - 5]


def test_sealing_everything_drops_the_buffer_and_its_base() -> None:
    fold = MeterFold()
    add_reading(fold, T0, 1_000)
    add_reading(fold, T0 + 60_000, 1_500)
    assert seal_until(fold, T0, None, None) == 0
    assert offsets(fold) == [60_000, 500] and fold.sealed_ms == T0
    assert seal_until(fold, T0 + 60_000, None, T0 + 30_000) == 1  # after the window
    assert fold.recent is None and fold.recent_wide is None
    assert (fold.recent_ms, fold.recent_wh) == (0, 0)
    add_reading(fold, T0 + 90_000, 1_800)  # a new buffer, from a new base
    assert (fold.recent_ms, fold.recent_wh, offsets(fold)) == (T0 + 90_000, 1_800, [0, 0])


def test_fold_total_leaves_the_buffer_untouched() -> None:
    fold = MeterFold()
    for k in range(5):
        add_reading(fold, T0 + k * 300_000, 1_000 + k * 250)
    before = offsets(fold)
    total, outside = fold_total(fold, None, None)
    assert (total.energy, outside) == (1_000, 0)
    assert offsets(fold) == before and fold.energy == 0
    assert knots(total) == [(T0 + 900_000, 750), (T0 + 1_200_000, 1_000)]


def test_packed_and_wide_buffers_round_trip_through_the_snapshot() -> None:
    for second_wh in (1_100, 2**63 + 5):  # packed, then wide
        state = SessionState(session_id="s", tenant="t", station_id="cs", connector_id=1)
        add_reading(state.meter, T0, 1_000)
        add_reading(state.meter, T0 + 15_000, second_wh)
        restored = restore_state(snapshot_state(state))
        assert restored == state
        assert offsets(restored.meter) == offsets(state.meter)
        assert type(restored.meter.recent) is type(state.meter.recent)


_readings = st.lists(
    st.tuples(
        st.sampled_from([0, 1, 15_000, 2**31 - 1, 2**31, 40 * DAY_MS]).flatmap(
            lambda scale: st.integers(0, scale)
        ),
        st.one_of(st.integers(0, 5_000), st.integers(0, 2**64 - 1)),
    ),
    max_size=30,
)


@given(readings=_readings, order=st.randoms(use_true_random=False))
def test_any_arrival_order_with_duplicates_folds_like_sorted_readings(
    readings: list[tuple[int, int]], order: object
) -> None:
    arrivals = readings + readings[: len(readings) // 3]  # some duplicates
    order.shuffle(arrivals)  # type: ignore[attr-defined]
    fold = MeterFold()
    for ms, wh in arrivals:
        add_reading(fold, T0 + ms, wh)
    expected = sorted(set(readings))
    base = (fold.recent_ms, fold.recent_wh)
    got = offsets(fold)
    assert [(base[0] + ms, base[1] + wh) for ms, wh in zip(got[::2], got[1::2], strict=True)] == [
        (T0 + ms, wh) for ms, wh in expected
    ]
    total, _ = fold_total(fold, None, None)
    assert total == reference_energy([(T0 + ms, wh) for ms, wh in readings])


@given(
    readings=_readings,
    sealed=st.integers(0, 40 * DAY_MS),
    window=st.tuples(
        st.none() | st.integers(0, 40 * DAY_MS), st.none() | st.integers(0, 40 * DAY_MS)
    ),
)
def test_meter_total_agrees_with_fold_total(
    readings: list[tuple[int, int]], sealed: int, window: tuple[int | None, int | None]
) -> None:
    fold = MeterFold()
    for ms, wh in readings:
        add_reading(fold, T0 + ms, wh)
    lo, hi = (None if w is None else T0 + w for w in window)
    seal_until(fold, T0 + sealed, lo, hi)  # part sealed, part still buffered
    before = msgspec.structs.asdict(fold)
    total, outside = fold_total(fold, lo, hi)
    want = (total.energy, total.last_rise_ms, total.flags, outside)
    assert meter_total(fold, lo, hi) == meter_total_python(fold, lo, hi) == want
    assert msgspec.structs.asdict(fold) == before


def test_meter_total_beyond_64_bits_is_computed_in_python() -> None:
    fold = MeterFold()
    for ms, wh in ((T0, 10), (T0 + 1000, 2**70), (T0 + 2000, 2**70 + 5)):
        add_reading(fold, ms, wh)
    assert meter_total(fold, None, 2**80) == meter_total_python(fold, None, 2**80)
    assert meter_total(fold, None, None) == (2**70 + 5 - 10, T0 + 2000, 0, 0)


def test_a_reading_years_after_the_last_notes_a_bounded_profile() -> None:
    """A register read three years after the one before (a clock reset): energy
    counts as for any rise, but knots stop after MAX_KNOTS (the first 62 days)
    instead of one per quarter hour of the three years."""
    year_ms = 365 * DAY_MS
    fold = MeterFold()
    for ms, wh in [(T0, 1_000), (T0 + 3 * year_ms, 2_000), (T0 + 3 * year_ms + 60_000, 2_010)]:
        add_reading(fold, ms, wh)
    total, _ = fold_total(fold, None, None)
    assert total.energy == 1_010
    assert total.knot_wh is not None and len(total.knot_wh) == MAX_KNOTS
    points = knots(total)
    assert points[0] == ((T0 // KNOT_MS + 1) * KNOT_MS, 0)
    assert points[-1] == (T0 + 3 * year_ms + 60_000, 1_010)  # then the last reading
    assert len(points) == MAX_KNOTS + 1
