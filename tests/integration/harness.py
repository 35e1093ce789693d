"""A whole pipeline for one test: unique topics, groups, chDB dir, child processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from chargewatch.kafka_admin import ensure_topics
from chargewatch.pipeline import Service, wait_caught_up
from chargewatch.settings import Settings
from sinks.clickhouse import connect
from streams.core.events import Event, encode_event

__all__ = ["Pipeline"]


@dataclass
class Pipeline:
    bootstrap: str
    name: str
    root: Path
    partitions: int = 4
    services: dict[str, Service] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "CHARGEWATCH_VAR_DIR": str(self.root),
            "CHARGEWATCH_LOG_LEVEL": "INFO",
            "CHARGEWATCH_KAFKA_BOOTSTRAP": self.bootstrap,
            "CHARGEWATCH_KAFKA_PARTITIONS": str(self.partitions),
            "CHARGEWATCH_KAFKA_EVENTS_TOPIC": f"{self.name}.events",
            "CHARGEWATCH_KAFKA_SESSIONS_TOPIC": f"{self.name}.sessions",
            "CHARGEWATCH_KAFKA_DEADLETTER_TOPIC": f"{self.name}.deadletter",
            "CHARGEWATCH_KAFKA_TARIFFS_TOPIC": f"{self.name}.tariffs",
            "CHARGEWATCH_KAFKA_CDRS_TOPIC": f"{self.name}.cdrs",
            "CHARGEWATCH_KAFKA_OCPP_TOPIC": f"{self.name}.ocpp",
            "CHARGEWATCH_PRIVACY_TOKEN_HMAC_KEY": "integration-test-key",
            "CHARGEWATCH_WORKER_APP_ID": f"{self.name}-worker",
            "CHARGEWATCH_WORKER_DATA_DIR": str(self.root / "faust"),
            "CHARGEWATCH_WORKER_METRICS_PORT": "0",
            "CHARGEWATCH_SINK_GROUP_ID": f"{self.name}-sink",
            "CHARGEWATCH_SINK_METRICS_PORT": "0",
            "CHARGEWATCH_CLICKHOUSE_CHDB_PATH": str(self.root / "clickhouse"),
        }

    def settings(self) -> Settings:
        saved = dict(os.environ)
        try:
            os.environ.update(self.env)
            return Settings()
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def create_topics(self) -> None:
        ensure_topics(self.settings().kafka)

    def run(self, *args: str) -> str:
        """Run a chargewatch command to completion with this pipeline's settings."""
        done = subprocess.run(
            [sys.executable, "-m", "chargewatch", *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def start(self, name: str, *args: str) -> Service:
        service = Service(name, list(args or [name]), self.root / "log", self.env)
        self.services[name] = service
        return service

    def produce(self, events: Iterable[Event], rate: float | None = None) -> int:
        """Produce canonical events, at ``rate`` per second if given (else at once)."""
        # Idempotent: a retried batch never lands behind a later one (without it, a
        # retry after a slow response once put events hours out of order on a partition).
        producer = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 20,
                             "enable.idempotence": True})  # fmt: skip
        topic = f"{self.name}.events"
        started = time.monotonic()
        n = 0
        for event in events:
            producer.produce(topic, key=event.station_id.encode(), value=encode_event(event))
            n += 1
            if n % 10_000 == 0:
                producer.poll(0)
            if rate is not None and n % 100 == 0:
                producer.poll(0)
                ahead = n / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
        producer.flush(30)
        return n

    def produce_raw(self, key: bytes, value: bytes) -> None:
        producer = Producer({"bootstrap.servers": self.bootstrap, "enable.idempotence": True})
        producer.produce(f"{self.name}.events", key=key, value=value)
        producer.flush(10)

    def wait(self, timeout: float = 180.0) -> None:
        wait_caught_up(self.settings(), list(self.services.values()), timeout, progress=False)

    def stop_all(self) -> None:
        for service in self.services.values():
            if service.alive():
                service.stop()
        self.services.clear()

    def log(self, name: str) -> str:
        return (self.root / "log" / f"{name}.log").read_text(errors="replace")

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Run SQL on the pipeline's ClickHouse (only once the sink has stopped)."""
        settings = self.settings()
        client = connect(settings.clickhouse)
        try:
            return [tuple(r) for r in client.query(sql).result_rows]
        finally:
            client.close()

    def wait_for(self, predicate: Any, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.5)
        raise TimeoutError("condition not met")
