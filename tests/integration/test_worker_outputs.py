"""The worker's librdkafka outputs (``streams.outputs``) on the real broker."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from aiokafka.partitioner import murmur2
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from chargewatch.errors import BrokerError
from streams.outputs import Outputs

pytestmark = pytest.mark.integration

PARTITIONS = 8


def _create(bootstrap: str, *names: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(n, PARTITIONS, 1) for n in names])
    for future in futures.values():
        future.result(30)


def _read_all(bootstrap: str, topic: str, expected: int) -> list[tuple[int, bytes, bytes | None]]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": topic + "-check",
                         "enable.auto.commit": False})  # fmt: skip
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    got: list[tuple[int, bytes, bytes | None]] = []
    try:
        for _ in range(200):
            if len(got) >= expected:
                break
            for message in consumer.consume(1000, timeout=0.2):
                assert message.error() is None
                got.append((message.partition(), message.key(), message.value()))
    finally:
        consumer.close()
    return got


def test_records_land_where_every_kafka_client_puts_their_key_and_are_acknowledged_at_flush(
    kafka_bootstrap: str, unique: str
) -> None:
    topic = f"{unique}.sessions"
    _create(kafka_bootstrap, topic)
    outputs = Outputs(kafka_bootstrap)
    sessions = outputs.topic(topic)
    keys = [f"session-{i}".encode() for i in range(200)]
    for key in keys:
        sessions.send_soon(key=key, value=b"v-" + key)
    assert outputs.flush() > 0  # they were still queued: flush waited for them
    got = _read_all(kafka_bootstrap, topic, len(keys))
    assert sorted(k for _, k, _ in got) == sorted(keys)  # each once
    for partition, key, value in got:
        # The Java clients' murmur2 (aiokafka's too): a session's records stay in
        # the partition any other producer of that key would use.
        assert partition == (murmur2(key) & 0x7FFFFFFF) % PARTITIONS
        assert value == b"v-" + key
    assert outputs.flush() == 0


def test_changelog_writes_go_to_the_partition_given_and_tombstones_stay_tombstones(
    kafka_bootstrap: str, unique: str
) -> None:
    changelog = f"{unique}-sessions-changelog"
    _create(kafka_bootstrap, changelog)
    table = SimpleNamespace(
        data={}, changelog_topic=SimpleNamespace(get_topic_name=lambda: changelog)
    )
    outputs = Outputs(kafka_bootstrap)
    writer = outputs.changelog(table)
    assert writer.data is table.data
    writer.send_changelog(5, b"a", b"state-a")
    writer.send_changelog(2, b"b", None, value_serializer="raw")
    outputs.flush()
    assert sorted(_read_all(kafka_bootstrap, changelog, 2)) == [
        (2, b"b", None),
        (5, b"a", b"state-a"),
    ]


def test_a_flush_that_cannot_reach_the_broker_refuses_the_commit() -> None:
    # Nothing listens on port 1: the message can never be acknowledged.
    outputs = Outputs("127.0.0.1:1", flush_timeout_s=0.5)
    outputs.topic("t").send_soon(key=b"k", value=b"v")
    with pytest.raises(BrokerError, match="offsets are not committed"):
        outputs.flush()
