"""Every Prometheus metric chargewatch exposes, in one place.

Alert rules (``deploy/prometheus``) and Grafana panels are written against
these names; change a name here and there together.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

__all__ = [
    "CDRS_ISSUED",
    "COMMIT_RESYNCS",
    "DEADLETTERS",
    "EVENTS",
    "SESSIONS_EMITTED",
    "SESSIONS_EXPIRED",
    "SESSIONS_OPEN",
    "SESSIONS_UNAUTHORISED",
    "SINK_BATCH_SECONDS",
    "SINK_ROWS",
    "STATE_FLUSH_SECONDS",
    "STATE_UNREADABLE",
    "STATE_WRITES",
    "serve_metrics",
]

EVENTS = Counter("chargewatch_events_total", "Canonical events processed by the worker", ["type"])
DEADLETTERS = Counter(
    "chargewatch_deadletters_total", "Input records sent to the dead-letter topic", ["reason"]
)
SESSIONS_EMITTED = Counter(
    "chargewatch_session_records_total", "Session records emitted", ["status"]
)
SESSIONS_OPEN = Gauge("chargewatch_sessions_open", "Open sessions held in worker memory")
CDRS_ISSUED = Counter("chargewatch_cdrs_total", "OCPI CDRs issued", ["kind"])  # cdr | credit
SESSIONS_UNAUTHORISED = Counter(
    "chargewatch_sessions_unauthorised_total",
    "Sessions closed without an accepted authorisation (counted at their first final record)",
)
SESSIONS_EXPIRED = Counter(
    "chargewatch_sessions_expired_total", "Closed sessions deleted from the table after retention"
)
STATE_WRITES = Counter(
    "chargewatch_state_writes_total", "Session states written to the changelog table"
)
STATE_UNREADABLE = Counter(
    "chargewatch_state_unreadable_total",
    "Stored session states the worker could not read (an earlier format); rebuilt from events",
)
STATE_FLUSH_SECONDS = Histogram(
    "chargewatch_state_flush_seconds", "Time to write dirty session state and ack its events"
)
COMMIT_RESYNCS = Counter(
    "chargewatch_commit_resyncs_total",
    "Times the worker found a committed offset stuck and re-read from it",
)
SINK_ROWS = Counter("chargewatch_sink_rows_total", "Rows inserted into ClickHouse", ["table"])
SINK_BATCH_SECONDS = Histogram(
    "chargewatch_sink_batch_seconds", "Time to insert one batch into ClickHouse", ["table"]
)


def serve_metrics(port: int, host: str = "127.0.0.1") -> None:
    """Expose /metrics on ``host:port`` (port 0 disables it)."""
    if port:
        start_http_server(port, addr=host)
