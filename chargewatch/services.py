"""Bodies of the long-running and file-processing subcommands."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pydantic_settings import BaseSettings

from chargewatch.settings import Settings

__all__ = [
    "print_config",
    "run_replay",
    "run_simulate",
    "run_sink",
    "run_tariffs",
    "run_worker",
]

log = logging.getLogger(__name__)


def run_worker(settings: Settings) -> int:
    import faust
    import mode.loop

    from chargewatch.collector import tune_collector
    from chargewatch.kafka_admin import ensure_topics
    from streams.app import build_app
    from streams.core.session_pricing import SessionPricer
    from streams.core.tariff_book import TariffBook
    from streams.metrics import serve_metrics
    from streams.ocpp_ingest import normaliser_for
    from streams.tariff_feed import TariffFeed

    mode.loop.use("uvloop")
    ensure_topics(settings.kafka)
    feed = TariffFeed(settings.kafka, TariffBook(settings.pricing.default_time_zone))
    feed.start()
    log.info("tariff book ready: %d records", feed.records)
    pricer = SessionPricer(
        feed.book, country_code=settings.pricing.country_code, party_id=settings.pricing.party_id
    )
    normaliser = None
    if settings.worker.ocpp:
        if settings.privacy.token_hmac_key is None:
            log.warning("OCPP topic not consumed: CHARGEWATCH_PRIVACY_TOKEN_HMAC_KEY is not set")
        else:
            normaliser = normaliser_for(settings.privacy, settings.worker.tenant)
            # Every OCPP schema now (~0.1 s), not on the first message of each
            # action: the first StopTransaction after a start would wait for it.
            log.info("OCPP schemas compiled: %d", normaliser.registry.compile_all())
            if not normaliser.compiled:
                # Same results, about half the OCPP throughput: say so, once.
                log.warning("OCPP normaliser without its compiled fast path (native/ not built)")
    app, _ = build_app(settings, pricer, normaliser)
    # aiokafka and faust log per message at DEBUG; building those records costs
    # ~5% of a worker's CPU even when no handler prints them.
    level = max(logging.getLevelName(settings.log_level.upper()), logging.INFO)
    for noisy in ("aiokafka", "faust", "mode"):
        logging.getLogger(noisy).setLevel(level)
    serve_metrics(settings.worker.metrics_port, settings.metrics_host)
    tune_collector()  # everything built so far lives as long as the worker
    worker = faust.Worker(app, loglevel=settings.log_level.lower(), quiet=True)
    worker.execute_from_commandline()
    return 0


def run_sink(settings: Settings) -> int:
    from sinks.runner import SessionSink
    from streams.metrics import serve_metrics

    serve_metrics(settings.sink.metrics_port, settings.metrics_host)
    sink = SessionSink(settings)
    log.info("sink writing to %s", settings.clickhouse.url or settings.clickhouse.chdb_path)
    sink.run()
    log.info("sink stopped after %d rows", sink.rows_written)
    return 0


def gateway_config(settings: Settings) -> Any:
    from chargewatch.gateway import GatewayConfig

    g = settings.gateway
    tokens = g.allowed_tokens.get_secret_value() if g.allowed_tokens is not None else ""
    return GatewayConfig(
        host=g.host,
        port=g.port,
        path_prefix=g.path_prefix,
        allowed_tokens=frozenset(t.strip() for t in tokens.split(",") if t.strip()),
        tenant=g.tenant,
        bootstrap=settings.kafka.bootstrap,
        topic=settings.kafka.ocpp_topic,
        confirm_delivery=g.confirm_delivery,
        linger_ms=g.linger_ms,
    )


def run_gateway_command(settings: Settings) -> int:
    from chargewatch.gateway import run_gateway
    from chargewatch.kafka_admin import ensure_topics

    ensure_topics(settings.kafka)
    return int(run_gateway(gateway_config(settings)))


def run_simulate(settings: Settings, args: argparse.Namespace) -> int:
    from chargewatch.pipeline import sim_config
    from chargewatch.simulator import produce, simulate, write_truth
    from streams.core.events import encode_event

    simulation = simulate(sim_config(args.stations, args.days, args.seed, args.sample_interval))
    if args.truth:
        write_truth(args.truth, simulation.truth)
    if args.out and args.protocol != "canonical":
        from chargewatch.simulator.ocpp_log import ocpp_envelopes

        # The log the configured gateway would write: its tenant and token list apply.
        envelopes = ocpp_envelopes(simulation, args.protocol, gateway_config(settings))
        with args.out.open("wb") as handle:
            handle.writelines(value + b"\n" for _, value in envelopes)
        print(f"{len(envelopes)} {args.protocol} envelopes, {len(simulation.truth)} sessions "
              f"-> {args.out}")  # fmt: skip
        return 0
    if args.out:
        with args.out.open("wb") as handle:
            for event in simulation.events:
                handle.write(encode_event(event) + b"\n")
        print(f"{len(simulation.events)} events, {len(simulation.truth)} sessions -> {args.out}")
        return 0
    if args.protocol != "canonical":
        from chargewatch.simulator.ocpp_driver import drive_blocking

        g = settings.gateway
        url = args.gateway or f"ws://{g.host}:{g.port}{g.path_prefix}"
        result = drive_blocking(simulation, url, args.protocol, args.speed)
        print(f"{result} -> {url}")
        return 0
    from chargewatch.kafka_admin import ensure_topics

    ensure_topics(settings.kafka)
    n = produce(
        simulation,
        bootstrap=settings.kafka.bootstrap,
        topic=settings.kafka.events_topic,
        speed=args.speed,
    )
    print(f"{n} events, {len(simulation.truth)} sessions -> {settings.kafka.events_topic}")
    return 0


def run_replay(
    settings: Settings,
    path: Path | None,
    *,
    fmt: str = "auto",
    raw_table: bool = False,
    out: Path | None,
    clickhouse: bool,
    tariff: Path | None = None,
    tz: str | None = None,
    cdrs: Path | None = None,
    jobs: int | None = None,
) -> int:
    from chargewatch.replay import file_pricer, replay_lines, replay_path
    from streams.core.record import encode_record
    from streams.ocpp_ingest import normaliser_for

    pricer = None
    if tariff is not None:
        zone = tz or settings.pricing.default_time_zone
        pricer = file_pricer(tariff, zone, settings.pricing)
    normaliser = None
    if settings.privacy.token_hmac_key is not None:
        normaliser = normaliser_for(settings.privacy, settings.worker.tenant)
    if raw_table:
        from sinks.clickhouse import connect, migrate
        from sinks.raw import read_raw

        client = connect(settings.clickhouse)
        try:
            migrate(client, settings.clickhouse.database)
            envelopes = list(read_raw(client, settings.clickhouse.database))
        finally:
            client.close()
        # One process: the ClickHouse client may have started threads, and a
        # forked child of a threaded process is not safe.
        result = replay_lines(
            envelopes,
            worker=settings.worker,
            pricer=pricer,
            normaliser=normaliser,
            fmt="ocpp",
            partitions=settings.kafka.partitions,
        )
    else:
        assert path is not None
        result = replay_path(
            path,
            worker=settings.worker,
            pricer=pricer,
            normaliser=normaliser,
            fmt=fmt,  # type: ignore[arg-type]  # argparse checked the choices
            # Silence judged per partition of the live topic, as the worker judges it.
            partitions=settings.kafka.partitions,
            jobs=jobs or len(os.sched_getaffinity(0)),
        )
    if cdrs is not None:
        from streams.core.session_pricing import cdr_json

        with cdrs.open("wb") as handle:
            for cdr in result.cdrs:
                handle.write(cdr_json(cdr) + b"\n")
    for line, reason in result.rejected[:20]:
        log.warning("line %d rejected: %s", line, reason)
    if out is not None:
        with out.open("wb") as handle:
            for record in result.sessions:
                handle.write(encode_record(record) + b"\n")
    if clickhouse:
        from sinks.clickhouse import connect, migrate
        from sinks.sessions import insert_sessions

        client = connect(settings.clickhouse)
        migrate(client, settings.clickhouse.database)
        insert_sessions(client, settings.clickhouse.database, result.sessions)
    print(
        f"{result.events} events -> {len(result.sessions)} sessions"
        + (f", {len(result.rejected)} lines rejected" if result.rejected else "")
    )
    return 1 if result.rejected and not result.events else 0


def run_tariffs(settings: Settings, command: str, path: Path | None) -> int:
    from chargewatch.kafka_admin import ensure_topics
    from chargewatch.tariffs import apply_file, load_book

    ensure_topics(settings.kafka)
    if command == "apply":
        assert path is not None
        n = apply_file(settings.kafka, path)
        print(f"published {n} records to {settings.kafka.tariffs_topic}")
        return 0
    book = load_book(settings.kafka, settings.pricing.default_time_zone)
    rows = book.listing()
    if not rows:
        print("no tariffs")
    for row in rows:
        print(
            f"{row['id']:<20} {row['last_updated']:<26} {row['currency']} "
            f"{row['elements']} element(s)  valid {row['valid_from'] or '-'} .. "
            f"{row['valid_until'] or '-'}  assigned: {', '.join(row['assigned_to']) or '-'}"
        )
    return 0


def _rows(section: BaseSettings, prefix: str) -> list[tuple[str, str, str]]:
    rows = []
    for name, field in type(section).model_fields.items():
        value = getattr(section, name)
        if isinstance(value, BaseSettings):
            continue
        env = f"{section.model_config.get('env_prefix', prefix)}{name}".upper()
        shown = "(secret)" if isinstance(value, SecretStr) else str(value)
        rows.append((env, shown, field.description or ""))
    return rows


def print_config(settings: Settings) -> None:
    """Every setting, its environment variable and its current value."""
    sections: list[BaseSettings] = [settings]
    sections += [v for v in settings.__dict__.values() if isinstance(v, BaseSettings)]
    for section in sections:
        for env, value, description in _rows(section, "CHARGEWATCH_"):
            print(f"{env:<42} {value:<28} {description}")
