"""``chargewatch price``: reprice an OCPI CDR under a tariff and print it.

Reads the tariff strictly (an unknown key might change what it means) and the
CDR leniently (other parties add fields). The tariff file may hold one tariff
or a list; from a list the first one valid at the CDR start is used. An OCPI
response envelope (``{"data": ..., "status_code": ...}``) is unwrapped.

Time zone: ``--tz`` if given; else ``cdr_location.time_zone`` when the CDR
carries it (an extension some platforms add - OCPI keeps the time zone on the
Location, not in the CDR); else ``default_tz`` (UTC unless the caller passes
the configured default).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from chargewatch.errors import InputError
from schemas.cdr import dump_cdr_json, read_cdr
from schemas.tariff import Tariff, load_ocpi_json, read_tariff
from streams.core.pricing import price_cdr, select_tariff

__all__ = ["run_price"]

DEFAULT_TZ = "UTC"


def run_price(
    tariff_path: Path, cdr_path: Path, tz: str | None = None, *, default_tz: str = DEFAULT_TZ
) -> int:
    """Print the CDR at ``cdr_path`` repriced under the tariff at ``tariff_path``.

    ``tz`` wins; else the CDR's ``cdr_location.time_zone``; else ``default_tz``.
    Returns the exit status (0). Unreadable or invalid input raises
    :class:`chargewatch.errors.InputError` (the CLI prints it and exits 2).
    """
    raw_cdr = _unwrap(_load(cdr_path))
    try:
        cdr = read_cdr(raw_cdr)
    except (ValidationError, ValueError) as exc:
        raise InputError(f"{cdr_path}: not a usable OCPI CDR: {exc}") from exc
    tariff = _tariff(_unwrap(_load(tariff_path)), tariff_path, cdr.start_date_time)
    zone = tz or _zone_of(raw_cdr) or default_tz
    priced = price_cdr(tariff, cdr, zone)
    sys.stdout.write(dump_cdr_json(priced, indent=2).decode() + "\n")
    return 0


def _load(path: Path) -> Any:
    try:
        return load_ocpi_json(path.read_bytes())
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise InputError(f"{path}: not JSON: {exc}") from exc


def _unwrap(data: Any) -> Any:
    if isinstance(data, dict) and "data" in data and "status_code" in data:
        return data["data"]
    return data


def _tariff(data: Any, path: Path, session_start: Any) -> Tariff:
    try:
        if isinstance(data, list):
            tariffs = [read_tariff(item) for item in data]
            chosen = select_tariff(tariffs, session_start)
            if chosen is None:
                raise InputError(f"{path}: no tariff in the list is valid at the CDR start")
            return chosen
        return read_tariff(data)
    except (ValidationError, ValueError) as exc:
        raise InputError(f"{path}: not a valid OCPI 2.2.1 tariff: {exc}") from exc


def _zone_of(raw_cdr: Any) -> str | None:
    location = raw_cdr.get("cdr_location") if isinstance(raw_cdr, dict) else None
    name = location.get("time_zone") if isinstance(location, dict) else None
    return name if isinstance(name, str) and name else None
