"""docker-compose.yml and the README's settings table follow ``Settings``."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic_settings import BaseSettings

from chargewatch.services import _rows
from chargewatch.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _env_names() -> set[str]:
    settings = Settings()
    sections: list[BaseSettings] = [settings]
    sections += [v for v in settings.__dict__.values() if isinstance(v, BaseSettings)]
    return {env for section in sections for env, _, _ in _rows(section, "CHARGEWATCH_")}


def test_compose_sets_only_real_settings() -> None:
    used = set(
        re.findall(r"\b(CHARGEWATCH_[A-Z0-9_]+)\s*:", (ROOT / "docker-compose.yml").read_text())
    )
    assert used, "docker-compose.yml configures chargewatch through CHARGEWATCH_* variables"
    assert used <= _env_names(), sorted(used - _env_names())


def test_compose_default_hmac_key_is_long_enough_to_start_the_worker() -> None:
    compose = (ROOT / "docker-compose.yml").read_text()
    defaults = re.findall(r"CHARGEWATCH_PRIVACY_TOKEN_HMAC_KEY:-([^}]*)\}", compose)
    assert defaults
    assert all(len(d.encode()) >= 16 for d in defaults), defaults


def test_readme_lists_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    listed = set(re.findall(r"^\| `(CHARGEWATCH_[A-Z0-9_]+)` \|", readme, flags=re.M))
    assert listed == _env_names(), (sorted(_env_names() - listed), sorted(listed - _env_names()))


def test_the_gateway_produces_with_the_configured_linger() -> None:
    from chargewatch.gateway import GatewayConfig
    from chargewatch.services import gateway_config
    from chargewatch.settings import GatewaySettings

    assert GatewayConfig().linger_ms == GatewaySettings().linger_ms  # one default, two places
    assert gateway_config(Settings(gateway=GatewaySettings(linger_ms=40))).linger_ms == 40
