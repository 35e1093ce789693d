"""The ``chargewatch`` command."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from chargewatch.errors import ChargewatchError
from chargewatch.settings import Settings

__all__ = ["main"]


def _speed(text: str) -> float | None:
    if text == "max":
        return None
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("speed must be > 0 or 'max'")
    return value


def _jobs(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("jobs must be at least 1")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chargewatch",
        description="EV charging sessions from charger telemetry: Kafka -> Faust -> ClickHouse.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("worker", help="run the Faust stitching worker")
    sub.add_parser("sink", help="run the ClickHouse sink (sessions topic -> ClickHouse)")

    run = sub.add_parser("run", help="the whole pipeline on a simulated day, then a summary")
    sim = sub.add_parser("simulate", help="produce simulated charger telemetry")
    for p in (run, sim):
        p.add_argument("--stations", type=int, default=50)
        p.add_argument("--days", type=float, default=1.0)
        p.add_argument("--seed", type=int, default=42)
        p.add_argument("--sample-interval", type=int, default=60, help="seconds between samples")
        p.add_argument("--speed", type=_speed, default=None,
                       help="simulated seconds per wall second, or 'max' (default)")  # fmt: skip
    run.add_argument("--tariff", type=Path, help="apply this tariff file first (tariffs apply)")
    sim.add_argument("--truth", type=Path, help="write ground truth (JSON lines) here")
    sim.add_argument(
        "--out",
        type=Path,
        help="write JSON lines here instead (events, or with --protocol ocpp* the envelopes "
        "the gateway would publish; no Kafka, no gateway)",
    )
    sim.add_argument(
        "--protocol",
        choices=["canonical", "ocpp1.6", "ocpp2.0.1"],
        default="canonical",
        help="canonical events to Kafka, or OCPP chargers driving the gateway",
    )
    sim.add_argument("--gateway", help="gateway URL (default: from the gateway settings)")

    sub.add_parser("gateway", help="the OCPP-J WebSocket gateway: chargers in, envelopes to Kafka")

    replay = sub.add_parser(
        "replay", help="stitch a file of canonical events or OCPP envelopes without Kafka"
    )
    replay.add_argument("input", type=Path, nargs="?", help="JSON lines (omit with --raw-table)")
    replay.add_argument("--format", choices=["auto", "events", "ocpp"], default="auto",
                        help="input kind (default: recognised from the first record)")  # fmt: skip
    replay.add_argument(
        "--raw-table", action="store_true", help="read the OCPP raw archive in ClickHouse"
    )
    target = replay.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", type=Path, help="write one session record per line here")
    target.add_argument("--clickhouse", action="store_true", help="write to ClickHouse")
    replay.add_argument("--tariff", type=Path, help="price the sessions under this OCPI tariff")
    replay.add_argument("--tz", help="time zone of the stations (default: the pricing setting)")
    replay.add_argument("--cdrs", type=Path, help="with --tariff: write the CDRs here (JSON lines)")
    replay.add_argument(
        "--jobs", type=_jobs, default=None, metavar="N",
        help="processes sharing the stations (default: the CPUs this process may use); "
        "the result is the same for any N",
    )  # fmt: skip

    schemas = sub.add_parser("schemas", help="the topic contracts")
    schemas_sub = schemas.add_subparsers(dest="schemas_command", required=True)
    export = schemas_sub.add_parser("export", help="write JSON Schemas to DIR")
    export.add_argument("directory", type=Path)

    topics = sub.add_parser("topics", help="Kafka topics")
    topics_sub = topics.add_subparsers(dest="topics_command", required=True)
    topics_sub.add_parser("create", help="create chargewatch's topics if missing")

    tariffs = sub.add_parser("tariffs", help="OCPI 2.2.1 tariffs on the compacted tariffs topic")
    tariffs_sub = tariffs.add_subparsers(dest="tariffs_command", required=True)
    apply = tariffs_sub.add_parser("apply", help="validate and publish tariffs/assignments FILE")
    apply.add_argument("file", type=Path)
    tariffs_sub.add_parser("list", help="every tariff version and where it is assigned")

    price = sub.add_parser("price", help="price an OCPI CDR's charging periods under a tariff")
    price.add_argument("--tariff", type=Path, required=True)
    price.add_argument("--cdr", type=Path, required=True)
    price.add_argument("--tz", help="time zone of the location (default: CHARGEWATCH_PRICING_...)")

    sub.add_parser("summary", help="print the session summary from ClickHouse")
    sub.add_parser("config", help="print every setting with its environment variable")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return _dispatch(args, settings)
    except ChargewatchError as exc:
        print(f"chargewatch: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from chargewatch.services import run_worker

    return run_worker(settings)


def _sink(args: argparse.Namespace, settings: Settings) -> int:
    from chargewatch.services import run_sink

    return run_sink(settings)


def _gateway(args: argparse.Namespace, settings: Settings) -> int:
    from chargewatch.services import run_gateway_command

    return run_gateway_command(settings)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from chargewatch.pipeline import run_pipeline, sim_config

    config = sim_config(args.stations, args.days, args.seed, args.sample_interval)
    return run_pipeline(settings, config, speed=args.speed, tariff_file=args.tariff)


def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    from chargewatch.services import run_simulate

    return run_simulate(settings, args)


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from chargewatch.services import run_replay

    if args.input is None and not args.raw_table:
        print("chargewatch: error: replay needs INPUT or --raw-table", file=sys.stderr)
        return 2
    if args.input is not None and not args.input.is_file():
        print(f"chargewatch: error: no such file: {args.input}", file=sys.stderr)
        return 2
    return run_replay(
        settings,
        args.input,
        fmt=args.format,
        raw_table=args.raw_table,
        out=args.out,
        clickhouse=args.clickhouse,
        tariff=args.tariff,
        tz=args.tz,
        cdrs=args.cdrs,
        jobs=args.jobs,
    )


def _schemas(args: argparse.Namespace, settings: Settings) -> int:
    from schemas.export import export_json_schemas

    for path in export_json_schemas(args.directory):
        print(path)
    return 0


def _topics(args: argparse.Namespace, settings: Settings) -> int:
    from chargewatch.kafka_admin import ensure_topics

    created = ensure_topics(settings.kafka)
    print("created: " + (", ".join(created) or "nothing (all topics exist)"))
    return 0


def _tariffs(args: argparse.Namespace, settings: Settings) -> int:
    from chargewatch.services import run_tariffs

    return run_tariffs(settings, args.tariffs_command, getattr(args, "file", None))


def _price(args: argparse.Namespace, settings: Settings) -> int:
    from chargewatch.pricing_cli import run_price

    return run_price(args.tariff, args.cdr, args.tz, default_tz=settings.pricing.default_time_zone)


def _summary(args: argparse.Namespace, settings: Settings) -> int:
    from chargewatch.summary import format_summary, read_summary
    from sinks.clickhouse import connect, migrate

    client = connect(settings.clickhouse)
    try:
        migrate(client, settings.clickhouse.database)
        print(format_summary(read_summary(client, settings.clickhouse.database)))
    finally:
        client.close()
    return 0


def _config(args: argparse.Namespace, settings: Settings) -> int:
    from chargewatch.services import print_config

    print_config(settings)
    return 0


_COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
    "worker": _worker,
    "sink": _sink,
    "gateway": _gateway,
    "run": _run,
    "simulate": _simulate,
    "replay": _replay,
    "schemas": _schemas,
    "topics": _topics,
    "tariffs": _tariffs,
    "price": _price,
    "summary": _summary,
    "config": _config,
}


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    # Subcommands import what they need: `chargewatch config` starts in a blink.
    return _COMMANDS[args.command](args, settings)


if __name__ == "__main__":
    raise SystemExit(main())
