"""Pseudonymisation of id tokens (RFID UIDs, eMAIDs, MAC addresses, key codes).

A token becomes ``"<key id>:<hex HMAC-SHA256(key, TOKEN)>"`` at ingestion; the
raw value never leaves this module in any output, error or log line (this
module logs nothing at all).

* Case: OCPP 1.6 ``IdToken`` is a CiString and 2.0.1 says "IdToken is case
  insensitive", so the token is upper-cased before hashing: ``04a1b2`` and
  ``04A1B2`` are the same card, in either protocol.
* Key rotation: the key id is part of the pseudonym, so values made under an
  old key stay recognisable and a re-keying job that holds both keys can map
  old pseudonyms to new ones. New pseudonyms always use the *active* key;
  :meth:`TokenPseudonymiser.candidates` gives the token's pseudonym under every
  configured key, which lets lookups in state written before a rotation (e.g.
  a recent Authorize) still match.
* Key ids are short (``[A-Za-z0-9_-]{1,16}``) and keys at least 16 bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping

from chargewatch.errors import ConfigurationError

__all__ = ["TokenPseudonymiser"]

_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,16}")
_MIN_KEY_BYTES = 16


class TokenPseudonymiser:
    """Keyed, versioned pseudonyms for id tokens."""

    __slots__ = ("_active", "_macs")

    def __init__(self, keys: Mapping[str, bytes], active_key_id: str) -> None:
        if active_key_id not in keys:
            raise ConfigurationError(
                f"token HMAC key id {active_key_id!r} is not among the configured keys"
            )
        for key_id, key in keys.items():
            if not _KEY_ID.fullmatch(key_id):
                raise ConfigurationError(f"token HMAC key id {key_id!r}: use [A-Za-z0-9_-]{{1,16}}")
            if len(key) < _MIN_KEY_BYTES:
                raise ConfigurationError(
                    f"token HMAC key {key_id!r} is shorter than {_MIN_KEY_BYTES} bytes"
                )
        self._active = active_key_id
        # Active key first: candidates() then lists the current pseudonym first.
        # Each key is set up once as a keyed HMAC: copying it per token is cheaper
        # than keying a new one.
        order = [active_key_id, *(key_id for key_id in keys if key_id != active_key_id)]
        self._macs = {
            key_id: hmac.new(bytes(keys[key_id]), digestmod=hashlib.sha256) for key_id in order
        }

    def __repr__(self) -> str:  # never show key material
        return f"TokenPseudonymiser(active={self._active!r}, keys={sorted(self._macs)!r})"

    @property
    def active_key_id(self) -> str:
        return self._active

    def pseudonym(self, token: str) -> str:
        """The token's pseudonym under the active key."""
        return self._digest(self._active, token)

    def candidates(self, token: str) -> list[str]:
        """The token's pseudonym under every configured key, active first."""
        return [self._digest(key_id, token) for key_id in self._macs]

    def _digest(self, key_id: str, token: str) -> str:
        mac = self._macs[key_id].copy()
        mac.update(token.upper().encode("utf-8"))
        return f"{key_id}:{mac.hexdigest()}"
