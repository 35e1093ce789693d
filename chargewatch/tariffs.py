"""``chargewatch tariffs apply|list``: tariff management on the compacted tariffs topic.

``apply FILE`` takes an OCPI 2.2.1 Tariff object, a list of them, or::

    {"tariffs": [...],
     "assignments": [{"tariff_id": "T1"},                                  # default
                     {"tariff_id": "T2", "station_id": "CP-0001"},         # a station
                     {"tariff_id": "T3", "station_id": "CP-0001", "connector_id": 2}],
     "stations": [{"station_id": "CP-0001", "time_zone": "Europe/Paris"}]}

Every tariff is validated before anything is published; versions are keyed by
``last_updated``, so publishing a new version never overwrites an old one that
running sessions may still be priced under.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from pydantic import ValidationError

from chargewatch.errors import BrokerError, InputError
from chargewatch.settings import KafkaSettings
from schemas.tariff import Tariff, load_ocpi_json, read_tariff
from streams.core.tariff_book import TariffBook, tariff_key

__all__ = ["TariffFileError", "load_book", "parse_tariff_file", "publish"]


class TariffFileError(InputError):
    """The tariff file is not valid OCPI 2.2.1 (or its assignments are wrong)."""

    reason = "invalid_tariff"


def parse_tariff_file(raw: bytes) -> list[tuple[str, bytes | None]]:
    """Validate a tariff file; return the (key, value) records to publish."""
    try:
        data: Any = load_ocpi_json(raw)
    except ValueError as exc:
        raise TariffFileError(f"not JSON: {exc}") from exc
    if isinstance(data, dict) and "tariffs" in data:
        tariffs_raw, assignments, stations = (
            data["tariffs"], data.get("assignments", []), data.get("stations", [])
        )  # fmt: skip
    else:
        tariffs_raw, assignments, stations = (data if isinstance(data, list) else [data]), [], []
    records: list[tuple[str, bytes | None]] = []
    tariffs: list[Tariff] = []
    for n, item in enumerate(tariffs_raw):
        try:
            tariffs.append(read_tariff(item))
        except (ValidationError, ValueError) as exc:
            raise TariffFileError(f"tariff #{n}: {exc}") from exc
    for tariff in tariffs:
        records.append((tariff_key(tariff), tariff.model_dump_json(exclude_none=True).encode()))
    for a in assignments:
        if "tariff_id" not in a:
            raise TariffFileError(f"assignment without tariff_id: {a}")
        scope = "default"
        if "station_id" in a:
            scope = str(a["station_id"])
            if a.get("connector_id") is not None:
                scope += f"|{int(a['connector_id'])}"
        records.append((f"assign|{scope}", orjson.dumps({"tariff_id": a["tariff_id"]})))
    for s in stations:
        try:
            ZoneInfo(str(s["time_zone"]))
        except (KeyError, ZoneInfoNotFoundError, ValueError) as exc:
            raise TariffFileError(f"station {s.get('station_id')}: bad time_zone") from exc
        records.append((f"station|{s['station_id']}", orjson.dumps({"time_zone": s["time_zone"]})))
    return records


def publish(cfg: KafkaSettings, records: list[tuple[str, bytes | None]]) -> int:
    producer = Producer({"bootstrap.servers": cfg.bootstrap, "enable.idempotence": True})
    failures: list[str] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            failures.append(str(err))

    for key, value in records:
        producer.produce(cfg.tariffs_topic, key=key.encode(), value=value, on_delivery=delivered)
    if producer.flush(30):
        raise BrokerError(f"tariff records not confirmed by {cfg.bootstrap} within 30 s")
    if failures:
        raise BrokerError(f"{len(failures)} tariff records not published: {failures[0]}")
    return len(records)


def load_book(cfg: KafkaSettings, default_time_zone: str, timeout: float = 10.0) -> TariffBook:
    """Read the whole tariffs topic into a book (what ``list`` and the worker do)."""
    book = TariffBook(default_time_zone=default_time_zone)
    consumer = Consumer(
        {
            "bootstrap.servers": cfg.bootstrap,
            "group.id": "chargewatch-tariffs-reader",  # never commits: reads from the start
            "enable.auto.commit": False,
        }
    )
    try:
        meta = consumer.list_topics(cfg.tariffs_topic, timeout=timeout)
        partitions = sorted(meta.topics[cfg.tariffs_topic].partitions)
        ends = {}
        for p in partitions:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(cfg.tariffs_topic, p), timeout
            )
            if high > low:
                ends[p] = high
        consumer.assign([TopicPartition(cfg.tariffs_topic, p, 0) for p in partitions])
        while ends:
            for message in consumer.consume(500, timeout=1.0):
                key, offset, partition = message.key(), message.offset(), message.partition()
                if message.error() or key is None or offset is None or partition is None:
                    continue
                book.apply(key.decode(), message.value())
                if offset + 1 >= ends.get(partition, 0):
                    ends.pop(partition, None)
    except KafkaException as exc:
        raise BrokerError(f"cannot read {cfg.tariffs_topic}: {exc}") from exc
    finally:
        consumer.close()
    return book


def apply_file(cfg: KafkaSettings, path: Path) -> int:
    return publish(cfg, parse_tariff_file(path.read_bytes()))
