"""Send a simulation's events to Kafka, optionally paced to simulated time.

Key = station id, so all events of a station (and so of a session) land on
one partition in order. The producer is idempotent with ``acks=all``, so a
retry inside librdkafka never duplicates or reorders a partition's events.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from chargewatch.errors import BrokerError
from chargewatch.simulator.model import Simulation
from streams.core.events import encode_event

__all__ = ["produce"]

_POLL_EVERY = 1_000  # serve delivery callbacks this often (events)
_PROGRESS_EVERY = 5_000
_MAX_SLEEP_S = 0.05  # pacing sleeps in chunks this small, polling in between
_FLUSH_TIMEOUT_S = 60.0


class _Deliveries:
    """Counts failed deliveries (the callback runs inside poll/flush)."""

    def __init__(self) -> None:
        self.failed = 0
        self.first_error: str | None = None

    def __call__(self, error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            self.failed += 1
            if self.first_error is None:
                self.first_error = str(error)


def produce(
    sim: Simulation,
    *,
    bootstrap: str,
    topic: str,
    speed: float | None,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Produce every event of ``sim`` to ``topic``; return how many were produced.

    ``speed`` is simulated seconds per wall second (``3600`` = an hour a
    second); ``None`` sends as fast as the broker takes them. ``progress`` is
    called with (produced, total) now and then and at the end.

    Raises ``BrokerError`` when the producer cannot be created or any event was
    not delivered by the end of the final flush.
    """
    if speed is not None and not speed > 0:
        raise ValueError("speed must be positive (or None for as fast as possible)")
    config = {
        "bootstrap.servers": bootstrap,
        "linger.ms": 20,
        "compression.type": "lz4",
        "acks": "all",
        "enable.idempotence": True,
    }
    try:
        producer = Producer(config)
    except KafkaException as exc:
        raise BrokerError(f"cannot create a Kafka producer for {bootstrap}: {exc}") from exc

    deliveries = _Deliveries()
    total = len(sim.events)
    first_ts = sim.events[0].ts if sim.events else None
    wall_start = time.monotonic()
    for done, event in enumerate(sim.events):
        if speed is not None and first_ts is not None:
            due = wall_start + (event.ts - first_ts).total_seconds() / speed
            _wait_until(producer, due)
        _send(producer, topic, event.station_id.encode(), encode_event(event), deliveries)
        if done % _POLL_EVERY == 0:
            producer.poll(0)
        if progress is not None and done % _PROGRESS_EVERY == 0 and done:
            progress(done, total)

    try:
        remaining = producer.flush(_FLUSH_TIMEOUT_S)
    except KafkaException as exc:
        raise BrokerError(f"flushing to {topic} failed: {exc}") from exc
    if remaining or deliveries.failed:
        raise BrokerError(
            f"{deliveries.failed + remaining} of {total} events were not delivered to {topic} "
            f"at {bootstrap} ({deliveries.failed} failed, {remaining} still queued after the "
            f"final flush); first error: {deliveries.first_error}"
        )
    if progress is not None:
        progress(total, total)
    return total


def _wait_until(producer: Producer, due: float) -> None:
    # Sleep in small chunks through poll(): delivery callbacks keep being
    # served and a long gap in simulated time stays interruptible.
    while (left := due - time.monotonic()) > 0:
        producer.poll(min(left, _MAX_SLEEP_S))


def _send(
    producer: Producer, topic: str, key: bytes, value: bytes, deliveries: _Deliveries
) -> None:
    while True:
        try:
            producer.produce(topic, value=value, key=key, on_delivery=deliveries)
        except BufferError:
            # Local queue full: let librdkafka drain it, then retry this event.
            producer.poll(0.1)
        except KafkaException as exc:
            raise BrokerError(f"producing to {topic} failed: {exc}") from exc
        else:
            return
