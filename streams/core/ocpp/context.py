"""Per-station context: what the normaliser must remember between messages.

OCPP messages do not all say which session they belong to (1.6
StatusNotification, 2.0.1 standalone MeterValues, 1.6 ``transactionId = -1``),
1.6 transaction ids are only known from a response, and 2.0.1 sends evse, id
token and charging state only when they change. ``StationContext`` holds that
memory for one station: a plain msgspec value with :meth:`StationContext.snapshot`
/ :meth:`StationContext.restore`, so the worker can keep it in a Faust table
keyed by station and rebuild it from the changelog.

It is bounded: at most ``MAX_TRANSACTIONS`` transactions (open ones first,
then the ``MAX_CLOSED`` most recently closed, kept so that late or duplicate
messages still find their session), Authorize results and remote starts for
``AUTH_TTL_MS`` of event time (at most ``MAX_AUTH`` / ``MAX_REMOTE``), and one
last status per connector. Eviction runs on transaction boundaries and uses
event time only, so it is deterministic. Records hold only scalars, so they
are created with ``gc=False`` (no reference cycles; less garbage-collector work
on the hot path).
"""

from __future__ import annotations

import msgspec

from schemas.vocabulary import AuthMethod, AuthResult, ChargingState

__all__ = [
    "AUTH_TTL_MS",
    "MAX_CLOSED",
    "MAX_TRANSACTIONS",
    "PRE_START_MS",
    "AuthSeen",
    "RemoteStart",
    "StationContext",
    "StatusSeen",
    "TxRecord",
]

AUTH_TTL_MS = 15 * 60 * 1000
"""How long an Authorize / RemoteStartTransaction can explain a later start."""
PRE_START_MS = 15 * 60 * 1000
"""A status this long before a session's start (and after the previous one) is its
pre-start state (e.g. ``Preparing`` at plug-in, or ``Charging`` stamped a moment early)."""
MAX_TRANSACTIONS = 32
MAX_CLOSED = 8
MAX_AUTH = 32
MAX_REMOTE = 16


class TxRecord(msgspec.Struct, kw_only=True, gc=False):
    """One transaction as the normaliser knows it (times are epoch ms)."""

    session_id: str
    version: str  # "1.6" | "2.0.1"
    connector_id: int  # 1.6 connector, 2.0.1 EVSE id; 0 = not known
    first_ms: int  # earliest event time seen for it
    transaction_id: str | None = None  # native id; None = 1.6 start still unconfirmed
    start_ms: int | None = None
    end_ms: int | None = None  # stop seen at
    until_ms: int | None = None  # window end: the stop, or when a newer start replaced it
    meter_start_wh: int | None = None
    meter_stop_wh: int | None = None
    last_wh: int | None = None  # latest register reading, for meter continuity
    last_wh_ms: int | None = None
    # Carried forward between messages (2.0.1 sends them only on change).
    evse_connector_id: int | None = None
    charging_state: ChargingState | None = None
    token_hash: str | None = None
    auth_method: AuthMethod | None = None

    @property
    def window_start(self) -> int:
        return self.start_ms if self.start_ms is not None else self.first_ms

    def contains(self, ms: int) -> bool:
        return self.window_start <= ms and (self.until_ms is None or ms <= self.until_ms)

    def continues(self, wh: int, ms: int) -> bool:
        """Could register ``wh`` at ``ms`` belong to this transaction?"""
        if self.meter_start_wh is not None and wh < self.meter_start_wh:
            return False
        if self.last_wh is None or self.last_wh_ms is None or self.last_wh_ms > ms:
            return True
        return wh >= self.last_wh

    def seen(self, ms: int) -> None:
        if ms < self.first_ms:  # noqa: PLR1730 - min() costs a call, on every event
            self.first_ms = ms

    def observe_meter(self, ms: int, wh: int) -> None:
        if self.last_wh_ms is None or ms >= self.last_wh_ms:
            self.last_wh, self.last_wh_ms = wh, ms


class AuthSeen(msgspec.Struct, array_like=True, frozen=True, gc=False):
    ms: int
    result: AuthResult
    method: AuthMethod


class RemoteStart(msgspec.Struct, array_like=True, frozen=True, gc=False):
    ms: int
    connector_id: int  # 0 = any connector
    token_hash: str


class StatusSeen(msgspec.Struct, array_like=True, gc=False):
    ms: int
    state: ChargingState | None  # canonical state, None = no charging meaning (e.g. Reserved)
    attributed: bool


class StationContext(msgspec.Struct, kw_only=True):
    """Everything the normaliser remembers about one station."""

    transactions: dict[str, TxRecord] = msgspec.field(default_factory=dict)  # by session id
    native_ids: dict[str, str] = msgspec.field(default_factory=dict)  # "ver|native" -> session
    open_sessions: dict[int, str] = msgspec.field(default_factory=dict)  # connector -> session
    authorizations: dict[str, AuthSeen] = msgspec.field(default_factory=dict)  # token hash
    remote_starts: list[RemoteStart] = msgspec.field(default_factory=list)
    statuses: dict[int, StatusSeen] = msgspec.field(default_factory=dict)  # connector

    # -- persistence ---------------------------------------------------------------

    def snapshot(self) -> bytes:
        """Serialise (msgpack) for a changelog-backed table."""
        return _encoder.encode(self)

    @classmethod
    def restore(cls, raw: bytes) -> StationContext:
        """Inverse of :meth:`snapshot`."""
        return _decoder.decode(raw)

    # -- transactions --------------------------------------------------------------

    def by_native(self, version: str, native_id: str) -> TxRecord | None:
        session_id = self.native_ids.get(f"{version}|{native_id}")
        return self.transactions.get(session_id) if session_id is not None else None

    def bind_native(self, record: TxRecord, native_id: str) -> None:
        self.native_ids[f"{record.version}|{native_id}"] = record.session_id

    def add(self, record: TxRecord) -> TxRecord:
        self.transactions[record.session_id] = record
        return record

    def open_on(self, connector_id: int) -> TxRecord | None:
        session_id = self.open_sessions.get(connector_id)
        return self.transactions.get(session_id) if session_id is not None else None

    def open(self, record: TxRecord) -> None:
        """Make ``record`` the open session of its connector. A session still open
        there that started earlier ends its window at this start (it lost its stop);
        a record that started *before* the open one (reported late) ends its own
        window where the open one began."""
        if record.end_ms is not None:
            return
        connector = record.connector_id
        previous = self.open_on(connector)
        if previous is None or previous is record:
            self.open_sessions[connector] = record.session_id
            return
        start = record.start_ms
        if start is None:
            return  # a transaction seen without its start: keep the open one
        if previous.window_start <= start:
            if previous.until_ms is None or previous.until_ms > start:
                previous.until_ms = start
            self.open_sessions[connector] = record.session_id
        elif record.until_ms is None or record.until_ms > previous.window_start:
            record.until_ms = previous.window_start

    def close(self, record: TxRecord, ms: int, meter_stop_wh: int | None) -> None:
        if record.end_ms is None or ms < record.end_ms:
            record.end_ms = ms
            record.meter_stop_wh = meter_stop_wh
        record.until_ms = record.end_ms
        if self.open_sessions.get(record.connector_id) == record.session_id:
            del self.open_sessions[record.connector_id]

    def candidates(
        self, version: str, connector_id: int | None, ms: int, *, unconfirmed_only: bool = False
    ) -> list[TxRecord]:
        """Unstopped transactions whose window contains ``ms``."""
        return [
            rec
            for rec in self.transactions.values()
            if rec.version == version
            and rec.end_ms is None
            and (connector_id is None or rec.connector_id == connector_id)
            and not (unconfirmed_only and rec.transaction_id is not None)
            and rec.contains(ms)
        ]

    def match(
        self,
        version: str,
        connector_id: int | None,
        ms: int,
        wh: int | None,
        *,
        unconfirmed_only: bool = False,
    ) -> tuple[TxRecord | None, bool]:
        """Find the unstopped transaction a message without a usable id belongs to:
        window contains ``ms`` (same connector, when known), then meter continuity
        (``wh`` not below the start or the last earlier reading). Returns the match
        and whether it was the only fit; among several, the latest start wins."""
        found = self.candidates(version, connector_id, ms, unconfirmed_only=unconfirmed_only)
        if not found:
            return None, False
        certain = len(found) == 1
        if wh is not None:
            continuous = [rec for rec in found if rec.continues(wh, ms)]
            # Continuity can single one out; if nobody continues, any pick is a guess.
            certain = len(continuous) == 1
            found = continuous or found
        best = max(found, key=lambda rec: (rec.window_start, rec.session_id))
        return best, certain

    def session_at(self, version: str, connector_id: int, ms: int) -> TxRecord | None:
        """The session on the connector whose window contains ``ms`` (latest start wins)."""
        best: TxRecord | None = None
        for rec in self.transactions.values():
            if (
                rec.version == version
                and rec.connector_id == connector_id
                and rec.contains(ms)
                and (best is None or rec.window_start > best.window_start)
            ):
                best = rec
        return best

    def status_owner(self, version: str, connector_id: int, ms: int) -> TxRecord | None:
        """The session a connector status at ``ms`` describes: the one running then,
        else the next one if it starts within ``PRE_START_MS`` (nothing in between)."""
        found = self.session_at(version, connector_id, ms)
        if found is not None:
            return found
        upcoming: TxRecord | None = None
        for rec in self.transactions.values():
            if rec.version != version or rec.connector_id != connector_id:
                continue
            start = rec.window_start
            if ms < start <= ms + PRE_START_MS and (
                upcoming is None or start < upcoming.window_start
            ):
                upcoming = rec
        return upcoming

    # -- authorisation memory ------------------------------------------------------

    def remember_auth(self, token_hash: str, seen: AuthSeen) -> None:
        self.authorizations.pop(token_hash, None)
        self.authorizations[token_hash] = seen
        self._trim_auth(seen.ms)

    def recall_auth(self, token_hashes: list[str], ms: int) -> AuthSeen | None:
        for token_hash in token_hashes:
            seen = self.authorizations.get(token_hash)
            if seen is not None and abs(ms - seen.ms) <= AUTH_TTL_MS:
                return seen
        return None

    def remember_remote(self, remote: RemoteStart) -> None:
        self.remote_starts.append(remote)
        self._trim_auth(remote.ms)

    def recall_remote(self, token_hashes: list[str], connector_id: int, ms: int) -> bool:
        return any(
            r.token_hash in token_hashes
            and r.connector_id in (0, connector_id)
            and abs(ms - r.ms) <= AUTH_TTL_MS
            for r in self.remote_starts
        )

    # -- bounds --------------------------------------------------------------------

    def trim(self, now_ms: int) -> None:
        """Evict what can no longer matter (see the module docstring)."""
        self._trim_auth(now_ms)
        size = len(self.transactions)
        if size - len(self.open_sessions) <= MAX_CLOSED and size <= MAX_TRANSACTIONS:
            return  # nothing to evict (the usual case): skip the sort
        open_ids = set(self.open_sessions.values())
        ended = [r for r in self.transactions.values() if r.session_id not in open_ids]
        ended.sort(key=lambda r: r.until_ms if r.until_ms is not None else r.window_start)
        excess = max(len(ended) - MAX_CLOSED, len(self.transactions) - MAX_TRANSACTIONS, 0)
        evicted = ended[:excess]
        if len(self.transactions) - len(evicted) > MAX_TRANSACTIONS:  # open ones must go too
            still_open = sorted(
                (r for r in self.transactions.values() if r.session_id in open_ids),
                key=lambda r: r.window_start,
            )
            evicted += still_open[: len(self.transactions) - len(evicted) - MAX_TRANSACTIONS]
        if not evicted:
            return
        for rec in evicted:
            del self.transactions[rec.session_id]
            if self.open_sessions.get(rec.connector_id) == rec.session_id:
                del self.open_sessions[rec.connector_id]
        self.native_ids = {
            key: sid for key, sid in self.native_ids.items() if sid in self.transactions
        }

    def _trim_auth(self, now_ms: int) -> None:
        horizon = now_ms - AUTH_TTL_MS
        if self.authorizations:
            kept = {h: a for h, a in self.authorizations.items() if a.ms >= horizon}
            self.authorizations = dict(list(kept.items())[-MAX_AUTH:])
        if self.remote_starts:
            self.remote_starts = [r for r in self.remote_starts if r.ms >= horizon][-MAX_REMOTE:]


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(StationContext)
