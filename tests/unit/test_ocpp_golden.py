"""Golden tests: every scenario in tests/fixtures/ocpp gives exactly the stored events.

The scenarios cover every message type we normalise in both versions. The
stored output was checked by hand when written (the semantic tests in
test_ocpp_v16.py / test_ocpp_v201.py assert the important values explicitly);
after an intended change, regenerate with ``python -m tests.unit.test_ocpp_golden``
and review the diff.
"""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

import pytest

from streams.core.events import decode_event, encode_event
from streams.core.ocpp import OcppInputError, StationContext, decode_envelope
from streams.core.state import event_ms
from tests.fixtures.ocpp.scenarios import FIXTURES, SCENARIOS, messages, normaliser, raw, run


def _rendered(name: str) -> list[dict[str, Any]]:
    out = []
    for message, result in zip(messages(name), run(name), strict=True):
        out.append(
            {
                "message_id": message["message_id"],
                "action": message["action"],
                "events": [json.loads(encode_event(e)) for e in result.events],
                "flags": {k: list(v) for k, v in sorted(result.flags.items())},
            }
        )
    return out


def test_every_message_type_is_covered() -> None:
    covered = {(m["ocpp_version"], m["action"]) for name in SCENARIOS for m in messages(name)}
    for version, action in [
        ("1.6", "Authorize"),
        ("1.6", "RemoteStartTransaction"),
        ("1.6", "StartTransaction"),
        ("1.6", "MeterValues"),
        ("1.6", "StatusNotification"),
        ("1.6", "StopTransaction"),
        ("1.6", "Heartbeat"),
        ("2.0.1", "Authorize"),
        ("2.0.1", "RequestStartTransaction"),
        ("2.0.1", "TransactionEvent"),
        ("2.0.1", "MeterValues"),
        ("2.0.1", "StatusNotification"),
    ]:
        assert (version, action) in covered


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_matches_golden(name: str) -> None:
    golden = json.loads((FIXTURES / f"{name}.golden.json").read_text(encoding="utf-8"))
    assert _rendered(name) == golden


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_event_is_a_valid_canonical_event(name: str) -> None:
    results = run(name)
    ids = [e.event_id for r in results for e in r.events]
    assert len(ids) == len(set(ids))
    for result in results:
        for event in result.events:
            assert decode_event(encode_event(event)) == event  # the msgspec contract validates
            assert event.ts.tzinfo is UTC
        assert set(result.flags) <= {e.event_id for e in result.events}


@pytest.mark.parametrize("name", SCENARIOS)
def test_event_times_given_to_the_stitcher_are_those_of_the_events(name: str) -> None:
    norm, context = normaliser(), StationContext()
    for message in messages(name):
        try:
            events, times = norm.normalise_timed(decode_envelope(raw(message)), context)
        except OcppInputError:
            continue  # the scenarios include messages that are dead-lettered
        assert times == [event_ms(event) for event in events]


@pytest.mark.parametrize("name", SCENARIOS)
def test_normalising_is_deterministic(name: str) -> None:
    assert _rendered(name) == _rendered(name)


def _regenerate() -> None:  # pragma: no cover - maintenance entry point
    for name in SCENARIOS:
        path = FIXTURES / f"{name}.golden.json"
        path.write_text(json.dumps(_rendered(name), indent=1) + "\n", encoding="utf-8")
        print(f"wrote {path}")


if __name__ == "__main__":  # pragma: no cover
    _regenerate()
