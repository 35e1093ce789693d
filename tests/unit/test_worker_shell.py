"""The worker shell in memory: what reaches the topics and the changelog table
(the middle test tier - no broker; the real one is in tests/integration)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from chargewatch.settings import WorkerSettings
from streams.core.events import encode_event
from streams.core.ocpp import OcppNormaliser
from streams.worker import SessionWorker
from tests.factories import sample, started, state, stopped
from tests.fixtures.ocpp import scenarios


@dataclass
class FakeTopic:
    sent: list[tuple[bytes | None, bytes]] = field(default_factory=list)

    def send_soon(self, *, key: bytes | None, value: bytes) -> None:
        self.sent.append((key, value))


@dataclass
class FakeTable:
    data: dict[bytes, bytes] = field(default_factory=dict)
    changelog: list[tuple[int, bytes, bytes | None]] = field(default_factory=list)

    def send_changelog(self, partition: int, key: bytes, value: bytes | None, **_: Any) -> None:
        self.changelog.append((partition, key, value))


@dataclass
class Message:
    value: bytes | None
    partition: int = 3
    offset: int = 0
    topic: str = "chargewatch.events"
    key: bytes = b"CP-0001"


def shell(
    table: FakeTable, normaliser: OcppNormaliser | None = None, **cfg: Any
) -> tuple[SessionWorker, FakeTopic, FakeTopic]:
    sessions, dead = FakeTopic(), FakeTopic()
    worker = SessionWorker(
        table=table,
        sessions_topic=sessions,
        deadletter_topic=dead,
        cdrs_topic=FakeTopic(),
        cfg=WorkerSettings(**cfg),
        normaliser=normaliser,
    )
    return worker, sessions, dead


def session() -> list[Any]:
    return [started("w1", 0, meter=0), state("w1", 0, "charging"),
            sample("w1", 600, 2_000), stopped("w1", 1200, meter=4_000)]  # fmt: skip


def test_state_reaches_the_table_only_at_flush_once_per_session() -> None:
    table = FakeTable()
    worker, sessions, _ = shell(table)
    for offset, event in enumerate(session()):
        worker.handle(Message(encode_event(event), offset=offset))
    assert table.changelog == []  # nothing per event
    assert json.loads(sessions.sent[-1][1])["status"] == "completed"
    assert worker.flush() == 2  # the session, and its connector's last stop
    assert [(p, k) for p, k, _ in table.changelog] == [
        (3, b"w1"), (3, b"connector|default|CP-0001|1")
    ]  # fmt: skip
    assert worker.stitcher.get("w1") is None  # closed: out of memory, in the table
    assert worker.flush() == 0


def test_sessions_without_an_accepted_authorisation_are_flagged_and_counted() -> None:
    from streams import metrics
    from tests.factories import authorised

    before = metrics.SESSIONS_UNAUTHORISED._value.get()
    worker, sessions, _ = shell(FakeTable())
    events = [started("u1", 0, meter=0), authorised("u1", 0, result="blocked"),
              stopped("u1", 60, meter=10)]  # fmt: skip
    for event in events:
        worker.handle(Message(encode_event(event)))
    worker.handle(Message(encode_event(stopped("u1", 60, meter=10))))  # redelivered
    assert "not_authorised" in json.loads(sessions.sent[-1][1])["flags"]
    assert metrics.SESSIONS_UNAUTHORISED._value.get() == before + 1


def test_bad_input_goes_to_the_dead_letter_topic_with_its_reason() -> None:
    worker, _, dead = shell(FakeTable())
    worker.handle(Message(b"\xff not json", offset=7))
    [(key, value)] = dead.sent
    letter = json.loads(value)
    assert key == b"CP-0001" and letter["reason"] == "decode_error"
    assert (letter["source_topic"], letter["source_partition"], letter["source_offset"]) == (
        "chargewatch.events", 3, 7
    )  # fmt: skip


def test_a_record_without_a_value_is_dead_lettered_not_a_crash() -> None:
    """A tombstone (null value) on either input topic: a producer's mistake, or
    a compaction marker. It must not stop the partition."""
    worker, _, dead = shell(FakeTable(), scenarios.normaliser(), tenant=scenarios.TENANT)
    worker.handle(Message(None, offset=5))
    values = [scenarios.raw(m) for m in scenarios.messages("v16_session")]
    batch = [Message(v, offset=i, topic="chargewatch.ocpp") for i, v in enumerate(values)]
    batch.insert(2, Message(None, offset=50, topic="chargewatch.ocpp"))
    worker.handle_ocpp_batch(3, batch)
    letters = [json.loads(value) for _, value in dead.sent]
    assert [(d["reason"], d["source_offset"], d["value_b64"]) for d in letters] == [
        ("decode_error", 5, ""), ("bad_json", 50, "")
    ]  # fmt: skip
    assert worker.stitcher.get(next(iter(worker.stitcher)).session_id).closed  # the rest stitched


def test_an_ocpp_batch_stitches_like_one_message_at_a_time_and_rejects_only_the_bad_one() -> None:
    values = [scenarios.raw(m) for m in scenarios.messages("v16_session")]
    bad = b'{"station_id": "CP-T", "ocpp_version": "9.9"}'
    batch = [Message(v, offset=i, topic="chargewatch.ocpp") for i, v in enumerate(values)]
    batch.insert(4, Message(bad, offset=99, topic="chargewatch.ocpp"))

    batched_table, single_table = FakeTable(), FakeTable()
    batched, sessions, dead = shell(batched_table, scenarios.normaliser(), tenant=scenarios.TENANT)
    batched.handle_ocpp_batch(3, batch)
    single, single_sessions, single_dead = shell(
        single_table, scenarios.normaliser(), tenant=scenarios.TENANT
    )
    for message in batch:
        single.handle_ocpp(message)

    assert sessions.sent and sessions.sent == single_sessions.sent
    [(_, letter)] = dead.sent
    [(_, single_letter)] = single_dead.sent
    assert json.loads(letter)["source_offset"] == 99
    assert json.loads(letter)["reason"] == json.loads(single_letter)["reason"] == "envelope_invalid"
    want = scenarios.stitch(scenarios.events_of(scenarios.run("v16_session")))
    [(sid, record)] = want.items()
    final = json.loads(sessions.sent[-1][1])
    assert (final["session_id"], final["status"], final["energy_wh"]) == (
        sid, "completed", record.energy_wh
    )  # fmt: skip
    from streams import metrics

    envelopes = metrics.EVENTS.labels("ocpp_message")
    samples = metrics.EVENTS.labels("meter_sample")
    before = (envelopes._value.get(), samples._value.get())
    assert batched.flush() == single.flush()
    after = (envelopes._value.get(), samples._value.get())
    sampled = sum(m["action"] == "MeterValues" for m in scenarios.messages("v16_session"))
    assert after[0] - before[0] == 2 * len(values)  # both workers, the bad one not counted
    assert after[1] - before[1] >= 2 * sampled
    assert batched_table.changelog == single_table.changelog
    station = scenarios.messages("v16_session")[0]["station_id"]
    keys = {key for partition, key, _ in batched_table.changelog if partition == 3}
    assert {f"station|acme|{station}".encode(), sid.encode()} <= keys
    assert any(key.startswith(f"connector|acme|{station}|".encode()) for key in keys)


def test_a_restarted_worker_corrects_a_closed_session_from_the_table() -> None:
    table = FakeTable()
    worker, _, _ = shell(table)
    for event in session():
        worker.handle(Message(encode_event(event)))
    worker.flush()
    again, sessions, _ = shell(table)  # a new process, same table
    again.handle(Message(encode_event(state("w1", 900, "suspended_ev"))))
    record = json.loads(sessions.sent[-1][1])
    assert record["correction"] is True and record["version"] > 1
    assert (record["charging_s"], record["idle_s"]) == (900, 300)


def test_closed_sessions_leave_the_table_after_the_retention() -> None:
    table = FakeTable()
    worker, _, _ = shell(table, closed_retention_s=3600)
    for event in session():
        worker.handle(Message(encode_event(event)))
    worker.flush()
    worker.handle(Message(encode_event(started("w2", 1200 + 3000, meter=4_000))))
    worker.tick(now_ms=0)  # watermark 50 min after the stop: kept
    assert b"w1" in table.data
    worker.handle(Message(encode_event(sample("w2", 1200 + 3700, 4_100))))
    worker.tick(now_ms=0)  # watermark past the retention: a tombstone
    assert b"w1" not in table.data
    assert (3, b"w1", None) in table.changelog


def test_an_unreadable_stored_state_is_counted_and_the_session_rebuilt() -> None:
    from streams import metrics

    table = FakeTable()
    table.data[b"w1"] = b"\x93\x01\x02\x03"  # a state in a format this version cannot read
    worker, sessions, _ = shell(table)
    before = metrics.STATE_UNREADABLE._value.get()
    for event in session():
        worker.handle(Message(encode_event(event)))
    worker.flush()
    assert metrics.STATE_UNREADABLE._value.get() == before + 1
    final = json.loads(sessions.sent[-1][1])
    assert (final["session_id"], final["status"], final["energy_wh"]) == ("w1", "completed", 4000)
    assert table.data[b"w1"] != b"\x93\x01\x02\x03"  # replaced by a readable state


class _Store(dict[bytes, bytes]):
    """Faust's memory store remembers each key's partition."""

    def __init__(self) -> None:
        super().__init__()
        self._key_partition: dict[bytes, int] = {}


def test_adoption_skips_unreadable_states_and_adopts_the_others() -> None:
    source = FakeTable()
    writer, _, _ = shell(source)
    for event in session()[:3]:  # w1 stays open
        writer.handle(Message(encode_event(event), partition=0))
    writer.flush()
    table = FakeTable(data=_Store())
    table.data[b"w1"] = source.data[b"w1"]
    table.data[b"old"] = b"not msgpack at all"
    table.data._key_partition.update({b"w1": 0, b"old": 0})  # type: ignore[attr-defined]
    worker, _, _ = shell(table)
    assert worker.adopt_open_sessions({0}) == 1
    assert b"old" not in table.data
