"""OCPP envelopes -> canonical events, inside the worker.

One :class:`StationContext` per (tenant, station) remembers what the
normaliser needs across messages (open transactions, 1.6 id mapping,
carried-forward 2.0.1 fields, recent authorisations). Like session state it
lives in memory and is written to the changelog table (key
``station|<tenant>|<station>``) once per commit, not per message; the topic is
keyed by station, so a station's context and its sessions share a partition.

A message that cannot be used raises the normaliser's ``InputError`` subclass,
whose ``reason`` the caller puts on the dead-letter record; the context is left
as it was.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from chargewatch.errors import ConfigurationError, InputError
from chargewatch.settings import PrivacySettings
from streams.core.events import Event, Sample
from streams.core.ocpp import (
    OcppEnvelope,
    OcppNormaliser,
    StationContext,
    TxRecord,
    decode_envelope,
)
from streams.core.ocpp.compiled import ProjectedEnvelope

__all__ = ["OcppIngest", "normaliser_for"]

_PREFIX = "station|"


def normaliser_for(privacy: PrivacySettings, default_tenant: str = "default") -> OcppNormaliser:
    """The normaliser with the configured (rotatable) pseudonymisation keys."""
    keys = privacy.hmac_keys()
    if privacy.token_key_id not in keys:
        raise ConfigurationError(
            "OCPP input needs CHARGEWATCH_PRIVACY_TOKEN_HMAC_KEY: id tokens are "
            "pseudonymised with it at ingestion and are never stored in clear"
        )
    return OcppNormaliser(keys, privacy.token_key_id, default_tenant)


class OcppIngest:
    """Station contexts in memory, loaded from and written to a table's store."""

    def __init__(self, normaliser: OcppNormaliser, store: Any, default_tenant: str) -> None:
        self._normaliser = normaliser
        self._store = store  # a mapping of bytes -> bytes (the Faust table's data)
        self._tenant = default_tenant
        self._contexts: dict[str, StationContext] = {}
        self._dirty: dict[int, set[str]] = defaultdict(set)

    def normalise_decoded(
        self, envelope: OcppEnvelope, partition: int
    ) -> tuple[list[Event | Sample], list[int]]:
        """The events of an envelope the caller has decoded already, most meter
        samples as values (``OcppNormaliser.normalise_compact``: for the
        stitcher's ``apply_sample``), and their times in epoch ms."""
        key = f"{_PREFIX}{envelope.tenant or self._tenant}|{envelope.station_id}"
        context = self._contexts.get(key) or self._context(key)
        timed = self._normaliser.normalise_compact(envelope, context)
        self._dirty[partition].add(key)
        return timed

    def normalise_projected(
        self, projected: ProjectedEnvelope, partition: int
    ) -> tuple[list[Sample], list[int]] | None:
        """:meth:`normalise_decoded` of a value the normaliser's ``project_value``
        projected; ``None`` when it needs decoding after all (nothing changed)."""
        key = f"{_PREFIX}{projected[1] or self._tenant}|{projected[0]}"
        context = self._contexts.get(key) or self._context(key)
        timed = self._normaliser.normalise_projected(projected, context)
        if timed is not None:
            self._dirty[partition].add(key)
        return timed

    def transaction(self, projected: ProjectedEnvelope, session_id: str) -> TxRecord:
        """The normaliser's record of a session of a projected value's station."""
        key = f"{_PREFIX}{projected[1] or self._tenant}|{projected[0]}"
        return self._contexts[key].transactions[session_id]

    def normalise_batch(
        self, records: Iterable[Any], partition: int, reject: Callable[[InputError, Any], None]
    ) -> tuple[list[Event | Sample], list[int], int]:
        """The events of a batch of records (each with a ``value``) of one partition
        (most meter samples as values, as :meth:`normalise_decoded` gives them),
        their times, and how many records were used; each unusable record goes to
        ``reject`` with its error. One call per batch: the lookups of
        :meth:`normalise_decoded` are made once, not per message."""
        events: list[Event | Sample] = []
        times: list[int] = []
        used = 0
        contexts, dirty = self._contexts, self._dirty[partition]
        normaliser, tenant = self._normaliser, self._tenant
        normalise, project = normaliser.normalise_compact, normaliser.project_value
        normalise_projected = normaliser.normalise_projected
        for record in records:
            value = record.value
            # Most values are a 1.6 MeterValues the compiled path takes whole:
            # no envelope decode then. It returns None for the rest.
            if project is not None and (projected := project(value)) is not None:
                key = f"{_PREFIX}{projected[1] or tenant}|{projected[0]}"
                context = contexts.get(key) or self._context(key)
                timed = normalise_projected(projected, context)
                if timed is not None:
                    dirty.add(key)
                    events += timed[0]
                    times += timed[1]
                    used += 1
                    continue
            try:
                envelope = decode_envelope(value)
                key = f"{_PREFIX}{envelope.tenant or tenant}|{envelope.station_id}"
                context = contexts.get(key) or self._context(key)
                some, their_times = normalise(envelope, context)
            except InputError as exc:
                reject(exc, record)
                continue
            dirty.add(key)
            events += some
            times += their_times
            used += 1
        return events, times, used

    def _context(self, key: str) -> StationContext:
        stored = self._store.get(key.encode())
        context = StationContext.restore(stored) if stored is not None else StationContext()
        self._contexts[key] = context
        return context

    def dirty(self) -> list[tuple[int, bytes, bytes]]:
        """(partition, key, snapshot) of every context changed since the last call."""
        out = []
        for partition, keys in self._dirty.items():
            for key in keys:
                out.append((partition, key.encode(), self._contexts[key].snapshot()))
            keys.clear()
        return out

    def forget_partitions(self, partitions: set[int]) -> None:
        for partition in partitions:
            for key in self._dirty.pop(partition, set()):
                self._contexts.pop(key, None)
        # contexts of revoked partitions that were clean: drop them all, the new
        # owner reads them from the table
        self._contexts.clear()
