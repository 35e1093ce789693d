"""OCPP 2.0.1 actions -> canonical events.

================================  =============================================
TransactionEvent Started          session_started (meter_start_wh = the earliest
                                  energy register in the event), then as Updated
TransactionEvent Updated          authorization when ``idToken`` is present,
                                  meter_sample per meterValue, state_changed when
                                  ``chargingState`` is present
TransactionEvent Ended            as Updated, then session_stopped (meter_stop_wh
                                  = the latest energy register in the event;
                                  no ``stoppedReason`` -> ``Local``)
StatusNotification                state_changed on the session owning that time
MeterValues (standalone)          meter_sample on the session open on that EVSE
                                  at each timestamp (none: no event); EVSE 0 (the
                                  whole station): no event
Authorize                         no event; result remembered for the next use
                                  of that token
everything else                   validated, no event
================================  =============================================

``seqNo`` becomes ``seq`` on every event made from the message; ``offline``
becomes the ``offline`` flag. The EVSE id is the canonical ``connector_id``
(an EVSE charges one EV at a time; its physical connector is kept in the
context). Carried forward per transaction (``TxRecord``): EVSE, connector,
id token and method, charging state -- 2.0.1 sends each only when it changes
(E01.FR.16), and messages may arrive out of order, so whatever arrived first
is used until something newer says otherwise. Auth method from
``idToken.type`` (``vocabulary.TOKEN_METHODS``); a ``remoteStartId`` or
``triggerReason = RemoteStart`` makes it ``app``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from schemas.vocabulary import AuthResult
from streams.core.ocpp.context import AuthSeen, StationContext, StatusSeen, TxRecord
from streams.core.ocpp.emit import Handler, Message, Out, epoch_ms, utc
from streams.core.ocpp.errors import OutOfRangeError
from streams.core.ocpp.identity import session_id_for
from streams.core.ocpp.meter import Reading, reading_v201
from streams.core.ocpp.privacy import TokenPseudonymiser
from streams.core.ocpp.vocabulary import (
    AUTH_RESULTS,
    CHARGING_STATES_V201,
    CONNECTOR_STATUS_V201,
    STOP_REASON_DEFAULT,
    TOKEN_METHODS,
)

__all__ = ["HANDLERS"]

V = "2.0.1"
_UNSET: Any = msgspec.UNSET
_INFERRED = ("attribution_inferred",)


def _evse(value: int, what: str) -> int:
    if not 0 <= value <= 255:
        raise OutOfRangeError(f"OCPP 2.0.1 {what}: EVSE id {value} outside 0..255")
    return value


def _energy(readings: list[tuple[Any, int, Reading]], *, latest: bool) -> int | None:
    known = [(ms, r.energy_wh) for _, ms, r in readings if r.energy_wh is not None]
    if not known:
        return None
    return (max(known) if latest else min(known))[1]


def _readings(req: Any, ts: datetime, ms: int) -> list[tuple[datetime, int, Reading]]:
    """(time, epoch ms, reading) of each meterValue of a TransactionEvent."""
    readings = []
    for mv in req.meterValue if req.meterValue is not _UNSET else ():
        if mv.timestamp == req.timestamp:  # the usual case: reuse the event's conversion
            readings.append((ts, ms, reading_v201(mv.sampledValue)))
        else:
            at = utc(mv.timestamp)
            readings.append((at, epoch_ms(at), reading_v201(mv.sampledValue)))
    return readings


def _transaction(msg: Message, ctx: StationContext, native: str, ms: int) -> TxRecord:
    rec = ctx.by_native(V, native)
    if rec is None:
        sid = session_id_for(msg.tenant, msg.station_id, V, native)
        rec = ctx.transactions.get(sid) or ctx.add(
            TxRecord(session_id=sid, version=V, connector_id=0, first_ms=ms, transaction_id=native)
        )
        ctx.bind_native(rec, native)
    rec.seen(ms)
    return rec


def _carry_forward(
    req: Any, rec: TxRecord, evse_id: int | None, tokens: TokenPseudonymiser
) -> list[str]:
    """Update what 2.0.1 sends only on change; return the token's pseudonyms."""
    if evse_id:
        rec.connector_id = evse_id
        if req.evse.connectorId is not _UNSET:
            rec.evse_connector_id = req.evse.connectorId
    hashes: list[str] = []
    token = req.idToken
    if token is not _UNSET:
        hashes = tokens.candidates(token.idToken) if token.idToken else []
        rec.token_hash = hashes[0] if hashes else None
        rec.auth_method = TOKEN_METHODS[token.type]
    if req.transactionInfo.remoteStartId is not _UNSET or req.triggerReason == "RemoteStart":
        rec.auth_method = "app"
    return hashes


def _auth_result(
    msg: Message, ctx: StationContext, hashes: list[str], ms: int
) -> AuthResult | None:
    resp = msg.response
    if resp is not None and resp.idTokenInfo is not _UNSET:
        return AUTH_RESULTS[resp.idTokenInfo.status]
    seen = ctx.recall_auth(hashes, ms)
    return seen.result if seen is not None else None


def transaction_event(
    msg: Message, ctx: StationContext, out: Out, tokens: TokenPseudonymiser
) -> None:
    req = msg.request
    info = req.transactionInfo
    ts = utc(req.timestamp)
    ms = epoch_ms(ts)
    seq = req.seqNo if req.seqNo >= 0 else None
    evse_id = _evse(req.evse.id, "TransactionEvent") if req.evse is not _UNSET else None
    readings = _readings(req, ts, ms)
    # Everything above can fail; nothing below does (the context stays consistent).
    rec = _transaction(msg, ctx, info.transactionId, ms)
    hashes = _carry_forward(req, rec, evse_id, tokens)
    flags = (("connector_unknown",) if not rec.connector_id else ()) + (
        ("offline",) if req.offline is True else ()
    )
    kind = req.eventType
    if kind == "Started":
        meter_start = _energy(readings, latest=False)
        if rec.start_ms is None or ms <= rec.start_ms:
            rec.start_ms, rec.meter_start_wh = ms, meter_start
        out.started(rec, ts, ms, meter_start_wh=meter_start, seq=seq, flags=flags)
    if rec.connector_id and (kind == "Started" or ctx.open_on(rec.connector_id) is None):
        ctx.open(rec)
    if req.idToken is not _UNSET and rec.auth_method is not None:
        result = _auth_result(msg, ctx, hashes, ms)
        if result is not None:
            out.authorization(
                rec, ts, ms, method=rec.auth_method, result=result, seq=seq, flags=flags
            )
    for at, at_ms, reading in readings:
        if reading.energy_wh is None and reading.power_w is None and reading.soc is None:
            continue
        out.sample(rec, at, at_ms, reading, seq=seq, flags=flags)
        if reading.energy_wh is not None:
            rec.observe_meter(at_ms, reading.energy_wh)
    if info.chargingState is not _UNSET:
        rec.charging_state = CHARGING_STATES_V201[info.chargingState]
        out.state(rec, ts, ms, rec.charging_state, seq=seq, flags=flags)
    if kind == "Ended":
        meter_stop = _energy(readings, latest=True)
        reason = info.stoppedReason if info.stoppedReason is not _UNSET else STOP_REASON_DEFAULT
        out.stopped(rec, ts, ms, meter_stop_wh=meter_stop, reason=reason, seq=seq, flags=flags)
        ctx.close(rec, ms, meter_stop)
    if kind != "Updated":
        ctx.trim(ms)


def status_notification(
    msg: Message, ctx: StationContext, out: Out, tokens: TokenPseudonymiser
) -> None:
    req = msg.request
    evse = _evse(req.evseId, "StatusNotification")
    if evse == 0:
        return
    ts = utc(req.timestamp)
    ms = epoch_ms(ts)
    status = req.connectorStatus
    mapped = CONNECTOR_STATUS_V201[status]
    owner = ctx.status_owner(V, evse, ms)
    previous = ctx.statuses.get(evse)
    state = mapped
    if (
        status == "Occupied"
        and owner is not None
        and previous is not None
        and previous.state is not None
        and previous.ms <= ms
    ):
        state = owner.charging_state  # back from Faulted / Unavailable / Available
    if owner is not None and state is not None:
        out.status(owner, ts, ms, state)
    if previous is None or ms >= previous.ms:
        ctx.statuses[evse] = StatusSeen(ms, mapped, owner is not None)


def meter_values(msg: Message, ctx: StationContext, out: Out, tokens: TokenPseudonymiser) -> None:
    req = msg.request
    evse = _evse(req.evseId, "MeterValues")
    if evse == 0:
        return
    for mv in req.meterValue:
        reading = reading_v201(mv.sampledValue)
        if reading.energy_wh is None and reading.power_w is None and reading.soc is None:
            continue
        ts = utc(mv.timestamp)
        ms = epoch_ms(ts)
        rec = ctx.session_at(V, evse, ms)
        if rec is None:
            continue  # a reading between sessions
        out.sample(rec, ts, ms, reading, flags=_INFERRED)
        if reading.energy_wh is not None:
            rec.observe_meter(ms, reading.energy_wh)


def authorize(msg: Message, ctx: StationContext, out: Out, tokens: TokenPseudonymiser) -> None:
    token = msg.request.idToken
    if msg.response is None or not token.idToken:
        return
    seen = AuthSeen(
        msg.received_ms,
        AUTH_RESULTS[msg.response.idTokenInfo.status],
        TOKEN_METHODS[token.type],
    )
    ctx.remember_auth(tokens.pseudonym(token.idToken), seen)


HANDLERS: dict[str, Handler] = {
    "TransactionEvent": transaction_event,
    "StatusNotification": status_notification,
    "MeterValues": meter_values,
    "Authorize": authorize,
}
