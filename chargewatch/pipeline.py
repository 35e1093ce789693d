"""``chargewatch run``: the whole pipeline on one machine, start to summary.

broker (unless one is configured) -> topics -> worker + sink processes ->
simulated day -> wait until the sink has caught up -> stop worker and sink ->
summary read back from ClickHouse, checked against the simulator's truth.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from chargewatch.broker import broker_down, broker_up
from chargewatch.errors import ChargewatchError
from chargewatch.kafka_admin import consumer_lag, ensure_topics, partition_lags
from chargewatch.settings import Settings
from chargewatch.simulator import SimConfig, produce, simulate, write_truth
from chargewatch.summary import format_summary, read_summary
from chargewatch.tariffs import apply_file
from sinks.clickhouse import connect, migrate

__all__ = ["Service", "run_pipeline", "wait_caught_up"]


def _say(message: str) -> None:
    print(f"[chargewatch] {message}", flush=True)


class Service:
    """A chargewatch subcommand running as a child process, logging to a file."""

    def __init__(
        self,
        name: str,
        args: list[str],
        log_dir: Path,
        env: dict[str, str],
        module: str = "chargewatch",  # the bench runs its Faust baseline the same way
    ) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log: IO[bytes] = self.log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", module, *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 30.0) -> int:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        self.process.kill()
        self.process.wait()
        self._log.close()


def wait_caught_up(
    settings: Settings, services: list[Service], timeout: float, progress: bool = True
) -> None:
    """Block until worker and sink have committed everything, twice in a row."""
    deadline = time.monotonic() + timeout
    quiet = 0
    while time.monotonic() < deadline:
        for service in services:
            if not service.alive():
                raise ChargewatchError(f"{service.name} exited early; see {service.log_path}")
        k = settings.kafka
        ocpp_on = settings.worker.ocpp and settings.privacy.token_hmac_key is not None
        worker_inputs = [k.events_topic] + ([k.ocpp_topic] if ocpp_on else [])
        events_lag = sum(
            consumer_lag(k.bootstrap, settings.worker.app_id, topic) for topic in worker_inputs
        )
        sessions_lag = sum(
            consumer_lag(k.bootstrap, settings.sink.group_id, topic)
            for topic in (k.sessions_topic, k.cdrs_topic, k.ocpp_topic)
        )
        if progress:
            _say(f"waiting: worker lag {events_lag} events, sink lag {sessions_lag} records")
        quiet = quiet + 1 if events_lag == 0 and sessions_lag == 0 else 0
        if quiet >= 2:
            return
        time.sleep(1.0)
    raise ChargewatchError(
        f"pipeline did not catch up within {timeout:.0f} s: " + _lag_report(settings)
    )


def _lag_report(settings: Settings) -> str:
    """Where the lag is, per group, topic and partition (for a timeout message)."""
    k = settings.kafka
    parts = []
    for group, topics in (
        (settings.worker.app_id, (k.events_topic, k.ocpp_topic)),
        (settings.sink.group_id, (k.sessions_topic, k.cdrs_topic, k.ocpp_topic)),
    ):
        for topic in topics:
            lags = {p: n for p, n in partition_lags(k.bootstrap, group, topic).items() if n}
            if lags:
                parts.append(f"{group} {topic} {lags}")
    return "; ".join(parts) or "no lag left"


def run_pipeline(
    settings: Settings, sim: SimConfig, *, speed: float | None, tariff_file: Path | None = None
) -> int:
    """Run the demo pipeline end to end; return a process exit code."""
    own_broker = "bootstrap" not in settings.kafka.model_fields_set
    port = int(settings.kafka.bootstrap.rsplit(":", 1)[1])
    broker_dir = settings.var_dir / "kafka"
    if own_broker:
        _say(f"starting the project's Kafka broker on 127.0.0.1:{port} ({broker_dir})")
        broker_up(broker_dir, port)
    services: list[Service] = []
    try:
        created = ensure_topics(settings.kafka)
        _say(f"topics ready ({', '.join(created) or 'already there'})")
        if tariff_file is not None:
            n = apply_file(settings.kafka, tariff_file)
            _say(f"tariffs applied from {tariff_file} ({n} records): sessions are priced")
        env: dict[str, Any] = dict(os.environ)
        log_dir = settings.var_dir / "log"
        services = [
            Service("worker", ["worker"], log_dir, env),
            Service("sink", ["sink"], log_dir, env),
        ]
        _say(f"worker and sink started (logs in {log_dir}/)")

        started = time.monotonic()
        simulation = simulate(sim)
        truth_path = settings.var_dir / "run" / "ground_truth.jsonl"
        truth_path.parent.mkdir(parents=True, exist_ok=True)
        write_truth(truth_path, simulation.truth)
        _say(
            f"simulating {sim.days:g} day(s) of {sim.stations} stations: "
            f"{len(simulation.events)} events, {len(simulation.truth)} sessions "
            f"(truth in {truth_path})"
        )

        def show(done: int, total: int) -> None:
            _say(f"produced {done}/{total} events ({done / max(total, 1):.0%})")

        produce(
            simulation,
            bootstrap=settings.kafka.bootstrap,
            topic=settings.kafka.events_topic,
            speed=speed,
            progress=show,
        )
        _say(f"all events produced in {time.monotonic() - started:.1f} s")
        wait_caught_up(settings, services, timeout=600)
        _say(f"sink caught up {time.monotonic() - started:.1f} s after the first event")
    finally:
        for service in services:
            code = service.stop()
            _say(f"{service.name} stopped (exit {code})")
        if own_broker:
            broker_down(broker_dir)
            _say("broker stopped")

    # The sink has exited, so this process may own the chDB directory now.
    client = connect(settings.clickhouse)
    migrate(client, settings.clickhouse.database)
    summary = read_summary(client, settings.clickhouse.database)
    truth_sessions = len(simulation.truth)
    truth_energy = sum(t.energy_wh for t in simulation.truth)
    print("\nchargewatch summary (read back from ClickHouse)")
    print(format_summary(summary))
    match = summary.sessions == truth_sessions and summary.energy_wh == truth_energy
    print(
        f"\n  ground truth       : {truth_sessions} sessions, {truth_energy} Wh -> "
        + ("MATCH" if match else "MISMATCH")
    )
    print(
        f"  data left in       : {settings.var_dir}/ (ClickHouse: {settings.clickhouse.chdb_path})"
    )
    return 0 if match else 1


def sim_config(stations: int, days: float, seed: int, sample_interval_s: int) -> SimConfig:
    return replace(SimConfig(), stations=stations, days=days, seed=seed,
                   sample_interval_s=sample_interval_s)  # fmt: skip
