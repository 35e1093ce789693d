"""Unit-test fixtures: ClickHouse is chDB, the real engine, in a fresh directory per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chargewatch.settings import ClickHouseSettings
from sinks.clickhouse import connect

DB = "chargewatch"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Any]:
    """A chDB client on database ``DB`` (not yet migrated)."""
    # chDB: one data directory per process at a time, so always close.
    client = connect(ClickHouseSettings(chdb_path=tmp_path / "ch", database=DB))
    try:
        yield client
    finally:
        client.close()
