"""Worker memory per open charging session (target: at most 1 KB).

Builds ``n`` open sessions through the real stitcher - start, authorisation,
a state change, then a meter sample every ``sample_interval_s`` with rising
energy, no stop - next to the worker's ``session id -> partition`` map, and
divides the growth of process memory by ``n``. Each session's events are made,
applied and dropped before the next session's, so only what the worker keeps
is counted. Strings that a decoder would make afresh for every event (ids,
tenant, token hash) are made afresh here too; vocabulary values are shared, as
msgspec decodes ``Literal`` values to shared objects.

Two figures, from two separate builds:

* tracemalloc - bytes the Python allocators hand out (exact, but tracing
  slows the build and its own bookkeeping would inflate the RSS);
* RSS - resident set growth from ``/proc/self/statm``, allocator slack and
  fragmentation included.

Run: ``python -m bench.memory [n]``.
"""

from __future__ import annotations

import gc
import os
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from chargewatch.settings import WorkerSettings
from streams.config import stitcher_for
from streams.core.events import (
    AuthorizationResult,
    Event,
    MeterSample,
    SessionStarted,
    StateChanged,
)
from streams.core.stitcher import Stitcher

__all__ = ["TARGET_BYTES", "open_session_bytes", "open_session_rss_bytes"]

TARGET_BYTES = 1024
_ORIGIN = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
_PARTITIONS = 12


def _session_events(i: int, samples: int, times: list[datetime]) -> list[Event]:
    """One open session as the simulator would emit it, with fresh strings."""
    head: dict[str, Any] = {
        "station_id": f"ST-{i // 2:07d}",
        "connector_id": 1 + i % 2,
        "session_id": f"{i:08x}-5a1e-4c0d-9e7f-{i * 7919 % 10**12:012d}",
        "tenant": f"tenant-{i % 4}",
        "transaction_id": str(100_000 + i),
    }
    token_hash = f"{i * 2654435761 % 2**64:016x}" * 4  # 64 hex digits, like an HMAC
    register = 1_000_000 + i * 37
    events: list[Event] = [
        SessionStarted(
            event_id=f"{i}:0", ts=times[0], seq=0, meter_start_wh=register,
            auth_method="rfid", token_hash=token_hash, **head,
        ),
        AuthorizationResult(
            event_id=f"{i}:1", ts=times[0], seq=1, method="rfid", result="accepted",
            token_hash=token_hash, **head,
        ),
        StateChanged(event_id=f"{i}:2", ts=times[0], seq=2, state="charging", **head),
    ]  # fmt: skip
    for k in range(1, samples + 1):
        events.append(
            MeterSample(
                event_id=f"{i}:{k + 2}", ts=times[k], seq=k + 2,
                energy_wh=register + k * 45, power_w=11_000, **head,
            )
        )  # fmt: skip
    return events


def _build(n: int, samples: int, interval_s: int) -> tuple[Stitcher, dict[str, int]]:
    stitcher = stitcher_for(WorkerSettings())
    partition_of: dict[str, int] = {}  # as the worker keeps for every open session
    times = [_ORIGIN + timedelta(seconds=k * interval_s) for k in range(samples + 1)]
    for i in range(n):
        for event in _session_events(i, samples, times):
            stitcher.apply(event)
            partition_of[event.session_id] = i % _PARTITIONS
    return stitcher, partition_of


def _rss_bytes() -> int:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def _per_session(n: int, samples: int, interval_s: int, size: Callable[[], int]) -> float:
    gc.collect()
    before = size()
    stitcher, partition_of = _build(n, samples, interval_s)
    gc.collect()
    after = size()
    assert len(stitcher) == len(partition_of) == n
    assert all(not state.closed for state in stitcher)
    return (after - before) / n


def open_session_bytes(n: int = 100_000, samples_per_session: int = 40,
                       sample_interval_s: int = 15) -> float:  # fmt: skip
    """Bytes of traced Python memory per open session (stitcher + partition map)."""
    tracemalloc.start()
    try:
        return _per_session(
            n, samples_per_session, sample_interval_s, lambda: tracemalloc.get_traced_memory()[0]
        )
    finally:
        tracemalloc.stop()


def open_session_rss_bytes(n: int = 100_000, samples_per_session: int = 40,
                           sample_interval_s: int = 15) -> float:  # fmt: skip
    """Resident set growth per open session (run before any tracemalloc build)."""
    return _per_session(n, samples_per_session, sample_interval_s, _rss_bytes)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    started = time.perf_counter()
    rss = open_session_rss_bytes(n)  # first: a fresh heap, and no tracing overhead
    traced = open_session_bytes(n)
    verdict = "OK" if traced <= TARGET_BYTES and rss <= TARGET_BYTES else "OVER"
    elapsed = time.perf_counter() - started
    print(f"memory per open session ({n:,} sessions, 40 samples at 15 s): "
          f"{traced:,.0f} B traced, {rss:,.0f} B RSS "
          f"(target: <= {TARGET_BYTES:,} B) {verdict}  [{elapsed:.1f} s]")  # fmt: skip


if __name__ == "__main__":
    main()
