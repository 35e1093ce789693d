"""The Faust application: topics, the session table, the stitching agent.

Topology::

    chargewatch.events (key=station) --[stitch agent]--> chargewatch.sessions (key=session)
                                         |    \\--------> chargewatch.deadletter
                                         v
                        table "sessions" (key=session id, changelog-backed,
                        co-partitioned with chargewatch.events)

The table is keyed by session id but partitioned like the events topic: all
events of a session come from one station, hence one partition, and each state
is written to the changelog partition its events came from.
"""

from __future__ import annotations

import logging
import time
from typing import Any, cast

import faust

from chargewatch.settings import Settings
from streams.batch_lane import BatchHandler, BatchLane, install_batch_lane
from streams.commit_watchdog import CommitWatchdog, readings, resync_to_committed
from streams.core.ocpp import OcppNormaliser
from streams.core.session_pricing import SessionPricer
from streams.faust_patches import apply_faust_patches, set_fetch_limits
from streams.outputs import Outputs
from streams.worker import SessionWorker, StateFlushSensor

__all__ = ["build_app"]

log = logging.getLogger(__name__)


def _broker_url(bootstrap: str) -> str:
    return ";".join(f"kafka://{host.strip()}" for host in bootstrap.split(",") if host.strip())


def _batch_lane(
    app: faust.App, shell: SessionWorker, events: str, ocpp: str, with_ocpp: bool
) -> BatchLane | None:
    if not shell.cfg.batch_lane:
        return None
    handlers: dict[str, BatchHandler] = {events: shell.handle_batch}
    if with_ocpp:
        handlers[ocpp] = shell.handle_ocpp_batch
    lane = BatchLane(handlers)
    install_batch_lane(app, lane)
    return lane


def build_app(
    settings: Settings,
    pricer: SessionPricer | None = None,
    normaliser: OcppNormaliser | None = None,
) -> tuple[faust.App, SessionWorker]:
    """Create the Faust app and the worker shell it drives (``pricer``: cost in stream)."""
    kafka, worker_cfg = settings.kafka, settings.worker
    apply_faust_patches(drop_straddling_fetches=not worker_cfg.batch_lane)
    app = faust.App(
        worker_cfg.app_id,
        broker=_broker_url(kafka.bootstrap),
        store="memory://",
        datadir=str(worker_cfg.data_dir),
        topic_partitions=kafka.partitions,
        topic_replication_factor=kafka.replication_factor,
        key_serializer="raw",
        value_serializer="raw",
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=worker_cfg.commit_interval_s,
        broker_session_timeout=worker_cfg.session_timeout_s,
        broker_heartbeat_interval=max(worker_cfg.session_timeout_s / 4, 0.5),
        producer_linger_ms=20,
        producer_compression_type="lz4",
        producer_acks=-1,
        table_standby_replicas=0,
        web_enabled=False,
        stream_wait_empty=False,
        broker_max_poll_records=worker_cfg.max_poll_records,
        consumer_group_instance_id=worker_cfg.instance_id,
        consumer_max_fetch_size=worker_cfg.max_partition_fetch_bytes,
    )
    set_fetch_limits(
        app, max_wait_ms=worker_cfg.fetch_max_wait_ms, min_bytes=worker_cfg.fetch_min_bytes
    )
    events = app.topic(kafka.events_topic, key_type=bytes, value_type=bytes)
    ocpp_messages = app.topic(kafka.ocpp_topic, key_type=bytes, value_type=bytes)
    table = app.Table(
        "sessions",
        partitions=kafka.partitions,
        key_type=bytes,
        value_type=bytes,
        help="Session state snapshots (streams.core.state), written once per flush",
    )
    # Everything the shell writes goes through librdkafka (streams.outputs): the
    # output topics are created by ``ensure_topics`` before the app starts.
    outputs = Outputs(kafka.bootstrap)
    shell = SessionWorker(
        table=outputs.changelog(table),
        sessions_topic=outputs.topic(kafka.sessions_topic),
        deadletter_topic=outputs.topic(kafka.deadletter_topic),
        cdrs_topic=outputs.topic(kafka.cdrs_topic),
        cfg=worker_cfg,
        pricer=pricer,
        normaliser=normaliser,
    )
    app.sensors.add(StateFlushSensor(shell, outputs))
    lane = _batch_lane(app, shell, kafka.events_topic, kafka.ocpp_topic, normaliser is not None)
    pending_adoption: set[int] = set()
    inputs = {kafka.events_topic, kafka.ocpp_topic}
    watchdog = CommitWatchdog(stuck_after_s=worker_cfg.commit_stuck_after_s)

    # With the batch lane on (the default) these agents only declare the
    # subscription: the lane hands their topics' records to the shell directly.
    # concurrency=1 on purpose: agents with concurrency > 1 can lose messages on
    # restart (faust-streaming #606), and one instance per partition set keeps
    # the in-memory state single-owner. Events are acked as they are processed;
    # their state reaches the changelog before their offsets are committed.
    @app.agent(events, name="stitch", concurrency=1)
    async def stitch(stream: Any) -> None:
        async for event in stream.events():
            shell.handle(event.message)

    if normaliser is not None:
        # The same shell and state: an OCPP station's events and sessions share
        # its partition (both topics are keyed by station, same partition count).
        @app.agent(ocpp_messages, name="ocpp", concurrency=1)
        async def ocpp(stream: Any) -> None:
            async for event in stream.events():
                shell.handle_ocpp(event.message)

    # faust's decorators are untyped; the functions themselves are checked.
    @app.timer(interval=worker_cfg.tick_interval_s, name="silence")  # type: ignore[untyped-decorator]
    async def silence() -> None:
        recovery = cast(Any, app.tables).recovery  # TableManagerT does not declare it
        # ``rebalancing`` ends once this assignment's tables are recovered
        # (``recovery.completed`` stays set from the first recovery on).
        if pending_adoption and not app.rebalancing and recovery.completed.is_set():
            adopted = shell.adopt_open_sessions(set(pending_adoption))
            log.info("holding %d open sessions of partitions %s", adopted, pending_adoption)
            pending_adoption.clear()
        shell.tick(time.time() * 1000)
        if app.rebalancing or not recovery.completed.is_set():
            return  # a rebalance re-seeks every partition anyway
        consumer = cast(Any, app.consumer)
        stuck = watchdog.stuck(readings(consumer, inputs), time.monotonic())
        if stuck:
            await resync_to_committed(consumer, stuck)
            watchdog.forget()

    @app.on_partitions_assigned.connect
    async def on_assigned(_sender: Any, /, *args: Any, signal: Any, **_: Any) -> None:
        assigned: set[Any] = args[0] if args else set()
        # Faust hands over the whole new assignment: own and adopt exactly that.
        mine = {
            tp.partition for tp in assigned if tp.topic in (kafka.events_topic, kafka.ocpp_topic)
        }
        shell.owned = set(mine)
        pending_adoption.clear()
        pending_adoption.update(mine)

    @app.on_partitions_revoked.connect
    async def on_revoked(_sender: Any, /, *args: Any, signal: Any, **_: Any) -> None:
        revoked: set[Any] = args[0] if args else set()
        inputs = (kafka.events_topic, kafka.ocpp_topic)
        gone = {tp.partition for tp in revoked if tp.topic in inputs}
        if shell.owned is not None:
            shell.owned.difference_update(gone)
        pending_adoption.difference_update(gone)
        shell.forget_partitions(gone)
        if lane is not None:
            lane.forget(revoked)

    return app, shell
