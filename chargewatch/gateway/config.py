"""What the gateway needs to run: where to listen, what to accept, where to publish.

A plain frozen dataclass, so tests build one directly. The lead maps
``Settings`` fields onto it at start-up (see the package docstring); nothing
here reads the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chargewatch.errors import ConfigurationError

__all__ = ["SUBPROTOCOLS", "GatewayConfig"]

SUBPROTOCOLS: dict[str, str] = {"ocpp1.6": "1.6", "ocpp2.0.1": "2.0.1"}
"""WebSocket subprotocol -> the ``ocpp_version`` written into envelopes."""


@dataclass(frozen=True)
class GatewayConfig:
    """The gateway's settings (``port=0`` binds an ephemeral port, for tests)."""

    host: str = "127.0.0.1"
    port: int = 9000
    path_prefix: str = "/ocpp/"
    # Server preference when a station offers both: the first one it also offers.
    subprotocols: tuple[str, ...] = ("ocpp2.0.1", "ocpp1.6")
    # Id tokens answered Accepted (case-insensitive, as OCPP compares them);
    # every other token is Invalid. Empty: every token is Accepted.
    allowed_tokens: frozenset[str] = field(default_factory=frozenset)
    tenant: str | None = None
    heartbeat_interval_s: int = 300
    bootstrap: str = "127.0.0.1:9092"
    topic: str = "ocpp.messages"
    # True: answer a CALL only once Kafka has acknowledged its envelope, so a
    # charger never gets a CALLRESULT for a message that was not stored (it
    # gets a CALLERROR and retries instead). False: answer at once.
    confirm_delivery: bool = True
    delivery_timeout_s: float = 30.0
    linger_ms: int = 25  # see GatewaySettings.linger_ms
    flush_timeout_s: float = 30.0
    max_message_bytes: int = 1 << 20
    ping_interval_s: float | None = 60.0

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65_535:
            raise ConfigurationError(f"gateway port {self.port} is outside 0..65535")
        if not (self.path_prefix.startswith("/") and self.path_prefix.endswith("/")):
            raise ConfigurationError(
                f"gateway path prefix {self.path_prefix!r} must start and end with '/'"
            )
        unknown = [p for p in self.subprotocols if p not in SUBPROTOCOLS]
        if unknown or not self.subprotocols:
            raise ConfigurationError(
                f"gateway subprotocols {list(self.subprotocols)!r}: choose from "
                f"{sorted(SUBPROTOCOLS)}"
            )
        if self.tenant is not None and not 1 <= len(self.tenant) <= 64:
            raise ConfigurationError("gateway tenant must have 1 to 64 characters")
        if self.heartbeat_interval_s < 1:
            raise ConfigurationError("gateway heartbeat interval must be at least 1 s")
        if not self.topic:
            raise ConfigurationError("gateway topic must not be empty")
        if not self.delivery_timeout_s > 0 or not self.flush_timeout_s > 0:
            raise ConfigurationError("gateway delivery and flush timeouts must be positive")
        if self.linger_ms < 0:
            raise ConfigurationError("gateway linger must not be negative")
        # OCPP compares id tokens case-insensitively (1.6 CiString, 2.0.1 IdToken).
        object.__setattr__(
            self, "allowed_tokens", frozenset(t.upper() for t in self.allowed_tokens)
        )
