"""The yardstick of the throughput target: a minimal Faust agent, run on this machine.

The speed-and-scale issue sets one worker's target as twelve times "a minimal
Faust agent that writes its table on every event" (~4,000 events per
CPU-second where the issue was written). This machine's speed varies by a
factor of three during a day, so the bench runs that agent here, on the same
broker and the same OCPP envelopes, next to the worker: the ratio of the two
holds where absolute figures do not.

The agent is what a first Faust version would be: each envelope decoded as a
``faust.Record``, one table write per message (a changelog message each), on
Faust's defaults - no uvloop, no producer linger, no batch path.

Run by the bench as ``python -m bench.faust_baseline worker``; configured from
the environment: ``BASELINE_APP_ID`` (also the consumer group),
``BASELINE_BROKER`` (``kafka://host:port``), ``BASELINE_TOPIC``,
``BASELINE_PARTITIONS`` and ``BASELINE_DATA_DIR``.
"""

from __future__ import annotations

import os
from typing import Any

import faust

app = faust.App(
    os.environ.get("BASELINE_APP_ID", "chargewatch-faust-baseline"),
    broker=os.environ.get("BASELINE_BROKER", "kafka://127.0.0.1:9092"),
    store="memory://",
    datadir=os.environ.get("BASELINE_DATA_DIR", "/tmp/chargewatch-faust-baseline"),  # noqa: S108
    topic_partitions=int(os.environ.get("BASELINE_PARTITIONS", "8")),
    consumer_auto_offset_reset="earliest",
    web_enabled=False,
)


class Envelope(faust.Record, serializer="json"):
    """An OCPP envelope of ``chargewatch.ocpp``, as a first Faust model would have it."""

    station_id: str
    ocpp_version: str
    message_id: str
    action: str
    received_at: str
    request: dict[str, Any]
    response: dict[str, Any] | None = None


class Last(faust.Record, serializer="json"):
    """What the table keeps per station: its last message and a count."""

    action: str
    received_at: str
    messages: int


envelopes = app.topic(os.environ.get("BASELINE_TOPIC", "chargewatch.ocpp"), value_type=Envelope)
last_seen = app.Table("last-seen", partitions=app.conf.topic_partitions)


@app.agent(envelopes)
async def follow(stream: Any) -> None:
    # The envelopes are keyed by station already: the table is co-partitioned.
    async for envelope in stream:
        before = last_seen.get(envelope.station_id)
        count = before.messages + 1 if before is not None else 1
        last_seen[envelope.station_id] = Last(envelope.action, envelope.received_at, count)


if __name__ == "__main__":
    app.main()
