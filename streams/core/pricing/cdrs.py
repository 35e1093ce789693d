"""Priced sessions as OCPI CDRs: emit, credit, and reprice other parties' CDRs.

* :func:`to_cdr` - a CDR from a :class:`PriceResult` and the session's
  identity (:class:`schemas.cdr.CdrHeader`). Charging periods carry ENERGY
  (kWh), TIME or PARKING_TIME (h), RESERVATION_TIME (h) and MIN/MAX power and
  current where known. Sub-costs are given for every dimension the tariff
  prices. ``total_time`` is the session without its reservation; the CDR
  starts at the reservation start when there is one (OCPI ``start_date_time``).
* :func:`credit_cdr` - the credit CDR that cancels a sent CDR. OCPI: it
  "will contain all the data of the original CDR. Only the values in the
  ``total_cost`` field SHALL contain the negative amounts". So only
  ``total_cost`` is negated (both excl and incl), unless the partner
  agreement wants the sub-costs negated too (``negate_sub_costs=True``).
* :func:`price_cdr` - reprices a CDR from its charging periods: each period
  runs from its ``start_date_time`` to the next one's (the last to the CDR
  end) and contributes its ENERGY, TIME and PARKING_TIME volumes; the pricer
  then cuts it at the tariff's boundaries as for our own sessions. How the
  periods become a :class:`SessionProfile` is in :func:`profile_from_cdr`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from schemas.cdr import Cdr, CdrDimension, CdrHeader, ChargingPeriod
from schemas.tariff import Price, Tariff
from streams.core.pricing.calculator import price_session
from streams.core.pricing.compiled import CompiledTariff, compile_tariff
from streams.core.pricing.errors import PricingError
from streams.core.pricing.money import DEFAULT_POLICY, RoundingPolicy
from streams.core.pricing.profile import (
    MeterPoint,
    ReservationWindow,
    SessionProfile,
    StateSwitch,
    epoch_s,
)
from streams.core.pricing.result import PriceResult
from streams.core.pricing.units import hours, kwh, seconds_of, wh_of

__all__ = ["credit_cdr", "price_cdr", "profile_from_cdr", "reprice", "to_cdr"]

CREDIT_SUFFIX = "-C"
D0 = Decimal(0)


def to_cdr(result: PriceResult, *, header: CdrHeader, last_updated: datetime) -> Cdr:
    """The OCPI CDR of a priced session."""
    tariff = result.tariff
    periods = tuple(
        ChargingPeriod(
            start_date_time=p.period.start, dimensions=p.period.dimensions(), tariff_id=tariff.id
        )
        for p in result.periods
    )
    data: dict[str, Any] = {
        **header.model_dump(exclude_none=True),
        "start_date_time": result.start,
        "end_date_time": result.end,
        "currency": tariff.currency,
        "tariffs": (tariff,),
        "charging_periods": periods,
        "last_updated": last_updated,
        **_totals(result),
    }
    return _validated(data, lenient=False)


def credit_cdr(cdr: Cdr, *, last_updated: datetime, negate_sub_costs: bool = False) -> Cdr:
    """The credit CDR for ``cdr``: id + ``-C``, ``credit=true``, total_cost negated."""
    if cdr.credit:
        raise PricingError(f"CDR {cdr.id} is itself a credit CDR")
    data = cdr.model_dump()
    data.update(
        id=cdr.id + CREDIT_SUFFIX,
        credit=True,
        credit_reference_id=cdr.id,
        total_cost=_negated(cdr.total_cost),
        last_updated=last_updated,
    )
    if negate_sub_costs:
        for name in _SUB_COSTS:
            amount = getattr(cdr, name)
            data[name] = None if amount is None else _negated(amount)
    return _validated(data, lenient=True)


def price_cdr(
    tariff: Tariff | CompiledTariff,
    cdr: Cdr,
    tz: tzinfo | str,
    *,
    policy: RoundingPolicy = DEFAULT_POLICY,
) -> Cdr:
    """``cdr`` with its totals recomputed under ``tariff``.

    Replaces ``total_cost`` and the sub-costs, ``total_energy``,
    ``total_time`` and ``total_parking_time``, and sets ``tariffs`` to the
    tariff used. The charging periods are kept as the CPO sent them.
    """
    compiled = tariff if isinstance(tariff, CompiledTariff) else compile_tariff(tariff)
    if compiled.tariff.currency != cdr.currency:
        raise PricingError(
            f"tariff currency {compiled.tariff.currency} is not the CDR's {cdr.currency}"
        )
    result = reprice(compiled, cdr, tz, policy=policy)
    data = cdr.model_dump()
    for name in (*_SUB_COSTS, "total_parking_time"):
        data.pop(name, None)
    data.update(tariffs=(compiled.tariff,), **_totals(result))
    return _validated(data, lenient=True)


def reprice(
    tariff: Tariff | CompiledTariff,
    cdr: Cdr,
    tz: tzinfo | str,
    *,
    policy: RoundingPolicy = DEFAULT_POLICY,
) -> PriceResult:
    """The full :class:`PriceResult` of a CDR's periods under ``tariff``."""
    return price_session(profile_from_cdr(cdr), tariff, tz, policy=policy)


def profile_from_cdr(cdr: Cdr) -> SessionProfile:
    """A CDR's charging periods as a session profile.

    * Leading periods with RESERVATION_TIME are the reservation; if nothing
      follows them, it expired.
    * A period with only TIME is charging for its whole length, only
      PARKING_TIME parking; with both, it is charging first, then parking for
      its PARKING_TIME volume; with neither, charging if it has energy.
    * Its ENERGY is spread evenly over its charging part. A CDR without any
      ENERGY dimension spreads ``total_energy`` over all charging time.
    * MAX_POWER / MAX_CURRENT, when given, are the period's power and current
      (a parking period without them is at 0 kW and 0 A).
    """
    bounds = [epoch_s(p.start_date_time) for p in cdr.charging_periods]
    bounds.append(epoch_s(cdr.end_date_time))
    spans = list(zip(cdr.charging_periods, bounds, bounds[1:], strict=False))
    if bounds[-1] < bounds[-2]:
        raise PricingError("the CDR ends before its last charging period starts")
    first_session = 0
    while first_session < len(spans) and _is_reservation(spans[first_session][0]):
        first_session += 1
    reservation = None
    if first_session:
        expired = first_session == len(spans)
        reservation = ReservationWindow(_utc(bounds[0]), _utc(bounds[first_session]), expired)
        if expired:
            end = _utc(bounds[-1])
            return SessionProfile(start=end, end=end, reservation=reservation)
    session = spans[first_session:]
    pieces = [_piece(period, a, b) for period, a, b in session]
    if not any(_has(p, "ENERGY") for p, _, _ in session):
        _spread(pieces, wh_of(cdr.total_energy))
    points: list[MeterPoint] = []
    states: list[StateSwitch] = []
    energy = 0
    for (_, a, b), (charging_s, wh, power, current) in zip(session, pieces, strict=True):
        points.append(MeterPoint(_utc(a), energy, power, current))
        states.append(StateSwitch(_utc(a), "charging" if charging_s else "parking"))
        energy += wh
        if 0 < charging_s < b - a:
            switch = _utc(a + charging_s)
            points.append(MeterPoint(switch, energy, 0 if power is not None else None, D0))
            states.append(StateSwitch(switch, "parking"))
    points.append(MeterPoint(_utc(bounds[-1]), energy))
    try:
        return SessionProfile(
            start=_utc(session[0][1]),
            end=_utc(bounds[-1]),
            points=tuple(points),
            states=tuple(states),
            reservation=reservation,
        )
    except PricingError as exc:
        raise PricingError(f"CDR {cdr.id}: {exc}") from exc


_SUB_COSTS = (
    "total_fixed_cost",
    "total_energy_cost",
    "total_time_cost",
    "total_parking_cost",
    "total_reservation_cost",
)

# charging seconds, energy Wh, power W, current A
_Piece = tuple[int, int, int | None, Decimal | None]


def _piece(period: ChargingPeriod, a: int, b: int) -> _Piece:
    length = b - a
    energy = _sum(period.dimensions, "ENERGY")
    time = _sum(period.dimensions, "TIME")
    parking = _sum(period.dimensions, "PARKING_TIME")
    if time is not None and parking is not None:
        charging_s = length - min(seconds_of(parking), length)
    elif parking is not None:
        charging_s = 0
    elif time is not None:
        charging_s = length
    else:
        charging_s = length if energy else 0
    power = _max(period.dimensions, "MAX_POWER")
    current = _max(period.dimensions, "MAX_CURRENT")
    if not charging_s:  # parking: the EV draws nothing, whatever came before
        power = D0 if power is None else power
        current = D0 if current is None else current
    return (
        charging_s,
        wh_of(energy) if energy is not None else 0,
        wh_of(power) if power is not None else None,  # kW -> W, as kWh -> Wh
        current,
    )


def _spread(pieces: list[_Piece], total_wh: int) -> None:
    """Spread ``total_wh`` over the pieces by charging seconds (whole Wh, exact sum)."""
    charging = sum(p[0] for p in pieces)
    if not pieces or total_wh <= 0:
        return
    done_s = done_wh = 0
    for i, (charging_s, _, power, current) in enumerate(pieces):
        done_s += charging_s
        target = total_wh * done_s // charging if charging else (total_wh if i == 0 else done_wh)
        pieces[i] = (charging_s, target - done_wh, power, current)
        done_wh = target


def _is_reservation(period: ChargingPeriod) -> bool:
    types = {d.type for d in period.dimensions}
    return "RESERVATION_TIME" in types and not types & {"ENERGY", "TIME", "PARKING_TIME"}


def _has(period: ChargingPeriod, kind: str) -> bool:
    return any(d.type == kind for d in period.dimensions)


def _sum(dims: Iterable[CdrDimension], kind: str) -> Decimal | None:
    values = [d.volume for d in dims if d.type == kind]
    return sum(values, Decimal(0)) if values else None


def _max(dims: Iterable[CdrDimension], kind: str) -> Decimal | None:
    return max((d.volume for d in dims if d.type == kind), default=None)


def _utc(t: int) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _negated(amount: Price) -> Price:
    return Price(
        excl_vat=_neg(amount.excl_vat),
        incl_vat=None if amount.incl_vat is None else _neg(amount.incl_vat),
    )


def _neg(value: Decimal) -> Decimal:
    return value.copy_negate() if value else value  # never -0


def _totals(result: PriceResult) -> dict[str, Any]:
    tariff = result.tariff
    session_types = {
        c.type
        for e in tariff.elements
        if e.restrictions is None or e.restrictions.reservation is None
        for c in e.price_components
    }
    reported = result.reported
    totals: dict[str, Any] = {
        "total_cost": reported.total,
        "total_energy": kwh(result.energy_wh),
        "total_time": hours(result.duration_s),
        "total_parking_time": hours(result.parking_s),
    }
    if "FLAT" in session_types:
        totals["total_fixed_cost"] = reported.fixed
    if "ENERGY" in session_types:
        totals["total_energy_cost"] = reported.energy
    if "TIME" in session_types:
        totals["total_time_cost"] = reported.time
    if "PARKING_TIME" in session_types:
        totals["total_parking_cost"] = reported.parking
    if result.reservation_s or any(p.period.reservation for p in result.periods):
        totals["total_reservation_cost"] = reported.reservation
    return totals


def _validated(data: dict[str, Any], *, lenient: bool) -> Cdr:
    try:
        return Cdr.model_validate(data, context={"lenient": lenient})
    except ValidationError as exc:
        raise PricingError(f"the CDR would not be valid OCPI: {exc}") from exc
