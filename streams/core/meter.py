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
energy up to them exactly at sample resolution, for one integer per 15 minutes
(for the first ``MAX_KNOTS`` of them).

Order: readings newer than ``latest event time - allowed lateness`` wait in a
small sorted buffer; older ones are *sealed* - folded in order into a running
total and forgotten. So any arrival order within the allowed lateness, with
any duplicates, gives exactly the in-order result, and the state stays small
(the buffer holds lateness / sample interval readings). A reading that arrives
later than that is folded best-effort and flagged ``late_reading``.

Memory: the buffer is most of an open session's state (40 readings at 15 s
over the default 10 minutes), so it is packed as int32 offsets from its first
reading, 8 bytes a reading instead of ~130 for a tuple of two ints. An offset
that does not fit (a buffer spanning weeks, a glitching register) moves the
buffer to a plain list of the same offsets until it next empties.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Callable
from copy import copy
from typing import TYPE_CHECKING, Any, TypeAlias

import msgspec

__all__ = [
    "KNOT_MS",
    "MAX_KNOTS",
    "RESET_FRACTION",
    "MeterFold",
    "add_reading",
    "fold_total",
    "knots",
    "meter_total",
    "meter_total_python",
    "packed_from_builtins",
    "packed_to_builtins",
    "seal_until",
]

KNOT_MS = 15 * 60 * 1000
"""Cumulative energy is noted at every multiple of this (epoch ms)."""

MAX_KNOTS = 62 * 24 * 4
"""Knots noted per session at most: its first 62 days. A register read years
after the one before (a charger's clock reset, a glitch) would otherwise note a
knot for every quarter hour between - 35,000 a year, in memory and in every
snapshot. After them the profile goes straight to the last reading."""

RESET_FRACTION = 10
"""A drop to <= previous / RESET_FRACTION is a reset, not a regression."""

RESET, REGRESSION, LATE = 1, 2, 4

if TYPE_CHECKING:
    Packed: TypeAlias = array[int]
else:
    Packed = array  # msgspec evaluates field types, and array[int] needs Python 3.12

_PACKED_TYPECODE = "i"
_PACKED_MIN, _PACKED_MAX = -(2**31), 2**31 - 1


# gc=False: the fold holds only numbers and flat lists of numbers, so it can
# never be part of a reference cycle; untracked, it is 16 bytes smaller and
# the collector does not walk 100,000s of them.
class MeterFold(msgspec.Struct, array_like=True, gc=False):
    """The sealed part of a session's readings, plus the buffer of recent ones.

    The buffer holds the readings after ``sealed_ms`` as flat, sorted offsets
    ``[ms - recent_ms, Wh - recent_wh, ...]``: packed int32 in ``recent``, or
    in ``recent_wide`` when one does not fit. At most one of the two is set;
    both are ``None`` (and the base 0) while nothing is buffered.
    """

    first: int | None = None  # first sealed reading (Wh)
    last: int | None = None  # reference reading after the sealed ones
    energy: int = 0  # Wh counted over the sealed readings
    last_rise_ms: int | None = None  # event time of the latest rise
    sealed_ms: int | None = None  # readings at or before this time are sealed
    flags: int = 0  # RESET | REGRESSION | LATE
    last_ms: int | None = None  # time of the last folded reading
    first_ms: int | None = None  # time of the first folded reading
    knot_base: int = 0  # index (ms // KNOT_MS) of knot_wh[0]
    knot_wh: list[int] | None = None  # energy so far at each knot, from the first knot
    recent_ms: int = 0  # base of the buffered offsets: the reading that began the buffer
    recent_wh: int = 0
    recent: Packed | None = None
    recent_wide: list[int] | None = None


def _note_knots(fold: MeterFold, ms: int, energy_before: int) -> None:
    """Interpolate the energy at every knot in (last_ms, ms]."""
    prev_ms = fold.last_ms
    if prev_ms is None:
        return
    first = prev_ms // KNOT_MS + 1
    last = ms // KNOT_MS
    if last < first:
        return
    knot_wh = fold.knot_wh
    if knot_wh is None:
        knot_wh = fold.knot_wh = []
        fold.knot_base = first
    last = min(last, fold.knot_base + MAX_KNOTS - 1)  # knots stay contiguous from the base
    span = ms - prev_ms
    rise = fold.energy - energy_before
    for k in range(first, last + 1):
        knot_wh.append(energy_before + rise * (k * KNOT_MS - prev_ms) // span)


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
    prev_ms = fold.last_ms
    # Most readings cross no knot (one per quarter hour): skip the call then.
    if prev_ms is not None and ms // KNOT_MS > prev_ms // KNOT_MS:
        _note_knots(fold, ms, energy_before)
    fold.last_ms = ms


def knots(fold: MeterFold) -> list[tuple[int, int]]:
    """(epoch ms, energy so far) at every knot, then at the last reading."""
    out = [((fold.knot_base + i) * KNOT_MS, wh) for i, wh in enumerate(fold.knot_wh or ())]
    if fold.last_ms is not None and (not out or out[-1][0] < fold.last_ms):
        out.append((fold.last_ms, fold.energy))
    return out


def _buffer(fold: MeterFold) -> Packed | list[int] | None:
    return fold.recent if fold.recent is not None else fold.recent_wide


def add_reading(fold: MeterFold, ms: int, wh: int) -> None:
    """Buffer a reading (duplicates are absorbed); late ones are folded best-effort."""
    if fold.sealed_ms is not None and ms <= fold.sealed_ms:
        # Beyond the allowed lateness: its neighbours are gone. A reading that
        # fits between the first and the latest sealed values changes nothing.
        if fold.first is None or fold.last is None or not fold.first <= wh <= fold.last:
            fold.flags |= LATE
        return
    # _buffer(), inlined: this runs for every reading.
    buf = fold.recent if fold.recent is not None else fold.recent_wide
    if buf is None:
        fold.recent_ms, fold.recent_wh = ms, wh
        fold.recent = array(_PACKED_TYPECODE, (0, 0))
        return
    dms, dwh = ms - fold.recent_ms, wh - fold.recent_wh
    if fold.recent is not None and not (
        _PACKED_MIN <= dms <= _PACKED_MAX and _PACKED_MIN <= dwh <= _PACKED_MAX
    ):
        buf = fold.recent_wide = fold.recent.tolist()
        fold.recent = None
    last_ms = buf[-2]
    if dms > last_ms or (dms == last_ms and dwh > buf[-1]):
        buf.append(dms)  # the usual, in-order case
        buf.append(dwh)
        return
    pairs = list(zip(buf[::2], buf[1::2], strict=True))
    i = bisect_left(pairs, (dms, dwh))
    if i == len(pairs) or pairs[i] != (dms, dwh):
        buf.insert(2 * i, dwh)
        buf.insert(2 * i, dms)


def seal_until(fold: MeterFold, watermark_ms: int, lo_ms: int | None, hi_ms: int | None) -> int:
    """Fold buffered readings at or before ``watermark_ms``; return how many were
    outside the window [lo_ms, hi_ms] (and so left out)."""
    # _buffer(), inlined: this runs for every event.
    buf = fold.recent if fold.recent is not None else fold.recent_wide
    if buf is None:
        return 0
    base_ms, base_wh = fold.recent_ms, fold.recent_wh
    limit = watermark_ms - base_ms
    end = len(buf)
    n = 0
    outside = 0
    while n < end and buf[n] <= limit:
        ms = base_ms + buf[n]
        n += 2
        if (lo_ms is not None and ms < lo_ms) or (hi_ms is not None and ms > hi_ms):
            outside += 1
            continue
        _step(fold, ms, base_wh + buf[n - 1])
    if n:
        if n == end:  # empty: drop the buffer, a new one starts from the next reading
            fold.recent = fold.recent_wide = None
            fold.recent_ms = fold.recent_wh = 0
        else:
            del buf[:n]
        sealed = fold.sealed_ms  # max(watermark_ms, sealed or watermark_ms), without the call
        if not sealed or watermark_ms > sealed:
            fold.sealed_ms = watermark_ms
    return outside


def fold_total(fold: MeterFold, lo_ms: int | None, hi_ms: int | None) -> tuple[MeterFold, int]:
    """A copy with every buffered reading folded in; and how many were outside the window."""
    total = msgspec.structs.replace(
        fold, knot_wh=copy(fold.knot_wh), recent=copy(fold.recent),
        recent_wide=copy(fold.recent_wide),
    )  # fmt: skip
    buf = _buffer(fold)
    outside = seal_until(total, fold.recent_ms + buf[-2], lo_ms, hi_ms) if buf else 0
    return total, outside


def meter_total(
    fold: MeterFold, lo_ms: int | None, hi_ms: int | None
) -> tuple[int, int | None, int, int]:
    """What :func:`fold_total` says about energy -- ``(energy, last_rise_ms, flags,
    outside)`` -- without copying the fold or noting knots.

    A session record needs only these, and one is built at every emission, so
    the buffer is folded into locals (the rules of ``_step``) instead of into a
    copy of the whole fold: in compiled code when the build has it
    (``native/src/fold.rs``), else by :func:`meter_total_python`.
    ``test_meter_buffer`` checks both agree with :func:`fold_total`."""
    if _native_total is not None:
        try:
            total = _native_total(fold, lo_ms, hi_ms)
        except OverflowError:  # a window beyond 64-bit ms
            total = None
        if total is not None:
            return total
    return meter_total_python(fold, lo_ms, hi_ms)


def meter_total_python(
    fold: MeterFold, lo_ms: int | None, hi_ms: int | None
) -> tuple[int, int | None, int, int]:
    """:func:`meter_total` in Python (any integers)."""
    energy, last_rise_ms, flags, last = fold.energy, fold.last_rise_ms, fold.flags, fold.last
    buf = _buffer(fold)
    if not buf:
        return energy, last_rise_ms, flags, 0
    base_ms, base_wh = fold.recent_ms, fold.recent_wh
    # The window as offsets in the buffer's terms, so the loop compares ints only.
    lo = -(2**63) if lo_ms is None else lo_ms - base_ms
    hi = 2**63 if hi_ms is None else hi_ms - base_ms
    outside = 0
    pairs = iter(buf)
    for dms, dwh in zip(pairs, pairs, strict=True):
        if dms < lo or dms > hi:
            outside += 1
            continue
        wh = base_wh + dwh
        if last is None or wh == last:
            last = wh
        elif wh > last:
            energy += wh - last
            last_rise_ms = base_ms + dms
            last = wh
        elif wh * RESET_FRACTION <= last:
            flags |= RESET
            last = wh
        else:
            flags |= REGRESSION
    return energy, last_rise_ms, flags, outside


_Total: TypeAlias = tuple[int, int | None, int, int]
_native_total: Callable[[MeterFold, int | None, int | None], _Total | None] | None
try:
    from chargewatch_native import meter_total as _compiled_total
except ImportError:  # pragma: no cover - the build includes it
    _native_total = None
else:
    _native_total = _compiled_total


def packed_to_builtins(obj: Any) -> Any:
    """msgspec ``enc_hook``: a packed buffer is serialised as its list of offsets."""
    if isinstance(obj, array):
        return obj.tolist()
    raise NotImplementedError(f"cannot serialise {type(obj).__name__}")


def packed_from_builtins(type_: type, obj: Any) -> Any:
    """msgspec ``dec_hook``: the inverse of :func:`packed_to_builtins`."""
    if type_ is array and isinstance(obj, list):
        try:
            return array(_PACKED_TYPECODE, obj)
        except (OverflowError, TypeError) as exc:
            raise ValueError(f"not a packed reading buffer: {exc}") from exc
    raise NotImplementedError(f"cannot restore {type_.__name__}")
