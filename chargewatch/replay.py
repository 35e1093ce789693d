"""Offline replay: the same stitching core over a JSON-lines file, without Kafka.

Used for backfills (``--clickhouse``), for debugging a producer, and by the
tests as the reference path. Bad lines are reported and counted, never fatal.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from chargewatch.errors import InputError
from streams.core import SessionOut, Stitcher, decode_event

__all__ = ["ReplayResult", "replay_lines", "replay_path"]

log = logging.getLogger(__name__)


@dataclass
class ReplayResult:
    """Final session records, and what could not be used."""

    sessions: list[SessionOut]
    events: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)


def replay_lines(lines: Iterable[bytes], *, update_interval_s: int = 300) -> ReplayResult:
    """Stitch events from JSON lines; return the latest record of every session."""
    stitcher = Stitcher(update_interval_s=update_interval_s)
    order: dict[str, None] = {}
    events = 0
    rejected: list[tuple[int, str]] = []
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
    records = [r for sid in order if (r := stitcher.settle(sid)) is not None]
    records.sort(key=lambda r: (r.started_at, r.session_id))
    return ReplayResult(sessions=records, events=events, rejected=rejected)


def _read_lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        yield from handle


def replay_path(path: Path, *, update_interval_s: int = 300) -> ReplayResult:
    """:func:`replay_lines` over a file."""
    return replay_lines(_read_lines(path), update_interval_s=update_interval_s)
