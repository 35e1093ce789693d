"""Cost of validate + normalise per OCPP message, stage by stage (``make bench``).

``python -m bench.ocpp_stages`` prints the table alone: every typical message,
the pieces of the hot path, the schema validators compared on the same
payload (msgspec-compiled, fastjsonschema when installed, jsonschema), and a
calibration line (decoding one canonical event, ~0.45 us on the machine
``streams/core/events.py`` was measured on) to compare machines. Timings live
here, not in the test suite: tests check what is compiled and kept, not time.
"""

from __future__ import annotations

import importlib
import json
import timeit
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from streams.core.events import MeterSample, decode_event, encode_event
from streams.core.ocpp import StationContext, decode_envelope
from streams.core.ocpp.compiled import project_meter_values_v16
from tests.fixtures.ocpp.scenarios import envelope, normaliser

ENERGY = "Energy.Active.Import.Register"
SV = [
    {"value": "12345.6", "context": "Sample.Periodic", "measurand": ENERGY, "unit": "Wh"},
    {"value": "7200", "context": "Sample.Periodic", "measurand": "Power.Active.Import"},
    {"value": "55", "context": "Sample.Periodic", "measurand": "SoC", "location": "EV"},
]
PHASES = [
    {"value": v, "measurand": m, "phase": p, "unit": u}
    for m, u, v in (
        ("Energy.Active.Import.Register", "kWh", "4.2"),
        ("Current.Import", "A", "16"),
        ("Voltage", "V", "230"),
    )
    for p in ("L1", "L2", "L3")
]


def _messages() -> dict[str, bytes]:
    start = {
        "connectorId": 1,
        "idTag": "04A1B2",
        "meterStart": 0,
        "timestamp": "2026-05-01T08:00:00Z",
    }
    meter = {"connectorId": 1, "transactionId": 17}
    te = {
        "eventType": "Updated",
        "timestamp": "2026-05-01T08:05:00Z",
        "triggerReason": "MeterValuePeriodic",
        "seqNo": 3,
        "transactionInfo": {"transactionId": "tx-1"},
        "meterValue": [
            {
                "timestamp": "2026-05-01T08:05:00Z",
                "sampledValue": [
                    {"value": 12345.6, "measurand": "Energy.Active.Import.Register"},
                    {
                        "value": 7.2,
                        "measurand": "Power.Active.Import",
                        "unitOfMeasure": {"unit": "kW"},
                    },
                    {"value": 55, "measurand": "SoC", "unitOfMeasure": {"unit": "Percent"}},
                ],
            }
        ],
    }
    return {
        "1.6 MeterValues, energy+power+SoC": envelope(
            "MeterValues",
            meter | {"meterValue": [{"timestamp": "2026-05-01T08:05:00Z", "sampledValue": SV}]},
            {},
        ),
        "1.6 MeterValues, 3 phases x 3 measurands": envelope(
            "MeterValues",
            meter | {"meterValue": [{"timestamp": "2026-05-01T08:05:00Z", "sampledValue": PHASES}]},
            {},
        ),
        "2.0.1 TransactionEvent Updated + meterValue": envelope(
            "TransactionEvent", te, {}, version="2.0.1"
        ),
        "1.6 StatusNotification": envelope(
            "StatusNotification",
            {
                "connectorId": 1,
                "errorCode": "NoError",
                "status": "Charging",
                "timestamp": "2026-05-01T08:01:00Z",
            },
            {},
        ),
        "1.6 StartTransaction": envelope(
            "StartTransaction", start, {"transactionId": 17, "idTagInfo": {"status": "Accepted"}}
        ),
        "1.6 Heartbeat (validated, ignored)": envelope(
            "Heartbeat", {}, {"currentTime": "2026-05-01T08:00:00Z"}
        ),
    }  # fmt: skip


def _best_us(fn: Callable[[], Any], number: int = 2000, repeat: int = 5) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def _fresh(norm: Any, raw: bytes) -> Any:
    return norm.normalise(raw, StationContext())


def measure(number: int = 2000) -> dict[str, float]:
    """Microseconds per call (best of 5 runs) for each typical message and piece."""
    norm = normaliser()
    context = StationContext()
    msgs = _messages()
    # Open the sessions the messages refer to, as in steady state.
    norm.normalise(msgs["1.6 StartTransaction"], context)
    te = json.loads(msgs["2.0.1 TransactionEvent Updated + meterValue"])
    norm.normalise(
        envelope(
            "TransactionEvent",
            te["request"] | {"eventType": "Started", "seqNo": 0, "evse": {"id": 2}},
            {},
            version="2.0.1",
        ),
        context,
    )
    out: dict[str, float] = {}
    for name, raw in msgs.items():
        if name == "1.6 StartTransaction":  # a new session each time
            out[name] = _best_us(partial(_fresh, norm, raw), number)
        else:
            out[name] = _best_us(partial(norm.normalise, raw, context), number)
    raw = msgs["1.6 MeterValues, energy+power+SoC"]
    env = decode_envelope(raw)
    # The worker's and the replay's path: samples as values, through the
    # compiled fast path when it is built (streams/core/ocpp/compiled.py): the
    # whole value projected, no envelope decode.
    project_value = norm.project_value
    if project_value is not None:
        projected = project_value(raw)
        assert projected is not None and norm.normalise_projected(projected, context)
        out["  1.6 MeterValues as the worker runs it (compiled)"] = _best_us(
            lambda: norm.normalise_projected(project_value(raw), context),  # type: ignore[arg-type]
            number,
        )
        out["    whole value: envelope + validation + readings"] = _best_us(
            lambda: project_value(raw), number
        )
    else:
        out["  1.6 MeterValues as the worker runs it (NOT compiled: native/ not built)"] = _best_us(
            lambda: norm.normalise_compact(decode_envelope(raw), context), number
        )
    out["  envelope decode"] = _best_us(lambda: decode_envelope(raw), number)
    registry = norm.registry
    out["  schema validation (msgspec-compiled)"] = _best_us(
        lambda: registry.decode("1.6", "MeterValues", "request", env.request), number
    )
    if project_meter_values_v16 is not None:
        project = project_meter_values_v16
        out["  schema validation + readings (native/, compiled)"] = _best_us(
            lambda: project(env.request), number
        )
    out.update(_other_validators(json.loads(raw)["request"], number))
    event = MeterSample(
        event_id="e1",
        station_id="CP-1",
        connector_id=1,
        session_id="s1",
        ts=datetime(2026, 5, 1, tzinfo=UTC),
        energy_wh=1000,
        power_w=11000,
    )
    encoded = encode_event(event)
    out["calibration: decode_event (0.45 us reference)"] = _best_us(
        lambda: decode_event(encoded), number
    )
    return out


def _other_validators(payload: dict[str, Any], number: int) -> dict[str, float]:
    from streams.core.ocpp.registry import _load

    document = _load("1.6", "MeterValues")
    out: dict[str, float] = {}
    try:  # optional, not a dependency: only for the comparison
        validate = importlib.import_module("fastjsonschema").compile(document)
        out["  schema validation (fastjsonschema)"] = _best_us(lambda: validate(payload), number)
    except ImportError:  # pragma: no cover - not a dependency
        pass
    import jsonschema  # type: ignore[import-untyped]  # a dependency of ocpp

    validator = jsonschema.Draft4Validator(document)
    out["  schema validation (jsonschema)"] = _best_us(
        lambda: validator.validate(payload), max(number // 20, 50)
    )
    return out


def print_table(number: int = 2000) -> None:
    for label, value in measure(number).items():
        print(f"  {label:<50} {value:8.2f} us")


if __name__ == "__main__":  # pragma: no cover
    print_table()
