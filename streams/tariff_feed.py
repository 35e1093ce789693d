"""Keeps a worker's tariff book in step with the compacted tariffs topic.

Every worker needs every tariff (any session may start on any connector), so
this is not a consumer-group member: a background thread assigns itself all
partitions of the tariffs topic from the beginning, applies each record to the
book and keeps following the topic. The worker starts processing events only
once the feed has read up to the end offsets it saw at start-up.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

from chargewatch.errors import BrokerError
from chargewatch.settings import KafkaSettings
from streams.core.tariff_book import TariffBook

__all__ = ["TariffFeed"]

log = logging.getLogger(__name__)


class TariffFeed:
    """A daemon thread that applies the tariffs topic to a :class:`TariffBook`."""

    def __init__(self, cfg: KafkaSettings, book: TariffBook) -> None:
        self.book = book
        self.ready = threading.Event()
        self._cfg = cfg
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tariff-feed", daemon=True)
        self.records = 0

    def start(self, timeout: float = 30.0) -> None:
        """Start following the topic; block until what exists now has been read."""
        self._thread.start()
        if not self.ready.wait(timeout):
            raise BrokerError(f"tariffs topic {self._cfg.tariffs_topic} not read in {timeout} s")

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        consumer = Consumer(
            {
                "bootstrap.servers": self._cfg.bootstrap,
                "group.id": "chargewatch-tariff-feed",  # never commits: always from the start
                "enable.auto.commit": False,
            }
        )
        try:
            topic = self._cfg.tariffs_topic
            partitions = sorted(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
            ends = {}
            for p in partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                if high > low:
                    ends[p] = high
            consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
            if not ends:
                self.ready.set()
            while not self._stop.is_set():
                for message in consumer.consume(500, timeout=0.5):
                    self._apply(message, ends)
                if ends == {} and not self.ready.is_set():
                    self.ready.set()
        except KafkaException as exc:
            log.error("tariff feed stopped: %s", exc)
        finally:
            consumer.close()

    def _apply(self, message: Any, ends: dict[int, int]) -> None:
        key, partition, offset = message.key(), message.partition(), message.offset()
        if message.error() or key is None:
            return
        try:
            self.book.apply(key.decode(), message.value())
            self.records += 1
        except Exception:  # a bad record must not stop the feed (it was validated on apply)
            log.exception("tariff record %r ignored", key)
        if partition in ends and offset + 1 >= ends[partition]:
            del ends[partition]
