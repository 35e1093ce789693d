"""Hot-path twin of ``schemas.ocpp.OcppEnvelope`` (the ``ocpp.messages`` contract).

The request and response stay ``msgspec.Raw`` (a slice of the input, no
decoding) until the schema registry decodes them with the compiled official
schema of their (version, action): one pass per payload, validating while it
decodes. ``ocpp_version`` is a plain string here so that an unsupported
version gets its own dead-letter reason (``unknown_version``) instead of a
generic decode error; the pydantic contract lists the allowed values.
``tests/unit/test_ocpp_envelope.py`` keeps the two definitions in step.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from streams.core.ocpp.errors import BadJsonError, EnvelopeError

__all__ = ["NULL", "OcppEnvelope", "decode_envelope", "encode_envelope", "make_envelope"]

NULL = msgspec.Raw(b"null")
"""The raw value of an absent response (the charger or CSMS never answered)."""

_Id64 = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class OcppEnvelope(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One OCPP-J CALL with its CALLRESULT, as the gateway publishes it."""

    station_id: _Id64
    ocpp_version: Annotated[str, msgspec.Meta(max_length=16)]
    # OCPP-J says at most 36 characters; 64 tolerates sloppy chargers (the id only
    # seeds event ids, which are hashed) without letting unbounded strings in.
    message_id: _Id64
    action: _Id64
    received_at: Annotated[datetime, msgspec.Meta(tz=True)]
    request: msgspec.Raw
    response: msgspec.Raw = NULL
    tenant: _Id64 | None = None
    schema_version: Literal[1] = 1

    @property
    def has_response(self) -> bool:
        return self.response != NULL  # compares the bytes, without copying them


_decoder = msgspec.json.Decoder(OcppEnvelope)
_encoder = msgspec.json.Encoder()


def decode_envelope(raw: bytes | str) -> OcppEnvelope:
    """Decode one ``ocpp.messages`` value; payloads stay raw."""
    try:
        envelope: OcppEnvelope = _decoder.decode(raw)
    except msgspec.ValidationError as exc:
        # Envelope fields are ids and times; their messages quote no payload value.
        raise EnvelopeError(f"ocpp envelope: {exc}") from exc
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        # msgspec raises UnicodeDecodeError (not a DecodeError) for invalid UTF-8.
        raise BadJsonError(f"ocpp envelope: {exc}") from exc
    except TypeError as exc:
        # A record without a value (a Kafka tombstone) reaches us as None.
        raise BadJsonError(f"ocpp envelope: no JSON value ({exc})") from exc
    return envelope


def encode_envelope(envelope: OcppEnvelope) -> bytes:
    """JSON bytes of an envelope (producers, tests, dataset logs)."""
    return _encoder.encode(envelope)


def make_envelope(
    *,
    station_id: str,
    ocpp_version: str,
    message_id: str,
    action: str,
    received_at: datetime,
    request: Any,
    response: Any = None,
    tenant: str | None = None,
) -> OcppEnvelope:
    """Build an envelope from plain payloads (dicts) without a JSON round trip by
    the caller. Not validated: pass it to ``OcppNormaliser.normalise_envelope``."""
    return OcppEnvelope(
        station_id=station_id,
        ocpp_version=ocpp_version,
        message_id=message_id,
        action=action,
        received_at=received_at,
        request=msgspec.Raw(_encoder.encode(request)),
        response=msgspec.Raw(_encoder.encode(response)),
        tenant=tenant,
    )
