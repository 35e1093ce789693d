"""The raw OCPP archive on real chDB: every value is kept as received, whatever it is."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sinks.clickhouse import migrate
from sinks.raw import RawBatch, read_raw
from tests.fixtures.ocpp.scenarios import envelope
from tests.unit.conftest import DB

COLUMNS = "kafka_offset, station_id, tenant, ocpp_version, action, message_id, received_at"


def archive(client: Any, values: list[tuple[bytes | None, bytes]]) -> list[tuple[Any, ...]]:
    migrate(client, DB)
    batch = RawBatch()
    for offset, (key, value) in enumerate(values):
        batch.add("chargewatch.ocpp", 2, offset, key, value)
    assert batch.insert(client, DB) == len(values) and len(batch) == 0
    result = client.query(f"SELECT {COLUMNS} FROM {DB}.ocpp_raw FINAL ORDER BY kafka_offset")
    return [tuple(row) for row in result.result_rows]


def test_envelopes_are_archived_byte_for_byte_with_their_fields(client: Any) -> None:
    values = [
        envelope("Heartbeat", {}, {"currentTime": "2026-05-01T08:00:00Z"}, message_id="m1"),
        # spacing and escapes as the gateway wrote them; a tenant; a +02:00 time
        b'{ "station_id" : "CP-\\u00e9", "tenant": "acme", "ocpp_version": "2.0.1", '
        b'"action": "Heartbeat", "message_id": "m2", "received_at": '
        b'"2026-05-01T10:00:00.250+02:00", "request": {}}',
    ]
    rows = archive(client, [(b"CP-T", v) for v in values])

    assert list(read_raw(client, DB)) == values
    assert [row[1:6] for row in rows] == [
        ("CP-T", "", "1.6", "Heartbeat", "m1"),
        ("CP-é", "acme", "2.0.1", "Heartbeat", "m2"),
    ]
    assert [row[6].replace(tzinfo=UTC) for row in rows] == [
        datetime(2026, 5, 1, 8, 0, tzinfo=UTC),
        datetime(2026, 5, 1, 8, 0, 0, 250_000, tzinfo=UTC),
    ]


def test_values_that_are_not_envelopes_are_archived_too(client: Any) -> None:
    values: list[tuple[bytes | None, bytes]] = [
        (b"CP-KEY", b"not json at all"),
        (None, b"[1, 2]"),
        (b"CP-KEY", b'{"station_id": 42, "action": ["x"], "received_at": "yesterday"}'),
        (b"CP-KEY", b'{"station_id": "CP-\xff", "message_id": "m"}'),  # not UTF-8
    ]
    rows = archive(client, values)

    epoch = datetime(1970, 1, 1, tzinfo=UTC).replace(tzinfo=None)  # as chDB returns it
    assert rows == [
        (0, "CP-KEY", "", "", "", "", epoch),
        (1, "", "", "", "", "", epoch),
        (2, "42", "", "", "['x']", "", epoch),
        (3, "CP-KEY", "", "", "", "", epoch),
    ]
    archived = list(read_raw(client, DB))
    assert archived[:3] == [v for _, v in values[:3]]
    assert archived[3] == '{"station_id": "CP-\ufffd", "message_id": "m"}'.encode()
