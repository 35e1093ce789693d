"""OCPP 1.6 actions -> canonical events.

======================  =======================================================
Authorize               no event; the result is remembered (token pseudonym) and
                        given to the next StartTransaction with that token
RemoteStartTransaction  no event; an accepted one makes the next start with that
                        idTag (on that connector, or any) an ``app`` start
StartTransaction        session_started (+ authorization when the result is
                        known: StartTransaction.conf, else a recent Authorize)
MeterValues             meter_sample per meterValue timestamp
StatusNotification      state_changed on the session owning that time
StopTransaction         meter_sample per transactionData entry, session_stopped
everything else         validated, no event
======================  =======================================================

Authorisation method: 1.6 has no token type, so ``rfid`` unless a
RemoteStartTransaction for that idTag was accepted within 15 minutes of the
start (then ``app``).

Session identity: the integer transactionId of StartTransaction.conf. Messages
without a usable id are matched (``StationContext.match``):

* ``transactionId = -1`` (the charger never got the conf, errata 3.18): the
  unstopped session on that connector (MeterValues) or on the station (Stop,
  which has no connector) whose window contains the time and whose register
  continues; flagged ``attribution_inferred`` / ``attribution_uncertain``; no
  candidate -> ``UnattributableError``.
* an id we never saw: first an *unconfirmed* session (its start had no response)
  that fits as above -- then the id is learnt for it; otherwise the id is a
  transaction whose start was lost, and becomes its own session (the stitcher
  flags it ``missing_start``; a Stop alone has connector 0, ``connector_unknown``).
* MeterValues without transactionId: the session on that connector at that time
  (none: an idle connector's reading, no event). Connector 0 (main meter): no event.
* A 1.6 duplicate of a ``-1`` Stop (same time and meterStop) goes to the session
  it stopped; a StartTransaction repeated with the same time and meterStart on
  the connector is the open session again (``start_retried``), even when the
  CSMS answered it with a new transaction id (both ids then lead to it).

Statuses (``StationContext.status_owner``): a status belongs to the session on
its connector whose window contains its time, or to the next session if that
starts within 15 minutes (nothing in between). Before the start only a
charging status matters -- stamped at the start -- since a session starts idle
anyway; a status that arrives before its StartTransaction (1.6 section 3.7: non-
transaction messages may overtake the queue) is kept per connector and given to
the session when the start arrives. After the stop: no session, no event.
"""

from __future__ import annotations

from typing import Any

import msgspec

from schemas.vocabulary import AuthResult
from streams.core.events import Sample
from streams.core.ocpp.compiled import Row
from streams.core.ocpp.context import (
    AuthSeen,
    RemoteStart,
    StationContext,
    StatusSeen,
    TxRecord,
)
from streams.core.ocpp.emit import Handler, Message, Out, epoch_ms, from_ms, utc
from streams.core.ocpp.errors import OutOfRangeError, UnattributableError
from streams.core.ocpp.identity import natural_key, session_id_for
from streams.core.ocpp.meter import Reading, reading_v16
from streams.core.ocpp.privacy import TokenPseudonymiser
from streams.core.ocpp.vocabulary import AUTH_RESULTS, CONNECTOR_STATUS_V16, STOP_REASON_DEFAULT

__all__ = ["HANDLERS"]

V = "1.6"
_UNSET: Any = msgspec.UNSET
_INFERRED = ("attribution_inferred",)
_UNCERTAIN = ("attribution_uncertain",)


def _connector(value: int, what: str) -> int:
    if not 0 <= value <= 255:
        raise OutOfRangeError(f"OCPP 1.6 {what}: connectorId {value} outside 0..255")
    return value


def _tokens(tokens: TokenPseudonymiser, id_tag: str) -> list[str]:
    return tokens.candidates(id_tag) if id_tag else []


def _readings(meter_values: Any) -> list[tuple[Any, int, Reading]]:
    out = []
    for mv in meter_values:
        ts = utc(mv.timestamp)
        out.append((ts, epoch_ms(ts), reading_v16(mv.sampledValue)))
    return out


def _emit_samples(
    out: Out, rec: TxRecord, readings: list[tuple[Any, int, Reading]], flags: tuple[str, ...]
) -> None:
    for ts, ms, reading in readings:
        if reading.energy_wh is None and reading.power_w is None and reading.soc is None:
            continue
        out.sample(rec, ts, ms, reading, flags=flags)
        rec.seen(ms)
        if reading.energy_wh is not None:
            rec.observe_meter(ms, reading.energy_wh)


def authorize(msg: Message, ctx: StationContext, out: Out, tokens: TokenPseudonymiser) -> None:
    hashes = _tokens(tokens, msg.request.idTag)
    if msg.response is None or not hashes:
        return
    result = AUTH_RESULTS[msg.response.idTagInfo.status]
    ctx.remember_auth(hashes[0], AuthSeen(msg.received_ms, result, "rfid"))


def remote_start(msg: Message, ctx: StationContext, out: Out, tokens: TokenPseudonymiser) -> None:
    hashes = _tokens(tokens, msg.request.idTag)
    if not hashes or (msg.response is not None and msg.response.status != "Accepted"):
        return
    connector = msg.request.connectorId
    connector = connector if connector is not _UNSET and 0 <= connector <= 255 else 0
    ctx.remember_remote(RemoteStart(msg.received_ms, connector, hashes[0]))


def start_transaction(
    msg: Message, ctx: StationContext, out: Out, tokens: TokenPseudonymiser
) -> None:
    req, resp = msg.request, msg.response
    connector = _connector(req.connectorId, "StartTransaction")
    ts = utc(req.timestamp)
    ms = epoch_ms(ts)
    meter_start = req.meterStart if req.meterStart >= 0 else None  # -1 = unknown
    hashes = _tokens(tokens, req.idTag)
    native = str(resp.transactionId) if resp is not None else None
    result: AuthResult | None = None
    if resp is not None:
        result = AUTH_RESULTS[resp.idTagInfo.status]
    elif (seen := ctx.recall_auth(hashes, ms)) is not None:
        result = seen.result
    flags: tuple[str, ...] = ()

    rec = ctx.by_native(V, native) if native is not None else None
    if rec is None:
        current = ctx.open_on(connector)
        if (
            current is not None
            and current.version == V
            and current.start_ms == ms
            and current.meter_start_wh == meter_start
        ):
            rec, flags = current, ("start_retried",)  # the charger repeated its start
    if rec is None:
        key = native if native is not None else natural_key(connector, ms, meter_start or 0)
        sid = session_id_for(msg.tenant, msg.station_id, V, key)
        rec = ctx.transactions.get(sid) or ctx.add(
            TxRecord(session_id=sid, version=V, connector_id=connector, first_ms=ms)
        )
        if native is None:
            flags = ("start_unconfirmed",)
    if native is not None:
        rec.transaction_id = rec.transaction_id or native
        ctx.bind_native(rec, native)
    if rec.connector_id == 0:
        rec.connector_id = connector  # known from a stop seen first
    if rec.start_ms is None or ms <= rec.start_ms:
        rec.start_ms, rec.meter_start_wh = ms, meter_start
    rec.seen(ms)
    rec.token_hash = hashes[0] if hashes else None
    rec.auth_method = "app" if ctx.recall_remote(hashes, connector, ms) else "rfid"
    if meter_start is not None:
        rec.observe_meter(ms, meter_start)
    ctx.open(rec)

    out.started(rec, ts, ms, meter_start_wh=meter_start, flags=flags)
    if result is not None:
        out.authorization(rec, ts, ms, method=rec.auth_method, result=result)
    pending = ctx.statuses.get(connector)
    if (
        pending is not None
        and pending.state is not None
        and not pending.attributed
        and ctx.status_owner(V, connector, pending.ms) is rec
    ):
        # A status that overtook this start (1.6 section 3.7): it is this session's.
        out.status(rec, from_ms(pending.ms), pending.ms, pending.state)
        pending.attributed = True
    ctx.trim(ms)


def meter_values(msg: Message, ctx: StationContext, out: Out, tokens: TokenPseudonymiser) -> None:
    req = msg.request
    connector = _connector(req.connectorId, "MeterValues")
    if connector == 0:
        return  # the main meter: not a session's
    readings = _readings(req.meterValue)
    tx = req.transactionId
    if tx is _UNSET:
        for ts, ms, reading in readings:
            rec = ctx.session_at(V, connector, ms)
            if rec is not None:
                _emit_samples(out, rec, [(ts, ms, reading)], _INFERRED)
        return
    _, first_ms, first = readings[0]
    if tx == -1:
        rec, certain = ctx.match(V, connector, first_ms, first.energy_wh)
        if rec is None:
            raise UnattributableError(
                f"OCPP 1.6 MeterValues with transactionId -1 on {msg.station_id} "
                f"connector {connector}: no session open then"
            )
        _emit_samples(out, rec, readings, _INFERRED if certain else _UNCERTAIN)
        return
    rec, flags = _resolve(msg, ctx, str(tx), connector=connector, ms=first_ms, wh=first.energy_wh)
    _emit_samples(out, rec, readings, flags)


def meter_values_projected(  # noqa: PLR0917 - positional: called for nine messages in ten
    connector: int,
    tx: int | None,
    rows: list[Row],
    ctx: StationContext,
    tenant: str,
    station_id: str,
) -> tuple[list[Sample], list[int]] | None:
    """:func:`meter_values` of a request the compiled path has validated and
    reduced (``streams.core.ocpp.compiled``), in the compact form, when its
    transaction is known: the common case. ``None``: the case needs the full
    path (a connector out of range, no or ``-1`` transaction id, an id not bound
    yet); nothing has been changed then."""
    if connector == 0:
        return [], []  # the main meter: not a session's
    if not 0 < connector <= 255 or tx is None or tx == -1:
        return None
    # ctx.by_native, TxRecord.seen and observe_meter written out: this runs for
    # nine messages in ten, and each call costs as much as its body.
    sid = ctx.native_ids.get(f"{V}|{tx}")
    rec = ctx.transactions.get(sid) if sid is not None else None
    if rec is None:
        return None
    events: list[Sample] = []
    times: list[int] = []
    sid, cid, txid = rec.session_id, rec.connector_id, rec.transaction_id
    for ms, energy, power, soc in rows:
        # What _emit_samples does (no flags: the id was bound), as Out.sample's
        # compact values.
        events.append((sid, ms, tenant, station_id, cid, txid, energy, power, soc))
        times.append(ms)
        if ms < rec.first_ms:  # noqa: PLR1730 - min() costs a call
            rec.first_ms = ms
        if energy is not None and (rec.last_wh_ms is None or ms >= rec.last_wh_ms):
            rec.last_wh, rec.last_wh_ms = energy, ms
    return events, times


def _resolve(
    msg: Message,
    ctx: StationContext,
    native: str,
    *,
    connector: int | None,
    ms: int,
    wh: int | None,
) -> tuple[TxRecord, tuple[str, ...]]:
    """The session of a transaction id that is not -1 (see the module docstring)."""
    rec = ctx.by_native(V, native)
    if rec is not None:
        return rec, ()
    rec, certain = ctx.match(V, connector, ms, wh, unconfirmed_only=True)
    # Unlike -1 there is a safe alternative (the id's own session), so a register
    # that does not continue the unconfirmed session rules it out.
    if rec is not None and (wh is None or rec.continues(wh, ms)):
        rec.transaction_id = native  # the id its unconfirmed start never told us
        ctx.bind_native(rec, native)
        return rec, _INFERRED if certain else _UNCERTAIN
    sid = session_id_for(msg.tenant, msg.station_id, V, native)
    rec = ctx.transactions.get(sid) or ctx.add(
        TxRecord(
            session_id=sid,
            version=V,
            connector_id=connector or 0,
            first_ms=ms,
            transaction_id=native,
        )
    )
    ctx.bind_native(rec, native)
    if ctx.open_on(rec.connector_id) is None and rec.connector_id:
        ctx.open(rec)
    return rec, (() if rec.connector_id else ("connector_unknown",))


def status_notification(
    msg: Message, ctx: StationContext, out: Out, tokens: TokenPseudonymiser
) -> None:
    req = msg.request
    connector = _connector(req.connectorId, "StatusNotification")
    if connector == 0:
        return  # the whole charge point, not a connector
    # timestamp is optional in 1.6; then the reception time is the best we have.
    ts = utc(req.timestamp) if req.timestamp is not _UNSET else msg.received
    ms = epoch_ms(ts)
    state = CONNECTOR_STATUS_V16[req.status]
    owner = ctx.status_owner(V, connector, ms) if state is not None else None
    if owner is not None and state is not None:
        out.status(owner, ts, ms, state)
    previous = ctx.statuses.get(connector)
    if previous is None or ms >= previous.ms:
        ctx.statuses[connector] = StatusSeen(ms, state, owner is not None)


def stop_transaction(
    msg: Message, ctx: StationContext, out: Out, tokens: TokenPseudonymiser
) -> None:
    req = msg.request
    ts = utc(req.timestamp)
    ms = epoch_ms(ts)
    meter_stop = req.meterStop if req.meterStop >= 0 else None  # -1 = unknown
    readings = _readings(req.transactionData) if req.transactionData is not _UNSET else []
    if req.transactionId == -1:
        rec = next(
            (
                r
                for r in ctx.transactions.values()
                if r.version == V and r.end_ms == ms and r.meter_stop_wh == meter_stop
            ),
            None,
        )  # the same stop again (chargers re-send Stop after a reboot)
        flags: tuple[str, ...] = _INFERRED
        if rec is None:
            rec, certain = ctx.match(V, None, ms, meter_stop)
            if rec is None:
                raise UnattributableError(
                    f"OCPP 1.6 StopTransaction with transactionId -1 on {msg.station_id}: "
                    "no session open then"
                )
            flags = _INFERRED if certain else _UNCERTAIN
    else:
        rec, flags = _resolve(
            msg, ctx, str(req.transactionId), connector=None, ms=ms, wh=meter_stop
        )
    _emit_samples(out, rec, readings, flags)
    reason = req.reason if req.reason is not _UNSET else STOP_REASON_DEFAULT
    out.stopped(rec, ts, ms, meter_stop_wh=meter_stop, reason=reason, flags=flags)
    rec.seen(ms)
    if meter_stop is not None:
        rec.observe_meter(ms, meter_stop)
    ctx.close(rec, ms, meter_stop)
    ctx.trim(ms)


HANDLERS: dict[str, Handler] = {
    "Authorize": authorize,
    "RemoteStartTransaction": remote_start,
    "StartTransaction": start_transaction,
    "MeterValues": meter_values,
    "StatusNotification": status_notification,
    "StopTransaction": stop_transaction,
}
