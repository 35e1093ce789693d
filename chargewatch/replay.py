"""Offline replay: the same stitching core over a JSON-lines file, without Kafka.

Used for backfills (``--clickhouse``), for debugging a producer, for
rebuilding sessions from the raw OCPP archive, and by the tests as the
reference path. The input is canonical events or OCPP envelopes (as on
``ocpp.messages``), recognised from the first record. Bad lines are reported
and counted, never fatal.
Silence is judged on event time: every ``tick_interval_s`` of event time the
sessions silent at the newest event time so far are stalled or auto-closed,
as the worker does live. The worker judges it per partition of its topic; so
does a replay given the topic's partition count (``chargewatch replay`` passes
it), each station in the partition Kafka's producers give its key. Partitions
are independent, so ``jobs`` forked processes can share them: each reads the
whole input, decodes every line as far as its station (or reads it off the
line's first bytes, when they name it beyond doubt), and stitches only its own
partitions' stations (shared out by their weight in the input's first lines).
The result does not depend on the number of jobs.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from itertools import islice
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import msgspec
import orjson

from chargewatch.errors import ConfigurationError, InputError, ReplayJobError
from chargewatch.settings import PricingSettings, WorkerSettings
from streams.config import stitcher_for
from streams.core import SessionOut, decode_event
from streams.core.events import Event, Sample
from streams.core.ocpp import OcppEnvelope, OcppNormaliser, decode_envelope
from streams.core.ocpp.compiled import ProjectedEnvelope
from streams.core.partition import partition_of
from streams.core.state import event_ms
from streams.core.stitcher import MAX_DEFERRED, Stitcher
from streams.ocpp_ingest import OcppIngest

if TYPE_CHECKING:
    from chargewatch_native import Lane

    # Pricing is imported by file_pricer, when a replay prices: most do not.
    from schemas.cdr import Cdr
    from streams.core.session_pricing import SessionPricer

__all__ = [
    "ReplayJobError",
    "ReplayResult",
    "detect_format",
    "file_pricer",
    "replay_lines",
    "replay_path",
]

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
    partitions: int = 1,
    jobs: int = 1,
) -> ReplayResult:
    """Stitch events (or OCPP envelopes) from JSON lines; return the latest record
    of every session (priced, with the CDRs issued, when a pricer is given).

    ``partitions``: silence is judged per partition of stations, as the worker
    judges it per partition of its topic (pass the topic's partition count; the
    partition of a station is the one Kafka's producers give its key). ``jobs``
    processes share the partitions; the result does not depend on ``jobs``. With
    more than one job, ``lines`` is read once per job (an iterator is made a
    list first)."""
    options = _Options(worker or WorkerSettings(), pricer, normaliser, fmt, max(1, partitions))
    if jobs > 1 and options.partitions > 1 and not isinstance(lines, Sequence):
        lines = list(lines)  # each job reads it
    held = lines

    def weigh(partitions: int) -> list[int]:
        return _weights(islice(held, _SAMPLE_LINES), partitions)

    return _run(lambda _owned: (_numbered(held), False), options, jobs, weigh)


Numbered = Iterable[tuple[list[int], list[bytes]]]
"""Lines that are not blank, in chunks: their line numbers (from 1) and the lines."""

Source = Callable[[bytes | None], tuple[Numbered, bool]]
"""The input's lines, called once per job with the partitions it owns (a byte
per partition, non-zero for its own) or ``None`` for all; and whether it left
out the lines that name another job's station (else the job skips them)."""

Weigh = Callable[[int], list[int]]
"""The weight of each of ``n`` partitions in the input's first lines (see
:func:`_shares`)."""

_CHUNK_LINES = 4096


def _numbered(lines: Iterable[bytes]) -> Numbered:
    numbers: list[int] = []
    kept: list[bytes] = []
    for number, line in enumerate(lines, start=1):
        if line and not line.isspace():  # not strip(): that copies every line
            numbers.append(number)
            kept.append(line)
            if len(kept) == _CHUNK_LINES:
                yield numbers, kept
                numbers, kept = [], []
    if kept:
        yield numbers, kept


def _each(lines: Numbered) -> Iterator[tuple[int, bytes]]:
    """The chunks' numbered lines one by one."""
    for numbers, texts in lines:
        yield from zip(numbers, texts, strict=True)


def _run(source: Source, options: _Options, jobs: int, weigh: Weigh) -> ReplayResult:
    """The replay of ``source`` (read once per job): in this process, or in jobs."""
    if jobs > 1 and options.partitions > 1:
        return _in_parallel(source, options, jobs, weigh)
    lines, _ = source(None)
    return _merge([_replay(lines, options, range(options.partitions))])


@dataclass(frozen=True)
class _Options:
    worker: WorkerSettings
    pricer: SessionPricer | None
    normaliser: OcppNormaliser | None
    fmt: InputFormat
    partitions: int


_NEVER = -(2**63)
_I64 = 2**63

_Lane: type[Lane] | None
try:
    from chargewatch_native import Lane as _Lane
except ImportError:  # pragma: no cover - the build includes it
    _Lane = None


@dataclass
class _Partition:
    """One partition's stitcher and its event-time clock."""

    index: int
    stitcher: Stitcher
    order: dict[str, None] = field(default_factory=dict)  # session ids, first seen first
    watermark: int = _NEVER
    next_tick: int | None = None


@dataclass
class _Part:
    """What one process made of its partitions (merged by :func:`_merge`)."""

    sessions: list[SessionOut]
    events: int
    rejected: list[tuple[int, str]]
    cdrs: dict[int, list[Cdr]]  # by partition, each in the order issued


def _replay(
    lines: Numbered,
    options: _Options,
    mine: Iterable[int],
    newest: Callable[[int], int] = lambda own: own,
    *,
    filtered: bool = False,
) -> _Part:
    """Stitch the lines whose station falls in one of the partitions ``mine``
    (``filtered``: ``lines`` holds no line that names another partition's).

    ``newest`` turns the newest event time of these partitions into that of the
    whole input (the jobs of a parallel replay exchange theirs): the last silence
    check is made there, for every partition, as a single process would."""
    replayer = _Replayer(options, mine, filtered=filtered)
    line = replayer.line
    for numbers, texts in lines:
        index, count = 0, len(texts)
        while index < count:
            # The lane takes the lines it can in one call (most of them, once
            # their sessions are armed); each other line is Python's.
            lane = replayer.lane
            if lane is not None:
                index = lane.take(texts, index)
                if (due := lane.due) is not None:
                    replayer.check(due)
                    continue
                if index == count:
                    break
            line(numbers[index], texts[index])
            index += 1
    return replayer.finish(newest(replayer.newest()))


class _Replayer:
    """The replay of some partitions. Every line is decoded as far as its station,
    or its station read off its first bytes (``_named_station``); only the owner
    of the station's partition normalises and stitches it. An unusable line is
    reported by the owner of its named station, or else by the owner of
    partition 0."""

    def __init__(self, options: _Options, mine: Iterable[int], *, filtered: bool = False) -> None:
        cfg = options.worker
        self._options = options
        self._fmt = options.fmt
        self._partitions = {
            p: _Partition(p, stitcher_for(cfg, pricer=options.pricer)) for p in mine
        }
        self._where: dict[str, int] = {}  # station -> partition, computed once per station
        self._reports_undecodable = 0 in self._partitions
        self._shared = len(self._partitions) < options.partitions  # other jobs own some
        self._skim = self._shared and not filtered  # skip other jobs' named lines here
        self._ocpp: OcppIngest | None = None
        self._project: Callable[[bytes], ProjectedEnvelope | None] | None = None
        self._started = False
        self.lane: Lane | None = None  # once the input is known to be OCPP
        # Event time advances far faster in a replay than in the worker's wall-clock
        # ticks; silence is never judged finer than the minimum stall time anyway.
        self._tick_ms = round(max(cfg.tick_interval_s, cfg.stall_min_s / 5) * 1000)
        self.events = 0
        self.rejected: list[tuple[int, str]] = []

    def _start(self, line: bytes) -> None:
        """Settle the input format on the first line."""
        self._started = True
        if self._fmt == "auto":
            self._fmt = detect_format(line)
        if self._fmt == "ocpp":
            if self._options.normaliser is None:
                raise ConfigurationError(
                    "replaying OCPP needs CHARGEWATCH_PRIVACY_TOKEN_HMAC_KEY (the same key "
                    "as the live path, so the token pseudonyms match)"
                )
            self._ocpp = OcppIngest(self._options.normaliser, {}, self._options.worker.tenant)
            self._project = self._options.normaliser.project_value
            if self._project is not None and _Lane is not None:
                self.lane = _Lane(self._options.partitions, MAX_DEFERRED)

    def _partition(self, station: str) -> _Partition | None:
        p = self._where.get(station)
        if p is None:
            count = self._options.partitions
            p = self._where[station] = partition_of(station.encode(), count) if count > 1 else 0
        return self._partitions.get(p)

    def line(self, number: int, line: bytes) -> None:  # noqa: PLR0912 - one flow, in order
        if not self._started:
            self._start(line)
        # Shared with other jobs: a line that names its station first (as the
        # gateway writes them) is skipped at the cost of a few byte searches if
        # another job owns it; that job reports it if it turns out unusable.
        if (
            self._skim
            and (named := _named_station(line)) is not None
            and self._partition(named) is None
        ):
            return
        ocpp = self._ocpp
        # Most OCPP lines are a 1.6 MeterValues the compiled path takes whole,
        # without the envelope decode (as the worker does).
        project = self._project
        lane = self.lane
        if project is not None and (projected := project(line)) is not None:
            part = self._partition(projected[0])
            if part is None:
                return  # another process's
            assert ocpp is not None
            if lane is not None:
                # Only this session can change (or nothing, if it returns None).
                if projected[3] is not None and -_I64 <= projected[3] < _I64:
                    run = lane.release_one(projected[0], projected[1], projected[3])
                    if run is not None:
                        self._hand_over([run])
                self._enter(lane, part, None)
            timed = ocpp.normalise_projected(projected, 0)
            if timed is not None:
                samples = timed[0]
                self._stitch_samples(part, samples)
                if lane is not None and samples:
                    self._arm(lane, part, projected, samples[-1])
                return
        try:
            decoded = decode_envelope(line) if ocpp is not None else decode_event(line)
        except InputError as exc:
            # Reported here if this job owns the station it names (the others
            # were skipped), or every unnamed one.
            if self._reports_undecodable or _named_station(line) is not None:
                self.rejected.append((number, f"{exc.reason}: {exc}"))
            return
        part = self._partition(decoded.station_id)
        if part is None:
            return  # another process's
        if lane is not None:
            self._enter(lane, part, decoded.station_id)
        try:
            if ocpp is not None:
                assert isinstance(decoded, OcppEnvelope)
                batch, times = ocpp.normalise_decoded(decoded, 0)
            else:
                assert not isinstance(decoded, OcppEnvelope)
                batch, times = [decoded], [event_ms(decoded)]
        except InputError as exc:
            self.rejected.append((number, f"{exc.reason}: {exc}"))
            return
        self._stitch(part, batch, times)

    def _enter(self, lane: Lane, part: _Partition, station: str | None) -> None:
        """Before Python takes a line of ``station``: the samples the lane holds
        for it handed over (it takes no more of its lines until armed again), and
        the partition's clock as the lane moved it."""
        if station is not None:
            self._hand_over(lane.release(station))
        if lane.full:
            self._hand_over(lane.release_held())
        part.watermark, part.next_tick = lane.clock(part.index)

    def _hand_over(self, runs: list[tuple[int, str, list[Sample]]]) -> None:
        partitions = self._partitions
        for p, sid, samples in runs:
            partitions[p].stitcher.defer_run(sid, samples)

    def _arm(
        self, lane: Lane, part: _Partition, projected: ProjectedEnvelope, last: Sample
    ) -> None:
        """After Python took a MeterValues of a session the long way: let the lane
        take the next ones, while the session would hold their samples."""
        sid = last[0]
        deadline = part.stitcher.deferral_deadline(sid)
        if deadline is None or deadline >= _I64:
            return
        assert self._ocpp is not None and projected[3] is not None
        record = self._ocpp.transaction(projected, sid)
        lane.arm(projected[0], projected[1], projected[3], part.index, deadline, last, record)

    def check(self, partition: int) -> None:
        """The silence check the lane brought due in ``partition`` with the last
        line it took (see ``Lane.take``): made as :meth:`_stitch_samples` makes it."""
        assert self.lane is not None
        part = self._partitions[partition]
        watermark, _ = self.lane.clock(partition)
        self._tick(part, watermark)
        part.watermark, part.next_tick = watermark, watermark + self._tick_ms
        self.lane.set_clock(partition, watermark, part.next_tick)

    def _tick(self, part: _Partition, watermark: int) -> None:
        """Judge silence in a partition, the samples the lane holds for it handed
        over first; the sessions it emits a record for are disarmed."""
        lane = self.lane
        if lane is None:
            part.stitcher.tick(watermark)
            return
        self._hand_over(lane.release_held(part.index))
        if records := part.stitcher.tick(watermark):
            lane.disarm([record.session_id for record in records])

    def _stitch(self, part: _Partition, batch: list[Event | Sample], times: list[int]) -> None:
        """Fold a line's events into its partition's stitcher, in order, judging
        silence every tick of the partition's event time."""
        self.events += len(batch)
        stitcher, order, watermark = part.stitcher, part.order, part.watermark
        for event, ms in zip(batch, times, strict=True):
            if isinstance(event, tuple):  # a meter sample as values (events.Sample)
                order.setdefault(event[0], None)
                stitcher.apply_sample(event)
            else:
                order.setdefault(event.session_id, None)
                stitcher.apply(event, ms)
            watermark = max(watermark, ms)
            if part.next_tick is None:
                part.next_tick = watermark + self._tick_ms
            elif watermark >= part.next_tick:
                self._tick(part, watermark)
                part.next_tick = watermark + self._tick_ms
        part.watermark = watermark
        if self.lane is not None:
            self.lane.set_clock(part.index, watermark, part.next_tick)

    def _stitch_samples(self, part: _Partition, samples: list[Sample]) -> None:
        """:meth:`_stitch` of a projected MeterValues: samples as values
        (``events.Sample``), all of one session - nine lines in ten, so
        written out for them."""
        if not samples:
            return
        self.events += len(samples)
        part.order.setdefault(samples[0][0], None)
        stitcher = part.stitcher
        apply_sample = stitcher.apply_sample
        watermark, next_tick = part.watermark, part.next_tick
        for sample in samples:
            apply_sample(sample)
            ms = sample[1]
            if ms > watermark:  # noqa: PLR1730 - max() costs a call
                watermark = ms
            if next_tick is None:
                next_tick = watermark + self._tick_ms
            elif watermark >= next_tick:
                self._tick(part, watermark)
                next_tick = watermark + self._tick_ms
        part.watermark, part.next_tick = watermark, next_tick
        if self.lane is not None:
            self.lane.set_clock(part.index, watermark, next_tick)

    def newest(self) -> int:
        """The newest event time of these partitions (ms; very negative when none)."""
        if self.lane is not None:
            for part in self._partitions.values():
                part.watermark, part.next_tick = self.lane.clock(part.index)
        return max((part.watermark for part in self._partitions.values()), default=_NEVER)

    def finish(self, newest: int) -> _Part:
        """Judge silence once more at ``newest`` (the newest event time of the whole
        input: a partition whose stations all fell silent has an older clock of its
        own) and settle every session."""
        if self.lane is not None:
            self._hand_over(self.lane.release_held())
            self.events += self.lane.samples
        sessions = []
        for part in self._partitions.values():
            stitcher = part.stitcher
            if part.next_tick is not None:
                stitcher.tick(newest)
            sessions += [r for sid in part.order if (r := stitcher.settle(sid)) is not None]
        cdrs = {p: list(part.stitcher.cdrs_out) for p, part in self._partitions.items()}
        return _Part(sessions, self.events, self.rejected, cdrs)


def _merge(parts: list[_Part]) -> ReplayResult:
    """One result from the processes' parts, the same whatever the number of parts."""
    sessions = [record for part in parts for record in part.sessions]
    sessions.sort(key=lambda r: (r.started_at, r.session_id))
    rejected = sorted(reason for part in parts for reason in part.rejected)
    by_partition = {p: cdrs for part in parts for p, cdrs in part.cdrs.items()}
    return ReplayResult(
        sessions=sessions,
        events=sum(part.events for part in parts),
        rejected=rejected,
        cdrs=[cdr for p in sorted(by_partition) for cdr in by_partition[p]],
    )


# What forked jobs replay, set by the parent just before it forks: the input (a
# file to read, or lines already in memory) and the pricer are inherited by the
# children instead of pickled.
_FORKED: dict[str, Any] = {}


def _in_parallel(source: Source, options: _Options, jobs: int, weigh: Weigh) -> ReplayResult:
    """Replay in ``jobs`` forked processes, the partitions shared out by :func:`_shares`.

    Each job sends the newest event time it saw, gets the newest of all back
    (for the last silence check), and then sends what it made."""
    shares = _shares(weigh(options.partitions), min(jobs, options.partitions))
    if options.fmt == "auto":
        # Settled here on the input's first line: a job's first may be another.
        first = next(_each(source(None)[0]), None)
        if first is not None:
            options = replace(options, fmt=detect_format(first[1]))
    # fork: the children need the parent's objects, and run pure Python only.
    context = multiprocessing.get_context("fork")
    _FORKED.update(source=source, options=options, shares=shares)
    links: list[tuple[BaseProcess, Connection]] = []
    try:
        for index in range(len(shares)):
            ours, theirs = context.Pipe()
            process: BaseProcess = context.Process(target=_job, args=(index, theirs), daemon=True)
            process.start()
            theirs.close()
            links.append((process, ours))
        newest = max(_receive(link) for link in links)
        for _, pipe in links:
            pipe.send(newest)
        parts = [_receive(link) for link in links]
    finally:
        _FORKED.clear()
        for process, pipe in links:
            pipe.close()
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
    return _merge(parts)


def _receive(link: tuple[BaseProcess, Connection]) -> Any:
    process, pipe = link
    try:
        kind, value = pipe.recv()
    except EOFError:
        process.join(timeout=5)
        raise ReplayJobError(
            f"replay job {process.name} died (exit code {process.exitcode})"
        ) from None
    if kind == "error":
        raise value
    return value


def _job(index: int, pipe: Connection) -> None:
    """One forked job: its partitions of the input."""

    def newest(own: int) -> int:
        pipe.send(("newest", own))
        top: int = pipe.recv()
        return top

    try:
        options: _Options = _FORKED["options"]
        share: list[int] = _FORKED["shares"][index]
        owned = bytes(p in share for p in range(options.partitions))
        lines, filtered = _FORKED["source"](owned)
        part = _replay(lines, options, share, newest, filtered=filtered)
        pipe.send(("part", part))
    except BaseException as exc:
        pipe.send(("error", exc))
    finally:
        pipe.close()


_NAMED = b'{"station_id":"'
_NAMED_AT = len(_NAMED)


def _named_station(line: bytes) -> str | None:
    """The station of a line that names it first and can decode to no other: no
    second ``"station_id"`` key, and no backslash (an escape could spell one; the
    last key wins when decoding). ``None`` otherwise: decode the line to know."""
    if not line.startswith(_NAMED):
        return None
    end = line.find(b'"', _NAMED_AT)
    # No backslash at all (so no escape spells a key), and no second key.
    if end < 0 or b"\\" in line or line.find(b'"station_id"', end) >= 0:
        return None
    try:
        return line[_NAMED_AT:end].decode()
    except UnicodeDecodeError:
        return None


class _Station(msgspec.Struct):
    """The one field every input line has, canonical event or OCPP envelope."""

    station_id: str


_station = msgspec.json.Decoder(_Station)
_SAMPLE_LINES = 1 << 16
_SAMPLE_BYTES = 1 << 24


def _weights(lines: Iterable[bytes], partitions: int) -> list[int]:
    """The number of ``lines`` of each partition's stations."""
    weight = [0] * partitions
    where: dict[str, int] = {}  # partition_of (murmur2 in Python) once per station
    for line in lines:
        try:
            station = _station.decode(line).station_id
        except (msgspec.DecodeError, UnicodeDecodeError):
            continue  # blank or bad: its owner reports it
        p = where.get(station)
        if p is None:
            p = where[station] = partition_of(station.encode(), partitions)
        weight[p] += 1
    return weight


def _shares(weight: list[int], jobs: int) -> list[list[int]]:
    """The partitions of each job, balanced by their ``weight`` (their share of
    the input's first lines): a few stations can weigh more than the rest, and a
    job takes whole partitions. Any sharing gives the same result; this one
    gives it soonest."""
    partitions = len(weight)
    shares: list[list[int]] = [[] for _ in range(jobs)]
    loads = [0] * jobs
    for p in sorted(range(partitions), key=lambda p: -weight[p]):  # heaviest first
        job = loads.index(min(loads))
        shares[job].append(p)
        loads[job] += weight[p] + 1  # + 1: partitions unseen in the sample spread too
    return [sorted(share) for share in shares]


_CHUNK = 1 << 20

_own_lines: Callable[[bytes, int, int, bytes], tuple[list[bytes], list[int], int]] | None
_partition_weights: Callable[[bytes, int], list[int]] | None
try:
    from chargewatch_native import own_lines as _compiled_own_lines
    from chargewatch_native import partition_weights as _compiled_partition_weights
except ImportError:  # pragma: no cover - the build includes it
    _own_lines = _partition_weights = None
else:
    _own_lines = _compiled_own_lines
    _partition_weights = _compiled_partition_weights


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


def _read_own_lines(path: Path, owned: bytes) -> Numbered:
    """The numbered lines of the file a job owning ``owned`` reads (see
    ``Source``): the compiled filter leaves out the blank ones and those naming
    another job's station a megabyte at a time, so the job's Python never sees
    them (they were most of a job's time reading the others' lines)."""
    own_lines = _own_lines
    assert own_lines is not None
    number = 0
    with path.open("rb") as handle:
        tail = b""
        while chunk := handle.read(_CHUNK):
            end = chunk.rfind(b"\n")
            if end < 0:
                tail += chunk
                continue
            # The line the last read left unfinished, then this read's whole
            # lines, split where they lie (joining a megabyte to the tail cost a
            # fresh buffer per read: page faults, on this machine 0.06 s a file).
            first = chunk.find(b"\n")
            head = tail + chunk[:first]
            lines, indices, _ = own_lines(head, 0, len(head), owned)
            yield [number + 1 for _ in indices], lines
            number += 1
            if first < end:
                lines, indices, count = own_lines(chunk, first + 1, end, owned)
                yield [number + 1 + i for i in indices], lines
                number += count
            tail = chunk[end + 1 :]
        if tail:
            lines, indices, _ = own_lines(tail, 0, len(tail), owned)
            yield [number + 1 + i for i in indices], lines


def _file_weights(path: Path) -> Weigh:
    """:data:`Weigh` of a file: its first lines (16 MB) that name their station
    first, weighed in compiled code. Weighing 65,536 lines in Python held the
    jobs back by 0.2 s, when a replay of 182,000 lines takes a second."""

    def weigh(partitions: int) -> list[int]:
        if _partition_weights is None:
            return _weights(islice(_read_lines(path), _SAMPLE_LINES), partitions)
        with path.open("rb") as handle:
            head = handle.read(_SAMPLE_BYTES)
        if len(head) == _SAMPLE_BYTES:
            head = head[: head.rfind(b"\n") + 1]  # whole lines only
        return _partition_weights(head, partitions)

    return weigh


def _file_source(path: Path) -> Source:
    def lines(owned: bytes | None) -> tuple[Numbered, bool]:
        if _own_lines is None:
            return _numbered(_read_lines(path)), False
        # All (one partition, owned): the lines not blank, split in compiled code.
        return _read_own_lines(path, owned or b"\x01"), True

    return lines


def replay_path(
    path: Path,
    *,
    worker: WorkerSettings | None = None,
    pricer: SessionPricer | None = None,
    normaliser: OcppNormaliser | None = None,
    fmt: InputFormat = "auto",
    partitions: int = 1,
    jobs: int = 1,
) -> ReplayResult:
    """:func:`replay_lines` over a file (each job reads it)."""
    options = _Options(worker or WorkerSettings(), pricer, normaliser, fmt, max(1, partitions))
    return _run(_file_source(path), options, jobs, _file_weights(path))


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
