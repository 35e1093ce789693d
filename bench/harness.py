"""What the broker scenarios of the bench share (``bench.broker_scenarios``):
topics, groups, child processes and measurements.

Each scenario gets its own topics and consumer groups (a fresh name), so they
never see each other's data; workers and the sink are real ``chargewatch``
processes, measured from the outside (lag and committed offsets from the
broker, CPU time from /proc).
"""

from __future__ import annotations

import os
import statistics
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, ConsumerGroupState, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from chargewatch.kafka_admin import consumer_lag, ensure_topics
from chargewatch.pipeline import Service
from chargewatch.settings import ClickHouseSettings, KafkaSettings
from sinks.clickhouse import connect

__all__ = ["BenchPipeline", "Drained", "cpu_seconds", "percentile", "summary", "thread_cpu_seconds"]

HMAC_KEY = "bench-hmac-key-not-secret"


def _stat(path: Path) -> tuple[str, float]:
    """The name and the user + system CPU seconds in a /proc ``stat`` file."""
    name, _, rest = path.read_text().partition(" (")[2].rpartition(") ")
    fields = rest.split()
    return name, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    return _stat(Path(f"/proc/{pid}/stat"))[1]


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds of a process so far, by thread: ``main`` (the thread whose id is
    the pid: a worker's event loop, which decodes, normalises, stitches and
    produces), ``librdkafka`` (threads named ``rdk:...``, confluent-kafka's) and
    ``other`` (every other thread, exited ones included: in a worker, aiokafka's
    consumer thread, which fetches and unpacks the records)."""
    split = {"main": 0.0, "librdkafka": 0.0}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name, seconds = _stat(task / "stat")
        except FileNotFoundError:  # the thread ended meanwhile: counted in "other"
            continue
        if task.name == str(pid):
            split["main"] += seconds
        elif name.startswith("rdk:"):
            split["librdkafka"] += seconds
    split["other"] = max(cpu_seconds(pid) - split["main"] - split["librdkafka"], 0.0)
    return split


@dataclass
class Drained:
    """How long a backlog took, from the first committed progress to zero lag."""

    messages: int  # measured after the first progress (start-up excluded)
    wall_s: float
    cpu_s: float  # of every worker process
    threads: dict[str, float] = field(default_factory=dict)  # cpu_s by thread_cpu_seconds role

    @property
    def per_wall_s(self) -> float:
        return self.messages / max(self.wall_s, 1e-9)

    @property
    def per_cpu_s(self) -> float:
        return self.messages / max(self.cpu_s, 1e-9)


@dataclass
class BenchPipeline:
    """Topics, groups and processes of one scenario."""

    bootstrap: str
    root: Path
    partitions: int = 8
    name: str = field(default_factory=lambda: "bench" + uuid.uuid4().hex[:8])
    services: list[Service] = field(default_factory=list)

    def __post_init__(self) -> None:
        ensure_topics(self.kafka)

    @property
    def kafka(self) -> KafkaSettings:
        n = self.name
        return KafkaSettings(
            bootstrap=self.bootstrap,
            partitions=self.partitions,
            events_topic=f"{n}.events",
            sessions_topic=f"{n}.sessions",
            deadletter_topic=f"{n}.deadletter",
            tariffs_topic=f"{n}.tariffs",
            cdrs_topic=f"{n}.cdrs",
            ocpp_topic=f"{n}.ocpp",
        )

    @property
    def group(self) -> str:
        return f"{self.name}-worker"

    @property
    def clickhouse(self) -> ClickHouseSettings:
        return ClickHouseSettings(chdb_path=self.root / self.name / "clickhouse")

    def env(self) -> dict[str, str]:
        k = self.kafka
        return {
            **os.environ,
            "CHARGEWATCH_LOG_LEVEL": "WARNING",
            "CHARGEWATCH_VAR_DIR": str(self.root / self.name),
            "CHARGEWATCH_KAFKA_BOOTSTRAP": self.bootstrap,
            "CHARGEWATCH_KAFKA_PARTITIONS": str(self.partitions),
            "CHARGEWATCH_KAFKA_EVENTS_TOPIC": k.events_topic,
            "CHARGEWATCH_KAFKA_SESSIONS_TOPIC": k.sessions_topic,
            "CHARGEWATCH_KAFKA_DEADLETTER_TOPIC": k.deadletter_topic,
            "CHARGEWATCH_KAFKA_TARIFFS_TOPIC": k.tariffs_topic,
            "CHARGEWATCH_KAFKA_CDRS_TOPIC": k.cdrs_topic,
            "CHARGEWATCH_KAFKA_OCPP_TOPIC": k.ocpp_topic,
            "CHARGEWATCH_PRIVACY_TOKEN_HMAC_KEY": HMAC_KEY,
            "CHARGEWATCH_WORKER_APP_ID": self.group,
            "CHARGEWATCH_WORKER_DATA_DIR": str(self.root / self.name / "faust"),
            "CHARGEWATCH_WORKER_METRICS_PORT": "0",
            "CHARGEWATCH_SINK_GROUP_ID": f"{self.name}-sink",
            "CHARGEWATCH_SINK_METRICS_PORT": "0",
            "CHARGEWATCH_CLICKHOUSE_CHDB_PATH": str(self.clickhouse.chdb_path),
        }

    def start(
        self, command: str, label: str | None = None, *, instance_id: str | None = None
    ) -> Service:
        """Start ``chargewatch <command>``; ``instance_id``: static group membership."""
        env = self.env()
        if instance_id is not None:
            env["CHARGEWATCH_WORKER_INSTANCE_ID"] = instance_id
        service = Service(label or command, [command], self.root / self.name / "log", env)
        self.services.append(service)
        return service

    def stop_all(self) -> None:
        for service in self.services:
            service.stop()
        self.services.clear()

    def produce(self, topic: str, records: Iterable[tuple[bytes, bytes]]) -> int:
        producer = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 50,
                             "compression.type": "lz4", "enable.idempotence": True})  # fmt: skip
        n = 0
        for key, value in records:
            while True:
                try:
                    producer.produce(topic, key=key, value=value)
                    break
                except BufferError:  # the local queue is full: let deliveries drain it
                    producer.poll(0.1)
            n += 1
            if n % 10_000 == 0:
                producer.poll(0)
        producer.flush(60)
        return n

    def lag(self, topics: Sequence[str]) -> int:
        return sum(consumer_lag(self.bootstrap, self.group, t) for t in topics)

    def wait_members(self, n: int, workers: Sequence[Service], timeout: float = 120.0) -> None:
        """Until the worker group is stable with ``n`` members (all assigned)."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for worker in workers:
                if not worker.alive():
                    raise SystemExit(f"a worker died, see {worker.log_path}")
            try:
                described = admin.describe_consumer_groups([self.group], request_timeout=5)[
                    self.group
                ].result()
            except KafkaException:  # coordinator still loading, or the group not there yet
                time.sleep(0.5)
                continue
            if described.state == ConsumerGroupState.STABLE and len(described.members) == n:
                return
            time.sleep(0.5)
        raise SystemExit(f"the group did not settle with {n} members in {timeout:.0f} s")

    def sink_lag(self) -> int:
        k = self.kafka
        return sum(consumer_lag(self.bootstrap, f"{self.name}-sink", t)
                   for t in (k.sessions_topic, k.cdrs_topic, k.ocpp_topic))  # fmt: skip

    def wait_drained(self, topics: Sequence[str], workers: Sequence[Service]) -> None:
        """Until the group has committed everything there is."""
        while self.lag(topics) > 0:
            for worker in workers:
                if not worker.alive():
                    raise SystemExit(f"a worker died, see {worker.log_path}")
            time.sleep(0.1)

    def measure(
        self, topic: str, records: Sequence[tuple[bytes, bytes]], workers: Sequence[Service]
    ) -> Drained:
        """Produce ``records`` to idle, caught-up workers and time them to zero lag: wall
        time from the first record produced, CPU of every worker over that window
        (idle timers included, so per-CPU figures are if anything low)."""
        self.wait_drained([topic], workers)
        cpu0 = sum(cpu_seconds(w.process.pid) for w in workers)
        split0 = [thread_cpu_seconds(w.process.pid) for w in workers]
        started = time.monotonic()
        total = self.produce(topic, records)
        self.wait_drained([topic], workers)
        wall = time.monotonic() - started
        cpu = sum(cpu_seconds(w.process.pid) for w in workers) - cpu0
        threads: dict[str, float] = {}
        for worker, before in zip(workers, split0, strict=True):
            for role, seconds in thread_cpu_seconds(worker.process.pid).items():
                threads[role] = threads.get(role, 0.0) + seconds - before[role]
        return Drained(total, wall, cpu, threads)

    def committed(self, topic: str) -> int:
        """Sum over partitions of the group's committed offsets."""
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": self.group})
        try:
            tps = [TopicPartition(topic, p) for p in range(self.partitions)]
            return sum(max(tp.offset, 0) for tp in consumer.committed(tps, timeout=10))
        finally:
            consumer.close()

    def session_records(self) -> Iterator[tuple[dict[str, Any], float]]:
        """Every record on the sessions topic, with its broker timestamp (s): the
        producer's CreateTime, i.e. when the worker made it."""
        consumer = Consumer({"bootstrap.servers": self.bootstrap,
                             "group.id": uuid.uuid4().hex,
                             "enable.auto.commit": False})  # fmt: skip
        topic = self.kafka.sessions_topic
        ends = {}
        for p in range(self.partitions):
            ends[p] = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
        consumer.assign([TopicPartition(topic, p, 0) for p in range(self.partitions)])
        done = {p for p, end in ends.items() if end == 0}
        try:
            while len(done) < self.partitions:
                for msg in consumer.consume(10_000, timeout=1.0):
                    value, partition, offset = msg.value(), msg.partition(), msg.offset()
                    if msg.error() or value is None or partition is None or offset is None:
                        continue
                    yield orjson.loads(value), msg.timestamp()[1] / 1000
                    if offset + 1 >= ends[partition]:
                        done.add(partition)
        finally:
            consumer.close()

    def first_completed_at(self) -> dict[str, float]:
        """Session id -> when the worker produced its first completed record."""
        seen: dict[str, float] = {}
        for record, at in self.session_records():
            if record["status"] == "completed":
                seen.setdefault(record["session_id"], at)
        return seen

    def final_sessions(self) -> dict[str, tuple[Any, ...]]:
        """The latest version of every session on the sessions topic: what a sink keeps."""
        latest: dict[str, tuple[int, tuple[Any, ...]]] = {}
        for r, _ in self.session_records():
            key = (r["status"], r["energy_wh"], r["duration_s"], r["charging_s"],
                   r["idle_s"], r.get("total_cost"))  # fmt: skip
            seen = latest.get(r["session_id"])
            if seen is None or r["version"] > seen[0]:
                latest[r["session_id"]] = (r["version"], key)
        return {sid: key for sid, (_, key) in latest.items()}

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Run SQL on this scenario's chDB (once the sink has stopped)."""
        client = connect(self.clickhouse)
        try:
            return [tuple(row) for row in client.query(sql).result_rows]
        finally:
            client.close()


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def summary(values: list[float]) -> str:
    return (f"p50 {percentile(values, 50):.3f} s, p99 {percentile(values, 99):.3f} s, "
            f"max {max(values):.3f} s, mean {statistics.fmean(values):.3f} s")  # fmt: skip
