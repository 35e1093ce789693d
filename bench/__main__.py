"""``make bench``: every speed-and-scale figure, measured, printed with its target.

In-process (no broker):
1. OCPP hot path, stage by stage (``bench.ocpp_stages``);
2. replay of canonical events (decode + validate + stitch);
3. replay of OCPP logs - a simulated network reporting every 15 s and a real,
   sparse dataset - in-process and as a whole ``chargewatch replay`` process
   (same validation as the live path);
4. pricing a finished session;
5. worker memory per open session (``bench.memory``).

On a real broker started for the bench (``bench.broker_scenarios``):
6. one worker on each OCPP log: messages per CPU-second, sessions checked;
   then a minimal Faust agent on the same envelopes (``bench.faust_baseline``),
   the yardstick the target is a multiple of, on this machine, in this run;
7. scale-out: 1, 2 and 4 workers over 8 partitions;
8. recovery after SIGKILL;
9. StopTransaction -> ClickHouse latency at half the maximum rate of worker and sink together
   (and at half the worker's own rate, as measured before).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from bench import broker_scenarios
from bench.broker_scenarios import Workload
from bench.harness import HMAC_KEY, percentile
from chargewatch.broker import broker_down, broker_up
from chargewatch.datasets import sap_labs_france
from chargewatch.replay import file_pricer, replay_lines
from chargewatch.settings import PricingSettings, PrivacySettings, WorkerSettings
from chargewatch.simulator import SimConfig, simulate
from chargewatch.simulator.ocpp_log import ocpp_envelopes
from streams.config import stitcher_for
from streams.core.events import encode_event
from streams.ocpp_ingest import normaliser_for

REPLAY_TARGET = 150_000


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
    per_event_us = best / len(lines) * 1e6
    print(f"  canonical events, in-process (decode+validate+stitch): {len(lines):,} events "
          f"in {best:.3f} s = {rate:,.0f} events/s ({per_event_us:.2f} us/event)")  # fmt: skip


def bench_ocpp_replay(log: Workload, root: Path) -> float:
    """In-process and whole-process replay of the workload's envelopes."""
    normaliser = normaliser_for(PrivacySettings(token_hmac_key=HMAC_KEY))
    values = [value for _, value in log.records]
    started = time.perf_counter()
    result = replay_lines(values, normaliser=normaliser, fmt="ocpp")
    inproc = time.perf_counter() - started
    print(f"  OCPP ({log.name}), in-process: {len(values):,} envelopes in {inproc:.2f} s "
          f"= {len(values) / inproc:,.0f}/s, {len(result.sessions):,} sessions")  # fmt: skip
    path = root / "ocpp.jsonl"
    path.write_bytes(b"".join(value + b"\n" for value in values))
    env = {**os.environ, "CHARGEWATCH_PRIVACY_TOKEN_HMAC_KEY": HMAC_KEY,
           "CHARGEWATCH_LOG_LEVEL": "WARNING"}  # fmt: skip
    rate = 0.0
    outputs = []
    for jobs in (1, len(os.sched_getaffinity(0))):
        out = root / f"sessions-{jobs}.jsonl"
        # Best of three, as the in-process figures: this machine's speed varies
        # by a third within minutes; every run is printed.
        rates = []
        for _ in range(3):
            started = time.perf_counter()
            subprocess.run(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "chargewatch", "replay", str(path), "--out", str(out),
                 "--jobs", str(jobs)],
                env=env,
                check=True,
                capture_output=True,
            )  # fmt: skip
            rates.append(len(values) / (time.perf_counter() - started))
        rate = max(rates)
        outputs.append(out.read_bytes())
        runs = ", ".join(f"{r:,.0f}" for r in rates)
        print(f"  OCPP ({log.name}), whole `chargewatch replay --jobs {jobs}` process (start-up, "
              f"read, write included): {rate:,.0f} messages/s, best of 3 ({runs}) "
              f"(target {REPLAY_TARGET:,})")  # fmt: skip
    same = "identical" if outputs[0] == outputs[-1] else "DIFFERENT"
    print(f"    sessions with {jobs} jobs against 1 job: {same}")
    return rate


def workloads(stations: int) -> list[Workload]:
    """A network reporting every 15 s (simulated), and a real, sparse dataset."""
    sim = simulate(replace(SimConfig(), stations=stations, days=0.5, sample_interval_s=15))
    sap = sap_labs_france()
    return [
        Workload(f"simulated OCPP 1.6, {stations} stations, samples every 15 s",
                 ocpp_envelopes(sim, "ocpp1.6")),
        Workload(f"{sap.name}, real sessions, ~5 messages each", sap.records),
    ]  # fmt: skip


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
    print(f"  pricing a finished session (profile + periods + price + CDR): "
          f"{min(samples) * 1e3:.3f} ms per session over {len(done)} sessions")  # fmt: skip


def bench_memory(sessions: int) -> None:
    from bench.memory import open_session_rss_bytes

    # RSS only: ``python -m bench.memory`` adds a (ten times slower) tracemalloc run.
    per = open_session_rss_bytes(sessions)
    print(f"  worker memory per open session, {sessions:,} open sessions of 40 samples: "
          f"{per:,.0f} bytes of RSS (target <= 1,024)")  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


SCENARIOS = ("throughput", "scale-out", "recovery", "latency")


def on_broker(
    bootstrap: str, root: Path, logs: list[Workload], stations: int, only: set[str]
) -> None:
    drained = []
    if "throughput" in only or "latency" in only:
        print("6. one worker, OCPP in")
        for log in logs if "throughput" in only else logs[:1]:
            want = broker_scenarios.replay_reference(log, HMAC_KEY)
            drained.append(broker_scenarios.worker_throughput(bootstrap, root, log, want))
        if "throughput" in only:
            base = broker_scenarios.faust_baseline(bootstrap, root, logs[0])
            times = drained[0].per_cpu_s / base.per_cpu_s
            target = broker_scenarios.TARGET_TIMES_BASELINE
            print(f"  the worker on the simulated network: {times:.1f} times the minimal Faust "
                  f"agent per CPU-second (target {target} times; 50,000 where the issue "
                  f"measured the agent at ~4,000)")  # fmt: skip
    if "scale-out" in only or "recovery" in only:
        # three days: long enough that commit-interval granularity (1 s) stays small
        events = simulate(replace(SimConfig(), stations=stations, days=3.0)).events
        print("7. scale-out")
        reference = broker_scenarios.scale_out(
            bootstrap, root, events, only_one="scale-out" not in only
        )
        if "recovery" in only:
            print("8. recovery")
            broker_scenarios.recovery(bootstrap, root, events, reference)
    if "latency" in only:
        print("9. latency at half the maximum rate of the path it is measured on (worker and")
        print("   sink together: the sink shares this machine's 2 cores with the worker, the")
        print("   broker and the producer); then at half the worker's own rate, as rounds before")
        half = max(broker_scenarios.pipeline_rate(bootstrap, root, logs[0]) / 2, 100.0)
        for label, rate in (
            ("half the pipeline's", half),
            ("half the worker's own", max(drained[0].per_wall_s / 2, 100.0)),
        ):
            delays = broker_scenarios.latency(bootstrap, root, logs[0], rate)
            if delays:
                print(f"  p99 {percentile(delays, 99):.3f} s at {rate:,.0f} messages/s "
                      f"({label} maximum rate; target p99 <= 1 s at the pipeline's)")  # fmt: skip


def in_process(logs: list[Workload], root: Path, args: argparse.Namespace) -> None:
    from bench.ocpp_stages import print_table

    print("1. OCPP hot path per message, by stage (microseconds, best of 5)")
    print_table(number=500)
    print("2.-3. replay")
    bench_replay(args.stations)
    for log in logs:
        bench_ocpp_replay(log, root)
    print("4. pricing")
    bench_pricing(min(args.stations, 50))
    print("5. memory")
    bench_memory(args.open_sessions)


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench")
    parser.add_argument("--stations", type=int, default=60, help="simulated stations")
    parser.add_argument("--open-sessions", type=int, default=100_000)
    parser.add_argument("--bootstrap", help="use this broker instead of starting one")
    parser.add_argument("--no-broker", action="store_true", help="in-process figures only")
    parser.add_argument("--broker-only", action="store_true", help="the broker scenarios only")
    parser.add_argument(
        "--only",
        action="append",
        choices=SCENARIOS,
        help="run only these broker scenarios (repeatable; implies --broker-only)",
    )
    args = parser.parse_args()

    only = set(args.only or SCENARIOS)
    logs = workloads(args.stations)
    with tempfile.TemporaryDirectory(prefix="chargewatch-bench-") as tmp:
        root = Path(tmp)
        print("== chargewatch bench ==")
        if not (args.broker_only or args.only):
            in_process(logs, root, args)
        if args.no_broker:
            return
        bootstrap = args.bootstrap
        if bootstrap is None:
            port = _free_port()
            broker_up(root / "kafka", port, controller_port=_free_port())
            bootstrap = f"127.0.0.1:{port}"
        try:
            on_broker(bootstrap, root, logs, args.stations, only)
        finally:
            if args.bootstrap is None:
                broker_down(root / "kafka")


if __name__ == "__main__":
    main()
