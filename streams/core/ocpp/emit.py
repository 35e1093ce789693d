"""What handlers get (one decoded message) and where they put canonical events.

Flags travel beside the events, keyed by event id (see ``Normalised``); those
that say something about the session's data quality are also carried on the
canonical event (``flags``) and so reach the session record - all but
``attribution_inferred``, which is the normal case for 2.0.1 standalone
MeterValues (they never carry a transaction id). Vocabulary:

``attribution_inferred``  no usable transaction id; the session was found by
                          station, connector, time and meter continuity, and
                          exactly one session fitted
``attribution_uncertain`` as above, but several sessions fitted (or none kept
                          meter continuity): the most recent start was chosen
``start_unconfirmed``     1.6 StartTransaction without a response: the session
                          id comes from the natural key, the transaction id is
                          not known (yet)
``start_retried``         a repeated StartTransaction merged into the open session
``connector_unknown``     the connector / EVSE is not known (connector_id = 0)
``offline``               2.0.1 event queued while the station was offline
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

import msgspec

from schemas.vocabulary import CHARGING_STATES, AuthMethod, AuthResult, ChargingState
from streams.core.events import (
    AuthorizationResult,
    Event,
    MeterSample,
    Sample,
    SessionStarted,
    SessionStopped,
    StateChanged,
)
from streams.core.ocpp.context import StationContext, TxRecord
from streams.core.ocpp.identity import message_key
from streams.core.ocpp.meter import Reading
from streams.core.ocpp.privacy import TokenPseudonymiser

__all__ = ["Handler", "Message", "Normalised", "Out", "epoch_ms", "from_ms", "utc"]


_UNCARRIED = ("attribution_inferred",)
"""Flags that reach no session record (see the module docstring)."""


class Normalised(msgspec.Struct, frozen=True):
    """The events made from one message, and the flags of those that have any."""

    events: list[Event]
    flags: dict[str, tuple[str, ...]]


def utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


def epoch_ms(moment: datetime) -> int:
    """Same rounding as the stitcher (``streams.core.state.event_ms``)."""
    return round(moment.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


class Message(msgspec.Struct, frozen=True, gc=False):
    """One validated OCPP message. A Struct, not a plain class: one is made per message."""

    request: Any
    response: Any  # None when the envelope has no response
    station_id: str
    tenant: str
    received: datetime  # in UTC
    received_ms: int  # epoch_ms(received)


class Out(msgspec.Struct, gc=False):
    """Collects the canonical events of one message, with deterministic ids
    (``<key>-<index>``). A Struct, not a plain class: one is made per message.

    ``times`` holds each event's time in epoch ms (``epoch_ms(event.ts)``):
    handlers have it already, and the stitcher needs it, so it travels beside
    the events rather than being converted from the datetime once more.

    ``compact``: meter samples without seq, and without flags the session keeps,
    are collected as values (``streams.core.events.Sample``) instead of events -
    what the stitcher folds on the hot path. Their flags are not recorded (a
    compact Out gives its events and times only). They keep their place, and so
    the index in the ids of the events after them. The key
    (``identity.message_key``, a hash) is made when the first event needs an
    id: a message of such samples alone, nine in ten, needs none."""

    tenant: str
    station_id: str
    message_id: str
    received_ms: int
    compact: bool = False
    key: str = ""  # made by _id() when first needed
    events: list[Event | Sample] = msgspec.field(default_factory=list)
    flags: dict[str, tuple[str, ...]] = msgspec.field(default_factory=dict)
    times: list[int] = msgspec.field(default_factory=list)

    def only_events(self) -> list[Event]:
        """The events of an Out that is not ``compact`` (so holds no ``Sample``)."""
        assert not self.compact
        return cast("list[Event]", self.events)

    def _id(self) -> str:
        """The id of the next event."""
        key = self.key
        if not key:
            key = self.key = message_key(
                self.tenant, self.station_id, self.message_id, self.received_ms
            )
        return f"{key}-{len(self.events)}"

    # The event methods below write out the append rather than calling helpers:
    # they run for every event, and most events have no flags.

    def _flagged(self, event: Event, flags: tuple[str, ...]) -> Event:
        """Record ``flags`` for ``event``; return it carrying those the session keeps."""
        self.flags[event.event_id] = flags
        carried = tuple(f for f in flags if f not in _UNCARRIED)
        return msgspec.structs.replace(event, flags=carried) if carried else event

    def started(
        self,
        rec: TxRecord,
        ts: datetime,
        ms: int,
        *,
        meter_start_wh: int | None,
        seq: int | None = None,
        flags: tuple[str, ...] = (),
    ) -> None:
        event = SessionStarted(
            event_id=self._id(),
            tenant=self.tenant,
            station_id=self.station_id,
            connector_id=rec.connector_id,
            session_id=rec.session_id,
            transaction_id=rec.transaction_id,
            ts=ts,
            seq=seq,
            meter_start_wh=meter_start_wh,
            auth_method=rec.auth_method,
            token_hash=rec.token_hash,
        )
        self.events.append(self._flagged(event, flags) if flags else event)
        self.times.append(ms)

    def sample(
        self,
        rec: TxRecord,
        ts: datetime,
        ms: int,
        reading: Reading,
        *,
        seq: int | None = None,
        flags: tuple[str, ...] = (),
    ) -> None:
        if self.compact and seq is None and (not flags or flags == _UNCARRIED):
            self.events.append((
                rec.session_id, ms, self.tenant, self.station_id, rec.connector_id,
                rec.transaction_id, reading.energy_wh, reading.power_w, reading.soc,
            ))  # fmt: skip
            self.times.append(ms)
            return
        event = MeterSample(
            event_id=self._id(),
            tenant=self.tenant,
            station_id=self.station_id,
            connector_id=rec.connector_id,
            session_id=rec.session_id,
            transaction_id=rec.transaction_id,
            ts=ts,
            seq=seq,
            energy_wh=reading.energy_wh,
            power_w=reading.power_w,
            soc=reading.soc,
        )
        self.events.append(self._flagged(event, flags) if flags else event)
        self.times.append(ms)

    def state(
        self,
        rec: TxRecord,
        ts: datetime,
        ms: int,
        state: ChargingState,
        *,
        seq: int | None = None,
        flags: tuple[str, ...] = (),
    ) -> None:
        event = StateChanged(
            event_id=self._id(),
            tenant=self.tenant,
            station_id=self.station_id,
            connector_id=rec.connector_id,
            session_id=rec.session_id,
            transaction_id=rec.transaction_id,
            ts=ts,
            seq=seq,
            state=state,
        )
        self.events.append(self._flagged(event, flags) if flags else event)
        self.times.append(ms)

    def status(self, rec: TxRecord, ts: datetime, ms: int, state: ChargingState) -> None:
        """A connector status owned by ``rec``. Before the session's start only a
        charging status matters (idle is what a session starts in anyway), and it
        is stamped at the start: the session's clock begins there (an earlier
        event would be flagged ``event_before_start`` by the stitcher)."""
        start = rec.start_ms
        if start is None or ms >= start:
            at = ts
        elif state in CHARGING_STATES:
            at = from_ms(start)
        else:
            return
        # The event's own time, from its datetime: ``ts`` may come from ``from_ms``
        # (a status kept for a later start), and statuses are rare.
        self.state(rec, at, epoch_ms(at), state)

    def stopped(
        self,
        rec: TxRecord,
        ts: datetime,
        ms: int,
        *,
        meter_stop_wh: int | None,
        reason: str,
        seq: int | None = None,
        flags: tuple[str, ...] = (),
    ) -> None:
        event = SessionStopped(
            event_id=self._id(),
            tenant=self.tenant,
            station_id=self.station_id,
            connector_id=rec.connector_id,
            session_id=rec.session_id,
            transaction_id=rec.transaction_id,
            ts=ts,
            seq=seq,
            meter_stop_wh=meter_stop_wh,
            reason=reason,
        )
        self.events.append(self._flagged(event, flags) if flags else event)
        self.times.append(ms)

    def authorization(
        self,
        rec: TxRecord,
        ts: datetime,
        ms: int,
        *,
        method: AuthMethod,
        result: AuthResult,
        seq: int | None = None,
        flags: tuple[str, ...] = (),
    ) -> None:
        event = AuthorizationResult(
            event_id=self._id(),
            tenant=self.tenant,
            station_id=self.station_id,
            connector_id=rec.connector_id,
            session_id=rec.session_id,
            transaction_id=rec.transaction_id,
            ts=ts,
            seq=seq,
            method=method,
            result=result,
            token_hash=rec.token_hash,
        )
        self.events.append(self._flagged(event, flags) if flags else event)
        self.times.append(ms)


Handler = Callable[[Message, StationContext, Out, TokenPseudonymiser], None]
"""Turns one validated message into events, updating the station context. A
handler raises (an ``OcppInputError``) only *before* it changes the context."""
