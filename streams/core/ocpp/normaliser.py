"""``OcppNormaliser``: one ``ocpp.messages`` record -> canonical events.

Pure and deterministic: no I/O, no clock, no randomness, no logging. Time
comes from the messages (``received_at`` only where OCPP gives no timestamp);
ids come from :mod:`streams.core.ocpp.identity`. The same bytes with the same
context give the same events, byte for byte.

Steps: decode the envelope (msgspec, payloads left raw) -> check the version
-> validate and decode request and response with the compiled official
schema of (version, action) -> run the action's handler, which reads and
updates the station's :class:`StationContext`. Any failure raises an
:class:`~streams.core.ocpp.errors.OcppInputError` subclass with a precise
``reason`` and leaves the context unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

import msgspec

from chargewatch.errors import ConfigurationError
from streams.core.events import Event, Sample
from streams.core.ocpp import v16, v201
from streams.core.ocpp.compiled import (
    ProjectedEnvelope,
    project_envelope_meter_values_v16,
    project_meter_values_v16,
)
from streams.core.ocpp.context import StationContext
from streams.core.ocpp.emit import Handler, Message, Normalised, Out, epoch_ms, utc
from streams.core.ocpp.envelope import NULL, OcppEnvelope, decode_envelope
from streams.core.ocpp.errors import UnknownVersionError
from streams.core.ocpp.privacy import TokenPseudonymiser
from streams.core.ocpp.registry import SUPPORTED_VERSIONS, SchemaRegistry

__all__ = ["OcppNormaliser"]

_HANDLERS: dict[tuple[str, str], Handler] = {
    **{("1.6", action): handler for action, handler in v16.HANDLERS.items()},
    **{("2.0.1", action): handler for action, handler in v201.HANDLERS.items()},
}
_NO_ANSWER = (NULL, msgspec.Raw(b"{}"))
"""The responses a MeterValues.conf can have (it has no fields): the compiled
path takes a request only with one of these, so the response needs no check."""


class OcppNormaliser:
    """Validates OCPP 1.6 / 2.0.1 messages and turns them into canonical events.

    ``hmac_keys`` maps key ids to HMAC keys for id-token pseudonyms (the worker
    passes ``{"k1": settings.privacy.token_hmac_key}`` as bytes); new pseudonyms
    use ``active_key_id``, the others are still recognised (key rotation).
    ``default_tenant`` is used when an envelope has no ``tenant``.
    ``compiled=False`` keeps :meth:`normalise_compact` off the compiled fast
    path (``streams.core.ocpp.compiled``; tests compare the two).
    """

    def __init__(
        self,
        hmac_keys: Mapping[str, bytes],
        active_key_id: str,
        default_tenant: str = "default",
        *,
        registry: SchemaRegistry | None = None,
        compiled: bool = True,
    ) -> None:
        if not 1 <= len(default_tenant) <= 64:
            raise ConfigurationError("default tenant must be 1..64 characters")
        self._tokens = TokenPseudonymiser(hmac_keys, active_key_id)
        self._registry = registry or SchemaRegistry()
        self._tenant = default_tenant
        self._project = project_meter_values_v16 if compiled else None
        self._project_value = project_envelope_meter_values_v16 if compiled else None

    def __repr__(self) -> str:
        return f"OcppNormaliser(tenant={self._tenant!r}, tokens={self._tokens!r})"

    @property
    def registry(self) -> SchemaRegistry:
        return self._registry

    @property
    def compiled(self) -> bool:
        """Whether :meth:`normalise_compact` takes the compiled fast path."""
        return self._project is not None

    @property
    def project_value(self) -> Callable[[Any], ProjectedEnvelope | None] | None:
        """The compiled projection of a whole ``ocpp.messages`` value, or ``None``
        when the compiled path is off. It gives ``None`` for a value it leaves to
        :func:`decode_envelope` and :meth:`normalise_compact` (every other action
        and version, and every shape the compiled path defers); for the rest, pass
        its result to :meth:`normalise_projected` with the station's context."""
        return self._project_value

    def normalise_projected(
        self, projected: ProjectedEnvelope, context: StationContext
    ) -> tuple[list[Sample], list[int]] | None:
        """:meth:`normalise_compact` of a value :attr:`project_value` projected,
        without decoding it: the same events and times, and the same changes to
        ``context``. ``None`` when the case needs the full path (see
        ``v16.meter_values_projected``); nothing has been changed then."""
        station, tenant, connector, tx, rows = projected
        return v16.meter_values_projected(
            connector, tx, rows, context, tenant or self._tenant, station
        )

    def normalise(self, raw: bytes | str, context: StationContext) -> list[Event]:
        """Events from one raw ``ocpp.messages`` value (JSON bytes)."""
        return self._run(decode_envelope(raw), context).only_events()

    def normalise_envelope(self, envelope: OcppEnvelope, context: StationContext) -> list[Event]:
        """Events from an already decoded envelope."""
        return self._run(envelope, context).only_events()

    def normalise_timed(
        self, envelope: OcppEnvelope, context: StationContext
    ) -> tuple[list[Event], list[int]]:
        """Events from an already decoded envelope, and the time of each in epoch
        ms (``streams.core.state.event_ms`` of it): pass it to ``Stitcher.apply``
        instead of converting the datetime again."""
        out = self._run(envelope, context)
        return out.only_events(), out.times

    def normalise_compact(
        self, envelope: OcppEnvelope, context: StationContext
    ) -> tuple[list[Event | Sample], list[int]]:
        """:meth:`normalise_timed`, with the meter samples that have no seq and no
        flags given as values (``streams.core.events.Sample``, for
        ``Stitcher.apply_sample``) instead of events: the worker's and the
        replay's path. The other events are the same, ids included."""
        project = self._project
        if (
            project is not None
            and envelope.action == "MeterValues"
            and envelope.ocpp_version == "1.6"
            and envelope.response in _NO_ANSWER
        ):
            projected = project(envelope.request)
            if projected is not None:
                done = v16.meter_values_projected(
                    *projected, context, envelope.tenant or self._tenant, envelope.station_id
                )
                if done is not None:
                    # Samples only: a list of them is one of events and samples.
                    return cast("tuple[list[Event | Sample], list[int]]", done)
        out = self._run(envelope, context, compact=True)
        return out.events, out.times

    def normalise_detailed(
        self, raw: bytes | str | OcppEnvelope, context: StationContext
    ) -> Normalised:
        """Events plus their flags (``streams.core.ocpp.emit`` lists the flags)."""
        envelope = raw if isinstance(raw, OcppEnvelope) else decode_envelope(raw)
        out = self._run(envelope, context)
        return Normalised(out.only_events(), out.flags)

    def _run(self, envelope: OcppEnvelope, context: StationContext, compact: bool = False) -> Out:
        version, action = envelope.ocpp_version, envelope.action
        if version not in SUPPORTED_VERSIONS:
            raise UnknownVersionError(
                f"ocpp_version {version!r} is not supported (use 1.6 or 2.0.1)"
            )
        registry = self._registry
        request = registry.decode(version, action, "request", envelope.request)
        response = (
            registry.decode(version, action, "response", envelope.response)
            if envelope.has_response
            else None
        )
        tenant = envelope.tenant or self._tenant
        station = envelope.station_id
        handler = _HANDLERS.get((version, action))
        if handler is None:
            return Out(tenant, station, envelope.message_id, 0)  # valid, says nothing of sessions
        received = utc(envelope.received_at)
        received_ms = epoch_ms(received)
        out = Out(tenant, station, envelope.message_id, received_ms, compact)
        handler(
            Message(request, response, station, tenant, received, received_ms),
            context,
            out,
            self._tokens,
        )
        return out
