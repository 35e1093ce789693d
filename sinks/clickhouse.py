"""ClickHouse access: one client factory for chDB and servers, and migrations.

chDB is the real ClickHouse engine in-process, so the same SQL runs embedded
and on a server. A chDB data directory has exactly one owner process: in a
pipeline that is the sink; other commands open it only when the sink is not
running (``make run`` prints its summary after stopping the sink).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from importlib import resources
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.exceptions import ClickHouseError

from chargewatch.errors import ConfigurationError, MigrationError, StorageError
from chargewatch.settings import ClickHouseSettings

__all__ = ["connect", "insert_rows", "migrate", "migrations"]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def connect(cfg: ClickHouseSettings) -> Any:
    """A clickhouse-connect client for the configured server, or chDB by default."""
    if not _IDENTIFIER.match(cfg.database):
        raise ConfigurationError(f"CHARGEWATCH_CLICKHOUSE_DATABASE {cfg.database!r} is not a name")
    try:
        if cfg.url:
            return clickhouse_connect.get_client(dsn=cfg.url)
        cfg.chdb_path.mkdir(parents=True, exist_ok=True)
        return clickhouse_connect.get_client(dsn=f"chdb://{cfg.chdb_path.resolve()}")
    except (ClickHouseError, OSError) as exc:
        where = cfg.url or f"chDB at {cfg.chdb_path}"
        raise StorageError(f"cannot open ClickHouse ({where}): {exc}") from exc


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration shipped in ``sinks/migrations``."""
    found = []
    for entry in resources.files("sinks.migrations").iterdir():
        match = re.match(r"^(\d{4})_(\w+)\.sql$", entry.name)
        if match:
            found.append((int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    return sorted(found)


def _statements(sql: str, database: str) -> list[str]:
    body = "\n".join(line for line in sql.splitlines() if not line.strip().startswith("--"))
    return [s.strip().replace("{database}", database) for s in body.split(";") if s.strip()]


def migrate(client: Any, database: str) -> list[int]:
    """Apply the migrations not yet recorded in ``schema_migrations``; return them."""
    try:
        client.command(f"CREATE DATABASE IF NOT EXISTS {database}")
        client.command(
            f"CREATE TABLE IF NOT EXISTS {database}.schema_migrations "
            "(version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
            "ENGINE = MergeTree ORDER BY version"
        )
        done = {
            row[0]
            for row in client.query(f"SELECT version FROM {database}.schema_migrations").result_rows
        }
    except ClickHouseError as exc:
        raise StorageError(f"cannot prepare database {database}: {exc}") from exc
    applied = []
    for version, name, sql in migrations():
        if version in done:
            continue
        try:
            for statement in _statements(sql, database):
                client.command(statement)
            client.insert(
                f"{database}.schema_migrations", [[version, name]], column_names=["version", "name"]
            )
        except ClickHouseError as exc:
            raise MigrationError(f"migration {version:04d}_{name} failed: {exc}") from exc
        applied.append(version)
    return applied


def insert_rows(
    client: Any, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]
) -> int:
    """One batch insert into ``table`` (database-qualified); the rows inserted."""
    if not rows:
        return 0
    try:
        client.insert(table, list(rows), column_names=list(columns))
    except ClickHouseError as exc:
        raise StorageError(f"insert of {len(rows)} rows into {table} failed: {exc}") from exc
    return len(rows)
