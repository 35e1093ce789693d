"""Starting and stopping the project's own Kafka broker (``deploy/kafka.sh``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from chargewatch.errors import BrokerError

__all__ = ["REPO_ROOT", "broker_down", "broker_up"]

REPO_ROOT = Path(__file__).resolve().parents[1]
_SCRIPT = REPO_ROOT / "deploy" / "kafka.sh"


def _run(*args: str) -> None:
    if not _SCRIPT.exists():
        raise BrokerError(f"{_SCRIPT} not found: run from a source checkout or set "
                          "CHARGEWATCH_KAFKA_BOOTSTRAP to an existing broker")  # fmt: skip
    result = subprocess.run(["bash", str(_SCRIPT), *args], check=False)  # noqa: S603,S607
    if result.returncode != 0:
        raise BrokerError(f"deploy/kafka.sh {' '.join(args)} failed (exit {result.returncode})")


def broker_up(directory: Path, port: int, controller_port: int | None = None) -> None:
    """Start (or reuse) the broker whose data lives in ``directory``."""
    extra = ("--controller-port", str(controller_port)) if controller_port else ()
    _run("up", "--dir", str(directory.resolve()), "--port", str(port), *extra)


def broker_down(directory: Path) -> None:
    _run("down", "--dir", str(directory.resolve()))
