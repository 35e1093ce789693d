"""OCPP 1.6 / 2.0.1 -> canonical charging events: a pure, fast normaliser.

Input is the ``ocpp.messages`` topic (``schemas.ocpp.OcppEnvelope``: one OCPP-J
CALL with its CALLRESULT, key = station id); output is
``streams.core.events`` values, ready for the stitcher. No Kafka, Faust,
ClickHouse or clock in here: the worker keeps one :class:`StationContext` per
station (``snapshot()`` / ``restore()``) and calls
:meth:`OcppNormaliser.normalise`.

::

    normaliser = OcppNormaliser({"k1": key}, "k1", default_tenant="acme")
    context = StationContext()
    for raw in messages_of_one_station:
        for event in normaliser.normalise(raw, context):
            stitcher.apply(event)

Module map: ``envelope`` (hot-path envelope), ``registry`` + ``compiler``
(official schemas compiled to msgspec), ``meter`` (units, phases, contexts),
``context`` (per-station memory and attribution), ``v16`` / ``v201`` (what each
action produces), ``vocabulary`` (status / token / result mappings),
``identity`` (session and event ids), ``privacy`` (token pseudonyms),
``emit`` (flags), ``errors`` (dead-letter reasons).
"""

from streams.core.ocpp.context import StationContext, TxRecord
from streams.core.ocpp.emit import Normalised
from streams.core.ocpp.envelope import (
    OcppEnvelope,
    decode_envelope,
    encode_envelope,
    make_envelope,
)
from streams.core.ocpp.errors import (
    BadJsonError,
    EnvelopeError,
    OcppInputError,
    OutOfRangeError,
    SchemaError,
    UnattributableError,
    UnknownActionError,
    UnknownVersionError,
)
from streams.core.ocpp.identity import SESSION_NAMESPACE, session_id_for
from streams.core.ocpp.normaliser import OcppNormaliser
from streams.core.ocpp.privacy import TokenPseudonymiser
from streams.core.ocpp.registry import SUPPORTED_VERSIONS, SchemaRegistry

__all__ = [
    "SESSION_NAMESPACE",
    "SUPPORTED_VERSIONS",
    "BadJsonError",
    "EnvelopeError",
    "Normalised",
    "OcppEnvelope",
    "OcppInputError",
    "OcppNormaliser",
    "OutOfRangeError",
    "SchemaError",
    "SchemaRegistry",
    "StationContext",
    "TokenPseudonymiser",
    "TxRecord",
    "UnattributableError",
    "UnknownActionError",
    "UnknownVersionError",
    "decode_envelope",
    "encode_envelope",
    "make_envelope",
    "session_id_for",
]
