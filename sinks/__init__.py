"""Sinks: ClickHouse (server or embedded chDB) storage of session records."""
