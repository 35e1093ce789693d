"""Why an OCPP message could not be normalised.

::

    chargewatch.errors.InputError
    └── OcppInputError           reason = "ocpp_invalid"
        ├── BadJsonError         "bad_json"          not JSON at all
        ├── EnvelopeError        "envelope_invalid"  JSON, but not the ocpp.messages envelope
        ├── UnknownVersionError  "unknown_version"   ocpp_version is not 1.6 or 2.0.1
        ├── UnknownActionError   "unknown_action"    no such action in that OCPP version
        ├── SchemaError          "schema_invalid"    request/response fails the official schema
        ├── OutOfRangeError      "out_of_range"      schema-valid, but outside our contract
        └── UnattributableError  "unattributable"    no session can own the message

Every one of them means "this one record goes to the dead-letter topic"; none
is fatal. Messages name the station, action and JSON path, never a value from
the payload: payloads carry id tokens (personal data, and KeyCode PINs that
OCPP 2.0.1 C04.FR.04 forbids logging), and these messages end up in logs and in
the dead-letter ``detail``.
"""

from __future__ import annotations

from chargewatch.errors import InputError

__all__ = [
    "BadJsonError",
    "EnvelopeError",
    "OcppInputError",
    "OutOfRangeError",
    "SchemaError",
    "UnattributableError",
    "UnknownActionError",
    "UnknownVersionError",
]


class OcppInputError(InputError):
    """One ``ocpp.messages`` record cannot be normalised.

    Operator action: read ``reason`` and the message on the dead-letter topic;
    the subclass says whether the producer (gateway) or the charger is at fault.
    """

    reason = "ocpp_invalid"


class BadJsonError(OcppInputError):
    """The record value is not JSON. Operator action: fix the gateway's serialiser."""

    reason = "bad_json"


class EnvelopeError(OcppInputError):
    """JSON, but not a valid envelope (missing field, wrong type, naive time).

    Operator action: compare the producer with ``schemas/ocpp.py``.
    """

    reason = "envelope_invalid"


class UnknownVersionError(OcppInputError):
    """``ocpp_version`` is not one we normalise (1.6, 2.0.1).

    Operator action: check the gateway's version detection (WebSocket subprotocol).
    """

    reason = "unknown_version"


class UnknownActionError(OcppInputError):
    """The action has no schema in that OCPP version (typo, or wrong version).

    Operator action: check the gateway; OCPP-J has no vendor actions (vendors use
    DataTransfer), so this is a producer bug.
    """

    reason = "unknown_action"


class SchemaError(OcppInputError):
    """The request or response payload fails the official OCPP JSON schema.

    Operator action: the charger (request) or the CSMS (response) sends
    non-conforming OCPP; the message names the JSON path.
    """

    reason = "schema_invalid"


class OutOfRangeError(OcppInputError):
    """Schema-valid, but a value cannot be represented in the canonical contract
    (e.g. connector id above 255).

    Operator action: report the charger model; widen the contract if legitimate.
    """

    reason = "out_of_range"


class UnattributableError(OcppInputError):
    """No session can own the message (e.g. OCPP 1.6 ``transactionId = -1`` with no
    transaction open on that station or connector).

    Operator action: usually the StartTransaction was lost upstream; check the
    gateway's delivery of earlier messages for this station.
    """

    reason = "unattributable"
