"""The OCPP gateway against the real broker: chargers in, one envelope per CALL out."""

from __future__ import annotations

import asyncio
import json
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic
from ocpp.messages import get_validator

from chargewatch.gateway import Gateway, GatewayConfig
from chargewatch.simulator import SimConfig, Simulation, simulate
from chargewatch.simulator.ocpp_driver import DriveResult, Protocol, drive
from schemas.ocpp import OcppEnvelope
from streams.core.ocpp.envelope import decode_envelope

pytestmark = pytest.mark.integration

_FIELDS = {
    "station_id",
    "ocpp_version",
    "message_id",
    "action",
    "received_at",
    "request",
    "response",
    "tenant",
}
_RECEIVED_AT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
_VERSION: dict[Protocol, str] = {"ocpp1.6": "1.6", "ocpp2.0.1": "2.0.1"}
_PREFIX: dict[Protocol, str] = {"ocpp1.6": "V16-", "ocpp2.0.1": "V201-"}


def _create_topic(bootstrap: str, topic: str, partitions: int = 3) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=1)]
    )
    for future in futures.values():
        future.result(timeout=30)


def _consume(bootstrap: str, topic: str, group: str, expected: int) -> list[Any]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    records: list[Any] = []
    deadline = datetime.now(UTC) + timedelta(seconds=60)
    try:
        # Read past the expected count for a moment: a duplicate would show up.
        quiet_until = None
        while datetime.now(UTC) < deadline:
            message = consumer.poll(0.5)
            if message is None:
                if len(records) >= expected:
                    quiet_until = quiet_until or datetime.now(UTC) + timedelta(seconds=2)
                    if datetime.now(UTC) >= quiet_until:
                        break
                continue
            if message.error():
                raise KafkaException(message.error())
            records.append(message)
    finally:
        consumer.close()
    return records


def _sim(protocol: Protocol) -> Simulation:
    start = SimConfig().start + timedelta(hours=6)  # a weekday morning: sessions arrive
    return simulate(
        SimConfig(
            stations=2,
            days=5 / 24,
            seed=21,
            start=start,
            sample_interval_s=300,
            station_prefix=_PREFIX[protocol],
        )
    )


@pytest.mark.parametrize("confirm", [True, False], ids=["confirmed", "flushed-at-stop"])
def test_every_call_arrives_once_as_a_contract_envelope(
    kafka_bootstrap: str, unique: str, confirm: bool
) -> None:
    """``confirm=False`` answers before Kafka acknowledges: then the flush at
    shutdown is what gets the tail of the envelopes out."""
    topic = f"{unique}.ocpp.messages"
    _create_topic(kafka_bootstrap, topic)
    sims = {p: _sim(p) for p in ("ocpp1.6", "ocpp2.0.1")}
    for sim in sims.values():
        assert len(sim.truth) >= 3

    async def scenario() -> dict[Protocol, DriveResult]:
        config = GatewayConfig(
            port=0, bootstrap=kafka_bootstrap, topic=topic, tenant="it", confirm_delivery=confirm
        )
        async with Gateway(config) as gw:
            v16, v201 = await asyncio.gather(
                drive(sims["ocpp1.6"], gw.url, "ocpp1.6", record=True),
                drive(sims["ocpp2.0.1"], gw.url, "ocpp2.0.1", record=True),
            )
            assert gw.counters.store_failures == 0
        return {"ocpp1.6": v16, "ocpp2.0.1": v201}

    started = datetime.now(UTC)
    results = asyncio.run(asyncio.wait_for(scenario(), 300))
    finished = datetime.now(UTC)
    sent = [call for result in results.values() for call in result.sent]
    assert all(call.ok for call in sent)
    assert sum(r.call_errors for r in results.values()) == 0

    records = _consume(kafka_bootstrap, topic, f"{unique}-check", len(sent))
    envelopes = []
    for message in records:
        raw = message.value()
        envelope = json.loads(raw)
        # The contract, three ways: exact fields, the pydantic model, the worker's decoder.
        assert set(envelope) == _FIELDS
        OcppEnvelope.model_validate_json(raw)
        decode_envelope(raw)
        assert message.key() == envelope["station_id"].encode()
        assert _RECEIVED_AT.fullmatch(envelope["received_at"])
        received = datetime.fromisoformat(envelope["received_at"])
        assert started - timedelta(seconds=1) <= received <= finished
        assert envelope["tenant"] == "it"
        envelopes.append((message.partition(), message.offset(), envelope))

    # Every CALL exactly once, with the payload as sent and the answer given.
    sent_by_id = {(c.station_id, c.message_id): c for c in sent}
    got_ids = [(e["station_id"], e["message_id"]) for _, _, e in envelopes]
    assert len(got_ids) == len(set(got_ids)) == len(sent)
    assert set(got_ids) == set(sent_by_id)
    for _, _, envelope in envelopes:
        call = sent_by_id[(envelope["station_id"], envelope["message_id"])]
        protocol: Protocol = "ocpp1.6" if call.station_id.startswith("V16-") else "ocpp2.0.1"
        assert envelope["ocpp_version"] == _VERSION[protocol]
        assert envelope["action"] == call.action
        assert envelope["request"] == call.payload
        assert envelope["response"] is not None
        version = _VERSION[protocol]
        get_validator(2, call.action, version).validate(envelope["request"])
        get_validator(3, call.action, version).validate(envelope["response"])

    # Kafka keeps each station's calls in the order it sent them.
    in_kafka: dict[str, list[str]] = defaultdict(list)
    for _, _, envelope in sorted(envelopes, key=lambda item: (item[0], item[1])):
        in_kafka[envelope["station_id"]].append(envelope["message_id"])
    in_sent: dict[str, list[str]] = defaultdict(list)
    for call in sent:
        in_sent[call.station_id].append(call.message_id)
    assert in_kafka == in_sent

    ordered = [e for _, _, e in sorted(envelopes, key=lambda item: (item[0], item[1]))]
    _check_v16(ordered, results["ocpp1.6"], sims["ocpp1.6"], sent_by_id)
    _check_v201(ordered, sims["ocpp2.0.1"])


def _check_v16(
    envelopes: list[dict[str, Any]], result: DriveResult, sim: Simulation, sent_by_id: Any
) -> None:
    """StartTransaction answers carry the gateway's ids; later calls use them."""
    starts = [e for e in envelopes if e["action"] == "StartTransaction"]
    stops = [e for e in envelopes if e["action"] == "StopTransaction"]
    assert len(starts) == len(stops) == len(sim.truth)
    ids = []
    for envelope in starts:
        session_id = sent_by_id[(envelope["station_id"], envelope["message_id"])].session_id
        tx = envelope["response"]["transactionId"]
        assert isinstance(tx, int)
        assert tx == result.transaction_ids[session_id]
        assert envelope["response"]["idTagInfo"] == {"status": "Accepted"}
        ids.append(tx)
    assert len(set(ids)) == len(ids)
    for envelope in envelopes:
        if envelope["action"] in ("MeterValues", "StopTransaction"):
            session_id = sent_by_id[(envelope["station_id"], envelope["message_id"])].session_id
            assert envelope["request"]["transactionId"] == result.transaction_ids[session_id]


def _check_v201(envelopes: list[dict[str, Any]], sim: Simulation) -> None:
    """seqNo runs 0..n-1 per transaction, Started first and Ended last."""
    per_tx: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for envelope in envelopes:
        if envelope["action"] == "TransactionEvent":
            request = envelope["request"]
            per_tx[request["transactionInfo"]["transactionId"]].append(request)
    assert set(per_tx) == {t.transaction_id for t in sim.truth}
    for requests in per_tx.values():
        assert [r["seqNo"] for r in requests] == list(range(len(requests)))
        assert requests[0]["eventType"] == "Started"
        assert requests[-1]["eventType"] == "Ended"
        assert {r["eventType"] for r in requests[1:-1]} <= {"Updated"}
