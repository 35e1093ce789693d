"""Topic creation and consumer-lag checks, with confluent-kafka's admin client."""

from __future__ import annotations

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from chargewatch.errors import BrokerError
from chargewatch.settings import KafkaSettings

__all__ = ["consumer_lag", "ensure_topics", "partition_lags", "topic_specs"]


def topic_specs(cfg: KafkaSettings) -> dict[str, dict[str, str]]:
    """Topics chargewatch owns, with their configuration.

    Events are keyed by station and sessions by session id; both get
    ``cfg.partitions`` partitions (the worker's table is co-partitioned with the
    events topic, so that number fixes the worker parallelism).
    """
    return {
        cfg.events_topic: {"retention.ms": str(7 * 24 * 3600 * 1000), "compression.type": "lz4"},
        cfg.sessions_topic: {"retention.ms": str(7 * 24 * 3600 * 1000), "compression.type": "lz4"},
        cfg.deadletter_topic: {"retention.ms": str(30 * 24 * 3600 * 1000)},
        cfg.cdrs_topic: {"retention.ms": str(30 * 24 * 3600 * 1000), "compression.type": "lz4"},
        cfg.ocpp_topic: {"retention.ms": str(7 * 24 * 3600 * 1000), "compression.type": "lz4"},
        # Compacted: the latest value per key is kept forever (tariff versions,
        # assignments and station metadata are keyed so that none shadows another).
        cfg.tariffs_topic: {"cleanup.policy": "compact"},
    }


def ensure_topics(cfg: KafkaSettings, timeout: float = 30.0) -> list[str]:
    """Create missing topics; return the names created."""
    admin = AdminClient({"bootstrap.servers": cfg.bootstrap})
    try:
        existing = set(admin.list_topics(timeout=timeout).topics)
    except KafkaException as exc:
        raise BrokerError(f"cannot reach Kafka at {cfg.bootstrap}: {exc}") from exc
    wanted = [
        NewTopic(name, num_partitions=1 if name == cfg.tariffs_topic else cfg.partitions,
                 replication_factor=cfg.replication_factor, config=config)
        for name, config in topic_specs(cfg).items()
        if name not in existing
    ]  # fmt: skip
    if not wanted:
        return []
    for name, future in admin.create_topics(wanted, operation_timeout=timeout).items():
        try:
            future.result()
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise BrokerError(f"cannot create topic {name}: {exc}") from exc
    return [t.topic for t in wanted]


def consumer_lag(bootstrap: str, group: str, topic: str, timeout: float = 10.0) -> int:
    """Messages in ``topic`` not yet committed by consumer group ``group``."""
    return sum(partition_lags(bootstrap, group, topic, timeout).values())


def partition_lags(bootstrap: str, group: str, topic: str, timeout: float = 10.0) -> dict[int, int]:
    """Per partition of ``topic``: messages not yet committed by ``group``."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "enable.auto.commit": False})  # fmt: skip
    try:
        meta = consumer.list_topics(topic, timeout=timeout)
        partitions = meta.topics[topic].partitions
        tps = [TopicPartition(topic, p) for p in partitions]
        committed = consumer.committed(tps, timeout=timeout)
        lags: dict[int, int] = {}
        for tp in committed:
            _, high = consumer.get_watermark_offsets(tp, timeout=timeout)
            lags[tp.partition] = high - max(tp.offset, 0)
        return lags
    except KafkaException as exc:
        raise BrokerError(f"cannot read lag of {group} on {topic}: {exc}") from exc
    finally:
        consumer.close()
