"""Deterministic identities: session ids and event ids.

* Session id = ``uuid5(SESSION_NAMESPACE, f"{tenant}|{station}|{protocol}|{native}")``
  where ``protocol`` is ``ocpp1.6`` or ``ocpp2.0.1`` and ``native`` is the
  transaction id exactly as the protocol carries it (1.6: the CSMS's integer
  from StartTransaction.conf, as decimal text; 2.0.1: the station's string).
  A 1.6 StartTransaction whose response is missing has no transaction id yet;
  its native key is then the natural key ``start:<connector>:<start ms>:<meterStart>``
  (the token is left out on purpose: its pseudonym changes with key rotation).
* Event id = ``ocpp-<blake2b-80 of tenant, station, message id, received_at in ms>-<index>``:
  message ids are only unique per WebSocket connection (OCPP-J 1.6 4.1.4), so
  the reception time is part of the key; re-processing the same record gives
  the same ids, and the index orders the events made from one message.
"""

from __future__ import annotations

import hashlib
import uuid

__all__ = ["SESSION_NAMESPACE", "message_key", "natural_key", "session_id_for"]

SESSION_NAMESPACE = uuid.UUID("1c5e7a52-0b8f-5d3e-9a41-6f2c8d0e7b19")
"""Fixed forever: changing it would change every OCPP session id."""

_PROTOCOLS = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1"}
_NAMESPACE_BYTES = SESSION_NAMESPACE.bytes
_BLAKE2B_80 = hashlib.blake2b(digest_size=10)  # empty: copied for every message key


def session_id_for(tenant: str, station_id: str, version: str, native_id: str) -> str:
    """The session id of transaction ``native_id`` (see the module docstring)."""
    return _uuid5_text(f"{tenant}|{station_id}|{_PROTOCOLS[version]}|{native_id}")


def _uuid5_text(name: str) -> str:
    """``str(uuid.uuid5(SESSION_NAMESPACE, name))``, without building a ``UUID``
    (its constructor is most of the cost). ``test_ocpp_identity`` checks they agree."""
    named = _NAMESPACE_BYTES + name.encode("utf-8")
    octets = bytearray(hashlib.sha1(named, usedforsecurity=False).digest()[:16])
    octets[6] = (octets[6] & 0x0F) | 0x50  # RFC 4122 version 5 (name-based, SHA-1)
    octets[8] = (octets[8] & 0x3F) | 0x80  # RFC 4122 variant
    text = octets.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def natural_key(connector_id: int, start_ms: int, meter_start: int) -> str:
    """Native key of a 1.6 start whose transaction id is not known."""
    return f"start:{connector_id}:{start_ms}:{meter_start}"


def message_key(tenant: str, station_id: str, message_id: str, received_ms: int) -> str:
    """Prefix of the ids of the events made from one message (append ``-<index>``)."""
    text = f"{tenant}\x1f{station_id}\x1f{message_id}\x1f{received_ms}"
    digest = _BLAKE2B_80.copy()  # cheaper than parsing blake2b()'s parameters again
    digest.update(text.encode("utf-8"))
    return "ocpp-" + digest.hexdigest()
