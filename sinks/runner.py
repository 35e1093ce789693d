"""The sink process: sessions topic -> ClickHouse, in batches, at least once.

Rows are buffered and inserted when ``batch_rows`` are waiting or their
interval has passed; a topic's offsets are committed only after the insert of
its rows succeeded (and the dead letters of its records were delivered). A
crash re-delivers the uncommitted records and they are inserted again -
harmless, because the tables keep one row per session and version (per Kafka
coordinate for the archive).

Two cadences: session rows and CDRs, which analysts and drivers wait for,
as soon as they arrive but at most one insert per ``batch_seconds`` (an
insert into a MergeTree writes a part: 13-23 ms in chDB for 5 to 500 rows on
an idle machine, 20-45 ms on the loaded bench machine); the raw OCPP
archive, which is most of the rows and nobody waits for, every
``raw_batch_seconds``, right after session rows. With one cadence a
3,000-row archive insert (0.1-0.3 s on the loaded bench machine) ran every
quarter second and the session rows behind it waited.

Reading: librdkafka's ``consume(n, timeout)`` returns only when it has n
messages or the timeout has passed - with records already waiting in its
queue, too. So the loop takes what is queued without waiting, and only when
nothing is queued blocks in ``poll``, which returns at the first message: a
session record is never held back by the read itself.

The sink is its own process so that several workers can feed one ClickHouse,
and so that one process owns the chDB directory.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from chargewatch.errors import BrokerError, InputError
from chargewatch.settings import Settings
from sinks.cdrs import cdr_row, decode_cdr, insert_cdrs
from sinks.clickhouse import connect, migrate
from sinks.raw import RawBatch
from sinks.sessions import decode_record, insert_sessions
from streams import metrics
from streams.core.record import SessionOut
from streams.deadletter import dead_letter

__all__ = ["SessionSink", "consumer_config"]

log = logging.getLogger(__name__)


def consumer_config(settings: Settings) -> dict[str, Any]:
    """The sink's librdkafka consumer configuration."""
    return {
        "bootstrap.servers": settings.kafka.bootstrap,
        "group.id": settings.sink.group_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": False,
        # librdkafka answers a fetch as soon as one byte is there (and waits up to
        # 500 ms otherwise): under steady traffic that is hundreds of tiny fetches
        # a second, each costing the broker and the sink more than its records.
        "fetch.min.bytes": settings.sink.fetch_min_bytes,
        "fetch.wait.max.ms": settings.sink.fetch_max_wait_ms,
    }


class SessionSink:
    """Consumes session records and writes them to ClickHouse."""

    def __init__(self, settings: Settings, client: Any | None = None) -> None:
        self._settings = settings
        self._client = client if client is not None else connect(settings.clickhouse)
        self._database = settings.clickhouse.database
        migrate(self._client, self._database)
        self._consumer = Consumer(consumer_config(settings))
        bootstrap = settings.kafka.bootstrap
        self._deadletters = Producer(
            {"bootstrap.servers": bootstrap, "linger.ms": 50, "enable.idempotence": True}
        )
        self._buffer: list[SessionOut] = []
        self._cdr_rows: list[list[Any]] = []
        self._raw = RawBatch()
        self._stopping = False
        # Next offset to commit per (topic, partition), for the records whose rows
        # wait in the buffers above: the raw archive's apart from the rest.
        self._taken: dict[tuple[str, int], int] = {}
        self._taken_raw: dict[tuple[str, int], int] = {}
        self._dead_lettered = False
        self.rows_written = 0

    @property
    def client(self) -> Any:
        return self._client

    def stop(self, *_: Any) -> None:
        """Ask the loop to finish its batch and return (signal-safe)."""
        self._stopping = True

    def run(self, *, until: Callable[[], bool] | None = None) -> None:
        """Consume until stopped (SIGTERM/SIGINT) or ``until()`` is true."""
        cfg = self._settings.sink
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        k = self._settings.kafka
        self._consumer.subscribe(
            [k.sessions_topic, k.cdrs_topic, k.ocpp_topic], on_revoke=self._on_revoke
        )
        # Session rows may be inserted from ``due`` on (the last insert + batch_seconds).
        due, due_raw = 0.0, time.monotonic() + cfg.raw_batch_seconds
        try:
            while not self._stopping and not (until and until()):
                now = time.monotonic()
                late_raw = due_raw + cfg.batch_seconds
                # Never block past a flush that is due; 0.1 s at most, for the stop flag.
                wake = min(due, late_raw) if self._taken else late_raw
                for message in self._read(min(0.1, max(0.0, wake - now))):
                    self._take(message)
                now = time.monotonic()
                rows_went = False
                if self._taken and (now >= due or self._rows_waiting() >= cfg.batch_rows):
                    self._flush_rows()
                    due = time.monotonic() + cfg.batch_seconds
                    rows_went = True
                # The archive's insert, the longest (0.1-0.5 s on the loaded bench
                # machine), goes right after one of session rows, when the next
                # cannot go in for batch_seconds anyway - not while rows wait for
                # it. With no session rows flowing, at most batch_seconds late.
                raw_due = len(self._raw) >= cfg.batch_rows or now >= due_raw
                if raw_due and (rows_went or not self._taken or now >= late_raw):
                    self._flush_raw()
                    due_raw = time.monotonic() + cfg.raw_batch_seconds
            self._flush()
        except KafkaException as exc:
            raise BrokerError(f"sink consumer failed: {exc}") from exc
        finally:
            self._consumer.close()
            self._deadletters.flush(10)

    def _read(self, wait: float) -> list[Any]:
        """The messages already fetched, at once; when there are none, the first one
        to arrive within ``wait`` seconds (see the module docstring)."""
        messages: list[Any] = self._consumer.consume(
            num_messages=self._settings.sink.batch_rows, timeout=0
        )
        if messages or wait <= 0:
            return messages
        first = self._consumer.poll(wait)
        return [] if first is None else [first]

    def _rows_waiting(self) -> int:
        return len(self._buffer) + len(self._cdr_rows)

    def _take(self, message: Any) -> None:
        if message.error():
            log.warning("consumer error: %s", message.error())
            return
        coordinate = (message.topic(), message.partition())
        if message.topic() == self._settings.kafka.ocpp_topic:
            self._taken_raw[coordinate] = message.offset() + 1
            self._raw.add(
                message.topic(),
                message.partition(),
                message.offset(),
                message.key(),
                message.value() or b"",
            )
            return
        self._taken[coordinate] = message.offset() + 1
        try:
            if message.topic() == self._settings.kafka.cdrs_topic:
                self._cdr_rows.append(cdr_row(decode_cdr(message.value()), message.value()))
            else:
                self._buffer.append(decode_record(message.value()))
        except InputError as exc:
            self._deadletters.produce(
                self._settings.kafka.deadletter_topic,
                key=message.key(),
                value=dead_letter(
                    exc,
                    topic=message.topic(),
                    partition=message.partition(),
                    offset=message.offset(),
                    key=message.key(),
                    value=message.value(),
                ),
            )
            metrics.DEADLETTERS.labels(exc.reason).inc()
            self._dead_lettered = True

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        """Before partitions go to another sink: write and commit what was read.
        (Also called for partitions already lost, whose commit fails: their offsets
        are then dropped, never committed later over the next owner's.)"""
        self._flush()
        for tp in partitions:
            self._taken.pop((tp.topic, tp.partition), None)
            self._taken_raw.pop((tp.topic, tp.partition), None)

    def _flush(self) -> None:
        self._flush_rows()
        self._flush_raw()

    def _flush_rows(self) -> None:
        """Session rows and CDRs, then their offsets."""
        if self._buffer:
            started = time.perf_counter()
            n = insert_sessions(self._client, self._database, self._buffer)
            metrics.SINK_BATCH_SECONDS.labels("sessions").observe(time.perf_counter() - started)
            metrics.SINK_ROWS.labels("sessions").inc(n)
            self.rows_written += n
            self._buffer.clear()
        if self._cdr_rows:
            n = insert_cdrs(self._client, self._database, self._cdr_rows)
            metrics.SINK_ROWS.labels("cdrs").inc(n)
            self._cdr_rows.clear()
        if self._dead_lettered:
            # A committed offset must not outrun its dead letter.
            if self._deadletters.flush(10) > 0:
                raise BrokerError("dead letters not delivered in 10 s; offsets not committed")
            self._dead_lettered = False
        self._commit(self._taken)

    def _flush_raw(self) -> None:
        """The raw OCPP archive, then its offsets."""
        if self._raw:
            started = time.perf_counter()
            n = self._raw.insert(self._client, self._database)
            metrics.SINK_BATCH_SECONDS.labels("ocpp_raw").observe(time.perf_counter() - started)
            metrics.SINK_ROWS.labels("ocpp_raw").inc(n)
        self._commit(self._taken_raw)

    def _commit(self, taken: dict[tuple[str, int], int]) -> None:
        if not taken:
            return
        offsets = [TopicPartition(topic, partition, offset)
                   for (topic, partition), offset in taken.items()]  # fmt: skip
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
            taken.clear()
        except KafkaException as exc:
            # Logged and retried with the next batch: the rows are idempotent.
            log.warning("commit of %d partitions failed, retried next batch: %s", len(offsets), exc)
