"""Migrations and idempotent inserts, on real ClickHouse (chDB)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from chargewatch.errors import DecodeError
from sinks.cdrs import decode_cdr
from sinks.clickhouse import migrate, migrations
from sinks.sessions import decode_record, insert_sessions
from streams.core import Stitcher
from streams.core.record import encode_record
from tests.unit.test_stitching import normal_session

DB = "chargewatch"


def test_migrations_apply_once_and_are_recorded(client: Any) -> None:
    assert migrate(client, DB) == [v for v, _, _ in migrations()]
    assert migrate(client, DB) == []
    rows = client.query(f"SELECT version FROM {DB}.schema_migrations ORDER BY version")
    assert [r[0] for r in rows.result_rows] == [v for v, _, _ in migrations()]


def test_redelivered_versions_never_show_a_session_twice(client: Any) -> None:
    migrate(client, DB)
    stitcher = Stitcher(update_interval_s=600)
    versions = [r for e in normal_session("s1") if (r := stitcher.apply(e)) is not None]
    assert len(versions) == 5
    # every version, then all of them again in reverse (a redelivered topic)
    insert_sessions(client, DB, versions)
    insert_sessions(client, DB, list(reversed(versions)))
    # Each insert writes a part; parts are merged lazily, so the raw table holds
    # the session more than once ...
    (raw_rows,) = client.query(f"SELECT count() FROM {DB}.sessions").result_rows[0]
    assert raw_rows >= 2
    rows = client.query(
        f"SELECT session_id, version, status, energy_wh FROM {DB}.sessions_latest"
    ).result_rows
    # ... and the latest-version view shows it once, at its highest version.
    assert rows == [("s1", 5, "completed", 5400)]


def test_sink_decoding_rejects_what_is_not_a_session_record() -> None:
    stitcher = Stitcher(update_interval_s=600)
    record = stitcher.apply(normal_session("s9")[0])
    assert record is not None
    assert decode_record(encode_record(record)) == record
    with pytest.raises(DecodeError):
        decode_record(b'{"session_id": "x"}')
    with pytest.raises(DecodeError):
        decode_record(msgspec.json.encode({"oops": 1}))
    with pytest.raises(DecodeError):
        decode_record(None)  # type: ignore[arg-type] # a tombstone on the sessions topic
    with pytest.raises(DecodeError):
        decode_cdr(None)  # type: ignore[arg-type] # ... and on the CDR topic
