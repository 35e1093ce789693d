"""Offline replay: the same stitching core over a JSON-lines file, without Kafka.

Used for backfills (``--clickhouse``), for debugging a producer, and by the
tests as the reference path. Bad lines are reported and counted, never fatal.
Silence is judged on event time: every ``tick_interval_s`` of event time the
sessions silent at the newest event time so far are stalled or auto-closed,
as the worker does live.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from chargewatch.errors import InputError
from chargewatch.settings import WorkerSettings
from streams.config import stitcher_for
from streams.core import SessionOut, decode_event
from streams.core.state import event_ms

__all__ = ["ReplayResult", "replay_lines", "replay_path"]

log = logging.getLogger(__name__)


@dataclass
class ReplayResult:
    """Final session records, and what could not be used."""

    sessions: list[SessionOut]
    events: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)


def replay_lines(lines: Iterable[bytes], *, worker: WorkerSettings | None = None) -> ReplayResult:
    """Stitch events from JSON lines; return the latest record of every session."""
    cfg = worker or WorkerSettings()
    stitcher = stitcher_for(cfg)
    tick_ms = round(cfg.tick_interval_s * 1000)
    order: dict[str, None] = {}
    events = 0
    rejected: list[tuple[int, str]] = []
    watermark = next_tick = None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            event = decode_event(line)
        except InputError as exc:
            rejected.append((number, str(exc)))
            continue
        events += 1
        order.setdefault(event.session_id, None)
        stitcher.apply(event)
        ms = event_ms(event)
        if watermark is None or ms > watermark:
            watermark = ms
        if next_tick is None:
            next_tick = watermark + tick_ms
        elif watermark >= next_tick:
            stitcher.tick(watermark)
            next_tick = watermark + tick_ms
    if watermark is not None:
        stitcher.tick(watermark)
    records = [r for sid in order if (r := stitcher.settle(sid)) is not None]
    records.sort(key=lambda r: (r.started_at, r.session_id))
    return ReplayResult(sessions=records, events=events, rejected=rejected)


def _read_lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        yield from handle


def replay_path(path: Path, *, worker: WorkerSettings | None = None) -> ReplayResult:
    """:func:`replay_lines` over a file."""
    return replay_lines(_read_lines(path), worker=worker)
