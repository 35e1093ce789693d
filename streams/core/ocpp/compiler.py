"""A JSON Schema compiler whose target is msgspec types.

Why not a JSON Schema library on the hot path: validating a typical
MeterValues payload costs ~20-25 us with ``fastjsonschema`` and ~500 us with
``jsonschema`` on our workers, on top of a generic JSON decode. The OCPP schemas
use a small, closed subset of JSON Schema (draft-04 for 1.6, draft-06 for
2.0.1) that maps one-to-one onto msgspec's typed decoding, which validates
*while* decoding, in C, in ~2-3 us for the same payload and hands back typed
objects (and parsed, timezone-aware datetimes).

Mapping (anything else raises :class:`UnsupportedSchemaError` at compile time,
so a new ``ocpp`` release with a new keyword fails loudly, not silently):

=====================================  ==========================================
JSON Schema                            msgspec
=====================================  ==========================================
object + properties/required           ``Struct`` (kw_only); optional -> ``UNSET``
additionalProperties: false            ``forbid_unknown_fields=True``
string (+ maxLength / minLength)       ``str`` with ``Meta(max_length, min_length)``
string + format date-time              ``datetime`` with ``Meta(tz=True)`` (RFC 3339)
enum of strings                        ``Literal[...]``
integer / number (+ min/max/multiple)  ``int`` / ``int | float`` with ``Meta``
boolean                                ``bool``
array + items (+ minItems/maxItems)    ``list[T]`` with ``Meta(min_length, ...)``
$ref #/definitions/X                   the compiled definition (cached per schema)
no keyword but annotations             ``Any`` (any JSON value)
=====================================  ==========================================

Annotations (description, title, default, javaType, comment, $schema, $id),
``format: uri`` and ``additionalItems`` next to a single ``items`` schema have
no effect on validation and are ignored, as the drafts specify.

Known, deliberate differences from a JSON Schema validator (all stricter, all
covered by ``tests/unit/test_ocpp_schemas.py``): integers are 64-bit; ``1.0``
is not accepted as an integer (draft-06 would); JSON ``null`` is rejected for
optional fields exactly as the schemas say (no field is nullable).
"""

from __future__ import annotations

import keyword
import math
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from chargewatch.errors import ConfigurationError

__all__ = ["UnsupportedSchemaError", "compile_schema"]

_ANNOTATIONS = frozenset(
    {"description", "title", "default", "javaType", "comment", "$schema", "$id", "definitions"}
)
_SUPPORTED = _ANNOTATIONS | {
    "type",
    "properties",
    "required",
    "additionalProperties",
    "maxLength",
    "minLength",
    "format",
    "enum",
    "minimum",
    "maximum",
    "multipleOf",
    "items",
    "minItems",
    "maxItems",
    "additionalItems",
    "$ref",
}
_AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]


class UnsupportedSchemaError(ConfigurationError):
    """A schema uses JSON Schema features this compiler does not translate.

    Operator action: the installed ``ocpp`` package ships schemas newer than this
    code; pin the version listed in ``pyproject.toml`` or extend the compiler.
    """


def compile_schema(document: dict[str, Any], name: str) -> Any:
    """Compile one schema document into a msgspec type (usually a Struct)."""
    return _Compiler(document, name).compile(document, name)


class _Compiler:
    def __init__(self, document: dict[str, Any], name: str) -> None:
        self._definitions: dict[str, Any] = document.get("definitions", {})
        self._compiled: dict[str, Any] = {}
        self._compiling: set[str] = set()
        self._name = name

    def compile(self, node: dict[str, Any], name: str) -> Any:
        unknown = set(node) - _SUPPORTED
        if unknown:
            raise UnsupportedSchemaError(f"{self._name}: unsupported keywords {sorted(unknown)}")
        if "$ref" in node:
            return self._ref(node["$ref"])
        if "enum" in node:
            return self._enum(node)
        kind = node.get("type")
        if not isinstance(kind, str | None):
            raise UnsupportedSchemaError(f"{self._name}: type lists at {name}")
        if kind is None and "properties" in node:
            kind = "object"
        if kind is None and set(node) <= _ANNOTATIONS:
            return Any  # an unconstrained value (e.g. 2.0.1 DataTransfer.data)
        if kind == "boolean":
            return bool
        build = {
            "object": self._object,
            "array": self._array,
            "string": self._string,
            "integer": self._number,
            "number": self._number,
        }.get(kind or "")
        if build is None:
            raise UnsupportedSchemaError(f"{self._name}: unsupported type {kind!r} at {name}")
        return build(node, name)

    def _ref(self, ref: str) -> Any:
        prefix = "#/definitions/"
        if not ref.startswith(prefix) or ref[len(prefix) :] not in self._definitions:
            raise UnsupportedSchemaError(f"{self._name}: unsupported $ref {ref!r}")
        key = ref[len(prefix) :]
        if key not in self._compiled:
            if key in self._compiling:
                raise UnsupportedSchemaError(f"{self._name}: recursive definition {key}")
            self._compiling.add(key)
            self._compiled[key] = self.compile(self._definitions[key], key)
        return self._compiled[key]

    def _enum(self, node: dict[str, Any]) -> Any:
        values = node["enum"]
        if node.get("type", "string") != "string" or not all(isinstance(v, str) for v in values):
            raise UnsupportedSchemaError(f"{self._name}: only string enums are supported")
        return Literal[tuple(values)]

    def _object(self, node: dict[str, Any], name: str) -> Any:
        extra = node.get("additionalProperties", True)
        if not isinstance(extra, bool):
            raise UnsupportedSchemaError(f"{self._name}: schema-valued additionalProperties")
        properties: dict[str, Any] = node.get("properties", {})
        required = set(node.get("required", ()))
        if not required <= set(properties):
            raise UnsupportedSchemaError(f"{self._name}: required field without a property")
        fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
        rename: dict[str, str] = {}
        for prop, sub in properties.items():
            attr = prop
            if not prop.isidentifier() or keyword.iskeyword(prop):
                attr = f"{prop}_" if prop.isidentifier() else f"f{len(rename)}"
                rename[attr] = prop
            typ = self.compile(sub, f"{name}.{prop}")
            if prop in required:
                fields.append((attr, typ))
            else:
                fields.append((attr, typ | msgspec.UnsetType, msgspec.UNSET))
        # gc=False: decoded payloads are frozen trees (no reference cycles), so the
        # garbage collector need not track the several structs made per message.
        return msgspec.defstruct(
            name.replace(".", "_"),
            fields,
            kw_only=True,
            frozen=True,
            gc=False,
            forbid_unknown_fields=not extra,
            rename=rename or None,
        )

    def _array(self, node: dict[str, Any], name: str) -> Any:
        items = node.get("items")
        if not isinstance(items, dict):
            raise UnsupportedSchemaError(f"{self._name}: tuple-typed arrays at {name}")
        item = self.compile(items, f"{name}Item")
        meta = _meta(min_length=node.get("minItems"), max_length=node.get("maxItems"))
        return Annotated[list[item], meta] if meta else list[item]  # type: ignore[valid-type]

    def _string(self, node: dict[str, Any], name: str) -> Any:
        if node.get("format") == "date-time":
            return _AwareDatetime
        meta = _meta(min_length=node.get("minLength"), max_length=node.get("maxLength"))
        return Annotated[str, meta] if meta else str

    def _number(self, node: dict[str, Any], name: str) -> Any:
        kind = node.get("type")
        multiple = node.get("multipleOf")
        if kind == "number" and multiple is not None:
            # Float multipleOf is not decidable in binary floating point (21.4 is
            # not a multiple of 0.1 in IEEE 754); the registry removes it from the
            # three 1.6 schemas that have it. Refuse anything else.
            raise UnsupportedSchemaError(f"{self._name}: multipleOf on a number at {name}")
        low, high = node.get("minimum"), node.get("maximum")
        if kind == "integer":
            # Some 2.0.1 schemas write integer bounds as 0.0 / 100.0.
            low = math.ceil(low) if low is not None else None
            high = math.floor(high) if high is not None else None
            meta = _meta(ge=low, le=high, multiple_of=multiple)
            return Annotated[int, meta] if meta else int
        meta = _meta(ge=low, le=high)
        if meta:
            return Annotated[int, meta] | Annotated[float, meta]
        return int | float


def _meta(**constraints: Any) -> msgspec.Meta | None:
    given = {key: value for key, value in constraints.items() if value is not None}
    return msgspec.Meta(**given) if given else None
