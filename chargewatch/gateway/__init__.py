"""The OCPP gateway: charging stations connect here; every CALL becomes one Kafka record.

Stations open ``ws://host:port/ocpp/<station_id>`` with subprotocol
``ocpp1.6`` or ``ocpp2.0.1``. The gateway answers as a minimal CSMS:

=============================  ===============================================
BootNotification               Accepted, interval = ``heartbeat_interval_s``
Heartbeat                      currentTime
StatusNotification, MeterValues  empty answer
Authorize                      idTagInfo / idTokenInfo from the allow-list
                               (empty list: Accepted; unknown token: Invalid)
StartTransaction (1.6)         a new transactionId (``TransactionIds``) + idTagInfo
StopTransaction (1.6)          idTagInfo when the stop carries an idTag
TransactionEvent (2.0.1)       idTokenInfo when the event carries an idToken
DataTransfer                   UnknownVendorId
Notify*/…StatusNotification    empty answer (firmware, diagnostics, log, events)
anything else                  CALLERROR NotImplemented (by the ``ocpp`` package)
=============================  ===============================================

and publishes ``{station_id, ocpp_version, message_id, action, received_at,
request, response, tenant?}`` to ``config.topic`` with key = station id (see
``envelope.py``). Raw id tokens travel in the envelope (the worker pseudonymises
them at ingestion) but never appear in a log line (``logsafe.py``).

Entry points: :func:`run_gateway` (the CLI command's body) and
:class:`Gateway` / :func:`serve_gateway` (in-process, ``port=0`` for tests).
"""

from chargewatch.gateway.answers import TokenPolicy, TransactionIds
from chargewatch.gateway.config import SUBPROTOCOLS, GatewayConfig
from chargewatch.gateway.envelope import encode_envelope, rfc3339_ms
from chargewatch.gateway.publisher import EnvelopeSink, KafkaSink, MemorySink
from chargewatch.gateway.server import Gateway, run_gateway, serve_gateway

__all__ = [
    "SUBPROTOCOLS",
    "EnvelopeSink",
    "Gateway",
    "GatewayConfig",
    "KafkaSink",
    "MemorySink",
    "TokenPolicy",
    "TransactionIds",
    "encode_envelope",
    "rfc3339_ms",
    "run_gateway",
    "serve_gateway",
]
