"""OCPI 2.2.1 Tariff: the contract of what a session costs.

Field names, cardinalities and enums follow the Tariffs module of OCPI 2.2.1
(``mod_tariffs``; ``types`` for DateTime, Price and number). Money is ``Decimal``
throughout: parse JSON with :func:`load_ocpi_json` (``parse_float=Decimal``)
so that ``0.1`` stays ``0.1`` - pydantic's own JSON parser goes through a
float and would lose digits.

Strict by default (frozen, ``extra="forbid"``): an unknown key in a tariff may
change what the tariff means, so it is rejected. Pass
``context={"lenient": True}`` to :meth:`pydantic.BaseModel.model_validate` (or
``lenient=True`` to :func:`read_tariff`) to drop unknown keys instead - used
when reading tariffs embedded in other parties' CDRs.

OCPI DateTime: "All timestamps SHALL be in UTC. The absence of the timezone
designator implies a UTC timestamp." So a naive timestamp is read as UTC and
every timestamp is normalised to UTC.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

__all__ = [
    "DayOfWeek",
    "DisplayText",
    "OcpiModel",
    "Price",
    "PriceComponent",
    "ReservationRestrictionType",
    "Tariff",
    "TariffDimensionType",
    "TariffElement",
    "TariffRestrictions",
    "TariffType",
    "UtcDateTime",
    "load_ocpi_json",
    "read_tariff",
]

TariffDimensionType = Literal["ENERGY", "FLAT", "TIME", "PARKING_TIME"]
TariffType = Literal["AD_HOC_PAYMENT", "PROFILE_CHEAP", "PROFILE_FAST", "PROFILE_GREEN", "REGULAR"]
DayOfWeek = Literal["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]
ReservationRestrictionType = Literal["RESERVATION", "RESERVATION_EXPIRES"]

_HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
_DATE = r"^[12][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"


def _to_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)  # OCPI: no designator means UTC
    return value.astimezone(UTC)


UtcDateTime = Annotated[datetime, AfterValidator(_to_utc)]
"""An OCPI DateTime: naive means UTC; always normalised to UTC."""


def load_ocpi_json(text: str | bytes) -> Any:
    """Parse OCPI JSON with every non-integer number as an exact ``Decimal``."""
    return json.loads(text, parse_float=Decimal)


class OcpiModel(BaseModel):
    """Base of the OCPI models: frozen, strict about keys unless told to be lenient."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _drop_unknown_when_lenient(cls, data: Any, info: ValidationInfo) -> Any:
        context = info.context
        if isinstance(data, dict) and isinstance(context, dict) and context.get("lenient"):
            return {key: value for key, value in data.items() if key in cls.model_fields}
        return data


class Price(OcpiModel):
    """OCPI Price: an amount excluding VAT and, when known, including VAT.

    Unsigned here: credit CDRs carry negative amounts. Tariffs check their own
    ``min_price``/``max_price`` are not negative.
    """

    excl_vat: Decimal = Field(allow_inf_nan=False)
    incl_vat: Decimal | None = Field(None, allow_inf_nan=False)


class DisplayText(OcpiModel):
    language: str = Field(min_length=2, max_length=2)
    text: str = Field(max_length=512)


class PriceComponent(OcpiModel):
    """How consuming one dimension translates into money.

    ``price`` is per unit excluding VAT: per kWh (ENERGY), per hour (TIME,
    PARKING_TIME), per session (FLAT). ``step_size`` is in Wh (ENERGY) or
    seconds (TIME, PARKING_TIME) and means nothing for FLAT. An omitted ``vat``
    means "no VAT applicable", which is not the same as ``0``.
    """

    type: TariffDimensionType
    price: Decimal = Field(ge=0, allow_inf_nan=False)
    vat: Decimal | None = Field(None, ge=0, allow_inf_nan=False)
    step_size: int = Field(ge=1)


class TariffRestrictions(OcpiModel):
    """When a tariff element is active. All given fields must match (logical AND).

    Times and dates are local to the Location's ``time_zone``. Bounds: times,
    dates, kWh, duration are ``[min, max)``; power and current are active while
    ``>= min`` and ``< max``. The pricer documents how it reads the corner cases
    (``streams.core.pricing.restrictions``).
    """

    start_time: str | None = Field(None, pattern=_HHMM, description="HH:MM local, inclusive")
    end_time: str | None = Field(
        None, pattern=_HHMM, description="HH:MM local, exclusive; 00:00 = end of day"
    )
    start_date: str | None = Field(None, pattern=_DATE, description="YYYY-MM-DD local, inclusive")
    end_date: str | None = Field(None, pattern=_DATE, description="YYYY-MM-DD local, exclusive")
    min_kwh: Decimal | None = Field(None, ge=0, allow_inf_nan=False)
    max_kwh: Decimal | None = Field(None, ge=0, allow_inf_nan=False)
    min_current: Decimal | None = Field(None, ge=0, allow_inf_nan=False)
    max_current: Decimal | None = Field(None, ge=0, allow_inf_nan=False)
    min_power: Decimal | None = Field(None, ge=0, allow_inf_nan=False)
    max_power: Decimal | None = Field(None, ge=0, allow_inf_nan=False)
    min_duration: int | None = Field(None, ge=0, description="Seconds since session start")
    max_duration: int | None = Field(None, ge=0, description="Seconds since session start")
    day_of_week: tuple[DayOfWeek, ...] | None = None
    reservation: ReservationRestrictionType | None = None

    @field_validator("start_date", "end_date")
    @classmethod
    def _real_date(cls, value: str | None) -> str | None:
        if value is not None:
            date.fromisoformat(value)  # rejects 2025-02-30
        return value

    @model_validator(mode="after")
    def _ranges(self) -> TariffRestrictions:
        pairs = (
            ("min_kwh", self.min_kwh, self.max_kwh),
            ("min_current", self.min_current, self.max_current),
            ("min_power", self.min_power, self.max_power),
            ("min_duration", self.min_duration, self.max_duration),
        )
        for name, low, high in pairs:
            if low is not None and high is not None and low > high:
                raise ValueError(f"{name} is above its max: the element could never be active")
        if self.start_date and self.end_date and self.start_date >= self.end_date:
            raise ValueError("end_date is exclusive and must be after start_date")
        return self


class TariffElement(OcpiModel):
    """Price components that share one set of restrictions."""

    price_components: tuple[PriceComponent, ...] = Field(min_length=1)
    restrictions: TariffRestrictions | None = None

    @model_validator(mode="after")
    def _reservation_dimensions(self) -> TariffElement:
        if self.restrictions is not None and self.restrictions.reservation is not None:
            bad = sorted({c.type for c in self.price_components} - {"FLAT", "TIME"})
            if bad:
                raise ValueError(
                    f"a reservation element may only price FLAT and TIME, not {', '.join(bad)}"
                )
        return self


class Tariff(OcpiModel):
    """An OCPI 2.2.1 Tariff."""

    country_code: str = Field(min_length=2, max_length=2)
    party_id: str = Field(min_length=3, max_length=3)
    id: str = Field(min_length=1, max_length=36)
    currency: str = Field(min_length=3, max_length=3, description="ISO 4217")
    type: TariffType | None = Field(None, description="Omitted: valid for all sessions")
    tariff_alt_text: tuple[DisplayText, ...] | None = None
    tariff_alt_url: str | None = Field(None, max_length=255)
    min_price: Price | None = None
    max_price: Price | None = None
    elements: tuple[TariffElement, ...] = Field(min_length=1)
    start_date_time: UtcDateTime | None = Field(None, description="Valid from (UTC, inclusive)")
    end_date_time: UtcDateTime | None = Field(None, description="Valid until (UTC, exclusive)")
    energy_mix: dict[str, Any] | None = Field(None, description="Carried, not interpreted")
    last_updated: UtcDateTime

    def __hash__(self) -> int:
        # Identity fields only: ``energy_mix`` is a dict. Equal tariffs share them.
        return hash((self.country_code, self.party_id, self.id, self.last_updated))

    @model_validator(mode="after")
    def _limits(self) -> Tariff:
        for name, limit in (("min_price", self.min_price), ("max_price", self.max_price)):
            if limit is not None and (
                limit.excl_vat < 0 or (limit.incl_vat is not None and limit.incl_vat < 0)
            ):
                raise ValueError(f"{name} must not be negative")
        low, high = self.min_price, self.max_price
        if low is not None and high is not None:
            if low.excl_vat > high.excl_vat:
                raise ValueError("min_price.excl_vat is above max_price.excl_vat")
            low_incl, high_incl = low.incl_vat, high.incl_vat
            if low_incl is not None and high_incl is not None and low_incl > high_incl:
                raise ValueError("min_price.incl_vat is above max_price.incl_vat")
        start, end = self.start_date_time, self.end_date_time
        if start is not None and end is not None and start >= end:
            raise ValueError("end_date_time must be after start_date_time")
        return self


def read_tariff(source: str | bytes | dict[str, Any], *, lenient: bool = False) -> Tariff:
    """A tariff from OCPI JSON text or an already parsed object.

    An OCPI response envelope (``{"data": {...}, "status_code": ...}``) is
    unwrapped. Raises ``pydantic.ValidationError`` or ``ValueError`` on bad input.
    """
    data = load_ocpi_json(source) if isinstance(source, str | bytes) else source
    if isinstance(data, dict) and "data" in data and "status_code" in data:
        data = data["data"]
    return Tariff.model_validate(data, context={"lenient": lenient})
