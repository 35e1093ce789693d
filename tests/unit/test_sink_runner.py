"""The sink loop's cadences and commits (``sinks.runner``), on real ClickHouse
(chDB), with the Kafka consumer scripted: what is committed is what was written."""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import KafkaException, TopicPartition

from chargewatch.settings import Settings, SinkSettings
from sinks.runner import SessionSink
from streams.core import Stitcher
from streams.core.record import encode_record
from tests.unit.test_stitching import normal_session

DB = "chargewatch"
REVOKE = "revoke"


class _Message:
    def __init__(self, topic: str, partition: int, offset: int, value: bytes) -> None:
        self._coordinates = (topic, partition, offset)
        self._value = value

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return self._coordinates[0]

    def partition(self) -> int:
        return self._coordinates[1]

    def offset(self) -> int:
        return self._coordinates[2]

    def key(self) -> bytes:
        return b"k"

    def value(self) -> bytes:
        return self._value


class _DeadLetters:
    """The dead-letter producer: what was produced, and what was flushed when."""

    def __init__(self) -> None:
        self.produced: list[str] = []
        self.flushed_with: list[int] = []  # how many were produced at each flush

    def produce(self, topic: str, key: bytes | None, value: bytes) -> None:
        self.produced.append(topic)

    def flush(self, timeout: float) -> int:
        self.flushed_with.append(len(self.produced))
        return 0


class _Consumer:
    """Hands out one scripted batch per ``consume``; records commits and the rows
    in ClickHouse at the moment of each commit."""

    def __init__(self, batches: list[Any], client: Any, sink: list[Any]) -> None:
        self.batches = batches
        self.client = client
        self.sink = sink
        self.commits: list[tuple[dict[tuple[str, int], int], int, int]] = []
        self.assigned: set[tuple[str, int]] = set()
        self.failing = False  # commits fail (the partitions were lost)
        self.timeouts: list[float] = []  # of each consume
        self.polls: list[float] = []  # timeouts of the polls

    def subscribe(self, topics: list[str], on_revoke: Any = None) -> None:
        self.on_revoke = on_revoke

    def consume(self, num_messages: int, timeout: float) -> list[_Message]:
        self.timeouts.append(timeout)
        time.sleep(0.01)  # past a 1 ms flush interval, as a real poll would be
        if not self.batches:
            self.sink[0].stop()
            return []
        batch = self.batches.pop(0)
        if batch == REVOKE:  # a rebalance takes this sink's partitions
            self.on_revoke(self, [TopicPartition(t, p) for t, p in self.assigned])
            return []
        self.assigned.update((m.topic(), m.partition()) for m in batch)
        return batch  # type: ignore[no-any-return]

    def poll(self, timeout: float) -> None:
        """Nothing arrives while the sink waits (the next batch is there at the next
        ``consume``)."""
        self.polls.append(timeout)

    def commit(self, offsets: list[Any], asynchronous: bool) -> None:
        def count(table: str) -> int:
            return int(self.client.query(f"SELECT count() FROM {DB}.{table}").result_rows[0][0])

        got = {(tp.topic, tp.partition): tp.offset for tp in offsets}
        self.commits.append((got, count("sessions"), count("ocpp_raw")))
        if self.failing:
            raise KafkaException("ILLEGAL_GENERATION")

    def close(self) -> None:
        return None


def _sink(client: Any, batches: list[Any], **sink: Any) -> tuple[SessionSink, _Consumer]:
    settings = Settings(sink=SinkSettings(metrics_port=0, **sink))
    runner = SessionSink(settings, client=client)
    runner._consumer.close()  # the real one never connects here
    runner._deadletters = _DeadLetters()  # type: ignore[assignment]
    consumer = _Consumer(batches, client, [runner])
    runner._consumer = consumer
    return runner, consumer


def _records() -> list[bytes]:
    stitcher = Stitcher(update_interval_s=600)
    return [encode_record(r) for e in normal_session("s1") if (r := stitcher.apply(e)) is not None]


def _two_reads(first_raw_offset: int, raw: tuple[bytes, bytes]) -> tuple[str, str, list[Any]]:
    """(sessions topic, OCPP topic, two reads): each read is one session record
    (partition 0, offsets 0 and 1) and one envelope for the archive (partition 3,
    from ``first_raw_offset``)."""
    settings = Settings()
    sessions, ocpp = settings.kafka.sessions_topic, settings.kafka.ocpp_topic
    records = _records()
    batches = [[_Message(sessions, 0, i, records[i]),
                _Message(ocpp, 3, first_raw_offset + i, raw[i])] for i in range(2)]  # fmt: skip
    return sessions, ocpp, batches


def test_session_rows_are_written_and_committed_before_the_archive(client: Any) -> None:
    sessions, ocpp, batches = _two_reads(41, (b'{"action":"x"}', b"not json"))
    runner, consumer = _sink(client, batches, batch_seconds=0.001, raw_batch_seconds=3600)
    runner.run()
    # While running, only the session rows were due: their offsets were committed
    # with both rows in ClickHouse, and the archive's were not.
    first, second = consumer.commits[0], consumer.commits[1]
    assert first == ({(sessions, 0): 1}, 1, 0)
    assert second == ({(sessions, 0): 2}, 2, 0)
    # At the stop everything is written, then the archive's offsets committed.
    assert consumer.commits[-1] == ({(ocpp, 3): 43}, 2, 2)
    assert all((ocpp, 3) not in got for got, _, _ in consumer.commits[:-1])


def test_a_record_that_cannot_be_decoded_is_committed_after_its_dead_letter(client: Any) -> None:
    settings = Settings()
    sessions = settings.kafka.sessions_topic
    runner, consumer = _sink(client, [[_Message(sessions, 2, 7, b"\x00 garbage")]],
                             batch_seconds=0.001)  # fmt: skip
    dead_letters = runner._deadletters
    runner.run()
    assert dead_letters.produced == [settings.kafka.deadletter_topic]  # type: ignore[attr-defined]
    assert dead_letters.flushed_with[0] == 1  # type: ignore[attr-defined]  # before the commit
    assert consumer.commits[0] == ({(sessions, 2): 8}, 0, 0)


def _revoked_after_one_record(client: Any) -> tuple[str, SessionSink, _Consumer]:
    """A sink that inserts one session record at once, reads a second one (not due
    for another hour), then loses its partitions."""
    sessions = Settings().kafka.sessions_topic
    records = _records()
    batches = [[_Message(sessions, 1, 4, records[0])], [_Message(sessions, 1, 5, records[1])],
               REVOKE]  # fmt: skip
    runner, consumer = _sink(client, batches, batch_seconds=3600, raw_batch_seconds=3600)
    return sessions, runner, consumer


def test_revoked_partitions_are_written_and_committed_first(client: Any) -> None:
    sessions, runner, consumer = _revoked_after_one_record(client)
    runner.run()
    # the first at once; the second at the revocation, not later
    assert consumer.commits == [({(sessions, 1): 5}, 1, 0), ({(sessions, 1): 6}, 2, 0)]


def test_offsets_of_lost_partitions_are_never_committed_later(client: Any) -> None:
    _, runner, consumer = _revoked_after_one_record(client)
    consumer.failing = True  # the group moved on: this member's commits are refused
    runner.run()
    attempts = len(consumer.commits)
    assert attempts == 2  # tried with the first insert and at the revocation ...
    runner._flush()
    assert len(consumer.commits) == attempts  # ... and never again


def test_the_sink_fetches_in_the_configured_sizes_and_librdkafka_accepts_them() -> None:
    from confluent_kafka import Consumer

    from sinks.runner import consumer_config

    settings = Settings(sink=SinkSettings(fetch_min_bytes=12_345, fetch_max_wait_ms=77))
    config = consumer_config(settings)
    assert (config["fetch.min.bytes"], config["fetch.wait.max.ms"]) == (12_345, 77)
    assert config["enable.auto.commit"] is False  # offsets follow the rows, never a timer
    Consumer(config).close()  # an unknown key or a value out of range raises here


def test_session_rows_go_in_at_once_then_at_most_once_per_batch_seconds(client: Any) -> None:
    """Leading edge: the first rows are inserted in the round they are read; rows read
    within ``batch_seconds`` of an insert wait for it (one MergeTree part each time)."""
    sessions = Settings().kafka.sessions_topic
    records = _records()
    batches = [[_Message(sessions, 0, 0, records[0])], [_Message(sessions, 0, 1, records[1])]]
    runner, consumer = _sink(client, batches, batch_seconds=3600, raw_batch_seconds=3600)
    runner.run()
    assert consumer.commits[0] == ({(sessions, 0): 1}, 1, 0)  # read, inserted, committed
    assert consumer.commits[1] == ({(sessions, 0): 2}, 2, 0)  # only at the stop
    assert len(consumer.commits) == 2


def test_the_sink_never_waits_on_records_already_fetched(client: Any) -> None:
    """``consume`` waits its whole timeout even with records queued (librdkafka's batch
    read): the sink calls it without a timeout, and waits only in ``poll``, which
    returns at the first record, when nothing was there."""
    ocpp = Settings().kafka.ocpp_topic
    batches = [[_Message(ocpp, 0, 0, b"{}")], [], [_Message(ocpp, 0, 1, b"{}")]]
    runner, consumer = _sink(client, batches, raw_batch_seconds=3600)
    runner.run()
    assert consumer.timeouts and set(consumer.timeouts) == {0}
    # after the empty read, and after the last read (the script ends: the sink stops)
    assert len(consumer.polls) == 2 and all(0 < t <= 0.1 for t in consumer.polls)


def test_the_archive_goes_in_after_session_rows_never_while_they_wait(client: Any) -> None:
    """The archive's insert is the long one: it follows an insert of session rows
    (the next cannot go in before batch_seconds anyway), and is put off while
    session rows wait for their turn."""
    sessions, ocpp, batches = _two_reads(1, (b'{"action":"x"}', b'{"action":"y"}'))
    runner, consumer = _sink(client, batches, batch_seconds=3600, raw_batch_seconds=0.001)
    runner.run()
    assert consumer.commits == [
        ({(sessions, 0): 1}, 1, 0),  # the first rows at once
        ({(ocpp, 3): 2}, 1, 1),  # the archive right after them
        ({(sessions, 0): 2}, 2, 1),  # the second archive row waited with the rows: the stop
        ({(ocpp, 3): 3}, 2, 2),
    ]
