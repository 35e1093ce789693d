"""OCPP enumerations -> the canonical vocabulary (``schemas.vocabulary``).

Connector status (1.6 StatusNotification), decided here:

==============  ================  ==============================================
1.6 status      canonical state   why
==============  ================  ==============================================
Charging        charging          energy flows
SuspendedEVSE   suspended_evse    the station holds power back (charging time)
SuspendedEV     suspended_ev      the EV does not take power (idle)
Preparing       ev_connected      plugged / authorising, not yet requesting power
Finishing       ev_connected      transaction over, cable still in (idle)
Available       idle              the EV is gone while the session is still open
                                  (Stop delayed or lost): not charging
Faulted         suspended_evse    the station cannot deliver: not the driver's
Unavailable     suspended_evse    idle time (OCPI does not bill SuspendedEVSE as
                                  parking), so it counts as charging time
Reserved        (no event)        a reservation is not a charging state
==============  ================  ==============================================

2.0.1 ``chargingState`` maps one to one (EVConnected -> ev_connected, Idle ->
idle). 2.0.1 StatusNotification: Available -> idle, Faulted/Unavailable ->
suspended_evse as above, Occupied -> the transaction's carried-forward
``chargingState`` again (after a fault ends), Reserved -> no event.

Authorisation results: the five 1.6 values map one to one; the 2.0.1 extras
are refusals: NoCredit -> blocked; NotAllowedTypeEVSE, NotAtThisLocation,
NotAtThisTime and Unknown ("identifier is unknown, not allowed") -> invalid.
"""

from __future__ import annotations

from typing import Final

from schemas.vocabulary import AuthMethod, AuthResult, ChargingState

__all__ = [
    "AUTH_RESULTS",
    "CHARGING_STATES_V201",
    "CONNECTOR_STATUS_V16",
    "CONNECTOR_STATUS_V201",
    "STOP_REASON_DEFAULT",
    "TOKEN_METHODS",
]

CONNECTOR_STATUS_V16: Final[dict[str, ChargingState | None]] = {
    "Charging": "charging",
    "SuspendedEVSE": "suspended_evse",
    "SuspendedEV": "suspended_ev",
    "Preparing": "ev_connected",
    "Finishing": "ev_connected",
    "Available": "idle",
    "Faulted": "suspended_evse",
    "Unavailable": "suspended_evse",
    "Reserved": None,
}

CONNECTOR_STATUS_V201: Final[dict[str, ChargingState | None]] = {
    "Available": "idle",
    "Faulted": "suspended_evse",
    "Unavailable": "suspended_evse",
    "Occupied": None,  # resolved from the carried-forward chargingState
    "Reserved": None,
}

CHARGING_STATES_V201: Final[dict[str, ChargingState]] = {
    "Charging": "charging",
    "SuspendedEVSE": "suspended_evse",
    "SuspendedEV": "suspended_ev",
    "EVConnected": "ev_connected",
    "Idle": "idle",
}

TOKEN_METHODS: Final[dict[str, AuthMethod]] = {
    "ISO14443": "rfid",
    "ISO15693": "rfid",
    "Central": "app",
    "eMAID": "plug_and_charge",
    "MacAddress": "mac_address",
    "KeyCode": "key_code",
    "NoAuthorization": "none",
    "Local": "none",
}

AUTH_RESULTS: Final[dict[str, AuthResult]] = {
    "Accepted": "accepted",
    "Blocked": "blocked",
    "Expired": "expired",
    "Invalid": "invalid",
    "ConcurrentTx": "concurrent_tx",
    "NoCredit": "blocked",
    "NotAllowedTypeEVSE": "invalid",
    "NotAtThisLocation": "invalid",
    "NotAtThisTime": "invalid",
    "Unknown": "invalid",
}

STOP_REASON_DEFAULT: Final = "Local"
"""1.6 StopTransaction without ``reason`` and 2.0.1 Ended without ``stoppedReason``
mean Local (1.6 section 6.49; 2.0.1 errata: may be omitted only when Local)."""
