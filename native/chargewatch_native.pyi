# Type stub of the compiled module (src/lib.rs); maturin installs it with py.typed.
from collections.abc import Buffer

Row = tuple[int, int | None, int | None, float | None]

def meter_values_v16(request: Buffer) -> tuple[int, int | None, list[Row]] | None:
    """(connector_id, transaction_id, rows) of a valid OCPP 1.6 MeterValues
    request in the compiled subset, or None to let Python decide."""
