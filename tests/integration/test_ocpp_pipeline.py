"""OCPP in, on the real broker: simulated chargers drive the gateway over
WebSocket; the worker's sessions equal the simulator's ground truth; bad
envelopes reach the dead-letter topic; the raw archive rebuilds the same sessions."""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import replace
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer

from chargewatch.gateway import Gateway
from chargewatch.replay import replay_lines
from chargewatch.services import gateway_config
from chargewatch.simulator import SimConfig, simulate
from chargewatch.simulator.ocpp_driver import drive
from sinks.clickhouse import connect
from sinks.raw import read_raw
from streams.ocpp_ingest import normaliser_for
from tests.factories import truth_rows
from tests.integration.harness import Pipeline

pytestmark = pytest.mark.integration

COMPARED = (
    "station_id, connector_id, toUnixTimestamp(started_at), duration_s, charging_s, idle_s, "
    "energy_wh"
)


async def _drive_through_gateway(pipeline: Pipeline, sims: dict[str, Any]) -> None:
    config = replace(gateway_config(pipeline.settings()), port=0)
    async with Gateway(config) as gw:
        results = await asyncio.gather(*(drive(sim, gw.url, protocol)
                                         for protocol, sim in sims.items()))  # fmt: skip
    for result in results:
        assert result.call_errors == 0, result


def test_chargers_through_the_gateway_give_the_ground_truth_sessions(pipeline: Pipeline) -> None:
    # Two fleets, one per protocol, on disjoint station ids.
    sims = {
        "ocpp1.6": simulate(replace(SimConfig(), stations=3, days=1.0, seed=41)),
        "ocpp2.0.1": simulate(
            replace(SimConfig(), stations=3, days=1.0, seed=43, station_prefix="CQ-")
        ),
    }
    pipeline.start("worker")
    pipeline.start("sink")
    asyncio.run(_drive_through_gateway(pipeline, sims))
    pipeline.wait()
    pipeline.stop_all()

    for protocol, sim in sims.items():
        prefix = sim.truth[0].station_id[:3]
        rows = pipeline.query(
            f"SELECT {COMPARED} FROM chargewatch.sessions FINAL "
            f"WHERE startsWith(station_id, '{prefix}') AND status = 'completed'"
        )
        assert len(rows) == len(sim.truth), protocol
        assert set(rows) == truth_rows(sim.truth), protocol
    # every session pseudonymised, never a raw token
    hashes = pipeline.query("SELECT DISTINCT token_hash FROM chargewatch.sessions FINAL")
    assert hashes and all(h and h.startswith("k1:") for (h,) in hashes)

    # The raw archive rebuilds exactly the live sessions, and a file replays the same twice.
    settings = pipeline.settings()
    client = connect(settings.clickhouse)
    try:
        envelopes = list(read_raw(client, "chargewatch"))
        live = {
            row[0]: row[1:]
            for row in client.query(
                "SELECT session_id, energy_wh, duration_s, charging_s, idle_s, status "
                "FROM chargewatch.sessions FINAL"
            ).result_rows
        }
    finally:
        client.close()
    normaliser = normaliser_for(settings.privacy)
    from_raw = replay_lines(envelopes, normaliser=normaliser, fmt="ocpp")
    assert from_raw.rejected == []
    rebuilt = {r.session_id: (r.energy_wh, r.duration_s, r.charging_s, r.idle_s, r.status)
               for r in from_raw.sessions}  # fmt: skip
    assert rebuilt == live
    log = pipeline.root / "ocpp.jsonl"
    log.write_bytes(b"".join(e + b"\n" for e in envelopes))
    first = replay_lines(log.read_bytes().splitlines(), normaliser=normaliser_for(settings.privacy))
    again = replay_lines(log.read_bytes().splitlines(), normaliser=normaliser_for(settings.privacy))
    assert first.sessions == again.sessions == from_raw.sessions


def test_bad_envelopes_go_to_the_dead_letter_topic_with_their_reason(pipeline: Pipeline) -> None:
    good = {
        "station_id": "CP-1", "ocpp_version": "1.6", "message_id": "m1", "action": "Heartbeat",
        "received_at": "2026-05-04T08:00:00.000Z", "request": {}, "response": {"currentTime":
        "2026-05-04T08:00:00.000Z"},
    }  # fmt: skip
    bad = {
        b"not json at all": "bad_json",
        json.dumps({**good, "ocpp_version": "9.9"}).encode(): "unknown_version",
        json.dumps(
            {**good, "action": "StartTransaction", "request": {"connectorId": "x"}}
        ).encode(): "schema_invalid",
        json.dumps({"station_id": "CP-1"}).encode(): "envelope_invalid",
    }
    producer = Producer({"bootstrap.servers": pipeline.bootstrap, "enable.idempotence": True})
    topic = f"{pipeline.name}.ocpp"
    for value in [*bad, json.dumps(good).encode()]:
        producer.produce(topic, key=b"CP-1", value=value)
    producer.flush(10)
    del producer  # librdkafka would keep reconnecting after the broker stops
    pipeline.start("worker")
    pipeline.start("sink")  # the raw archive keeps even what the worker rejects
    pipeline.wait()
    pipeline.stop_all()

    consumer = Consumer({"bootstrap.servers": pipeline.bootstrap, "group.id": "dlq-check",
                         "auto.offset.reset": "earliest"})  # fmt: skip
    consumer.subscribe([f"{pipeline.name}.deadletter"])
    letters = []
    for _ in range(30):
        letters += [m for m in consumer.consume(10, timeout=1.0) if not m.error()]
        if len(letters) >= len(bad):
            break
    consumer.close()
    got = {}
    for message in letters:
        record = json.loads(message.value())
        assert record["source_topic"] == topic and record["source_offset"] >= 0
        got[base64.b64decode(record["value_b64"])] = record["reason"]
    assert got == bad  # every bad input, with its reason; the good one is not there
    (archived,) = pipeline.query("SELECT count() FROM chargewatch.ocpp_raw FINAL")[0]
    assert archived == len(bad) + 1
