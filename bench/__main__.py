"""``make bench``: throughput of the stitching core and of the worker on a real broker.

1. replay - decode + validate + stitch, in-process, from JSON lines in memory;
2. worker - a simulated backlog on the events topic, one ``chargewatch worker``
   process draining it on the real broker; events per wall second and per CPU
   second of the worker process.
"""

from __future__ import annotations

import argparse
import os
import socket
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

from chargewatch.broker import broker_down, broker_up
from chargewatch.kafka_admin import consumer_lag, ensure_topics
from chargewatch.pipeline import Service
from chargewatch.replay import file_pricer, replay_lines
from chargewatch.settings import KafkaSettings, PricingSettings, WorkerSettings
from chargewatch.simulator import SimConfig, simulate
from streams.config import stitcher_for
from streams.core.events import encode_event


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_replay(stations: int) -> None:
    sim = simulate(replace(SimConfig(), stations=stations, days=1.0))
    lines = [encode_event(e) for e in sim.events]
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        result = replay_lines(lines)
        best = min(best, time.perf_counter() - started)
    assert len(result.sessions) == len(sim.truth)
    rate = len(lines) / best
    print(f"replay (decode+validate+stitch): {len(lines)} events in {best:.3f} s "
          f"= {rate:,.0f} events/s  ({best / len(lines) * 1e6:.2f} us/event)")  # fmt: skip


def bench_pricing(stations: int) -> None:
    """Time to price one finished session: profile, periods, price, CDR."""
    sim = simulate(replace(SimConfig(), stations=stations, days=1.0))
    tariff = Path(__file__).resolve().parents[1] / "deploy" / "tariffs" / "example.json"
    pricer = file_pricer(tariff, "Europe/Amsterdam", PricingSettings())
    stitcher = stitcher_for(WorkerSettings())  # stitch unpriced, then price each session
    for event in sim.events:
        stitcher.apply(event)
    done = [(s, stitcher.settle(s.session_id)) for s in list(stitcher)]
    for state, _ in done:
        pricer.snapshot(state)
    samples = []
    for _ in range(3):
        started = time.perf_counter()
        for state, record in done:
            assert record is not None
            result = pricer.price(state, record)
            assert result is not None
            pricer.cdr(state, record, result, 1)
        samples.append((time.perf_counter() - started) / len(done))
    best = min(samples)
    periods = sum(len(pricer.price(s, r).periods) for s, r in done) / len(done)  # type: ignore[arg-type,union-attr]
    print(f"pricing a finished session (profile + periods + price + CDR): {best * 1e3:.3f} ms "
          f"per session, {len(done)} sessions, {periods:.1f} periods on average "
          f"(target: well under 1 ms)")  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_worker(bootstrap: str, stations: int, days: float, root: Path) -> None:
    name = "bench" + uuid.uuid4().hex[:8]
    kafka = KafkaSettings(
        bootstrap=bootstrap,
        events_topic=f"{name}.events",
        sessions_topic=f"{name}.sessions",
        deadletter_topic=f"{name}.deadletter",
    )
    ensure_topics(kafka)
    sim = simulate(replace(SimConfig(), stations=stations, days=days))
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50,
                         "compression.type": "lz4"})  # fmt: skip
    for i, event in enumerate(sim.events):
        producer.produce(kafka.events_topic, key=event.station_id.encode(),
                         value=encode_event(event))  # fmt: skip
        if i % 10_000 == 0:
            producer.poll(0)
    producer.flush(60)
    total = len(sim.events)
    env = {
        **os.environ,
        "CHARGEWATCH_LOG_LEVEL": "WARNING",
        "CHARGEWATCH_KAFKA_BOOTSTRAP": bootstrap,
        "CHARGEWATCH_KAFKA_EVENTS_TOPIC": kafka.events_topic,
        "CHARGEWATCH_KAFKA_SESSIONS_TOPIC": kafka.sessions_topic,
        "CHARGEWATCH_KAFKA_DEADLETTER_TOPIC": kafka.deadletter_topic,
        "CHARGEWATCH_WORKER_APP_ID": f"{name}-worker",
        "CHARGEWATCH_WORKER_DATA_DIR": str(root / "faust"),
        "CHARGEWATCH_WORKER_METRICS_PORT": "0",
    }
    worker = Service("bench-worker", ["worker"], root / "log", env)
    group = f"{name}-worker"
    try:
        first_progress = None
        cpu_at_first = 0.0
        while True:
            lag = consumer_lag(bootstrap, group, kafka.events_topic)
            now = time.monotonic()
            if first_progress is None and lag < total:
                first_progress, done_at_first = now, total - lag
                cpu_at_first = _cpu_seconds(worker.process.pid)
            if lag == 0:
                break
            if not worker.alive():
                raise SystemExit(f"worker died, see {worker.log_path}")
            time.sleep(0.2)
        cpu = _cpu_seconds(worker.process.pid) - cpu_at_first
        assert first_progress is not None
        elapsed = max(now - first_progress, 1e-9)
        measured = total - done_at_first
    finally:
        worker.stop()
    print(f"worker on the real broker: {total} events; steady state {measured} events in "
          f"{elapsed:.2f} s = {measured / elapsed:,.0f} events/s wall, "
          f"{measured / max(cpu, 1e-9):,.0f} events per worker CPU-second")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench")
    parser.add_argument("--stations", type=int, default=200)
    parser.add_argument("--days", type=float, default=1.0)
    parser.add_argument("--bootstrap", help="use this broker instead of starting one")
    args = parser.parse_args()
    print("== chargewatch bench ==")
    bench_replay(args.stations)
    bench_pricing(min(args.stations, 50))
    with tempfile.TemporaryDirectory(prefix="chargewatch-bench-") as tmp:
        root = Path(tmp)
        bootstrap = args.bootstrap
        if bootstrap is None:
            port = _free_port()
            broker_up(root / "kafka", port, controller_port=_free_port())
            bootstrap = f"127.0.0.1:{port}"
        try:
            bench_worker(bootstrap, args.stations, args.days, root)
        finally:
            if args.bootstrap is None:
                broker_down(root / "kafka")


if __name__ == "__main__":
    main()
