"""Energy from meter registers, whatever order the readings arrive in.

The energy rule (also in the README):

* Readings are folded in event-time order: the start reading (``meterStart``)
  at the start, every register sample inside the session window, the stop
  reading (``meterStop``) at the stop. Samples outside the window are left out
  (flag ``sample_outside_window``).
* A rise adds to the energy. A drop to at most a tenth of the previous reading
  is a **reset** (the meter restarted, e.g. after a reboot): counting goes on
  from the new value (flag ``meter_reset``); the energy between the last reading
  before the reset and the reset itself is unknowable and not invented.
* Any other drop is a **regression**: the reading is ignored and the previous
  one stays the reference (flag ``meter_regression``). A stop reading below the
  start reading, or a glitching sample, never makes energy negative or larger.

Profile: as readings are folded, the cumulative energy is also noted at every
quarter hour (interpolated between the two readings around it) - the knots the
pricer cuts charging periods from. Every real time zone is a whole number of
quarter hours from UTC, so tariff boundaries at local quarter hours get the
energy up to them exactly at sample resolution, for one integer per 15 minutes.

Order: readings newer than ``latest event time - allowed lateness`` wait in a
small sorted buffer; older ones are *sealed* - folded in order into a running
total and forgotten. So any arrival order within the allowed lateness, with
any duplicates, gives exactly the in-order result, and the state stays small
(the buffer holds lateness / sample interval readings). A reading that arrives
later than that is folded best-effort and flagged ``late_reading``.
"""

from __future__ import annotations

from bisect import insort

import msgspec

__all__ = [
    "KNOT_MS",
    "RESET_FRACTION",
    "MeterFold",
    "add_reading",
    "fold_total",
    "knots",
    "seal_until",
]

KNOT_MS = 15 * 60 * 1000
"""Cumulative energy is noted at every multiple of this (epoch ms)."""

RESET_FRACTION = 10
"""A drop to <= previous / RESET_FRACTION is a reset, not a regression."""

RESET, REGRESSION, LATE = 1, 2, 4


class MeterFold(msgspec.Struct, array_like=True):
    """The sealed part of a session's readings, plus the buffer of recent ones."""

    first: int | None = None  # first sealed reading (Wh)
    last: int | None = None  # reference reading after the sealed ones
    energy: int = 0  # Wh counted over the sealed readings
    last_rise_ms: int | None = None  # event time of the latest rise
    sealed_ms: int | None = None  # readings at or before this time are sealed
    flags: int = 0  # RESET | REGRESSION | LATE
    last_ms: int | None = None  # time of the last folded reading
    first_ms: int | None = None  # time of the first folded reading
    knot_base: int = 0  # index (ms // KNOT_MS) of knot_wh[0]
    knot_wh: list[int] = msgspec.field(default_factory=list)  # energy so far at each knot
    recent: list[tuple[int, int]] = msgspec.field(default_factory=list)  # sorted (ms, Wh)


def _note_knots(fold: MeterFold, ms: int, energy_before: int) -> None:
    """Interpolate the energy at every knot in (last_ms, ms]."""
    prev_ms = fold.last_ms
    if prev_ms is None:
        return
    first = prev_ms // KNOT_MS + 1
    last = ms // KNOT_MS
    if last < first:
        return
    if not fold.knot_wh:
        fold.knot_base = first
    span = ms - prev_ms
    rise = fold.energy - energy_before
    for k in range(first, last + 1):
        fold.knot_wh.append(energy_before + rise * (k * KNOT_MS - prev_ms) // span)


def _step(fold: MeterFold, ms: int, wh: int) -> None:
    """Fold one reading, in order, into the sealed part."""
    energy_before = fold.energy
    if fold.last is None:
        fold.first = fold.last = wh
        fold.first_ms = ms
    elif wh >= fold.last:
        if wh > fold.last:
            fold.energy += wh - fold.last
            fold.last_rise_ms = ms
        fold.last = wh
    elif wh * RESET_FRACTION <= fold.last:
        fold.flags |= RESET
        fold.last = wh
    else:
        fold.flags |= REGRESSION
    _note_knots(fold, ms, energy_before)
    fold.last_ms = ms


def knots(fold: MeterFold) -> list[tuple[int, int]]:
    """(epoch ms, energy so far) at every knot, then at the last reading."""
    out = [((fold.knot_base + i) * KNOT_MS, wh) for i, wh in enumerate(fold.knot_wh)]
    if fold.last_ms is not None and (not out or out[-1][0] < fold.last_ms):
        out.append((fold.last_ms, fold.energy))
    return out


def add_reading(fold: MeterFold, ms: int, wh: int) -> None:
    """Buffer a reading (duplicates are absorbed); late ones are folded best-effort."""
    if fold.sealed_ms is not None and ms <= fold.sealed_ms:
        # Beyond the allowed lateness: its neighbours are gone. A reading that
        # fits between the first and the latest sealed values changes nothing.
        if fold.first is None or fold.last is None or not fold.first <= wh <= fold.last:
            fold.flags |= LATE
        return
    entry = (ms, wh)
    recent = fold.recent
    if not recent or entry > recent[-1]:
        recent.append(entry)  # the usual, in-order case
    elif entry not in recent:
        insort(recent, entry)


def seal_until(fold: MeterFold, watermark_ms: int, lo_ms: int | None, hi_ms: int | None) -> int:
    """Fold buffered readings at or before ``watermark_ms``; return how many were
    outside the window [lo_ms, hi_ms] (and so left out)."""
    recent = fold.recent
    n = 0
    outside = 0
    for ms, wh in recent:
        if ms > watermark_ms:
            break
        n += 1
        if (lo_ms is not None and ms < lo_ms) or (hi_ms is not None and ms > hi_ms):
            outside += 1
            continue
        _step(fold, ms, wh)
    if n:
        del recent[:n]
        fold.sealed_ms = max(watermark_ms, fold.sealed_ms or watermark_ms)
    return outside


def fold_total(fold: MeterFold, lo_ms: int | None, hi_ms: int | None) -> tuple[MeterFold, int]:
    """A copy with every buffered reading folded in; and how many were outside the window."""
    total = msgspec.structs.replace(fold, recent=list(fold.recent), knot_wh=list(fold.knot_wh))
    outside = seal_until(total, total.recent[-1][0], lo_ms, hi_ms) if total.recent else 0
    return total, outside
