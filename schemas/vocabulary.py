"""Closed vocabularies shared by the contract (pydantic) and the hot path (msgspec).

Plain ``Literal`` aliases with no pydantic import, so the pure core can use
them too.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = [
    "CHARGING_STATES",
    "CLOSED_STATUSES",
    "IDLE_STATES",
    "AuthMethod",
    "AuthResult",
    "ChargingState",
    "SessionStatus",
]

ChargingState = Literal["charging", "suspended_evse", "suspended_ev", "ev_connected", "idle"]
"""What the EV and the EVSE are doing while plugged in.

Follows OCPI 2.2.1 (errata 2026): time counts as *charging* while the EV draws
or requests power - ``charging`` and ``suspended_evse`` (the station holds
power back). It counts as *idle* (OCPI parking) while the EV does not request
power - ``suspended_ev`` (typically full), ``ev_connected`` (plugged, not yet
requesting) and ``idle``.
"""

CHARGING_STATES: frozenset[str] = frozenset({"charging", "suspended_evse"})
IDLE_STATES: frozenset[str] = frozenset(get_args(ChargingState)) - CHARGING_STATES

AuthMethod = Literal["rfid", "app", "plug_and_charge", "mac_address", "key_code", "none", "unknown"]
"""How a session was authorised: RFID card, app/remote start, ISO 15118 Plug &
Charge (eMAID), EV MAC address (Autocharge), PIN/key code, free vend."""

AuthResult = Literal["accepted", "blocked", "expired", "invalid", "concurrent_tx", "unknown"]

SessionStatus = Literal["active", "stalled", "completed", "auto_closed"]
"""``active``: open, events flowing. ``stalled``: open, but silent for longer than
the stall time (an alert, not a close). ``completed``: stopped by the charger.
``auto_closed``: closed by chargewatch at the last meter reading after a long
silence; a stop that arrives later corrects it to ``completed``."""

CLOSED_STATUSES: frozenset[str] = frozenset({"completed", "auto_closed"})
