"""A tariff compiled for pricing: prices as integer units, lookups per dimension.

Compile once per tariff version (:class:`TariffCache`, keyed by party, id and
``last_updated``) and price many sessions with it.

**Which component is active** (OCPI 2.2.1, Tariff object): for each dimension
on its own, walk the elements in list order and take the first element whose
restrictions all match *and* that has a component of that dimension. An
element that matches but lacks the dimension does not stop the search; a
matching component with price 0 does (the dimension is free). No match: the
dimension costs nothing. Within one element the first component of a
dimension wins.

Which dimensions are looked up depends on what the period is:

========================  ===================================================
period kind               dimensions, and the elements searched
========================  ===================================================
``charging``              ENERGY, TIME, FLAT - elements without ``reservation``
``parking``               ENERGY, PARKING_TIME, FLAT - same elements
``reservation``           TIME, FLAT - ``RESERVATION`` elements
``reservation_expired``   TIME, FLAT - ``RESERVATION_EXPIRES`` elements first,
                          then ``RESERVATION`` ones (OCPI: an expired
                          reservation's time is priced by the EXPIRES element)
========================  ===================================================
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from schemas.tariff import Price, PriceComponent, Tariff, TariffDimensionType
from streams.core.pricing.money import (
    ENERGY_UNITS_PER_WH,
    FLAT_UNITS,
    TIME_UNITS_PER_S,
    UNITS_PER_MONEY,
    decimal_places,
    scale,
)
from streams.core.pricing.restrictions import Check, Moment, Restriction, compile_restrictions

__all__ = [
    "ActiveComponent",
    "CompiledTariff",
    "PeriodKind",
    "Selection",
    "TariffCache",
    "compile_tariff",
    "select_tariff",
    "tariff_active_at",
]

PeriodKind = Literal["charging", "parking", "reservation", "reservation_expired"]

_PER_UNIT = {
    "ENERGY": ENERGY_UNITS_PER_WH,
    "TIME": TIME_UNITS_PER_S,
    "PARKING_TIME": TIME_UNITS_PER_S,
    "FLAT": FLAT_UNITS,
}
_SESSION_KINDS: tuple[PeriodKind, ...] = ("charging", "parking")
_SLOTS: dict[PeriodKind, tuple[str | None, ...]] = {  # energy, time, parking, flat
    "charging": ("ENERGY", "TIME", None, "FLAT"),
    "parking": ("ENERGY", None, "PARKING_TIME", "FLAT"),
    "reservation": (None, "TIME", None, "FLAT"),
    "reservation_expired": (None, "TIME", None, "FLAT"),
}


@dataclass(frozen=True, slots=True)
class ActiveComponent:
    """A price component as the pricer uses it, with its money per unit quantity.

    ``excl_per_unit``/``incl_per_unit`` are money units (see
    :mod:`streams.core.pricing.money`) per Wh (ENERGY), per second (TIME,
    PARKING_TIME) or per session (FLAT).
    """

    element_index: int
    component: PriceComponent
    excl_per_unit: int
    incl_per_unit: int
    parking_flat: bool  # a FLAT in an element that also prices PARKING_TIME
    has_vat: bool  # False: no VAT applicable (``vat`` omitted)

    @property
    def dimension(self) -> TariffDimensionType:
        return self.component.type

    @property
    def step_size(self) -> int:
        return self.component.step_size


class Selection(tuple[ActiveComponent | None, ...]):
    """The active components of one moment: ``(energy, time, parking, flat)``.

    ``time`` is TIME while charging and the reservation TIME in reservation
    periods.
    """

    __slots__ = ()

    @property
    def energy(self) -> ActiveComponent | None:
        return self[0]

    @property
    def time(self) -> ActiveComponent | None:
        return self[1]

    @property
    def parking(self) -> ActiveComponent | None:
        return self[2]

    @property
    def flat(self) -> ActiveComponent | None:
        return self[3]


_Candidates = tuple[tuple[int, tuple[Check, ...], ActiveComponent], ...]
_Limit = tuple[int, int | None]


class CompiledTariff:
    """A tariff ready for pricing. Build with :func:`compile_tariff`."""

    __slots__ = (
        "_lookup",
        "current_a",
        "denominator",
        "duration_s",
        "energy_wh",
        "local",
        "max_units",
        "min_units",
        "power_w",
        "seconds_of_day",
        "tariff",
    )

    def __init__(self, tariff: Tariff) -> None:
        self.tariff = tariff
        price_places = max(
            [decimal_places(c.price) for e in tariff.elements for c in e.price_components]
            + [
                decimal_places(amount)
                for limit in (tariff.min_price, tariff.max_price)
                if limit is not None
                for amount in (limit.excl_vat, limit.incl_vat)
                if amount is not None
            ]
        )
        vat_places = max(
            [0]
            + [
                decimal_places(c.vat)
                for e in tariff.elements
                for c in e.price_components
                if c.vat is not None
            ]
        )
        vat_base = 100 * 10**vat_places
        self.denominator = 10**price_places * UNITS_PER_MONEY * vat_base

        self.min_units = _limit_units(tariff.min_price, price_places, vat_base)
        self.max_units = _limit_units(tariff.max_price, price_places, vat_base)

        compiled: list[tuple[Restriction, str | None, dict[str, ActiveComponent]]] = []
        for index, element in enumerate(tariff.elements):
            restriction = compile_restrictions(element.restrictions)
            types = {c.type for c in element.price_components}
            by_dim: dict[str, ActiveComponent] = {}
            for comp in element.price_components:
                if comp.type in by_dim:
                    continue  # the first component of a dimension wins
                per_unit = scale(comp.price, price_places) * _PER_UNIT[comp.type]
                vat = 0 if comp.vat is None else scale(comp.vat, vat_places)
                by_dim[comp.type] = ActiveComponent(
                    element_index=index,
                    component=comp,
                    excl_per_unit=per_unit * vat_base,
                    incl_per_unit=per_unit * (vat_base + vat),
                    parking_flat=comp.type == "FLAT" and "PARKING_TIME" in types,
                    has_vat=comp.vat is not None,
                )
            reservation = element.restrictions.reservation if element.restrictions else None
            compiled.append((restriction, reservation, by_dim))

        # Per period kind, the candidates of each slot (energy, time, parking, flat)
        # in search order; a slot the kind does not price has none.
        self._lookup: dict[PeriodKind, tuple[_Candidates, ...]] = {}
        for kind, dims in _SLOTS.items():
            if kind in _SESSION_KINDS:
                order: Sequence[str | None] = (None,)
            elif kind == "reservation":
                order = ("RESERVATION",)
            else:
                order = ("RESERVATION_EXPIRES", "RESERVATION")
            self._lookup[kind] = tuple(
                tuple(
                    (index, restriction.checks, by_dim[dim])
                    for wanted in order
                    for index, (restriction, reservation, by_dim) in enumerate(compiled)
                    if reservation == wanted and dim in by_dim
                )
                if dim is not None
                else ()
                for dim in dims
            )

        restrictions = [r for r, _, _ in compiled]
        self.local = any(r.local for r in restrictions)
        self.seconds_of_day = frozenset().union(*(r.seconds_of_day for r in restrictions))
        self.energy_wh = frozenset().union(*(r.energy_wh for r in restrictions))
        self.duration_s = frozenset().union(*(r.duration_s for r in restrictions))
        self.power_w = tuple(sorted(frozenset().union(*(r.power_w for r in restrictions))))
        self.current_a = tuple(sorted(frozenset().union(*(r.current_a for r in restrictions))))

    def select(self, kind: PeriodKind, moment: Moment) -> Selection:
        """The active component of each dimension at ``moment`` in a ``kind`` period."""
        matched: dict[int, bool] = {}  # each element is judged at most once
        chosen: list[ActiveComponent | None] = []
        for candidates in self._lookup[kind]:
            found = None
            for index, checks, component in candidates:
                ok = matched.get(index)
                if ok is None:
                    ok = True
                    for check in checks:  # inlined: this loop is the pricer's hot spot
                        if not check(moment):
                            ok = False
                            break
                    matched[index] = ok
                if ok:
                    found = component
                    break
            chosen.append(found)
        return Selection(chosen)

    def active_at(self, moment: datetime) -> bool:
        """Whether the tariff's validity window contains ``moment``."""
        return tariff_active_at(self.tariff, moment)


def _limit_units(limit: Price | None, places: int, vat_base: int) -> _Limit | None:
    """A min/max price as money units: (excl, incl or None)."""
    if limit is None:
        return None

    def units(amount: Decimal) -> int:
        return scale(amount, places) * UNITS_PER_MONEY * vat_base

    return units(limit.excl_vat), None if limit.incl_vat is None else units(limit.incl_vat)


def compile_tariff(tariff: Tariff) -> CompiledTariff:
    """Compile ``tariff`` (prefer a :class:`TariffCache` on hot paths)."""
    return CompiledTariff(tariff)


def tariff_active_at(tariff: Tariff, moment: datetime) -> bool:
    """Whether ``moment`` lies in ``[start_date_time, end_date_time)`` of the tariff."""
    if tariff.start_date_time is not None and moment < tariff.start_date_time:
        return False
    return tariff.end_date_time is None or moment < tariff.end_date_time


def select_tariff(
    tariffs: Sequence[Tariff], moment: datetime, tariff_type: str | None = None
) -> Tariff | None:
    """The first tariff valid at ``moment`` (the session start) for ``tariff_type``.

    The tariff valid at the start is kept for the whole session: drivers accept
    the tariff in force when they start, and many countries forbid changing it
    mid-session. A tariff without ``type`` is valid for every session.
    """
    for tariff in tariffs:
        if tariff.type not in (None, tariff_type):
            continue
        if tariff_active_at(tariff, moment):
            return tariff
    return None


class TariffCache:
    """Compiled tariffs by (country, party, id, last_updated), least recently used out.

    A hit is checked against the cached tariff (identity, else equality), so
    two different tariffs that share an id and ``last_updated`` never mix.
    """

    def __init__(self, maxsize: int = 256) -> None:
        self._maxsize = maxsize
        self._entries: OrderedDict[tuple[str, str, str, datetime], CompiledTariff] = OrderedDict()

    def get(self, tariff: Tariff) -> CompiledTariff:
        key = (tariff.country_code, tariff.party_id, tariff.id, tariff.last_updated)
        entry = self._entries.get(key)
        if entry is not None and (entry.tariff is tariff or entry.tariff == tariff):
            self._entries.move_to_end(key)
            return entry
        entry = CompiledTariff(tariff)
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self._maxsize:
            self._entries.popitem(last=False)
        return entry

    def __len__(self) -> int:
        return len(self._entries)
