"""The official OCPP JSON schemas (from the ``ocpp`` package), compiled once.

Schemas are read from the installed ``ocpp`` distribution (``ocpp/v16/schemas``,
``ocpp/v201/schemas``), compiled by :mod:`streams.core.ocpp.compiler` on first
use and cached per (version, action, request|response) for the life of the
process. The list of actions is the list of schema files, read once: an action
that has no schema in its version is refused (it is never used as a path).

Quirks of the 1.6 schemas, patched before compiling (see OCPP.md, gotchas):

* ``multipleOf: 0.1`` on three float fields (SetChargingProfile,
  RemoteStartTransaction, GetCompositeSchedule.conf) cannot be checked in binary
  floating point (``21.4 / 0.1 != 214``), so the mobilityhouse library re-parses
  those payloads as Decimal. We only validate and ignore those messages, so the
  constraint is dropped instead.
* The library's ``MeterValues`` schema allows unit ``Hertz`` but
  ``StopTransaction.transactionData`` does not. A StopTransaction is the one
  message we must not lose, so transactionData gets the MeterValues unit list.
* ``Celcius`` next to ``Celsius`` is kept: both spellings exist in the field.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Any, Literal

import msgspec

from streams.core.ocpp.compiler import compile_schema
from streams.core.ocpp.errors import (
    BadJsonError,
    OcppInputError,
    SchemaError,
    UnknownActionError,
)

__all__ = ["SUPPORTED_VERSIONS", "Kind", "SchemaRegistry"]

Kind = Literal["request", "response"]

_VERSION_DIRS = {"1.6": "v16", "2.0.1": "v201"}
_MISSING = object()
_EMPTY_RAW = msgspec.Raw(b"{}")
SUPPORTED_VERSIONS = frozenset(_VERSION_DIRS)

# msgspec echoes the offending enum value or unknown key; payloads hold id
# tokens, so those two message forms lose the value (the JSON path stays).
_ENUM_VALUE = re.compile(r"Invalid enum value .*? - at")
_UNKNOWN_KEY = re.compile(r"Object contains unknown field `.*?`")


def _sanitise(message: str) -> str:
    message = _ENUM_VALUE.sub("Invalid enum value - at", message)
    return _UNKNOWN_KEY.sub("Object contains an unknown field", message)


def _translate(version: str, action: str, kind: Kind, exc: Exception) -> OcppInputError:
    if isinstance(exc, msgspec.ValidationError):
        return SchemaError(f"OCPP {version} {action} {kind}: {_sanitise(str(exc))}")
    # DecodeError, or UnicodeDecodeError (invalid UTF-8 inside a string of the payload).
    return BadJsonError(f"OCPP {version} {action} {kind}: not valid UTF-8 JSON")


def _schema_name(version: str, action: str, kind: Kind) -> str:
    if kind == "response":
        return f"{action}Response"
    return action if version == "1.6" else f"{action}Request"


def _walk(node: Any) -> Any:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _patch_v16(name: str, document: dict[str, Any]) -> None:
    for node in _walk(document):
        if node.get("type") == "number":
            node.pop("multipleOf", None)
    if name == "StopTransaction":
        reference = _load("1.6", "MeterValues")
        units = _sampled_value(reference["properties"]["meterValue"])["unit"]["enum"]
        _sampled_value(document["properties"]["transactionData"])["unit"]["enum"] = units


def _sampled_value(meter_value: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = meter_value["items"]["properties"]["sampledValue"]["items"]
    return props["properties"]  # type: ignore[no-any-return]


def _load(version: str, name: str) -> dict[str, Any]:
    path = resources.files("ocpp") / _VERSION_DIRS[version] / "schemas" / f"{name}.json"
    # The 2.0.1 schemas of some ocpp releases start with a UTF-8 BOM.
    document: dict[str, Any] = msgspec.json.decode(path.read_text(encoding="utf-8-sig"))
    return document


def _schema_names(version: str) -> frozenset[str]:
    folder = resources.files("ocpp") / _VERSION_DIRS[version] / "schemas"
    return frozenset(
        entry.name.removesuffix(".json")
        for entry in folder.iterdir()
        if entry.name.endswith(".json")
    )


class SchemaRegistry:
    """Typed decoders for every OCPP action of the supported versions."""

    def __init__(self) -> None:
        self._names = {version: _schema_names(version) for version in _VERSION_DIRS}
        self._decoders: dict[tuple[str, str, Kind], msgspec.json.Decoder[Any]] = {}
        # Most responses are ``{}``: decode that once per schema (the typed value
        # is frozen, so it can be shared) -- or remember that ``{}`` is invalid.
        self._empty: dict[tuple[str, str, Kind], Any] = {}

    def actions(self, version: str) -> frozenset[str]:
        """Actions with a request schema in ``version``."""
        names = self._names[version]
        if version == "1.6":
            return frozenset(n for n in names if not n.endswith("Response"))
        return frozenset(n.removesuffix("Request") for n in names if n.endswith("Request"))

    def decoder(self, version: str, action: str, kind: Kind) -> msgspec.json.Decoder[Any]:
        """The compiled decoder; raises UnknownActionError when there is no schema."""
        key = (version, action, kind)
        found = self._decoders.get(key)
        if found is not None:
            return found
        name = _schema_name(version, action, kind)
        if name not in self._names[version]:
            raise UnknownActionError(
                f"OCPP {version} has no {kind} schema for action {action[:64]!r}"
            )
        document = _load(version, name)
        if version == "1.6":
            _patch_v16(name, document)
        decoder = msgspec.json.Decoder(compile_schema(document, name))
        self._decoders[key] = decoder
        return decoder

    def decode(self, version: str, action: str, kind: Kind, raw: bytes | msgspec.Raw) -> Any:
        """Validate ``raw`` against the official schema and return the typed payload."""
        key = (version, action, kind)
        # Raw compares with Raw only (not bytes), without copying the payload.
        if raw in (_EMPTY_RAW, b"{}"):
            empty = self._empty.get(key, _MISSING)
            if empty is _MISSING:
                empty = self._empty[key] = self._decode_empty(version, action, kind)
            if isinstance(empty, SchemaError):
                raise SchemaError(str(empty))
            return empty
        # The hot path: no further Python call, only the compiled decoder.
        decoder = self._decoders.get(key) or self.decoder(version, action, kind)
        try:
            return decoder.decode(raw)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            # ``from None``: the original message may quote a payload value.
            raise _translate(version, action, kind, exc) from None

    def _decode_empty(self, version: str, action: str, kind: Kind) -> Any:
        """``{}`` decoded once per schema (the typed value is frozen, so it can be
        shared) -- or the SchemaError that says why ``{}`` is invalid."""
        try:
            return self.decoder(version, action, kind).decode(b"{}")
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            error = _translate(version, action, kind, exc)
            if isinstance(error, SchemaError):
                return error
            raise error from None

    def compile_all(self) -> int:
        """Compile every schema of every supported version (warm-up, tests); return the count."""
        count = 0
        for version in _VERSION_DIRS:
            for action in self.actions(version):
                for kind in ("request", "response"):
                    if _schema_name(version, action, kind) in self._names[version]:
                        self.decoder(version, action, kind)
                        count += 1
        return count
