"""Bench scenarios on the real broker (issue: speed and scale).

* ``worker_throughput`` - OCPP envelopes of a real dataset through one worker:
  decode, validate, normalise, stitch, emit; per CPU-second, with the sessions
  compared to an offline replay of the same envelopes.
* ``faust_baseline`` - the same envelopes through a minimal Faust agent
  (``bench.faust_baseline``): the yardstick the throughput target is twelve
  times of, measured on this machine in the same run.
* ``scale_out`` - canonical events over 8 partitions drained by 1, 2 and 4
  workers in one group; same final sessions each time.
* ``recovery`` - SIGKILL of the worker half-way through a backlog, a new one
  started at once: time until committed progress resumes, and the final
  sessions against an undisturbed run.
* ``pipeline_rate`` - worker and sink draining a backlog together: the
  maximum rate of the path the latency is measured on, on this machine.
* ``latency`` - worker and sink running, envelopes produced at a fixed rate:
  time from producing a StopTransaction to its completed session row in
  ClickHouse (``inserted_at``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import orjson
from confluent_kafka import Producer

from bench.harness import BenchPipeline, Drained, cpu_seconds, summary
from chargewatch.gateway import GatewayConfig
from chargewatch.pipeline import Service
from chargewatch.replay import replay_lines
from chargewatch.settings import PrivacySettings
from streams.core.events import Event, encode_event
from streams.core.ocpp.identity import session_id_for
from streams.ocpp_ingest import normaliser_for

__all__ = [
    "Workload",
    "faust_baseline",
    "latency",
    "pipeline_rate",
    "recovery",
    "replay_reference",
    "scale_out",
    "worker_throughput",
]

Sessions = dict[str, tuple[Any, ...]]


class Workload(NamedTuple):
    """OCPP envelopes as on ``ocpp.messages``: (station id, envelope JSON), in order."""

    name: str
    records: list[tuple[str, bytes]]


TARGET_PER_CPU_S = 50_000
TARGET_TIMES_BASELINE = 12  # the issue: 50,000 is twelve times the minimal Faust agent
BASELINE_MESSAGES = 20_000  # a few thousand per CPU-second: enough for a steady figure


def replay_reference(log: Workload, hmac_key: str) -> Sessions:
    """The sessions the offline replay makes of the same envelopes (same key)."""
    normaliser = normaliser_for(PrivacySettings(token_hmac_key=hmac_key))
    result = replay_lines((value for _, value in log.records), normaliser=normaliser, fmt="ocpp")
    return {
        r.session_id: (r.status, r.energy_wh, r.duration_s, r.charging_s, r.idle_s, r.total_cost)
        for r in result.sessions
    }


def _differences(got: Sessions, want: Sessions) -> str:
    missing = len(set(want) - set(got))
    extra = len(set(got) - set(want))
    differ = sum(1 for sid in set(got) & set(want) if got[sid] != want[sid])
    if not (missing or extra or differ):
        return f"identical ({len(got)} sessions)"
    return f"NOT identical: {missing} missing, {extra} unexpected, {differ} different"


def worker_throughput(bootstrap: str, root: Path, log: Workload, want: Sessions) -> Drained:
    bench = BenchPipeline(bootstrap, root)
    topic = bench.kafka.ocpp_topic
    records = [(key.encode(), value) for key, value in log.records]
    worker = bench.start("worker")
    try:
        bench.wait_members(1, [worker])
        drained = bench.measure(topic, records, [worker])
        total = drained.messages
    finally:
        bench.stop_all()
    print(f"  worker, OCPP ({log.name}, {total:,} envelopes, 8 partitions): "
          f"{drained.per_cpu_s:,.0f} messages per worker CPU-second "
          f"(target {TARGET_PER_CPU_S:,}), {drained.per_wall_s:,.0f} per wall second")  # fmt: skip
    print(f"    {_thread_shares(drained)}")
    print(f"    sessions against the offline replay: {_differences(bench.final_sessions(), want)}")
    return drained


def _thread_shares(drained: Drained) -> str:
    """The worker's CPU by thread: what the Kafka client costs beside our code."""
    threads, total = drained.threads, max(drained.cpu_s, 1e-9)
    per_message = 1e6 / max(drained.messages, 1)
    return (
        f"worker CPU by thread: event loop {threads['main'] / total:.0%} "
        f"({threads['main'] * per_message:.1f} us per message: decode, normalise, stitch, "
        f"produce), aiokafka's fetch thread and the others {threads['other'] / total:.0%} "
        f"({threads['other'] * per_message:.1f} us), librdkafka's threads (the outputs "
        f"producer, the tariff feed) "
        f"{threads['librdkafka'] / total:.0%}"
    )


def faust_baseline(bootstrap: str, root: Path, log: Workload) -> Drained:
    """Every n-th envelope of the workload through the minimal Faust agent, measured
    as the worker is (CPU of the process from the first record produced to zero lag)."""
    bench = BenchPipeline(bootstrap, root)
    topic = bench.kafka.ocpp_topic
    # Every n-th envelope: the mix of the whole log (mostly meter values), in order.
    step = max(1, len(log.records) // BASELINE_MESSAGES)
    records = [(key.encode(), value) for key, value in log.records[::step]]
    repo = Path(__file__).resolve().parents[1]
    env = {
        **bench.env(),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")])),
        "BASELINE_APP_ID": bench.group,
        "BASELINE_BROKER": f"kafka://{bootstrap}",
        "BASELINE_TOPIC": topic,
        "BASELINE_PARTITIONS": str(bench.partitions),
        "BASELINE_DATA_DIR": str(bench.root / bench.name / "faust-baseline"),
    }
    log_dir = bench.root / bench.name / "log"
    agent = Service("faust-baseline", ["worker", "--loglevel", "warn"], log_dir, env,
                    module="bench.faust_baseline")  # fmt: skip
    bench.services.append(agent)
    try:
        bench.wait_members(1, [agent])
        drained = bench.measure(topic, records, [agent])
    finally:
        bench.stop_all()
    print(f"  minimal Faust agent (faust.Record, a table write per message, Faust's defaults) "
          f"on every {step}th envelope of the same log ({drained.messages:,}): "
          f"{drained.per_cpu_s:,.0f} messages per CPU-second")  # fmt: skip
    return drained


def _records(events: Sequence[Event]) -> list[tuple[bytes, bytes]]:
    return [(e.station_id.encode(), encode_event(e)) for e in events]


def _events_run(
    bootstrap: str, root: Path, events: Sequence[Event], workers: int
) -> tuple[Drained, Sessions]:
    """Steady state: the workers have joined and recovered before the backlog lands."""
    bench = BenchPipeline(bootstrap, root)
    topic = bench.kafka.events_topic
    records = _records(events)
    warm = 200
    bench.produce(topic, records[:warm])
    started = [bench.start("worker", f"worker-{i}") for i in range(workers)]
    try:
        bench.wait_members(workers, started)
        drained = bench.measure(topic, records[warm:], started)
    finally:
        bench.stop_all()
    return drained, bench.final_sessions()


def scale_out(
    bootstrap: str, root: Path, events: Sequence[Event], *, only_one: bool = False
) -> Sessions:
    """Return the sessions of the one-worker run (the reference for recovery);
    ``only_one`` runs just that one."""
    reference: Sessions = {}
    base = 0.0
    for n in (1,) if only_one else (1, 2, 4):
        drained, sessions = _events_run(bootstrap, root, events, n)
        if n == 1:
            reference, base = sessions, drained.per_wall_s
        print(f"  {n} worker(s), 8 partitions, {len(events):,} events: "
              f"{drained.per_wall_s:,.0f} events/s wall ({drained.per_wall_s / base:.2f}x), "
              f"{drained.per_cpu_s:,.0f} per CPU-second; "
              f"sessions vs 1 worker: {_differences(sessions, reference)}")  # fmt: skip
    return reference


def recovery(bootstrap: str, root: Path, events: Sequence[Event], want: Sessions) -> float:
    """Kill the worker mid-backlog; the rest of the events arrive after the kill."""
    bench = BenchPipeline(bootstrap, root)
    topic = bench.kafka.events_topic
    records = _records(events)
    first = int(len(records) * 0.6)
    bench.produce(topic, records[:first])
    # Static membership: the successor is the same worker restarted (as a pod or a
    # systemd unit would be), so it takes the partitions straight back.
    worker = bench.start("worker", "worker-killed", instance_id="worker-0")
    try:
        while bench.committed(topic) < len(records) * 0.3:
            if not worker.alive():
                raise SystemExit(f"worker died, see {worker.log_path}")
            time.sleep(0.05)
        worker.kill()
        killed = time.monotonic()
        at_kill = bench.committed(topic)
        bench.produce(topic, records[first:])
        successor = bench.start("worker", "worker-successor", instance_id="worker-0")
        while bench.committed(topic) <= at_kill:
            if not successor.alive():
                raise SystemExit(f"worker died, see {successor.log_path}")
            time.sleep(0.1)
        flowing = time.monotonic() - killed
        bench.wait_drained([topic], [successor])
    finally:
        bench.stop_all()
    verdict = _differences(bench.final_sessions(), want)
    print(f"  SIGKILL with {at_kill:,}/{len(records):,} events committed, a successor started "
          f"at once: committed progress again after {flowing:.1f} s (target 10 s; same "
          f"static member id, so no wait for the session timeout); "
          f"sessions vs an undisturbed run: {verdict}")  # fmt: skip
    return flowing


def _machine_busy() -> float:
    """Busy CPU seconds of the whole machine so far, all cores (/proc/stat)."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK")


def _stop_session(value: bytes) -> str | None:
    envelope = orjson.loads(value)
    if envelope.get("action") != "StopTransaction":
        return None
    return session_id_for(
        envelope.get("tenant") or "default",
        envelope["station_id"],
        "1.6",
        str(envelope["request"]["transactionId"]),
    )


WARM_UP_S = 3.0
"""Paced traffic before latency is measured (see :func:`latency`)."""


_WARM = 500


def _start_pipeline(
    bench: BenchPipeline, records: list[tuple[bytes, bytes]]
) -> tuple[Service, Service]:
    """The worker and the sink, started on the first ``_WARM`` records (so that
    both are up, and have made their first inserts, before anything is timed)."""
    bench.produce(bench.kafka.ocpp_topic, records[:_WARM])
    return bench.start("worker"), bench.start("sink")


def pipeline_rate(bootstrap: str, root: Path, log: Workload) -> float:
    """Envelopes per wall second that the worker and the sink, running together
    on this machine, take from a backlog to ClickHouse: from the first record
    produced until both have committed everything (the sink commits after its
    inserts). Both are started and caught up on a few records first."""
    bench = BenchPipeline(bootstrap, root)
    topic = bench.kafka.ocpp_topic
    records = [(key.encode(), value) for key, value in log.records]
    worker, sink = _start_pipeline(bench, records)
    try:
        bench.wait_members(1, [worker])
        bench.wait_drained([topic], [worker])
        while bench.sink_lag() > 0:
            if not sink.alive():
                raise SystemExit(f"the sink died, see {sink.log_path}")
            time.sleep(0.1)
        started = time.monotonic()
        total = bench.produce(topic, records[_WARM:])
        bench.wait_drained([topic], [worker])
        while bench.sink_lag() > 0:
            time.sleep(0.1)
        wall = time.monotonic() - started
    finally:
        bench.stop_all()
    rate = total / wall
    print(f"  worker and sink together, {total:,} envelopes from a backlog to ClickHouse: "
          f"{rate:,.0f} messages/s wall")  # fmt: skip
    return rate


def latency(
    bootstrap: str, root: Path, log: Workload, rate: float, seconds: float = 15.0
) -> list[float]:
    """Seconds from producing each StopTransaction to its row in ClickHouse, in the
    steady state: stops produced in the first ``WARM_UP_S`` of paced traffic are
    reported apart (the pipeline going from idle to the rate: first inserts,
    buffers growing), since a deployment takes traffic for much longer."""
    bench = BenchPipeline(bootstrap, root)
    topic = bench.kafka.ocpp_topic
    records = [(key.encode(), value) for key, value in log.records]
    worker, sink = _start_pipeline(bench, records)
    produced: dict[str, float] = {}
    cold: set[str] = set()  # stops produced while warming up
    try:
        bench.wait_members(1, [worker])
        bench.wait_drained([topic], [worker])  # both started and caught up
        seconds = min(seconds, (len(records) - _WARM) / rate - WARM_UP_S)
        paced = records[_WARM : _WARM + int(rate * (WARM_UP_S + seconds))]
        # As ``chargewatch gateway`` produces: its linger, lz4. With 1 ms and no
        # compression the co-located broker spent a whole core on tiny requests,
        # starving the worker; with 5 ms, half a core at 13,000 messages/s.
        producer = Producer({"bootstrap.servers": bootstrap,
                             "linger.ms": GatewayConfig().linger_ms,
                             "compression.type": "lz4", "enable.idempotence": True})  # fmt: skip
        pids = (worker.process.pid, sink.process.pid, _broker_pid(root), os.getpid())
        cpu0 = [cpu_seconds(pid) if pid else 0.0 for pid in pids]
        machine0 = _machine_busy()
        start, sent = time.monotonic(), 0
        while sent < len(paced):
            due = min(len(paced), int((time.monotonic() - start) * rate) + 1)
            warming = time.monotonic() - start < WARM_UP_S
            for key, value in paced[sent:due]:
                sid = _stop_session(value)
                if sid is not None:
                    produced[sid] = time.time()
                    if warming:
                        cold.add(sid)
                producer.produce(topic, key=key, value=value)
            sent = due
            producer.poll(0)
            time.sleep(0.005)
        producer.flush(30)
        paced_s = time.monotonic() - start
        busy = [
            (cpu_seconds(pid) - c) / paced_s if pid else None
            for pid, c in zip(pids, cpu0, strict=True)
        ]
        machine = (_machine_busy() - machine0) / paced_s  # cores' worth of busy time
        bench.wait_drained([topic], [worker])
        while bench.sink_lag() > 0:
            time.sleep(0.2)
    finally:
        bench.stop_all()
    print(f"  {len(paced):,} envelopes at {rate:,.0f}/s", end="")
    delays = _latency_report(bench, produced, cold)
    broker = f"broker {busy[2]:.2f}, " if busy[2] is not None else ""
    print(f"    CPU while producing, in cores: worker {busy[0]:.2f}, sink (session rows and "
          f"the raw OCPP archive) {busy[1]:.2f}, {broker}producer {busy[3]:.2f}; the whole "
          f"machine {machine:.2f} of its {os.cpu_count()}")  # fmt: skip
    return delays


def _broker_pid(root: Path) -> int | None:
    """The pid of the bench's own broker (``deploy/kafka.sh`` keeps it in its
    directory); None when the bench runs against another broker."""
    try:
        return int((root / "kafka" / "broker.pid").read_text())
    except (OSError, ValueError):
        return None


def _latency_report(
    bench: BenchPipeline, produced: dict[str, float], cold: set[str]
) -> list[float]:
    """Print the delays of the stops produced after the warm-up (and of those
    before, apart); return the former."""
    emitted = bench.first_completed_at()
    rows = bench.query(
        "SELECT session_id, toUnixTimestamp64Milli(min(inserted_at)) "
        "FROM chargewatch.sessions WHERE status = 'completed' GROUP BY session_id"
    )
    stored = {sid: ms / 1000 for sid, ms in rows}
    steady = {sid: t for sid, t in produced.items() if sid not in cold}
    delays = [stored[sid] - t for sid, t in steady.items() if sid in stored]
    in_worker = [emitted[sid] - t for sid, t in steady.items() if sid in emitted]
    missing = sum(sid not in stored for sid in produced)
    lost = f"; {missing} stops without a row" if missing else ""
    print(f", {len(steady):,} stops after the first "
          f"{WARM_UP_S:.0f} s: StopTransaction produced -> row in ClickHouse: {summary(delays)} "
          f"(target p99 <= 1 s){lost}")  # fmt: skip
    if in_worker:
        print(f"    of which produced -> session record on the sessions topic (the worker): "
              f"{summary(in_worker)}")  # fmt: skip
    warming_up = [stored[sid] - produced[sid] for sid in cold if sid in stored]
    if warming_up:
        print(f"    the {len(warming_up)} stops of the first {WARM_UP_S:.0f} s, from idle to "
              f"the rate: {summary(warming_up)}")  # fmt: skip
    return delays
