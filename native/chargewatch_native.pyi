# Type stub of the compiled module (src/lib.rs); maturin installs it with py.typed.
from collections.abc import Buffer
from typing import Any

Row = tuple[int, int | None, int | None, float | None]

def meter_values_v16(request: Buffer) -> tuple[int, int | None, list[Row]] | None:
    """(connector_id, transaction_id, rows) of a valid OCPP 1.6 MeterValues
    request in the compiled subset, or None to let Python decide."""

def meter_values_envelope_v16(
    value: object,
) -> tuple[str, str | None, int, int | None, list[Row]] | None:
    """(station_id, tenant, connector_id, transaction_id, rows) of an
    ocpp.messages value (bytes) holding a valid OCPP 1.6 MeterValues in the
    compiled subset, or None to let Python decide."""

KNOT_MS: int
MAX_KNOTS: int

def fold_samples(state: object, samples: list[Any], lateness_ms: int) -> bool:
    """Fold meter samples (streams.core.events.Sample) into a SessionState as
    streams.core.state.fold_sample does one by one; False (nothing changed)
    when a value does not fit 64-bit integers."""

def own_lines(
    buffer: bytes, start: int, end: int, owned: bytes
) -> tuple[list[bytes], list[int], int]:
    """The lines of buffer[start:end] a replay job owning the partitions marked in
    `owned` (one byte per partition, non-zero: owned) reads, their indices
    among the lines, and the number of lines."""

def partition_weights(buffer: bytes, partitions: int) -> list[int]:
    """How many lines of buffer name a station of each partition (their
    station read off their first bytes, as own_lines reads it)."""

def murmur2(data: bytes) -> int:
    """Kafka's 32-bit murmur2 of data."""

def meter_total(
    meter: object, lo_ms: int | None, hi_ms: int | None
) -> tuple[int, int | None, int, int] | None:
    """streams.core.meter.meter_total of a MeterFold, or None when a value does
    not fit 64-bit integers."""

class Lane:
    """A replay's lane (src/lane.rs): the MeterValues lines of armed sessions
    taken to their held samples without a Python call per line."""

    samples: int
    full: bool
    due: int | None
    def __init__(self, partitions: int, cap: int) -> None: ...
    def take(self, lines: list[bytes], start: int) -> int:
        """The index of the first line of lines[start:] left to Python; it
        stops after a line that brings a partition's silence check due (due)."""
    def arm(
        self,
        station: str,
        tenant: str | None,
        transaction: int,
        partition: int,
        deadline_ms: int,
        sample: tuple[Any, ...],
        record: object,
    ) -> None: ...
    def release(self, station: str) -> list[tuple[int, str, list[Any]]]:
        """The samples held for a station's sessions, which are disarmed."""
    def release_one(
        self, station: str, tenant: str | None, transaction: int
    ) -> tuple[int, str, list[Any]] | None:
        """The samples held for one session, which is disarmed."""
    def release_held(self, partition: int | None = None) -> list[tuple[int, str, list[Any]]]:
        """The samples held for a partition's sessions (all: None); still armed."""
    def disarm(self, session_ids: list[str]) -> None: ...
    def clock(self, partition: int) -> tuple[int, int | None]: ...
    def set_clock(self, partition: int, watermark: int, next_tick: int | None) -> None: ...
