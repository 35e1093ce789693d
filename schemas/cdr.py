"""OCPI 2.2.1 CDR (Charge Detail Record): the subset chargewatch emits and reads.

Field names, cardinalities and enums follow the CDRs module of OCPI 2.2.1
(``mod_cdrs``). Units: energy in kWh, time in hours, power in kW, current in
A, money as ``Decimal`` in the CDR's currency.

Two ways in, one way out:

* **Emitting** (``Cdr(...)``, ``Cdr.model_validate(obj)``): strict. Unknown
  keys are rejected and a normal CDR id is at most 36 characters (39 for a
  credit CDR, which may append ``-C``).
* **Reading** other parties' CDRs (:func:`read_cdr`, or ``model_validate`` with
  ``context={"lenient": True}``): unknown keys are dropped at every level and
  the id length rule is relaxed, so real-world CDR JSON with extra fields
  (``signed_data``, ``meter_id``, vendor extensions) can be repriced.
* **Out**: :func:`dump_cdr_json` writes numbers as JSON numbers with every
  digit of the ``Decimal`` (no float round trip) and timestamps as UTC ``Z``.

``CdrLocation`` keeps only ``id``, ``evse_uid``, ``evse_id`` and
``connector_id`` required: the address and connector fields are mandatory in
OCPI, but chargewatch does not hold them and the pricer does not need them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

import msgspec
from pydantic import Field, ValidationInfo, model_validator

from schemas.tariff import OcpiModel, Price, Tariff, UtcDateTime, load_ocpi_json

__all__ = [
    "AuthMethod",
    "Cdr",
    "CdrDimension",
    "CdrDimensionType",
    "CdrHeader",
    "CdrLocation",
    "CdrToken",
    "ChargingPeriod",
    "GeoLocation",
    "TokenType",
    "dump_cdr_json",
    "read_cdr",
]

AuthMethod = Literal["AUTH_REQUEST", "COMMAND", "WHITELIST"]
TokenType = Literal["AD_HOC_USER", "APP_USER", "OTHER", "RFID"]
CdrDimensionType = Literal[
    "CURRENT",
    "ENERGY",
    "ENERGY_EXPORT",
    "ENERGY_IMPORT",
    "MAX_CURRENT",
    "MIN_CURRENT",
    "MAX_POWER",
    "MIN_POWER",
    "PARKING_TIME",
    "POWER",
    "RESERVATION_TIME",
    "STATE_OF_CHARGE",
    "TIME",
]
"""All OCPI dimension types. CURRENT, ENERGY_EXPORT/IMPORT, POWER and
STATE_OF_CHARGE are Session-only: accepted when reading, never emitted."""

_NORMAL_ID_MAX = 36


class CdrToken(OcpiModel):
    country_code: str = Field(min_length=2, max_length=2)
    party_id: str = Field(min_length=3, max_length=3)
    uid: str = Field(min_length=1, max_length=36)
    type: TokenType
    contract_id: str = Field(min_length=1, max_length=36)


class GeoLocation(OcpiModel):
    latitude: str = Field(max_length=10)
    longitude: str = Field(max_length=11)


class CdrLocation(OcpiModel):
    """Where the session took place (a snapshot at session start)."""

    id: str = Field(min_length=1, max_length=36)
    name: str | None = Field(None, max_length=255)
    address: str | None = Field(None, max_length=45)
    city: str | None = Field(None, max_length=45)
    postal_code: str | None = Field(None, max_length=10)
    state: str | None = Field(None, max_length=20)
    country: str | None = Field(None, min_length=3, max_length=3)
    coordinates: GeoLocation | None = None
    evse_uid: str = Field(min_length=1, max_length=36)
    evse_id: str = Field(min_length=1, max_length=48)
    connector_id: str = Field(min_length=1, max_length=36)
    connector_standard: str | None = None
    connector_format: str | None = None
    connector_power_type: str | None = None


class CdrDimension(OcpiModel):
    type: CdrDimensionType
    volume: Decimal = Field(allow_inf_nan=False)


class ChargingPeriod(OcpiModel):
    """A stretch of the session with one set of active prices.

    It ends where the next period starts; the last one ends at the CDR end.
    """

    start_date_time: UtcDateTime
    dimensions: tuple[CdrDimension, ...] = Field(min_length=1)
    tariff_id: str | None = Field(None, max_length=36)


class CdrHeader(OcpiModel):
    """The identity part of a CDR: everything the pricer does not compute."""

    country_code: str = Field(min_length=2, max_length=2)
    party_id: str = Field(min_length=3, max_length=3)
    id: str = Field(min_length=1, max_length=_NORMAL_ID_MAX)
    session_id: str | None = Field(None, max_length=36)
    cdr_token: CdrToken
    auth_method: AuthMethod
    authorization_reference: str | None = Field(None, max_length=36)
    cdr_location: CdrLocation
    meter_id: str | None = Field(None, max_length=255)
    remark: str | None = Field(None, max_length=255)


class Cdr(OcpiModel):
    """An OCPI 2.2.1 CDR (without ``signed_data`` and invoice fields)."""

    country_code: str = Field(min_length=2, max_length=2)
    party_id: str = Field(min_length=3, max_length=3)
    id: str = Field(min_length=1, max_length=39)
    start_date_time: UtcDateTime
    end_date_time: UtcDateTime
    session_id: str | None = Field(None, max_length=36)
    cdr_token: CdrToken
    auth_method: AuthMethod
    authorization_reference: str | None = Field(None, max_length=36)
    cdr_location: CdrLocation
    meter_id: str | None = Field(None, max_length=255)
    currency: str = Field(min_length=3, max_length=3)
    tariffs: tuple[Tariff, ...] = ()
    charging_periods: tuple[ChargingPeriod, ...] = Field(min_length=1)
    total_cost: Price
    total_fixed_cost: Price | None = None
    total_energy: Decimal = Field(allow_inf_nan=False, description="kWh")
    total_energy_cost: Price | None = None
    total_time: Decimal = Field(allow_inf_nan=False, description="Hours, whole session")
    total_time_cost: Price | None = None
    total_parking_time: Decimal | None = Field(None, allow_inf_nan=False, description="Hours")
    total_parking_cost: Price | None = None
    total_reservation_cost: Price | None = None
    remark: str | None = Field(None, max_length=255)
    credit: bool | None = None
    credit_reference_id: str | None = Field(None, max_length=39)
    last_updated: UtcDateTime

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> Cdr:
        lenient = isinstance(info.context, dict) and bool(info.context.get("lenient"))
        if self.end_date_time < self.start_date_time:
            raise ValueError("end_date_time is before start_date_time")
        if self.credit and not self.credit_reference_id:
            raise ValueError("a credit CDR needs credit_reference_id")
        if not lenient and not self.credit and len(self.id) > _NORMAL_ID_MAX:
            raise ValueError("a normal CDR id is at most 36 characters (39 for credit CDRs)")
        starts = [p.start_date_time for p in self.charging_periods]
        if starts != sorted(starts):
            raise ValueError("charging_periods are not in time order")
        return self


def read_cdr(source: str | bytes | dict[str, Any]) -> Cdr:
    """A CDR from another party's JSON: unknown keys dropped, numbers exact.

    An OCPI response envelope (``{"data": {...}, "status_code": ...}``) is
    unwrapped. Raises ``pydantic.ValidationError`` or ``ValueError``.
    """
    data = load_ocpi_json(source) if isinstance(source, str | bytes) else source
    if isinstance(data, dict) and "data" in data and "status_code" in data:
        data = data["data"]
    return Cdr.model_validate(data, context={"lenient": True})


_encoder = msgspec.json.Encoder(decimal_format="number")


def dump_cdr_json(cdr: Cdr, *, indent: int = 0) -> bytes:
    """OCPI JSON of the CDR: unset optional fields left out, exact numbers."""
    raw = _encoder.encode(cdr.model_dump(mode="python", exclude_none=True))
    return msgspec.json.format(raw, indent=indent) if indent else raw
