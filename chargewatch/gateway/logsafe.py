"""Loggers for third-party code that would otherwise log message contents.

Id tokens (RFID UIDs, eMAIDs, key codes) are personal data and OCPP 2.0.1
C04.FR.04 forbids logging key codes, so no log line may carry a payload:

* the ``ocpp`` library logs every frame it sends and receives at INFO, and the
  offending message (payload included) when a handler or a schema check
  fails. :class:`PayloadFreeLogger` drops its INFO/DEBUG lines and keeps only
  the *template* of warnings and errors, without their arguments and without
  the exception text (a schema error quotes the offending value);
* ``websockets`` logs every frame at DEBUG. :class:`NoFrameLogger` reports
  DEBUG as disabled, which is how ``websockets`` decides whether to log frames.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

__all__ = ["NoFrameLogger", "PayloadFreeLogger"]

_LoggerAdapter = logging.LoggerAdapter[logging.Logger]


class PayloadFreeLogger(_LoggerAdapter):
    """Give this to ``ocpp``'s ``ChargePoint(logger=...)``."""

    def __init__(self, logger: logging.Logger, station_id: str) -> None:
        super().__init__(logger, {"station_id": station_id})

    def isEnabledFor(self, level: int) -> bool:
        return level >= logging.WARNING and self.logger.isEnabledFor(level)

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        exc_type = sys.exc_info()[0] if kwargs.get("exc_info") else None
        template = str(msg).replace("%s", "<redacted>").replace("%r", "<redacted>")
        station = (self.extra or {}).get("station_id", "?")
        suffix = f" ({exc_type.__name__})" if exc_type is not None else ""
        self.logger.log(level, "%s: ocpp: %s%s", station, template, suffix)


class NoFrameLogger(_LoggerAdapter):
    """Give this to ``websockets``' ``serve(logger=...)`` / ``connect(logger=...)``."""

    def __init__(self, logger: logging.Logger, extra: Mapping[str, object] | None = None) -> None:
        super().__init__(logger, extra or {})

    def isEnabledFor(self, level: int) -> bool:
        return level > logging.DEBUG and self.logger.isEnabledFor(level)

    def debug(self, msg: object, *args: object, **kwargs: Any) -> None:
        return
