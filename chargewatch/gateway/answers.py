"""What the gateway decides as a minimal CSMS: token verdicts and 1.6 transaction ids.

Pure apart from the clock, which is passed in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

__all__ = ["AuthStatus", "TokenPolicy", "TransactionIds"]

AuthStatus = Literal["Accepted", "Invalid"]

_EPOCH_2024 = 1_704_067_200  # 2024-01-01T00:00:00Z
_UNCHECKED_TYPES = frozenset({"NoAuthorization"})  # 2.0.1 idToken types with no identity


class TokenPolicy:
    """Accepted when the token is on the allow-list (or the list is empty), else Invalid.

    Tokens are compared upper-cased (OCPP: case-insensitive). A 2.0.1 token of
    type ``NoAuthorization`` carries no identity to check and is Accepted.
    """

    __slots__ = ("_allowed",)

    def __init__(self, allowed: frozenset[str]) -> None:
        self._allowed = frozenset(t.upper() for t in allowed)

    def status(self, token: str, token_type: str | None = None) -> AuthStatus:
        if not self._allowed or token_type in _UNCHECKED_TYPES:
            return "Accepted"
        return "Accepted" if token.upper() in self._allowed else "Invalid"


class TransactionIds:
    """OCPP 1.6 transaction ids: strictly increasing within this process, and
    ahead of what an earlier run handed out.

    Each id is ``max(previous + 1, seconds since 2024-01-01)``: ids follow the
    clock while starts are rarer than one a second, so a restarted gateway
    continues above its predecessor without any stored state. Only a run that
    sustained more than one start a second (and so got ahead of the clock)
    could see its last ids reused by a restart within that lead; a transaction
    is identified per station, so a reuse also needs the same station. The ids
    stay below 2**31 (what most chargers store) until 2092.
    """

    __slots__ = ("_clock", "_last")

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._last = 0

    def next(self) -> int:
        self._last = max(self._last + 1, int(self._clock()) - _EPOCH_2024)
        return self._last
