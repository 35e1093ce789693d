"""The Grafana dashboard, panel by panel, against real engines.

* Every panel has a data source the provisioning defines, and a query.
* ClickHouse panels: their SQL, with the plugin's macros expanded for a fixed
  time range, runs on chDB seeded with a simulated day and returns rows; the
  headline panels are checked against the replayed sessions themselves.
* Prometheus panels: they use only the metrics defined in ``streams/metrics.py``,
  and ``promtool`` evaluates each expression over synthetic series of exactly
  those metrics (needs promtool, like ``test_alert_rules.py``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_args

import pytest
from prometheus_client.metrics import MetricWrapperBase

from chargewatch.replay import replay_lines
from chargewatch.settings import ClickHouseSettings
from chargewatch.simulator import SimConfig, simulate
from schemas.vocabulary import SessionStatus
from sinks.clickhouse import connect, migrate
from sinks.sessions import insert_sessions
from streams import metrics
from streams.core import Event, SessionOut, Stitcher
from streams.core.events import MeterSample, SessionStarted, encode_event

REPO = Path(__file__).resolve().parents[2]
GRAFANA = REPO / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "chargewatch-sessions.json"
CLICKHOUSE = "chargewatch-clickhouse"  # data source uids, see provisioning/datasources
PROMETHEUS = "chargewatch-prometheus"
DATABASE = "chargewatch"  # the dashboard's SQL names the default database

SIM = SimConfig(stations=5, days=1, seed=3)
RANGE_FROM, RANGE_TO = SIM.start, SIM.end  # the dashboard time range: the simulated day
INTERVAL_S = 300.0  # Grafana's $__interval for a day on a panel ~290 points wide
OPEN = {"active", "stalled"}  # how the dashboard reads schemas.vocabulary.SessionStatus
CLOSED = {"completed", "auto_closed"}


# --- the dashboard ---------------------------------------------------------------


def _panels() -> list[dict[str, Any]]:
    def walk(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for panel in panels:
            yield panel
            yield from walk(panel.get("panels", []))  # collapsed rows nest theirs

    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [p for p in walk(board["panels"]) if p["type"] != "row"]


PANELS = _panels()
CH_PANELS = {p["title"]: p for p in PANELS if p["datasource"]["uid"] == CLICKHOUSE}
PROM_PANELS = {p["title"]: p for p in PANELS if p["datasource"]["uid"] == PROMETHEUS}


def _sql(title: str) -> str:
    (target,) = CH_PANELS[title]["targets"]
    return str(target["rawSql"])


# --- the ClickHouse plugin's macros ------------------------------------------------

_MACRO = re.compile(r"\$__(\w+)")


def expand_macros(sql: str, start: datetime, end: datetime, interval_s: float) -> str:
    """Expand the macros this dashboard uses as grafana-clickhouse-datasource v4 does.

    Semantics from the plugin's query-editor docs and its backend (pkg/macros):
    the range bounds are whole Unix seconds in ``toDateTime``, the filter is
    inclusive at both ends, and the interval is whole seconds, at least 1.
    Any other macro fails, so a new one in the dashboard must be added here.
    """
    lo, hi = f"toDateTime({int(start.timestamp())})", f"toDateTime({int(end.timestamp())})"
    step = max(int(interval_s), 1)
    plain = {"fromTime": lo, "toTime": hi, "interval_s": str(step)}
    with_column: dict[str, Callable[[str], str]] = {
        "timeFilter": lambda c: f"{c} >= {lo} AND {c} <= {hi}",
        "timeInterval": lambda c: f"toStartOfInterval(toDateTime({c}), INTERVAL {step} second)",
    }
    out, pos = [], 0
    while match := _MACRO.search(sql, pos):
        out.append(sql[pos : match.start()])
        name, pos = match[1], match.end()
        if name in plain:
            out.append(plain[name])
        elif name in with_column:
            if sql[pos : pos + 1] != "(":
                raise ValueError(f"$__{name} needs a (column) argument")
            close = sql.index(")", pos)  # a plain column: no nested parentheses
            out.append(with_column[name](sql[pos + 1 : close].strip()))
            pos = close + 1
        else:
            raise ValueError(f"macro $__{name} is not supported by this expander")
    out.append(sql[pos:])
    expanded = "".join(out)
    if "$" in expanded:
        raise ValueError(f"unexpanded template variable in: {expanded}")
    return expanded


def test_macro_expansion_matches_the_plugin_documentation() -> None:
    # The output examples of the plugin's macro table (query-editor docs).
    start = datetime.fromtimestamp(1415792726, UTC)
    end = datetime.fromtimestamp(1447328726, UTC)
    assert expand_macros("$__timeFilter(time)", start, end, 20) == (
        "time >= toDateTime(1415792726) AND time <= toDateTime(1447328726)"
    )
    assert expand_macros("$__timeInterval(column)", start, end, 20) == (
        "toStartOfInterval(toDateTime(column), INTERVAL 20 second)"
    )
    assert expand_macros("$__fromTime, $__toTime", start, end, 20) == (
        "toDateTime(1415792726), toDateTime(1447328726)"
    )
    assert expand_macros("$__interval_s", start, end, 0.2) == "1"
    with pytest.raises(ValueError, match="not supported"):
        expand_macros("$__timeFilter_ms(t)", start, end, 20)


# --- seeded ClickHouse -----------------------------------------------------------


@dataclass(frozen=True)
class Seeded:
    client: Any
    sessions: list[SessionOut]  # the latest record of every session: what FINAL must show


def _with_data_quality_faults(events: list[Event]) -> list[Event]:
    """The simulator is clean; break two sessions so the data-quality panels have data."""
    first, second = list(dict.fromkeys(e.session_id for e in events))[:2]
    return [
        e
        for e in events
        if not (e.session_id == first and isinstance(e, SessionStarted))  # missing_start
        and not (e.session_id == second and isinstance(e, MeterSample))  # no_meter_samples
    ]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    sim = simulate(SIM)
    # Stop at the end of the simulated day, as a live system would be then: the
    # sessions plugged in at midnight are still open.
    events = _with_data_quality_faults([e for e in sim.events if e.ts < SIM.end])
    replayed = replay_lines([encode_event(e) for e in events]).sessions
    # Every version the worker emitted on the way, as the sink inserts them: the
    # dashboard must still count each session once (FINAL / sessions_latest).
    stitcher = Stitcher(update_interval_s=300)
    emitted = [r for e in events if (r := stitcher.apply(e)) is not None]

    settings = ClickHouseSettings(
        url=None, chdb_path=tmp_path_factory.mktemp("chdb"), database=DATABASE
    )
    client = connect(settings)  # chDB: one data directory per process at a time
    try:
        migrate(client, DATABASE)
        # In sink-sized batches: each insert is a part, and a part keeps only its
        # own latest version of a session, so older versions survive across parts.
        for i in range(0, len(emitted), 200):
            insert_sessions(client, DATABASE, emitted[i : i + 200])
        insert_sessions(client, DATABASE, replayed)
        yield Seeded(client=client, sessions=replayed)
    finally:
        client.close()


def _query(seeded: Seeded, title: str) -> list[dict[str, Any]]:
    result = seeded.client.query(expand_macros(_sql(title), RANGE_FROM, RANGE_TO, INTERVAL_S))
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]


def _in_range(record: SessionOut) -> bool:
    return RANGE_FROM <= record.started_at <= RANGE_TO


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def test_seed_is_a_meaningful_test_of_final(seeded: Seeded) -> None:
    (raw,) = seeded.client.query(f"SELECT count() FROM {DATABASE}.sessions").result_rows[0]
    flags = Counter(f for r in seeded.sessions for f in r.flags)
    assert raw > 2 * len(seeded.sessions)  # superseded versions are stored too
    assert any(r.status in OPEN for r in seeded.sessions)
    assert any(r.status in CLOSED for r in seeded.sessions)
    assert flags["missing_start"] and flags["no_meter_samples"]


# --- every panel -------------------------------------------------------------------


def _provisioned_uids() -> set[str]:
    # Provisioning is YAML; `uid:` lines are enough here (no PyYAML dependency).
    files = (GRAFANA / "provisioning" / "datasources").glob("*.yml")
    return {u for f in files for u in re.findall(r"^\s*uid:\s*(\S+)", f.read_text(), re.M)}


def test_every_panel_has_a_provisioned_data_source_and_a_query() -> None:
    assert _provisioned_uids() == {CLICKHOUSE, PROMETHEUS}
    assert len(CH_PANELS) + len(PROM_PANELS) == len(PANELS), "duplicate panel titles"
    for panel in PANELS:
        uid = panel["datasource"]["uid"]
        assert uid in {CLICKHOUSE, PROMETHEUS}, panel["title"]
        assert panel["targets"], f"{panel['title']} has no query"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == uid, panel["title"]
            if uid == CLICKHOUSE:
                assert target["datasource"]["type"] == "grafana-clickhouse-datasource"
                assert target["editorType"] == "sql" and target["rawSql"].strip()
                assert (target["format"], target["queryType"]) in {(0, "timeseries"), (1, "table")}
            else:
                assert target["expr"].strip(), panel["title"]


@pytest.mark.parametrize("title", sorted(CH_PANELS))
def test_clickhouse_query_reads_each_session_once(title: str) -> None:
    sql = _sql(title)
    tables = re.findall(r"\bchargewatch\.(\w+)(\s+FINAL\b)?", sql)
    assert tables, f"{title} reads no chargewatch table"
    for table, final in tables:
        assert table == "sessions_latest" or (table == "sessions" and final), (title, table)


def test_status_values_are_the_contract_vocabulary() -> None:
    statuses = set(get_args(SessionStatus))
    assert statuses == OPEN | CLOSED, "SessionStatus changed: update OPEN/CLOSED and the SQL"
    for title in CH_PANELS:
        for clause in re.findall(r"status\s*(?:=|IN)\s*\(?([^)\n]*)", _sql(title)):
            used = set(re.findall(r"'(\w+)'", clause))
            assert used <= statuses, f"{title}: unknown status {sorted(used - statuses)}"


@pytest.mark.parametrize("title", sorted(CH_PANELS))
def test_clickhouse_query_runs_and_returns_rows(seeded: Seeded, title: str) -> None:
    rows = _query(seeded, title)
    assert rows, f"{title}: no rows"
    if CH_PANELS[title]["targets"][0]["format"] == 0:  # time series need a time column
        assert all(isinstance(row["time"], datetime) for row in rows), title


# --- values against the replayed sessions ----------------------------------------------


def test_headline_stats_match_the_sessions(seeded: Seeded) -> None:
    started = [r for r in seeded.sessions if _in_range(r)]
    closed = [r for r in started if r.status in CLOSED]
    assert _query(seeded, "Sessions started") == [{"sessions": len(started)}]
    (energy,) = _query(seeded, "Energy delivered")
    assert energy["energy_kwh"] == pytest.approx(sum(r.energy_wh for r in started) / 1000)
    (duration,) = _query(seeded, "Session duration (closed)")
    assert duration["mean"] == pytest.approx(sum(r.duration_s for r in closed) / len(closed))
    (idle,) = _query(seeded, "Idle share")
    total = sum(r.duration_s for r in started)
    assert idle["idle_share"] == pytest.approx(sum(r.idle_s for r in started) / total)
    (flagged,) = _query(seeded, "Flagged sessions")
    assert flagged["flagged_share"] == pytest.approx(
        sum(1 for r in started if r.flags) / len(started)
    )


def test_open_sessions_are_the_active_and_stalled_ones(seeded: Seeded) -> None:
    statuses = Counter(r.status for r in seeded.sessions)
    assert _query(seeded, "Open sessions") == [
        {"active": statuses["active"], "stalled": statuses["stalled"]}
    ]
    rows = _query(seeded, "Open sessions (latest record active or stalled)")
    assert sorted(row["session_id"] for row in rows) == sorted(
        r.session_id for r in seeded.sessions if r.status in OPEN
    )


def test_hourly_panels_add_up_per_hour(seeded: Seeded) -> None:
    sessions: Counter[datetime] = Counter()
    energy: Counter[datetime] = Counter()
    for r in seeded.sessions:
        if _in_range(r):
            hour = r.started_at.replace(minute=0, second=0, microsecond=0)
            sessions[hour] += 1
            energy[hour] += r.energy_wh
    per_hour = _query(seeded, "Sessions started per hour")
    assert len(per_hour) == 24  # every hour of the day, empty ones filled with 0
    assert {_utc(row["time"]): row["sessions"] for row in per_hour if row["sessions"]} == sessions
    kwh = {_utc(row["time"]): row["energy_kwh"] for row in _query(seeded, "Energy per hour (kWh)")}
    assert len(kwh) == 24
    for hour, wh in energy.items():
        assert kwh[hour] == pytest.approx(wh / 1000)


def test_charging_and_idle_hours_add_up(seeded: Seeded) -> None:
    started = [r for r in seeded.sessions if _in_range(r)]
    rows = _query(seeded, "Charging vs idle time (hours)")
    assert sum(row["charging"] for row in rows) == pytest.approx(
        sum(r.charging_s for r in started) / 3600
    )
    assert sum(row["idle"] for row in rows) == pytest.approx(sum(r.idle_s for r in started) / 3600)


def test_auth_methods_and_flags_match(seeded: Seeded) -> None:
    started = [r for r in seeded.sessions if _in_range(r)]
    methods = Counter(r.auth_method or "not reported" for r in started)
    by_method = {r["method"]: r["sessions"] for r in _query(seeded, "Sessions by auth method")}
    assert by_method == methods
    flags = Counter(flag for r in started for flag in r.flags)
    by_flag = {row["flag"]: row["sessions"] for row in _query(seeded, "Flagged sessions by flag")}
    assert by_flag == flags


def test_top_stations_and_utilisation_match(seeded: Seeded) -> None:
    energy: Counter[str] = Counter()
    for r in seeded.sessions:
        if _in_range(r):
            energy[r.station_id] += r.energy_wh
    top = _query(seeded, "Top stations by energy")
    assert [row["station_id"] for row in top] == [s for s, _ in energy.most_common(10)]
    assert top[0]["energy_kwh"] == pytest.approx(energy.most_common(1)[0][1] / 1000)

    plugged: Counter[str] = Counter()
    for r in seeded.sessions:
        end = r.ended_at or r.last_event_at
        if r.started_at <= RANGE_TO and end >= RANGE_FROM:
            clipped = min(end, RANGE_TO) - max(r.started_at, RANGE_FROM)
            plugged[r.station_id] += clipped.total_seconds()
    days = (RANGE_TO - RANGE_FROM) / timedelta(days=1)
    rows = {row["station_id"]: row for row in _query(seeded, "Utilisation per station")}
    assert rows.keys() == plugged.keys()
    for station, seconds in plugged.items():
        assert rows[station]["plugged_in_h"] == pytest.approx(seconds / 3600)
        assert rows[station]["utilisation"] == pytest.approx(seconds / 3600 / days / 24)


# --- Prometheus panels ------------------------------------------------------------------


@dataclass(frozen=True)
class _Metric:
    kind: str
    labels: tuple[str, ...]


def _defined_metrics() -> dict[str, _Metric]:
    """The sample names each collector in streams.metrics exposes (prometheus_client naming)."""
    suffixes = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}
    found: dict[str, _Metric] = {}
    for collector in vars(metrics).values():
        if isinstance(collector, MetricWrapperBase):
            (family,) = collector.describe()
            labels = tuple(collector._labelnames)  # no public accessor
            for suffix in suffixes[family.type]:
                found[family.name + suffix] = _Metric(family.type, labels)
    return found


METRICS = _defined_metrics()
_GRAFANA_RANGES = {"$__rate_interval": "4m", "$__interval": "1m"}  # for a 1m scrape interval


PROM_TARGETS = [
    (title, target["refId"], target["expr"])
    for title, panel in sorted(PROM_PANELS.items())
    for target in panel["targets"]
]


def test_metric_definitions_were_found() -> None:
    assert METRICS, "no collectors found in streams.metrics"
    assert {m.kind for m in METRICS.values()} == {"counter", "gauge", "histogram"}


@pytest.mark.parametrize(
    ("title", "expr"), [pytest.param(t, e, id=f"{t}/{ref}") for t, ref, e in PROM_TARGETS]
)
def test_prometheus_panel_uses_only_defined_metrics(title: str, expr: str) -> None:
    code = re.sub(r'"[^"]*"', '""', expr)  # label values are not metric names
    names = set(re.findall(r"\b(chargewatch_\w+)", code))
    assert names or re.search(r"\bup\{", code), f"{title}: no chargewatch metric"
    assert names <= METRICS.keys(), f"{title}: undefined {sorted(names - METRICS.keys())}"
    allowed = {"job", "instance", "le"}.union(*(METRICS[n].labels for n in names))
    for group in re.findall(r"\bby\s*\(([^)]*)\)", code):
        used = {label.strip() for label in group.split(",") if label.strip()}
        assert used <= allowed, f"{title}: grouping by unknown labels {sorted(used - allowed)}"


def _synthetic_series() -> list[dict[str, str]]:
    """Every defined metric, scraped once a minute from both processes, always moving."""
    series = []
    for job in ("chargewatch-worker", "chargewatch-sink"):
        base = f'job="{job}", instance="{job}:9100"'
        series.append({"series": f"up{{{base}}}", "values": "1x20"})
        for name, metric in METRICS.items():
            labels = base + "".join(f', {label}="x"' for label in metric.labels)
            if name.endswith("_bucket"):
                for i, le in enumerate(("0.01", "0.1", "1", "+Inf"), start=1):
                    values = f"0+{i * 10}x20"
                    series.append({"series": f'{name}{{{labels}, le="{le}"}}', "values": values})
            else:
                series.append({"series": f"{name}{{{labels}}}", "values": "0+10x20"})
    return series


def test_prometheus_panel_queries_evaluate_with_promtool(tmp_path: Path) -> None:
    executable = shutil.which("promtool")
    if executable is None:
        pytest.fail(
            "promtool is not on PATH. It ships in Debian's prometheus package: "
            "`apt-get install -y --no-install-recommends prometheus`.",
            pytrace=False,
        )
    checks = []
    for _, _, panel_expr in PROM_TARGETS:
        expr = panel_expr
        for variable, value in _GRAFANA_RANGES.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, expr
        # Parses, evaluates, and returns at least one series.
        checks.append(
            {
                "expr": f"count({expr}) > bool 0",
                "eval_time": "15m",
                "exp_samples": [{"labels": "{}", "value": 1}],
            }
        )
    spec = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {"interval": "1m", "input_series": _synthetic_series(), "promql_expr_test": checks}
        ],
    }
    path = tmp_path / "panels.test.yml"
    path.write_text(json.dumps(spec, indent=1), encoding="utf-8")  # JSON is YAML
    result = subprocess.run(
        [executable, "test", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
