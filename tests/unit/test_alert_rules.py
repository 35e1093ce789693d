"""The Prometheus alert rules, checked and unit-tested by the real ``promtool``.

``promtool`` comes from Debian's ``prometheus`` package (``/usr/bin/promtool``);
the Makefile installs it. Without it these tests fail rather than skip: alert
rules that were never evaluated must not look green.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client.metrics import MetricWrapperBase

from streams import metrics

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS = REPO / "deploy" / "prometheus"
RULES = PROMETHEUS / "rules" / "chargewatch.rules.yml"
RULE_TESTS = PROMETHEUS / "rules" / "chargewatch.rules.test.yml"
CONFIG = PROMETHEUS / "prometheus.yml"

INSTALL_HINT = (
    "promtool is not on PATH. It ships in Debian's prometheus package: "
    "`apt-get install -y --no-install-recommends prometheus` (provides /usr/bin/promtool)."
)


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run promtool; fail the calling test (not skip) when it is missing."""
    executable = shutil.which("promtool")
    if executable is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    return subprocess.run(
        [executable, *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )


def _alert_names() -> list[str]:
    return re.findall(r"^\s*- alert:\s*(\w+)\s*$", RULES.read_text(encoding="utf-8"), re.M)


def test_rules_pass_promtool_check() -> None:
    result = promtool("check", "rules", RULES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_alert_names())} rules found" in result.stdout


def test_prometheus_config_passes_promtool_check() -> None:
    # Also proves that rule_files (relative to the config) matches the rules file.
    result = promtool("check", "config", CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout


def test_rule_unit_tests_pass() -> None:
    result = promtool("test", "rules", RULE_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_rules_use_only_metrics_defined_in_streams_metrics() -> None:
    # Family names (prometheus_client strips _total); samples add these suffixes.
    defined = {
        family.name
        for collector in vars(metrics).values()
        if isinstance(collector, MetricWrapperBase)
        for family in collector.describe()
    }
    exprs = "\n".join(re.findall(r"expr:(.*?)\n\s+(?:for|labels):", RULES.read_text(), re.S))
    used = set(re.findall(r"\b(chargewatch_\w+?)(?:_total|_bucket|_sum|_count)?\b", exprs))
    assert used, "no chargewatch metric in the rules"
    assert used <= defined, f"undefined metrics in rules: {sorted(used - defined)}"


def test_every_alert_has_firing_and_silent_cases() -> None:
    # A rule test file is YAML; a regex over its `alertname:`/`exp_alerts:` pairs is
    # enough here and keeps PyYAML out of the dependencies.
    cases = re.findall(
        r"alertname:\s*(\w+)\s*\n\s*exp_alerts:\s*(\[\])?", RULE_TESTS.read_text(encoding="utf-8")
    )
    fires = {name for name, empty in cases if not empty}
    silent = {name for name, empty in cases if empty}
    alerts = set(_alert_names())
    assert alerts, "no alerts found in the rules file"
    assert alerts <= fires, f"alerts never tested firing: {sorted(alerts - fires)}"
    assert alerts <= silent, f"alerts never tested silent: {sorted(alerts - silent)}"


def test_every_alert_has_severity_and_operator_annotations() -> None:
    text = RULES.read_text(encoding="utf-8")
    blocks = re.split(r"^\s*- alert:\s*", text, flags=re.M)[1:]
    assert len(blocks) == len(_alert_names())
    for block in blocks:
        name = block.split()[0]
        assert re.search(r"severity:\s*(critical|warning)\b", block), name
        for key in ("summary", "description", "runbook"):
            assert re.search(rf"^\s+{key}:", block, re.M), f"{name} has no {key}"
