"""The WebSocket endpoint: ``ws://host:port/ocpp/<station_id>``.

* The handshake is refused with 404 outside ``path_prefix``, 400 for a station
  id that is not an OCPP identifierString of 1..64 characters, and 400 when the
  station offers none of the configured subprotocols (``ocpp1.6``,
  ``ocpp2.0.1``; the server's order decides when it offers both).
* A second connection of a station replaces the first, which is closed.
* Shutdown (:meth:`Gateway.stop`, or SIGTERM/SIGINT in :func:`run_gateway`):
  stop accepting, close connections with 1001 after their in-flight CALL is
  answered, then flush the producer.
"""

from __future__ import annotations

import asyncio
import logging
import re
import signal
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Self
from urllib.parse import unquote

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from chargewatch.errors import ConfigurationError
from chargewatch.gateway.answers import TokenPolicy, TransactionIds
from chargewatch.gateway.config import GatewayConfig
from chargewatch.gateway.logsafe import NoFrameLogger
from chargewatch.gateway.publisher import EnvelopeSink, KafkaSink
from chargewatch.gateway.stations import (
    GatewayCounters,
    Station,
    StationContext,
    V16Station,
    V201Station,
)

__all__ = ["Gateway", "run_gateway", "serve_gateway"]

log = logging.getLogger(__name__)

# OCPP 2.0.1 part 4 "identifierString"; the envelope allows 64 characters.
_STATION_ID = re.compile(r"[A-Za-z0-9*\-_=:+|@.]{1,64}")
_STATIONS: dict[str, type[Station]] = {"ocpp1.6": V16Station, "ocpp2.0.1": V201Station}


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Gateway:
    """A running gateway; ``async with Gateway(config) as gw:`` then ``gw.url``.

    ``sink`` defaults to a :class:`KafkaSink` on ``config.topic`` (closed, i.e.
    flushed, on stop; a sink passed in is closed too). ``clock`` stamps
    ``received_at`` and the times in answers.
    """

    def __init__(
        self,
        config: GatewayConfig,
        *,
        sink: EnvelopeSink | None = None,
        clock: Callable[[], datetime] = _utc_now,
        transaction_ids: TransactionIds | None = None,
    ) -> None:
        self.config = config
        self._sink = sink
        self._clock = clock
        self._transaction_ids = transaction_ids or TransactionIds()
        self._server: Server | None = None
        self._live: dict[str, ServerConnection] = {}
        self.counters = GatewayCounters()
        self.connections_total = 0
        self.port = config.port

    @property
    def url(self) -> str:
        """Base URL; a station connects to ``url + station_id``."""
        return f"ws://{self.config.host}:{self.port}{self.config.path_prefix}"

    async def start(self) -> None:
        if self._sink is None:
            self._sink = KafkaSink(self.config)
        context = StationContext(
            sink=self._sink,
            tokens=TokenPolicy(self.config.allowed_tokens),
            transaction_ids=self._transaction_ids,
            tenant=self.config.tenant,
            heartbeat_interval_s=self.config.heartbeat_interval_s,
            clock=self._clock,
        )

        async def handler(connection: ServerConnection) -> None:
            await self._serve_station(connection, context)

        try:
            self._server = await serve(
                handler,
                self.config.host,
                self.config.port,
                subprotocols=[Subprotocol(p) for p in self.config.subprotocols],
                process_request=self._check_path,
                max_size=self.config.max_message_bytes,
                ping_interval=self.config.ping_interval_s,
                logger=NoFrameLogger(logging.getLogger("chargewatch.gateway.websockets")),
            )
        except OSError as exc:
            await self._sink.close()
            raise ConfigurationError(
                f"gateway cannot listen on {self.config.host}:{self.config.port}: {exc}"
            ) from exc
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info(
            "OCPP gateway listening on %s (%s) -> %s",
            self.url,
            ", ".join(self.config.subprotocols),
            self.config.topic,
        )

    async def stop(self) -> None:
        """Stop accepting, close every connection, then close (flush) the sink. Idempotent."""
        if self._server is None:
            return
        self._server.close()
        await self._server.wait_closed()
        self._server = None
        if self._sink is not None:
            await self._sink.close()
        c = self.counters
        log.info(
            "OCPP gateway stopped: %d connections, %d calls (%d CALLERROR, %d not stored)",
            self.connections_total,
            c.calls,
            c.call_errors,
            c.store_failures,
        )

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _check_path(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        prefix = self.config.path_prefix
        if not path.startswith(prefix):
            return connection.respond(404, f"connect to {prefix}<station id>\n")
        if not _STATION_ID.fullmatch(unquote(path[len(prefix) :])):
            return connection.respond(400, "station id: 1-64 of A-Z a-z 0-9 * - _ = : + | @ .\n")
        return None

    async def _serve_station(self, connection: ServerConnection, context: StationContext) -> None:
        path = connection.request.path if connection.request else ""
        station_id = unquote(path.split("?", 1)[0][len(self.config.path_prefix) :])
        protocol = connection.subprotocol or ""
        station = _STATIONS[protocol](station_id, connection, context, self.counters)
        previous = self._live.get(station_id)
        self._live[station_id] = connection
        self.connections_total += 1
        if previous is not None:
            log.warning("%s: new connection replaces the open one", station_id)
            await previous.close(1000, "replaced by a new connection")
        log.info("%s: connected (%s) from %s", station_id, protocol, connection.remote_address)
        try:
            await station.start()
        except ConnectionClosed as exc:
            log.info("%s: disconnected (%s)", station_id, exc.rcvd.code if exc.rcvd else "no close")
        except Exception as exc:
            # Never let websockets log a traceback: its text could quote a payload.
            log.error("%s: connection failed (%s)", station_id, type(exc).__name__)
        finally:
            if self._live.get(station_id) is connection:
                del self._live[station_id]


async def serve_gateway(
    config: GatewayConfig,
    stop: asyncio.Event,
    *,
    sink: EnvelopeSink | None = None,
    ready: Callable[[Gateway], None] | None = None,
) -> Gateway:
    """Run a gateway until ``stop`` is set; ``ready`` is called once it listens."""
    gateway = Gateway(config, sink=sink)
    async with gateway:
        if ready is not None:
            ready(gateway)
        await stop.wait()
    return gateway


def run_gateway(config: GatewayConfig) -> int:
    """The ``chargewatch gateway`` command: serve until SIGTERM/SIGINT, then flush; 0."""
    import uvloop

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve_gateway(config, stop)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())
    return 0
