"""The factory fixture of the integration tests: a whole pipeline per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import Pipeline


@pytest.fixture
def pipeline(kafka_bootstrap: str, unique: str, tmp_path: Path) -> Iterator[Pipeline]:
    """Unique topics, groups and chDB directory on the session's real broker;
    every child process is stopped at the end, whatever the test did."""
    p = Pipeline(bootstrap=kafka_bootstrap, name=unique, root=tmp_path)
    p.create_topics()
    try:
        yield p
    finally:
        p.stop_all()
