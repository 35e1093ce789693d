"""The one error hierarchy.

::

    ChargewatchError
    ├── ConfigurationError      settings are missing or inconsistent
    ├── InputError              one input record cannot be used (-> dead letter)
    │   └── DecodeError         not JSON, or not a valid canonical event
    ├── BrokerError             Kafka is unreachable or refuses an operation
    ├── StorageError            ClickHouse / chDB refused a query or insert
    │   ├── MigrationError      the schema migrations could not be applied
    │   └── StateFormatError    a session state in the changelog cannot be read
    └── ReplayJobError          a process of a parallel replay died

Third-party errors are translated at the boundary (``raise ... from exc``), so
callers only ever catch these. Each docstring says what the operator should do.
"""

from __future__ import annotations

__all__ = [
    "BrokerError",
    "ChargewatchError",
    "ConfigurationError",
    "DecodeError",
    "InputError",
    "MigrationError",
    "ReplayJobError",
    "StateFormatError",
    "StorageError",
]


class ChargewatchError(Exception):
    """Root of every error chargewatch raises on purpose."""


class ConfigurationError(ChargewatchError):
    """Settings are missing or inconsistent.

    Operator action: fix the ``CHARGEWATCH_*`` variable named in the message.
    """


class InputError(ChargewatchError):
    """One input record cannot be used.

    Never fatal: the record goes to the dead-letter topic with this message as
    its reason. Operator action: look at the dead-letter topic and fix the
    producer.
    """

    reason = "invalid_input"


class DecodeError(InputError):
    """The bytes are not JSON, or not a valid canonical event."""

    reason = "decode_error"


class BrokerError(ChargewatchError):
    """Kafka is unreachable or refused an operation.

    Operator action: check ``CHARGEWATCH_KAFKA_BOOTSTRAP`` and that the broker
    is up (``make up`` starts the project's own).
    """


class StorageError(ChargewatchError):
    """ClickHouse (server or embedded chDB) refused a query or an insert.

    Operator action: check ``CHARGEWATCH_CLICKHOUSE_URL``; with chDB, make sure
    no other process owns the data directory.
    """


class MigrationError(StorageError):
    """The schema migrations could not be applied.

    Operator action: read the failing migration named in the message; the
    database is left at the last version that applied cleanly.
    """


class StateFormatError(StorageError):
    """A session state in the worker's changelog table cannot be read (written in an
    earlier snapshot format).

    Operator action: the worker logs and counts it
    (``chargewatch_state_unreadable_total``) and rebuilds the session from the
    events that follow; to rebuild exactly, replay the raw archive
    (``chargewatch replay --raw-table``) or start a new ``CHARGEWATCH_WORKER_APP_ID``
    with the input topics read from the beginning.
    """


class ReplayJobError(ChargewatchError):
    """A process of a parallel replay (``chargewatch replay --jobs N``) ended
    without handing back its result: killed, or out of memory.

    Operator action: read the exit code in the message (-9: killed, often by the
    out-of-memory killer); run again with fewer jobs, or ``--jobs 1``.
    """
