"""Offline replay: the same stitching core over a JSON-lines file, without Kafka.

Used for backfills (``--clickhouse``), for debugging a producer, for
rebuilding sessions from the raw OCPP archive, and by the tests as the
reference path. The input is canonical events or OCPP envelopes (as on
``ocpp.messages``), recognised from the first record. Bad lines are reported
and counted, never fatal.
Silence is judged on event time: every ``tick_interval_s`` of event time the
sessions silent at the newest event time so far are stalled or auto-closed,
as the worker does live.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import orjson

from chargewatch.errors import ConfigurationError, InputError
from chargewatch.settings import PricingSettings, WorkerSettings
from streams.config import stitcher_for
from streams.core import Event, SessionOut, decode_event
from streams.core.ocpp import OcppNormaliser
from streams.core.state import event_ms
from streams.ocpp_ingest import OcppIngest

if TYPE_CHECKING:
    # Pricing is imported by file_pricer, when a replay prices: most do not.
    from schemas.cdr import Cdr
    from streams.core.session_pricing import SessionPricer

__all__ = ["ReplayResult", "detect_format", "file_pricer", "replay_lines", "replay_path"]

log = logging.getLogger(__name__)


@dataclass
class ReplayResult:
    """Final session records, and what could not be used."""

    sessions: list[SessionOut]
    events: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)
    cdrs: list[Cdr] = field(default_factory=list)  # issued in order, credits included


InputFormat = Literal["auto", "events", "ocpp"]


def detect_format(line: bytes) -> Literal["events", "ocpp"]:
    """OCPP envelopes carry ``ocpp_version``; canonical events carry ``type``."""
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError:
        return "events"
    return "ocpp" if isinstance(data, dict) and "ocpp_version" in data else "events"


def replay_lines(
    lines: Iterable[bytes],
    *,
    worker: WorkerSettings | None = None,
    pricer: SessionPricer | None = None,
    normaliser: OcppNormaliser | None = None,
    fmt: InputFormat = "auto",
) -> ReplayResult:
    """Stitch events (or OCPP envelopes) from JSON lines; return the latest record
    of every session (priced, with the CDRs issued, when a pricer is given)."""
    cfg = worker or WorkerSettings()
    stitcher = stitcher_for(cfg, pricer=pricer)
    ocpp: OcppIngest | None = None
    # Event time advances far faster in a replay than in the worker's wall-clock
    # ticks; silence is never judged finer than the minimum stall time anyway.
    tick_ms = round(max(cfg.tick_interval_s, cfg.stall_min_s / 5) * 1000)
    order: dict[str, None] = {}
    events = 0
    rejected: list[tuple[int, str]] = []
    watermark = next_tick = None
    for number, line in enumerate(lines, start=1):
        if not line or line.isspace():  # not strip(): that copies every line
            continue
        if fmt == "auto":
            fmt = detect_format(line)
        if fmt == "ocpp" and ocpp is None:
            if normaliser is None:
                raise ConfigurationError(
                    "replaying OCPP needs CHARGEWATCH_PRIVACY_TOKEN_HMAC_KEY (the same key "
                    "as the live path, so the token pseudonyms match)"
                )
            ocpp = OcppIngest(normaliser, {}, cfg.tenant)
        try:
            batch, times = _decode(line, ocpp)
        except InputError as exc:
            rejected.append((number, f"{exc.reason}: {exc}"))
            continue
        for event, ms in zip(batch, times, strict=True):
            events += 1
            order.setdefault(event.session_id, None)
            stitcher.apply(event, ms)
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
    return ReplayResult(
        sessions=records, events=events, rejected=rejected, cdrs=list(stitcher.cdrs_out)
    )


def _decode(line: bytes, ocpp: OcppIngest | None) -> tuple[list[Event], list[int]]:
    """The events of one line, and their times in epoch ms (for the stitcher)."""
    if ocpp is not None:
        return ocpp.normalise_timed(line, 0)
    event = decode_event(line)
    return [event], [event_ms(event)]


_CHUNK = 1 << 20


def _read_lines(path: Path) -> Iterator[bytes]:
    """The file's lines, without their ``\n``. Read a megabyte at a time and split
    there: iterating over the file object costs a call per line, which showed in
    the profile of a replay of millions of lines."""
    with path.open("rb") as handle:
        tail = b""
        while chunk := handle.read(_CHUNK):
            lines = (tail + chunk).split(b"\n")
            tail = lines.pop()  # an unfinished line: completed by the next chunk
            yield from lines
        if tail:
            yield tail


def replay_path(
    path: Path,
    *,
    worker: WorkerSettings | None = None,
    pricer: SessionPricer | None = None,
    normaliser: OcppNormaliser | None = None,
    fmt: InputFormat = "auto",
) -> ReplayResult:
    """:func:`replay_lines` over a file."""
    return replay_lines(
        _read_lines(path), worker=worker, pricer=pricer, normaliser=normaliser, fmt=fmt
    )


def file_pricer(tariff_path: Path, time_zone: str, pricing: PricingSettings) -> SessionPricer:
    """A pricer from a tariff file (``replay --tariff``): an OCPI Tariff, a list, or
    what ``tariffs apply`` takes. Without assignments the first tariff applies to
    every connector; each version applies from the start of time, since a replay
    prices history with today's file."""
    from chargewatch.tariffs import parse_tariff_file
    from streams.core.session_pricing import SessionPricer
    from streams.core.tariff_book import TariffBook

    book = TariffBook(default_time_zone=time_zone)
    records = parse_tariff_file(tariff_path.read_bytes())
    for key, value in records:
        book.apply(key, value)
    tariff_ids = [key.split("|")[1] for key, _ in records if key.startswith("tariff|")]
    if not any(key.startswith("assign|") for key, _ in records) and tariff_ids:
        book.apply("assign|default", orjson.dumps({"tariff_id": tariff_ids[0]}))
    for tariff_id in tariff_ids:
        book.backdate(tariff_id)
    return SessionPricer(book, country_code=pricing.country_code, party_id=pricing.party_id)
