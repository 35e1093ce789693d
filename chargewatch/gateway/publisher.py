"""Where envelopes go: Kafka (``KafkaSink``) or a list (``MemorySink``, for tests).

``KafkaSink`` wraps an idempotent confluent-kafka producer (``acks=all``, so a
librdkafka retry never duplicates or reorders a station's envelopes) whose
delivery callbacks are served by a background thread: ``produce`` only queues,
so the event loop never waits on the network. With ``confirm=True``
:meth:`KafkaSink.publish` returns once the broker acknowledged the record (the
loop awaits a future the callback resolves; other stations go on meanwhile).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Protocol

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from chargewatch.errors import BrokerError
from chargewatch.gateway.config import GatewayConfig

__all__ = ["EnvelopeSink", "KafkaSink", "MemorySink"]

log = logging.getLogger(__name__)

_POLL_S = 0.05  # the poll thread's wait: bounds how late a delivery is noticed
_QUEUE_FULL_BACKOFF_S = 0.01
_Callback = Callable[[KafkaError | None, Message], None]


class EnvelopeSink(Protocol):
    """Stores envelopes; ``publish`` raises ``BrokerError`` when it could not."""

    async def publish(self, key: bytes, value: bytes) -> None: ...

    async def close(self) -> None: ...


class MemorySink:
    """Keeps (key, value) pairs in order: the gateway without a broker."""

    def __init__(self) -> None:
        self.records: list[tuple[bytes, bytes]] = []

    async def publish(self, key: bytes, value: bytes) -> None:
        self.records.append((key, value))

    async def close(self) -> None:
        return None


class KafkaSink:
    """Produces to ``config.topic``; call :meth:`close` to flush and stop."""

    def __init__(self, config: GatewayConfig) -> None:
        self._topic = config.topic
        self._bootstrap = config.bootstrap
        self._confirm = config.confirm_delivery
        self._flush_timeout_s = config.flush_timeout_s
        self._delivery_timeout_s = config.delivery_timeout_s
        try:
            self._producer = Producer(
                {
                    "bootstrap.servers": config.bootstrap,
                    "enable.idempotence": True,
                    "acks": "all",
                    "linger.ms": config.linger_ms,
                    "compression.type": "lz4",
                    "message.timeout.ms": round(config.delivery_timeout_s * 1000),
                }
            )
        except KafkaException as exc:
            raise BrokerError(
                f"cannot create a Kafka producer for {config.bootstrap}: {exc}"
            ) from exc
        self.delivered = 0  # written by the poll thread only
        self.failed = 0
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="gateway-kafka-poll", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(_POLL_S)

    def _count(self, error: KafkaError | None, _message: Message) -> None:
        if error is None:
            self.delivered += 1
        else:
            self.failed += 1
            log.error("envelope not delivered to %s: %s", self._topic, error)

    async def publish(self, key: bytes, value: bytes) -> None:
        if not self._confirm:
            await self._produce(key, value, self._count)
            return
        loop = asyncio.get_running_loop()
        done: asyncio.Future[KafkaError | None] = loop.create_future()

        def settle(error: KafkaError | None, message: Message) -> None:
            self._count(error, message)
            loop.call_soon_threadsafe(_resolve, done, error)

        await self._produce(key, value, settle)
        # librdkafka fails the record after message.timeout.ms; the extra wait
        # only covers a poll thread that stopped serving callbacks.
        try:
            error = await asyncio.wait_for(done, self._delivery_timeout_s + 5.0)
        except TimeoutError as exc:
            raise BrokerError(f"no delivery report from {self._bootstrap} in time") from exc
        if error is not None:
            raise BrokerError(f"envelope not delivered to {self._topic}: {error}")

    async def _produce(self, key: bytes, value: bytes, callback: _Callback) -> None:
        while True:
            try:
                self._producer.produce(self._topic, value=value, key=key, on_delivery=callback)
            except BufferError:
                # Local queue full: back off without blocking the loop; the
                # station waits for its answer meanwhile (backpressure).
                await asyncio.sleep(_QUEUE_FULL_BACKOFF_S)
            except KafkaException as exc:
                raise BrokerError(f"producing to {self._topic} failed: {exc}") from exc
            else:
                return

    async def close(self) -> None:
        """Stop the poll thread and flush what is queued (``flush_timeout_s`` at most)."""
        self._stop.set()
        await asyncio.to_thread(self._poller.join)
        remaining = await asyncio.to_thread(self._producer.flush, self._flush_timeout_s)
        if remaining:
            log.error(
                "%d envelopes still queued for %s after the final flush", remaining, self._topic
            )
            self._producer.purge()  # lost either way; close() would wait for them
        log.info("producer flushed: %d delivered, %d failed", self.delivered, self.failed)
        # Drop the broker connections now rather than at garbage collection
        # (Producer.close() exists from confluent-kafka 2.11 on).
        close = getattr(self._producer, "close", None)
        if close is not None:
            await asyncio.to_thread(close)


def _resolve(future: asyncio.Future[KafkaError | None], error: KafkaError | None) -> None:
    if not future.done():  # the waiting station may have gone away
        future.set_result(error)
