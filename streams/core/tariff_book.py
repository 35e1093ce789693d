"""Which tariff applies to a connector at a moment: versions, validity, assignments.

The book is filled from the compacted ``chargewatch.tariffs`` topic, whose keys are

* ``tariff|<id>|<last_updated ms>`` - one OCPI Tariff version (JSON),
* ``assign|default``, ``assign|<station>``, ``assign|<station>|<connector>`` -
  ``{"tariff_id": ...}``, or a tombstone to remove the assignment,
* ``station|<station>`` - station metadata, e.g. ``{"time_zone": "Europe/Paris"}``.

The tariff in force for a session is decided once, at its start: the most
specific assignment (connector, then station, then default), and of that
tariff the newest version whose ``last_updated`` is not after the start and
whose validity window (``start_date_time``/``end_date_time``) contains it. The
session keeps that snapshot: a price change never reaches a running session.
"""

from __future__ import annotations

from bisect import insort
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from schemas.tariff import Tariff, read_tariff

__all__ = ["TariffBook", "TariffRef", "tariff_key"]


@dataclass(frozen=True)
class TariffRef:
    """A tariff version: what a session snapshots."""

    tariff_id: str
    version_ms: int  # last_updated, epoch ms


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def tariff_key(tariff: Tariff) -> str:
    return f"tariff|{tariff.id}|{_ms(tariff.last_updated)}"


@dataclass
class TariffBook:
    """Tariff versions, assignments and station time zones."""

    default_time_zone: str = "UTC"
    _versions: dict[str, list[int]] = field(default_factory=dict)  # id -> sorted versions
    _tariffs: dict[tuple[str, int], Tariff] = field(default_factory=dict)
    _assignments: dict[str, str] = field(default_factory=dict)  # scope -> tariff id
    _stations: dict[str, dict[str, Any]] = field(default_factory=dict)

    def apply(self, key: str, value: bytes | None) -> None:
        """Apply one record of the tariffs topic (a tombstone removes)."""
        kind, _, rest = key.partition("|")
        if kind == "tariff":
            if value is not None:
                self.add(read_tariff(value))
        elif kind == "assign":
            if value is None:
                self._assignments.pop(rest, None)
            else:
                self._assignments[rest] = str(orjson.loads(value)["tariff_id"])
        elif kind == "station":
            if value is None:
                self._stations.pop(rest, None)
            else:
                self._stations[rest] = dict(orjson.loads(value))

    def add(self, tariff: Tariff) -> TariffRef:
        ref = TariffRef(tariff.id, _ms(tariff.last_updated))
        # The tariff first, then its version: a reader on another thread never
        # sees a version it cannot look up.
        self._tariffs[(ref.tariff_id, ref.version_ms)] = tariff
        versions = self._versions.setdefault(tariff.id, [])
        if ref.version_ms not in versions:
            insort(versions, ref.version_ms)
        return ref

    def backdate(self, tariff_id: str) -> None:
        """Let the oldest version of a tariff apply to sessions before its
        ``last_updated`` too (pricing history with today's tariff file)."""
        versions = self._versions.get(tariff_id)
        if versions and versions[0] > 0:
            tariff = self._tariffs.pop((tariff_id, versions[0]))
            versions[0] = 0
            self._tariffs[(tariff_id, 0)] = tariff

    def get(self, ref: TariffRef) -> Tariff | None:
        return self._tariffs.get((ref.tariff_id, ref.version_ms))

    def time_zone(self, station_id: str) -> str:
        return str(self._stations.get(station_id, {}).get("time_zone", self.default_time_zone))

    def assigned(self, station_id: str, connector_id: int) -> str | None:
        for scope in (f"{station_id}|{connector_id}", station_id, "default"):
            if scope in self._assignments:
                return self._assignments[scope]
        return None

    def resolve(self, station_id: str, connector_id: int, start_ms: int) -> TariffRef | None:
        """The tariff version in force for a session starting at ``start_ms``."""
        tariff_id = self.assigned(station_id, connector_id)
        if tariff_id is None:
            return None
        for version in reversed(self._versions.get(tariff_id, [])):
            if version > start_ms:
                continue
            tariff = self._tariffs[(tariff_id, version)]
            if tariff.start_date_time and start_ms < _ms(tariff.start_date_time):
                continue
            if tariff.end_date_time and start_ms >= _ms(tariff.end_date_time):
                continue
            return TariffRef(tariff_id, version)
        return None

    def listing(self) -> list[dict[str, Any]]:
        """Every tariff version with where it is assigned (for ``tariffs list``)."""
        scopes: dict[str, list[str]] = {}
        for scope, tariff_id in sorted(self._assignments.items()):
            scopes.setdefault(tariff_id, []).append(scope)
        rows = []
        for (tariff_id, version), tariff in sorted(self._tariffs.items()):
            rows.append(
                {
                    "id": tariff_id,
                    "last_updated": datetime.fromtimestamp(version / 1000, UTC).isoformat(),
                    "currency": tariff.currency,
                    "elements": len(tariff.elements),
                    "valid_from": tariff.start_date_time.isoformat()
                    if tariff.start_date_time
                    else None,
                    "valid_until": tariff.end_date_time.isoformat()
                    if tariff.end_date_time
                    else None,
                    "assigned_to": scopes.get(tariff_id, []),
                }
            )
        return rows
