"""Ground truth: what a correct pipeline must report for each simulated session.

The simulator computes these values from its own model (arrival, departure,
when the EV was full, what was integrated into the register), not by running
the pipeline's code; ``tests/unit/test_simulator.py`` checks that they also
follow from the emitted events alone. Field names match
``schemas.session.SessionRecord`` where the two overlap, so a comparison is a
field-by-field equality on the completed record.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import msgspec

from chargewatch.simulator.charging import Pattern
from chargewatch.simulator.fleet import Current
from schemas.vocabulary import AuthMethod

__all__ = ["GroundTruth", "read_truth", "write_truth"]

_AwareTime = Annotated[datetime, msgspec.Meta(tz=True)]  # read_truth rejects naive times


@dataclass(frozen=True)
class GroundTruth:
    """The closed session as a correct pipeline computes it (times: whole UTC seconds)."""

    session_id: str
    tenant: str
    station_id: str
    connector_id: int
    transaction_id: str
    started_at: _AwareTime
    ended_at: _AwareTime
    duration_s: int  # ended_at - started_at
    charging_s: int  # in charging / suspended_evse (OCPI: requesting power)
    idle_s: int  # plugged in, not requesting: before charging starts and after full
    energy_wh: int  # meter_stop_wh - meter_start_wh
    meter_start_wh: int
    meter_stop_wh: int
    max_power_w: int  # highest power_w among the emitted samples
    soc_start: float | None  # first / last emitted SoC; None on AC (no SoC reported)
    soc_end: float | None
    auth_method: AuthMethod
    token_hash: str
    stop_reason: str
    current: Current  # not in the event stream: the simulated station's kind
    pattern: Pattern  # not in the event stream: how the session ended

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; times as RFC 3339 UTC with ``Z``."""
        data = dataclasses.asdict(self)
        data["started_at"] = _rfc3339(self.started_at)
        data["ended_at"] = _rfc3339(self.ended_at)
        return data


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(GroundTruth)


def write_truth(path: Path | str, truth: list[GroundTruth]) -> None:
    """Write one JSON object per line (sorted as given)."""
    with Path(path).open("wb") as out:
        for row in truth:
            out.write(_encoder.encode(row.to_json()))
            out.write(b"\n")


def read_truth(path: Path | str) -> list[GroundTruth]:
    """Inverse of :func:`write_truth`; validates types and literals."""
    rows = []
    with Path(path).open("rb") as lines:
        for line in lines:
            if line.strip():
                row = _decoder.decode(line)
                rows.append(
                    dataclasses.replace(
                        row,
                        started_at=row.started_at.astimezone(UTC),
                        ended_at=row.ended_at.astimezone(UTC),
                    )
                )
    return rows
