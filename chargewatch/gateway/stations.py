"""One connected charging station, as the ``ocpp`` package's CSMS-side ``ChargePoint``.

The ``@on`` handlers answer as a minimal CSMS (see the package docstring).
Recording is wrapped around the library's own flow: ``route_message`` notes
when the frame arrived, ``_handle_call`` which CALL is being answered, and
``_send`` -- the one place every answer passes, CALLRESULT or CALLERROR --
publishes the envelope *before* the answer goes out. A CALL whose envelope
could not be stored is answered with a CALLERROR ``InternalError`` instead, so
the charger retries it (OCPP 1.6 section 3.7.1; 2.0.1 E13) and nothing it
believes delivered is missing from Kafka.

The library processes one frame per connection at a time (its receive loop
awaits each), which matches OCPP-J: a station has at most one CALL in flight.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

from ocpp.charge_point import ChargePoint  # type: ignore[import-untyped]
from ocpp.routing import on as _ocpp_on  # type: ignore[import-untyped]
from ocpp.v16 import call as v16_call  # type: ignore[import-untyped]
from ocpp.v16 import call_result as v16_result
from ocpp.v201 import call as v201_call  # type: ignore[import-untyped]
from ocpp.v201 import call_result as v201_result

from chargewatch.errors import BrokerError
from chargewatch.gateway.answers import TokenPolicy, TransactionIds
from chargewatch.gateway.envelope import encode_envelope, rfc3339_ms
from chargewatch.gateway.logsafe import PayloadFreeLogger
from chargewatch.gateway.publisher import EnvelopeSink

__all__ = ["GatewayCounters", "Station", "StationContext", "V16Station", "V201Station"]

log = logging.getLogger(__name__)
_ocpp_log = logging.getLogger("chargewatch.gateway.ocpp")

_F = TypeVar("_F", bound=Callable[..., Any])
_CALL, _CALLRESULT, _CALLERROR = 2, 3, 4


def _on(action: str) -> Callable[[_F], _F]:
    """``ocpp.routing.on`` with a type (the package ships none)."""
    return cast(Callable[[_F], _F], _ocpp_on(action))


def _call_error(unique_id: str, code: str, description: str) -> str:
    return json.dumps([_CALLERROR, unique_id, code, description, {}], separators=(",", ":"))


@dataclass(frozen=True)
class StationContext:
    """What every connection of one gateway shares."""

    sink: EnvelopeSink
    tokens: TokenPolicy
    transaction_ids: TransactionIds
    tenant: str | None
    heartbeat_interval_s: int
    clock: Callable[[], datetime]


@dataclass
class GatewayCounters:
    """Process-wide counts (read by tests and the shutdown log line)."""

    calls: int = 0
    call_errors: int = 0
    store_failures: int = 0


class Station(ChargePoint):  # type: ignore[misc]
    """Common recording logic; subclasses set the OCPP version and handlers."""

    ocpp_version = ""

    def __init__(
        self, station_id: str, connection: Any, context: StationContext, counters: GatewayCounters
    ) -> None:
        super().__init__(station_id, connection, logger=PayloadFreeLogger(_ocpp_log, station_id))
        self._ctx = context
        self._counters = counters
        self._received_at: datetime | None = None
        self._in_flight: Any = None  # the ocpp.messages.Call being answered

    # -- recording -------------------------------------------------------

    async def route_message(self, raw_msg: str | bytes) -> None:
        self._received_at = self._ctx.clock()
        self._in_flight = None
        await super().route_message(raw_msg)

    async def _handle_call(self, msg: Any) -> Any:
        self._in_flight = msg
        return await super()._handle_call(msg)

    async def _send(self, message: str) -> None:
        call, self._in_flight = self._in_flight, None
        if call is not None:
            message = await self._record(call, message)
        # Not the library's _send: it logs the whole frame.
        await self._connection.send(message)

    async def _record(self, call: Any, answer: str) -> str:
        frame = json.loads(answer)
        ok = frame[0] == _CALLRESULT and frame[1] == call.unique_id
        self._counters.calls += 1
        if not ok:
            self._counters.call_errors += 1
            log.warning(
                "%s: answered %s %s with CALLERROR %s",
                self.id,
                call.action,
                call.unique_id,
                frame[2] if frame[0] == _CALLERROR else "?",
            )
        received_at = self._received_at or self._ctx.clock()
        try:
            envelope = encode_envelope(
                station_id=self.id,
                ocpp_version=self.ocpp_version,
                message_id=str(call.unique_id),
                action=str(call.action),
                received_at=received_at,
                request=call.payload,
                response=frame[2] if ok else None,
                tenant=self._ctx.tenant,
            )
        except (TypeError, ValueError):  # e.g. NaN next to a >64-bit integer
            self._counters.store_failures += 1
            log.error("%s: %s %s cannot be written as JSON", self.id, call.action, call.unique_id)
            return _call_error(call.unique_id, "FormatViolation", "payload cannot be stored")
        try:
            await self._ctx.sink.publish(self.id.encode(), envelope)
        except BrokerError as exc:
            self._counters.store_failures += 1
            log.error(
                "%s: %s %s not stored, answering InternalError: %s",
                self.id,
                call.action,
                call.unique_id,
                exc,
            )
            return _call_error(call.unique_id, "InternalError", "message could not be stored")
        return answer

    # -- shared answers --------------------------------------------------

    def _now(self) -> str:
        return rfc3339_ms(self._ctx.clock())

    def _id_status(self, token: str, token_type: str | None = None) -> str:
        return self._ctx.tokens.status(token, token_type)


class V16Station(Station):
    """OCPP 1.6J."""

    ocpp_version = "1.6"
    _call = v16_call
    _call_result = v16_result
    _ocpp_version = "1.6"

    @_on("BootNotification")
    def on_v16_boot_notification(self, **_: Any) -> Any:
        return v16_result.BootNotification(
            current_time=self._now(),
            interval=self._ctx.heartbeat_interval_s,
            status="Accepted",
        )

    @_on("Heartbeat")
    def on_v16_heartbeat(self, **_: Any) -> Any:
        return v16_result.Heartbeat(current_time=self._now())

    @_on("StatusNotification")
    def on_v16_status_notification(self, **_: Any) -> Any:
        return v16_result.StatusNotification()

    @_on("MeterValues")
    def on_v16_meter_values(self, **_: Any) -> Any:
        return v16_result.MeterValues()

    @_on("Authorize")
    def on_v16_authorize(self, *, id_tag: str, **_: Any) -> Any:
        return v16_result.Authorize(id_tag_info={"status": self._id_status(id_tag)})

    @_on("StartTransaction")
    def on_v16_start_transaction(self, *, id_tag: str, **_: Any) -> Any:
        return v16_result.StartTransaction(
            transaction_id=self._ctx.transaction_ids.next(),
            id_tag_info={"status": self._id_status(id_tag)},
        )

    @_on("StopTransaction")
    def on_v16_stop_transaction(self, *, id_tag: str | None = None, **_: Any) -> Any:
        # A stop cannot be refused (1.6 section 4.10); idTagInfo only when a tag came.
        info = {"status": self._id_status(id_tag)} if id_tag else None
        return v16_result.StopTransaction(id_tag_info=info)

    @_on("DataTransfer")
    def on_v16_data_transfer(self, **_: Any) -> Any:
        return v16_result.DataTransfer(status="UnknownVendorId")

    @_on("DiagnosticsStatusNotification")
    def on_v16_diagnostics_status(self, **_: Any) -> Any:
        return v16_result.DiagnosticsStatusNotification()

    @_on("FirmwareStatusNotification")
    def on_v16_firmware_status(self, **_: Any) -> Any:
        return v16_result.FirmwareStatusNotification()


class V201Station(Station):
    """OCPP 2.0.1."""

    ocpp_version = "2.0.1"
    _call = v201_call
    _call_result = v201_result
    _ocpp_version = "2.0.1"

    @_on("BootNotification")
    def on_v201_boot_notification(self, **_: Any) -> Any:
        return v201_result.BootNotification(
            current_time=self._now(),
            interval=self._ctx.heartbeat_interval_s,
            status="Accepted",
        )

    @_on("Heartbeat")
    def on_v201_heartbeat(self, **_: Any) -> Any:
        return v201_result.Heartbeat(current_time=self._now())

    @_on("StatusNotification")
    def on_v201_status_notification(self, **_: Any) -> Any:
        return v201_result.StatusNotification()

    @_on("MeterValues")
    def on_v201_meter_values(self, **_: Any) -> Any:
        return v201_result.MeterValues()

    @_on("Authorize")
    def on_v201_authorize(self, *, id_token: dict[str, Any], **_: Any) -> Any:
        status = self._id_status(id_token["id_token"], id_token["type"])
        return v201_result.Authorize(id_token_info={"status": status})

    @_on("TransactionEvent")
    def on_v201_transaction_event(self, *, id_token: dict[str, Any] | None = None, **_: Any) -> Any:
        # TransactionEvent cannot be rejected; idTokenInfo answers a token if one came.
        info = None
        if id_token is not None:
            info = {"status": self._id_status(id_token["id_token"], id_token["type"])}
        return v201_result.TransactionEvent(id_token_info=info)

    @_on("NotifyEvent")
    def on_v201_notify_event(self, **_: Any) -> Any:
        return v201_result.NotifyEvent()

    @_on("NotifyReport")
    def on_v201_notify_report(self, **_: Any) -> Any:
        return v201_result.NotifyReport()

    @_on("SecurityEventNotification")
    def on_v201_security_event(self, **_: Any) -> Any:
        return v201_result.SecurityEventNotification()

    @_on("FirmwareStatusNotification")
    def on_v201_firmware_status(self, **_: Any) -> Any:
        return v201_result.FirmwareStatusNotification()

    @_on("LogStatusNotification")
    def on_v201_log_status(self, **_: Any) -> Any:
        return v201_result.LogStatusNotification()

    @_on("DataTransfer")
    def on_v201_data_transfer(self, **_: Any) -> Any:
        return v201_result.DataTransfer(status="UnknownVendorId")
