"""The sink process: sessions topic -> ClickHouse, in batches, at least once.

Rows are buffered and inserted when ``batch_rows`` are waiting or
``batch_seconds`` have passed; offsets are committed only after the insert
succeeded. A crash re-delivers the uncommitted records and they are inserted
again - harmless, because the table keeps one row per session and version.
The sink is its own process so that several workers can feed one ClickHouse,
and so that one process owns the chDB directory.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer

from chargewatch.errors import BrokerError, InputError
from chargewatch.settings import Settings
from sinks.cdrs import cdr_row, decode_cdr, insert_cdrs
from sinks.clickhouse import connect, migrate
from sinks.raw import insert_raw, raw_row
from sinks.sessions import decode_record, insert_sessions
from streams import metrics
from streams.core.record import SessionOut
from streams.deadletter import dead_letter

__all__ = ["SessionSink"]

log = logging.getLogger(__name__)


class SessionSink:
    """Consumes session records and writes them to ClickHouse."""

    def __init__(self, settings: Settings, client: Any | None = None) -> None:
        self._settings = settings
        self._client = client if client is not None else connect(settings.clickhouse)
        self._database = settings.clickhouse.database
        migrate(self._client, self._database)
        common = {"bootstrap.servers": settings.kafka.bootstrap}
        self._consumer = Consumer(
            {
                **common,
                "group.id": settings.sink.group_id,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "enable.partition.eof": False,
            }
        )
        self._deadletters = Producer({**common, "linger.ms": 50, "enable.idempotence": True})
        self._buffer: list[SessionOut] = []
        self._cdr_rows: list[list[Any]] = []
        self._raw_rows: list[list[Any]] = []
        self._stopping = False
        self._uncommitted = False
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
        self._consumer.subscribe([k.sessions_topic, k.cdrs_topic, k.ocpp_topic])
        deadline = time.monotonic() + cfg.batch_seconds
        try:
            while not self._stopping and not (until and until()):
                messages = self._consumer.consume(num_messages=cfg.batch_rows, timeout=0.1)
                for message in messages:
                    self._take(message)
                waiting = len(self._buffer) + len(self._cdr_rows) + len(self._raw_rows)
                if waiting >= cfg.batch_rows or time.monotonic() >= deadline:
                    self._flush()
                    deadline = time.monotonic() + cfg.batch_seconds
            self._flush()
        except KafkaException as exc:
            raise BrokerError(f"sink consumer failed: {exc}") from exc
        finally:
            self._consumer.close()
            self._deadletters.flush(10)

    def _take(self, message: Any) -> None:
        if message.error():
            log.warning("consumer error: %s", message.error())
            return
        self._uncommitted = True
        if message.topic() == self._settings.kafka.ocpp_topic:
            self._raw_rows.append(
                raw_row(
                    message.topic(),
                    message.partition(),
                    message.offset(),
                    message.key(),
                    message.value() or b"",
                )
            )
            return
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

    def _flush(self) -> None:
        if self._buffer:
            started = time.perf_counter()
            n = insert_sessions(self._client, self._database, self._buffer)
            metrics.SINK_BATCH_SECONDS.labels("sessions").observe(time.perf_counter() - started)
            metrics.SINK_ROWS.labels("sessions").inc(n)
            self.rows_written += n
            self._buffer.clear()
        if self._raw_rows:
            n = insert_raw(self._client, self._database, self._raw_rows)
            metrics.SINK_ROWS.labels("ocpp_raw").inc(n)
            self._raw_rows.clear()
        if self._cdr_rows:
            n = insert_cdrs(self._client, self._database, self._cdr_rows)
            metrics.SINK_ROWS.labels("cdrs").inc(n)
            self._cdr_rows.clear()
        if self._uncommitted:
            try:
                self._consumer.commit(asynchronous=False)
                self._uncommitted = False
            except KafkaException as exc:
                # Nothing to commit yet is not an error; anything else is logged and
                # retried at the next batch (the rows are idempotent).
                log.debug("commit skipped: %s", exc)
