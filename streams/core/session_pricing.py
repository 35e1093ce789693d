"""Pricing sessions in stream: the tariff snapshot, the profile, costs and CDRs.

* At a session's start the tariff in force for its connector is snapshotted on
  the state (``TariffBook.resolve``): a price change never reaches a running
  session.
* Every emitted record carries the cost of the session *so far* (provisional
  while it is open) and, once it is finished, its final cost.
* A finished session gets an OCPI 2.2.1 CDR. When late data changes a priced
  session, a credit CDR (negated ``total_cost``, ``credit_reference_id``) is
  issued, then a new CDR: a CDR is never edited.

The profile handed to the pricer: the session window of the record, the
cumulative energy at every quarter-hour knot of the meter fold
(``streams.core.meter``), and the charging/parking switches of the state. The
pricer interpolates energy linearly between knots, so local boundaries on
quarter hours get exactly the energy the samples around them say; other
cumulative-energy and power thresholds are judged between knots (at most 15
minutes apart). Power and current thresholds are not priced in stream (no
power profile is kept); they are when repricing a CDR (``chargewatch price``).

A session longer than ``MAX_PRICED_DAYS`` is not priced (no cost, no CDR) and
is flagged ``too_long_to_price``: that length comes from a clock glitch (a
timestamp years off), and the periods of such a window - one per local day
and tariff boundary - would take the worker's time and memory.
"""

from __future__ import annotations

import uuid
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import msgspec

from schemas.cdr import Cdr, CdrHeader, CdrLocation, CdrToken, dump_cdr_json
from schemas.tariff import load_ocpi_json
from streams.core.meter import fold_total, knots
from streams.core.pricing import (
    MeterPoint,
    PriceResult,
    SessionProfile,
    StateSwitch,
    TariffCache,
    activity_of,
    build_periods,
    credit_cdr,
    price,
    to_cdr,
)
from streams.core.record import SessionOut
from streams.core.state import SessionState
from streams.core.tariff_book import TariffBook, TariffRef

__all__ = ["CDR_NAMESPACE", "MAX_PRICED_DAYS", "SessionPricer", "cdr_json", "profile_of"]

MAX_PRICED_DAYS = 366

CDR_NAMESPACE = uuid.UUID("1d3f5c7e-9a2b-4c6d-8e0f-a1b2c3d4e5f6")
_TOKEN_TYPE = {"rfid": "RFID", "app": "APP_USER", "plug_and_charge": "OTHER"}
_AUTH_METHOD = {"app": "COMMAND", "none": "WHITELIST", "plug_and_charge": "WHITELIST"}


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


@dataclass
class SessionPricer:
    """Prices sessions under the tariffs of a :class:`TariffBook`."""

    book: TariffBook
    country_code: str = "NL"
    party_id: str = "CWT"
    cache: TariffCache = field(default_factory=TariffCache)

    def snapshot(self, state: SessionState) -> None:
        """Fix the session's tariff at its start (once)."""
        if state.tariff_id is not None or state.started_ms is None:
            return
        ref = self.book.resolve(state.station_id, state.connector_id, state.started_ms)
        if ref is not None:
            state.tariff_id, state.tariff_version_ms = ref.tariff_id, ref.version_ms
            state.time_zone = self.book.time_zone(state.station_id)

    def price(self, state: SessionState, record: SessionOut) -> PriceResult | None:
        """The session's cost as it stands (None when it has no tariff)."""
        if state.tariff_id is None or state.tariff_version_ms is None:
            return None
        tariff = self.book.get(TariffRef(state.tariff_id, state.tariff_version_ms))
        if tariff is None:
            return None
        if _too_long(record):
            return None
        compiled = self.cache.get(tariff)
        profile = profile_of(state, record)
        return price(build_periods(profile, compiled, state.time_zone or "UTC"), compiled)

    def cdr(self, state: SessionState, record: SessionOut, result: PriceResult, n: int) -> Cdr:
        """CDR number ``n`` of a finished session."""
        cdr_id = str(uuid.uuid5(CDR_NAMESPACE, f"{record.session_id}/{n}"))
        uid = (record.token_hash or "unknown")[:36]
        header = CdrHeader(
            country_code=self.country_code,
            party_id=self.party_id,
            id=cdr_id,
            session_id=record.session_id[:36],
            cdr_token=CdrToken(
                country_code=self.country_code,
                party_id=self.party_id,
                uid=uid,
                type=_TOKEN_TYPE.get(record.auth_method or "", "OTHER"),
                contract_id=uid,
            ),
            auth_method=_AUTH_METHOD.get(record.auth_method or "", "AUTH_REQUEST"),
            cdr_location=CdrLocation(
                id=record.station_id[:36],
                evse_uid=f"{record.station_id}*{record.connector_id}"[:36],
                evse_id=f"{record.station_id}*{record.connector_id}"[:48],
                connector_id=str(record.connector_id),
            ),
        )
        return to_cdr(result, header=header, last_updated=record.last_event_at)

    def with_cost(self, state: SessionState, record: SessionOut) -> SessionOut:
        """The record with the session's cost as it stands (no CDR)."""
        return self._costed(state, record)[0]

    def _costed(
        self, state: SessionState, record: SessionOut
    ) -> tuple[SessionOut, PriceResult | None]:
        result = self.price(state, record)
        if result is None:
            if state.tariff_id is not None and _too_long(record):
                flags = [*record.flags, "too_long_to_price"]
                return msgspec.structs.replace(record, flags=flags), None
            return record, None
        total = result.reported.total
        return _with_cost(record, result.currency, state.tariff_id, total.excl_vat,
                          total.incl_vat), result  # fmt: skip

    def settle_cdrs(self, state: SessionState, record: SessionOut) -> tuple[SessionOut, list[Cdr]]:
        """Cost on the record; for a finished session, the CDRs to issue (if any)."""
        record, result = self._costed(state, record)
        if result is None:
            return record, []
        if record.status not in ("completed", "auto_closed"):
            return record, []
        cdr = self.cdr(state, record, result, state.cdr_count + 1)
        digest = _cdr_digest(cdr)
        if state.cdr_count and digest == state.cdr_digest:
            return record, []  # nothing billable changed
        issued: list[Cdr] = []
        if state.last_cdr is not None:
            previous = Cdr.model_validate(load_ocpi_json(state.last_cdr))
            issued.append(credit_cdr(previous, last_updated=record.last_event_at))
        issued.append(cdr)
        state.cdr_count += 1
        state.cdr_digest = digest
        state.last_cdr = cdr_json(cdr)
        return record, issued


_MAX_PRICED = timedelta(days=MAX_PRICED_DAYS)


def _too_long(record: SessionOut) -> bool:
    return (record.ended_at or record.last_event_at) - record.started_at > _MAX_PRICED


def _cdr_digest(cdr: Cdr) -> int:
    """What is billed, without the CDR's own identity and timestamp."""
    billed = cdr.model_dump_json(exclude={"id", "last_updated"}, exclude_none=True)
    return zlib.crc32(billed.encode())


def _with_cost(
    record: SessionOut,
    currency: str,
    tariff_id: str | None,
    excl: Decimal,
    incl: Decimal | None,
) -> SessionOut:
    return msgspec.structs.replace(
        record,
        tariff_id=tariff_id,
        currency=currency,
        total_cost={"excl_vat": str(excl), "incl_vat": None if incl is None else str(incl)},
    )


def profile_of(state: SessionState, record: SessionOut) -> SessionProfile:
    """The pricer's view of the session as the record describes it."""
    start = record.started_at
    end = record.ended_at or record.last_event_at
    start_ms, end_ms = round(start.timestamp() * 1000), round(end.timestamp() * 1000)
    meter, _ = fold_total(state.meter, state.started_ms, state.stopped_ms)
    points = [
        MeterPoint(_utc(ms), wh) for ms, wh in knots(meter) if start_ms < ms <= end_ms
    ]  # fmt: skip
    switches: list[StateSwitch] = []
    for ms, _seq, st in state.states:
        activity = activity_of(st)  # type: ignore[arg-type]  # states hold the vocabulary
        at = max(ms, start_ms)
        if at > end_ms:
            break
        if switches and switches[-1].time == _utc(at):
            switches[-1] = StateSwitch(_utc(at), activity)
        elif not switches or switches[-1].activity != activity:
            switches.append(StateSwitch(_utc(at), activity))
    if not switches or switches[0].time > start:
        # Before the first state change: plugged in, not yet requesting power; a
        # charger that reports no states at all charged until the register last rose.
        if not state.states and meter.last_rise_ms is not None:
            switches = [StateSwitch(start, "charging")]
            if start_ms < meter.last_rise_ms < end_ms:
                switches.append(StateSwitch(_utc(meter.last_rise_ms), "parking"))
        else:
            switches.insert(0, StateSwitch(start, "parking"))
    return SessionProfile(start=start, end=end, points=tuple(points), states=tuple(switches))


def cdr_json(cdr: Cdr) -> bytes:
    """Wire form of a CDR (the cdrs topic value): amounts as exact JSON numbers."""
    return dump_cdr_json(cdr)
