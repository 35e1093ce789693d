"""Fixtures: one per real service, session-scoped, with unique names per test.

Kafka, in order of preference:
1. ``CHARGEWATCH_TEST_KAFKA_BOOTSTRAP`` - an existing broker you point at;
2. testcontainers, when a Docker engine answers;
3. the project's own broker (``deploy/kafka.sh``) on free loopback ports, in a
   temporary directory - what CI and this repository's machines use.
ClickHouse is chDB in a fresh directory per test.
"""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _free_port_pair() -> int:
    """A port p such that p and p+1 (the KRaft controller) are both free."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair on loopback")


def _docker_engine() -> bool:
    """True when a Docker engine answers on its local socket (then testcontainers works)."""
    path = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock").removeprefix("unix://")
    if not Path(path).exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(3)
        try:
            sock.connect(path)
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            return b"OK" in sock.recv(1024)
        except OSError:
            return False


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    given = os.environ.get("CHARGEWATCH_TEST_KAFKA_BOOTSTRAP")
    if given:
        yield given
        return
    if _docker_engine():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer("confluentinc/cp-kafka:7.7.1").with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    directory = tmp_path_factory.mktemp("kafka")
    port = _free_port_pair()
    script = str(REPO / "deploy" / "kafka.sh")
    subprocess.run(["bash", script, "up", "--dir", str(directory), "--port", str(port)], check=True)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run(["bash", script, "down", "--dir", str(directory)], check=False)


@pytest.fixture
def unique() -> str:
    """A short unique name for this test's topics, groups and databases."""
    return "t" + uuid.uuid4().hex[:10]
