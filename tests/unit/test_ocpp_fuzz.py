"""Fuzzing: any input either yields valid canonical events or raises an InputError
with a precise reason -- nothing else, and the context stays usable."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chargewatch.errors import InputError
from streams.core import Stitcher
from streams.core.events import MeterSample, as_sample, decode_event, encode_event
from streams.core.ocpp import StationContext, decode_envelope
from streams.core.state import event_ms
from tests.fixtures.ocpp.scenarios import SCENARIOS, messages, normaliser

REASONS = {
    "bad_json",
    "envelope_invalid",
    "unknown_version",
    "unknown_action",
    "schema_invalid",
    "out_of_range",
    "unattributable",
}
NORMALISER = normaliser()

_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1,
    255,
    256,
    2**31,
    2**63,
    -(2**63),
    1.5,
    -0.0,
    1e308,
    "",
    "x",
    "-1",
    "NaN",
    "1e999999",
    "9" * 50,
    "٣",
    "\u0000",
    "A" * 40,
    "2026-05-01T08:00:00Z",
    "2026-05-01T08:00:00",
    "2026-05-01T08:00:60Z",
    "9999-12-31T23:59:59+14:00",
    "0001-01-01T00:00:00-12:00",
    "1.6",
    "2.0.1",
    "Charging",
    "Started",
    "Ended",
    "Inlet",
    "kWh",
    "SoC",
    "KeyCode",
    [],
    {},
    [{}],
    {"value": "1"},
]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*prefix, index))
    return out


@st.composite
def _message(draw: st.DrawFn, base: dict[str, Any]) -> bytes:
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(_paths(doc)[1:]))
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        op = draw(st.sampled_from(["replace", "replace", "delete", "add", "duplicate"]))
        if op == "replace":
            parent[path[-1]] = copy.deepcopy(draw(st.sampled_from(_VALUES)))
        elif op == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif op == "add" and isinstance(parent[path[-1]], dict):
            key = draw(st.sampled_from(["extra", "customData", "phase", "location", "unit"]))
            parent[path[-1]][key] = copy.deepcopy(draw(st.sampled_from(_VALUES)))
        elif op == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[path[-1]]))
    text = json.dumps(doc)
    if draw(st.integers(0, 30)) == 0:  # occasionally break the JSON itself
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.sampled_from(["", "}", "\\", "\ud800"])) + text[cut:]
    return text.encode("utf-8", "surrogatepass")


@st.composite
def _sequence(draw: st.DrawFn) -> list[bytes]:
    scenario = draw(st.sampled_from(SCENARIOS))
    msgs = messages(scenario)
    picks = draw(st.lists(st.sampled_from(msgs), min_size=1, max_size=8))
    return [draw(_message(m)) for m in picks]


def _check(raw: bytes, context: StationContext, stitcher: Stitcher) -> None:
    twin = StationContext.restore(context.snapshot())
    compact_twin = StationContext.restore(context.snapshot())
    try:
        result = NORMALISER.normalise_detailed(raw, context)
    except InputError as exc:
        assert exc.reason in REASONS, exc.reason
        assert str(exc)
        return
    ids = [e.event_id for e in result.events]
    assert len(ids) == len(set(ids))
    # The times handed to the stitcher beside the events are the events' own.
    events, times = NORMALISER.normalise_timed(decode_envelope(raw), twin)
    assert events == result.events and times == [event_ms(e) for e in events]
    # The hot path's form: the same, plain meter samples given as values.
    items, item_times = NORMALISER.normalise_compact(decode_envelope(raw), compact_twin)
    assert item_times == times
    assert [
        as_sample(e, ms) if type(e) is MeterSample and e.seq is None and not e.flags else e
        for e, ms in zip(events, times, strict=True)
    ] == items
    assert compact_twin.snapshot() == twin.snapshot()
    for event, ms in zip(events, times, strict=True):
        assert decode_event(encode_event(event)) == event  # within the canonical contract
        stitcher.apply(event, ms)
    assert set(result.flags) <= set(ids)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_sequence())
def test_mutated_message_sequences_never_crash(sequence: list[bytes]) -> None:
    context, stitcher = StationContext(), Stitcher(update_interval_s=300)
    for raw in sequence:
        _check(raw, context, stitcher)
        assert StationContext.restore(context.snapshot()) == context
    for state in list(stitcher):
        stitcher.settle(state.session_id)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64) | _json.map(lambda v: json.dumps(v).encode()))
def test_arbitrary_bytes_never_crash(raw: bytes) -> None:
    _check(raw, StationContext(), Stitcher(update_interval_s=300))


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["1.6", "2.0.1", "2.1", ""]),
    st.sampled_from(
        [
            "StartTransaction",
            "StopTransaction",
            "MeterValues",
            "TransactionEvent",
            "StatusNotification",
            "Authorize",
            "Heartbeat",
            "Nope",
        ]
    ),
    _json,
    _json,
)
def test_random_payloads_in_a_valid_envelope_never_crash(
    version: str, action: str, request: Any, response: Any
) -> None:
    doc = {
        "station_id": "CP-F",
        "ocpp_version": version,
        "message_id": "f",
        "action": action,
        "received_at": "2026-05-01T08:00:00Z",
        "request": request,
        "response": response,
    }
    _check(json.dumps(doc).encode(), StationContext(), Stitcher(update_interval_s=300))
